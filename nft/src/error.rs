//! Typed load errors with nft-style `file:line:col` diagnostics.
//!
//! Every error that a ruleset can produce while it is read, parsed, validated or compiled is
//! an [`NftError`]. Its `Display` renders like `nft` does: the position, a short reason, the
//! offending source line and a caret line under the token.

use std::fmt;

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input could not be read (missing file, unreadable include).
    Io,
    /// The text does not follow the nftables grammar.
    Syntax,
    /// JSON that is malformed or does not follow the libnftables schema.
    Json,
    /// Grammatically fine but semantically invalid (unknown set, conflicting protocols, …).
    Invalid,
    /// A construct that nftables accepts but the simulator does not implement.
    Unsupported,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Io => "Error",
            ErrorKind::Syntax => "Error: syntax error",
            ErrorKind::Json => "Error: JSON",
            ErrorKind::Invalid => "Error",
            ErrorKind::Unsupported => "Error",
        }
    }
}

/// A load error, with the position of the offending token when one is known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct NftError {
    /// Broad category.
    pub kind: ErrorKind,
    /// File name (or the name given to `from_str`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column of the first character, 0 when unknown.
    pub col: u32,
    /// Number of characters to underline (at least 1 when a position is known).
    pub width: u32,
    /// The source line, when the position is known.
    pub excerpt: Option<String>,
    /// Short reason. For [`ErrorKind::Unsupported`] it starts with `unsupported: `.
    pub msg: String,
}

impl NftError {
    /// An error without a source position.
    pub fn new(kind: ErrorKind, file: impl Into<String>, msg: impl Into<String>) -> Self {
        NftError {
            kind,
            file: file.into(),
            line: 0,
            col: 0,
            width: 0,
            excerpt: None,
            msg: msg.into(),
        }
    }

    /// Whether this is an "unsupported construct" error.
    pub fn is_unsupported(&self) -> bool {
        self.kind == ErrorKind::Unsupported
    }

    fn render(&self) -> String {
        let mut s = String::new();
        if self.line > 0 {
            s.push_str(&format!(
                "{}:{}:{}: {}: {}",
                self.file,
                self.line,
                self.col,
                self.kind.label(),
                self.msg
            ));
        } else {
            s.push_str(&format!(
                "{}: {}: {}",
                self.file,
                self.kind.label(),
                self.msg
            ));
        }
        if let Some(ex) = &self.excerpt {
            let (shown, col, width) = window(ex, self.col, self.width);
            s.push('\n');
            s.push_str(&shown);
            s.push('\n');
            // Keep tabs so the caret lines up under tab-indented source.
            for ch in shown.chars().take(col.saturating_sub(1)) {
                s.push(if ch == '\t' { '\t' } else { ' ' });
            }
            for _ in 0..width.max(1) {
                s.push('^');
            }
        }
        s
    }
}

/// Most characters of a source line shown under an error. `nft -j` output is one line of
/// thousands of characters: the whole of it, and a caret line as long, hide the error.
const EXCERPT_MAX: usize = 120;
/// Characters shown before the error's column when the line is cut.
const EXCERPT_BEFORE: usize = 50;

/// The part of `line` to show for an error at 1-based `col` underlining `width`
/// characters: the whole line when it is short, else a window of [`EXCERPT_MAX`]
/// characters around the column with `…` where it was cut. Returns the text, the column
/// and width within it.
fn window(line: &str, col: u32, width: u32) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let (col, width) = (col as usize, width as usize);
    if chars.len() <= EXCERPT_MAX {
        return (line.to_string(), col, width);
    }
    let at = col.saturating_sub(1).min(chars.len());
    let start = at.saturating_sub(EXCERPT_BEFORE);
    let end = (start + EXCERPT_MAX).min(chars.len());
    let mut out = String::new();
    let mut new_col = at - start + 1;
    if start > 0 {
        out.push('…');
        new_col += 1;
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    let width = width.min(end.saturating_sub(at)).max(1);
    (out, new_col, width)
}

/// A source location: which source (file or string) and the byte range in it.
///
/// Spans never take part in equality: two ASTs that differ only in where they came from
/// compare equal, which is what the text-vs-JSON comparisons need.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    /// Index of the source in the loader's source table.
    pub src: u32,
    /// Byte offset of the first byte (for JSON sources: the index of the top-level object).
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}
impl Eq for Span {}

impl Span {
    /// A span covering `a` to `b`.
    pub fn join(a: Span, b: Span) -> Span {
        Span {
            src: a.src,
            start: a.start.min(b.start),
            end: a.end.max(b.end),
        }
    }
}

/// One loaded source text, used to turn spans into line/column diagnostics.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// Display name.
    pub(crate) name: String,
    /// Whole text.
    pub(crate) text: String,
    /// Whether this source is JSON (spans are object indices then).
    pub(crate) json: bool,
}

/// All sources read while loading one ruleset.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceMap {
    /// Sources by index.
    pub(crate) sources: Vec<Source>,
}

impl SourceMap {
    /// Adds a source and returns its index.
    pub(crate) fn add(&mut self, name: &str, text: String, json: bool) -> u32 {
        self.sources.push(Source {
            name: name.to_string(),
            text,
            json,
        });
        (self.sources.len() - 1) as u32
    }

    /// Builds an error of `kind` at `span`.
    pub(crate) fn error(&self, kind: ErrorKind, span: Span, msg: impl Into<String>) -> NftError {
        let msg = msg.into();
        let Some(src) = self.sources.get(span.src as usize) else {
            return NftError::new(kind, "<input>", msg);
        };
        if src.json {
            return NftError::new(
                kind,
                src.name.clone(),
                format!("object #{}: {msg}", span.start),
            );
        }
        let text = &src.text;
        let start = (span.start as usize).min(text.len());
        let end = (span.end as usize).clamp(start, text.len());
        let line_start = text[..start].rfind('\n').map(|p| p + 1).unwrap_or(0);
        let line_end = text[start..]
            .find('\n')
            .map(|p| p + start)
            .unwrap_or(text.len());
        let line = text[..start].matches('\n').count() as u32 + 1;
        let col = text[line_start..start].chars().count() as u32 + 1;
        let width = text[start..end.min(line_end)].chars().count().max(1) as u32;
        NftError {
            kind,
            file: src.name.clone(),
            line,
            col,
            width,
            excerpt: Some(
                text[line_start..line_end]
                    .trim_end_matches('\r')
                    .to_string(),
            ),
            msg,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn renders_caret_under_token() {
        let mut sm = SourceMap::default();
        let id = sm.add(
            "x.nft",
            "table ip t {\n\tchain c { bogus }\n}\n".into(),
            false,
        );
        let start = "table ip t {\n\tchain c { ".len() as u32;
        let e = sm.error(
            ErrorKind::Syntax,
            Span {
                src: id,
                start,
                end: start + 5,
            },
            "unexpected bogus",
        );
        assert_eq!(e.line, 2);
        assert_eq!(e.col, 12);
        let r = e.to_string();
        assert!(
            r.starts_with("x.nft:2:12: Error: syntax error: unexpected bogus"),
            "{r}"
        );
        assert!(r.ends_with("\t          ^^^^^"), "{r:?}");
    }

    /// An error deep in a 3,000-character line (one-line `nft -j` JSON) shows a window
    /// around it, with the caret under the error, not the whole line.
    #[test]
    fn long_lines_show_a_window_around_the_error() {
        let mut sm = SourceMap::default();
        let line = format!("{}BAD{}", "x".repeat(2000), "y".repeat(1000));
        let id = sm.add("r.json", line.clone(), false);
        let e = sm.error(
            ErrorKind::Json,
            Span {
                src: id,
                start: 2000,
                end: 2003,
            },
            "unexpected BAD",
        );
        assert_eq!(e.col, 2001);
        let r = e.to_string();
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 3, "{r}");
        assert!(lines[1].chars().count() <= EXCERPT_MAX + 2, "{}", lines[1]);
        assert!(lines[1].starts_with('…') && lines[1].ends_with('…'));
        let caret = lines[2].find('^').unwrap();
        assert_eq!(
            &lines[1][lines[1].char_indices().nth(caret).unwrap().0..][..3],
            "BAD"
        );
        assert_eq!(lines[2].trim_start(), "^^^");
        assert!(r.starts_with("r.json:1:2001: Error: JSON: unexpected BAD"));
    }
}
