//! Reading the text files a user feeds offsim (scenarios, rulesets and their includes,
//! reports): only regular files, at most a given size, valid UTF-8 — each refusal says why
//! and, for bad UTF-8, where.
//!
//! `include "/dev/urandom"`, a FIFO or a multi-gigabyte file would otherwise be read whole:
//! a hang or an out-of-memory abort instead of an error.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// Why a text input was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum InputError {
    /// The operating system refused.
    Io(std::io::Error),
    /// A device, FIFO, socket or directory.
    NotRegular,
    /// Larger than the cap.
    TooLarge {
        /// The cap, bytes.
        max: u64,
    },
    /// Not UTF-8; the position of the first bad byte.
    Utf8 {
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        col: usize,
        /// Byte offset.
        offset: usize,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Io(e) => write!(f, "{e}"),
            InputError::NotRegular => write!(f, "not a regular file (a device, FIFO or directory)"),
            InputError::TooLarge { max } => write!(f, "larger than {max} bytes, the limit"),
            InputError::Utf8 { line, col, offset } => {
                write!(f, "{line}:{col}: invalid UTF-8 (byte offset {offset})")
            }
        }
    }
}

impl std::error::Error for InputError {}

/// Largest scenario file, bytes.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;
/// Largest ruleset file (each include too), bytes.
pub const MAX_RULESET_BYTES: u64 = 64 << 20;
/// Largest report file, bytes.
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

/// Reads `path` as UTF-8 text: a regular file of at most `max` bytes.
pub fn read_text(path: &Path, max: u64) -> Result<String, InputError> {
    let f = std::fs::File::open(path).map_err(InputError::Io)?;
    let meta = f.metadata().map_err(InputError::Io)?;
    if !meta.is_file() {
        return Err(InputError::NotRegular);
    }
    if meta.len() > max {
        return Err(InputError::TooLarge { max });
    }
    // The file may grow while it is read: never take more than the cap.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge { max });
    }
    text(bytes)
}

/// `bytes` as UTF-8, or the position of the first invalid byte.
pub fn text(bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let good = &e.as_bytes()[..offset];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        InputError::Utf8 { line, col, offset }
    })
}

/// Replaces control characters (C0 but tab and newline, DEL, C1) with visible escapes, so
/// text from an input file cannot drive the terminal it is printed on.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn utf8_errors_have_a_position() {
        let e = text(b"ab\ncd\xffe".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "2:3: invalid UTF-8 (byte offset 5)");
    }

    #[test]
    fn special_files_and_large_files_are_refused() {
        #[cfg(unix)]
        assert!(matches!(
            read_text(Path::new("/dev/zero"), 100),
            Err(InputError::NotRegular)
        ));
        assert!(matches!(
            read_text(Path::new("/"), 100),
            Err(InputError::NotRegular)
        ));
        let p = std::env::temp_dir().join(format!("offsim-input-{}", std::process::id()));
        std::fs::write(&p, "x".repeat(200)).unwrap();
        assert!(matches!(
            read_text(&p, 100),
            Err(InputError::TooLarge { max: 100 })
        ));
        assert_eq!(read_text(&p, 200).unwrap().len(), 200);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(escape_controls("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(escape_controls("\u{9b}x\u{7f}"), "\\u{9b}x\\u{7f}");
    }
}
