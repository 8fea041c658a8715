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
            s.push('\n');
            s.push_str(ex);
            s.push('\n');
            // Keep tabs so the caret lines up under tab-indented source.
            for ch in ex.chars().take(self.col.saturating_sub(1) as usize) {
                s.push(if ch == '\t' { '\t' } else { ' ' });
            }
            for _ in 0..self.width.max(1) {
                s.push('^');
            }
        }
        s
    }
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
}
