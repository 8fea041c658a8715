//! Tokeniser for the nftables text language.
//!
//! Follows the shape of nft's flex scanner (`src/scanner.l`): identifiers may contain `/`, `.`
//! and `-` after the first character (kube-proxy chain names such as
//! `endpoint-X-ns1/svc1/tcp/p80__10.180.0.1/80`), IPv4 and IPv6 addresses are single tokens,
//! `#` starts a comment, a backslash before a newline continues the line, and newlines are
//! tokens because they terminate statements inside blocks.

use super::error::{ErrorKind, NftError, SourceMap, Span};

/// A token kind with its text where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Identifier or keyword (also digit-led words such as `10s`, `1h30m`).
    Word(String),
    /// Decimal or `0x` hexadecimal number.
    Num(String),
    /// Quoted string (quotes removed).
    Str(String),
    /// Dotted-quad IPv4 address.
    Ip4(String),
    /// IPv6 address.
    Ip6(String),
    /// `$name`.
    Var(String),
    /// `@name`.
    At(String),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// End of line.
    Newline,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `/`
    Slash,
    /// `-`
    Dash,
    /// `+`
    Plus,
    /// `*`
    Star,
    /// `=`
    Assign,
    /// `==`
    EqEq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `^`
    Caret,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `!`
    Bang,
    /// End of input.
    Eof,
}

impl Tok {
    /// A short description for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Ip4(a) | Tok::Ip6(a) => format!("address {a}"),
            Tok::Var(v) => format!("${v}"),
            Tok::At(v) => format!("@{v}"),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of input".into(),
            other => format!("`{}`", other.punct()),
        }
    }

    fn punct(&self) -> &'static str {
        match self {
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Colon => ":",
            Tok::Dot => ".",
            Tok::Slash => "/",
            Tok::Dash => "-",
            Tok::Plus => "+",
            Tok::Star => "*",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Gt => ">",
            Tok::Le => "<=",
            Tok::Ge => ">=",
            Tok::Amp => "&",
            Tok::Pipe => "|",
            Tok::Caret => "^",
            Tok::Shl => "<<",
            Tok::Shr => ">>",
            Tok::Bang => "!",
            _ => "?",
        }
    }
}

/// A token with its location.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    /// Kind and text.
    pub(crate) tok: Tok,
    /// Where it is.
    pub(crate) span: Span,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'/' | b'-' | b'.')
}

/// Splits `text` (source number `src` in `sm`) into tokens.
pub(crate) fn tokenize(sm: &SourceMap, src: u32, text: &str) -> Result<Vec<Token>, NftError> {
    let mut lx = Lexer {
        sm,
        src,
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let mut out = Vec::with_capacity(text.len() / 3);
    while lx.i < lx.b.len() {
        if lx.skip_trivia() {
            continue;
        }
        let start = lx.i;
        let tok = lx.token()?;
        out.push(Token {
            tok,
            span: lx.span(start, lx.i),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        span: lx.span(lx.b.len(), lx.b.len()),
    });
    Ok(out)
}

/// The scanner's position in one source.
struct Lexer<'a> {
    sm: &'a SourceMap,
    src: u32,
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn span(&self, s: usize, e: usize) -> Span {
        Span {
            src: self.src,
            start: s as u32,
            end: e as u32,
        }
    }

    fn error(&self, s: usize, e: usize, msg: impl Into<String>) -> NftError {
        self.sm.error(ErrorKind::Syntax, self.span(s, e), msg)
    }

    /// Skips one piece of whitespace, a line continuation or a comment; false at a token.
    fn skip_trivia(&mut self) -> bool {
        let b = self.b;
        let i = self.i;
        match b[i] {
            b' ' | b'\t' | b'\r' | 0x0c => self.i += 1,
            b'\\' if matches!(b.get(i + 1), Some(b'\n')) => self.i += 2,
            b'\\' if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') => self.i += 3,
            b'#' => {
                while self.i < b.len() && b[self.i] != b'\n' {
                    self.i += 1;
                }
            }
            _ => return false,
        }
        true
    }

    /// The token at the current position.
    fn token(&mut self) -> Result<Tok, NftError> {
        let (b, i) = (self.b, self.i);
        let c = b[i];
        if c == b'\n' {
            self.i += 1;
            return Ok(Tok::Newline);
        }
        if c == b'"' {
            return self.string();
        }
        if c == b'$' || c == b'@' {
            return self.reference(c);
        }
        if let Some(end) = scan_mac(b, i) {
            self.i = end;
            return Ok(Tok::Word(self.text[i..end].to_string()));
        }
        if let Some(end) = scan_ip6(b, i) {
            self.i = end;
            return Ok(Tok::Ip6(self.text[i..end].to_string()));
        }
        if c.is_ascii_digit() {
            return Ok(self.digits());
        }
        if is_ident_start(c) {
            let mut j = i + 1;
            while j < b.len() && is_ident_cont(b[j]) {
                j += 1;
            }
            // A trailing `-`/`.`/`/` is never part of a name (`foo- 1`, `a/ b`).
            while j > i + 1 && matches!(b[j - 1], b'-' | b'.' | b'/') {
                j -= 1;
            }
            self.i = j;
            return Ok(Tok::Word(self.text[i..j].to_string()));
        }
        self.punct()
    }

    /// A quoted string (`\"` and `\\` escapes; no newline inside).
    fn string(&mut self) -> Result<Tok, NftError> {
        let (b, text) = (self.b, self.text);
        let start = self.i;
        let mut i = start + 1;
        let mut s = String::new();
        let mut closed = false;
        while i < b.len() {
            let ch = b[i];
            if ch == b'"' {
                closed = true;
                i += 1;
                break;
            }
            if ch == b'\n' {
                break;
            }
            if ch == b'\\' && matches!(b.get(i + 1), Some(b'"') | Some(b'\\')) {
                s.push(b[i + 1] as char);
                i += 2;
                continue;
            }
            // Copy one UTF-8 character.
            let len = utf8_len(ch);
            let end = (i + len).min(b.len());
            s.push_str(text.get(i..end).unwrap_or("\u{fffd}"));
            i = end;
        }
        self.i = i;
        if !closed {
            return Err(self.error(start, i, "unterminated string"));
        }
        Ok(Tok::Str(s))
    }

    /// `$name` or `@name` (`c` is the sigil).
    fn reference(&mut self, c: u8) -> Result<Tok, NftError> {
        let b = self.b;
        let start = self.i;
        let mut i = start + 1;
        let s = i;
        while i < b.len() && is_ident_cont(b[i]) {
            i += 1;
        }
        self.i = i;
        if s == i {
            return Err(self.error(start, i, format!("expected a name after `{}`", c as char)));
        }
        let name = self.text[s..i].to_string();
        Ok(if c == b'$' {
            Tok::Var(name)
        } else {
            Tok::At(name)
        })
    }

    /// A digit-led token: an IPv4 address, a number, or a word (`10s`, `1st-chain`).
    fn digits(&mut self) -> Tok {
        let (b, text, i) = (self.b, self.text, self.i);
        if let Some(end) = scan_ip4(b, i) {
            self.i = end;
            return Tok::Ip4(text[i..end].to_string());
        }
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        let w = &text[i..j];
        let numeric = w.bytes().all(|x| x.is_ascii_digit())
            || ((w.starts_with("0x") || w.starts_with("0X"))
                && w.len() > 2
                && w[2..].bytes().all(|x| x.is_ascii_hexdigit()));
        // Digit-led identifiers (chain names such as `1st-chain`) are rare but legal.
        if !numeric && j < b.len() && matches!(b[j], b'-' | b'.' | b'/') {
            while j < b.len() && is_ident_cont(b[j]) {
                j += 1;
            }
        }
        let w = &text[i..j];
        self.i = j;
        if numeric {
            Tok::Num(w.to_string())
        } else {
            Tok::Word(w.to_string())
        }
    }

    /// An operator or punctuation token.
    fn punct(&mut self) -> Result<Tok, NftError> {
        let (b, i) = (self.b, self.i);
        let c = b[i];
        let next = b.get(i + 1).copied();
        let (t, n) = match (c, next) {
            (b'=', Some(b'=')) => (Tok::EqEq, 2),
            (b'!', Some(b'=')) => (Tok::Ne, 2),
            (b'<', Some(b'=')) => (Tok::Le, 2),
            (b'>', Some(b'=')) => (Tok::Ge, 2),
            (b'<', Some(b'<')) => (Tok::Shl, 2),
            (b'>', Some(b'>')) => (Tok::Shr, 2),
            (b'{', _) => (Tok::LBrace, 1),
            (b'}', _) => (Tok::RBrace, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b'[', _) => (Tok::LBracket, 1),
            (b']', _) => (Tok::RBracket, 1),
            (b',', _) => (Tok::Comma, 1),
            (b';', _) => (Tok::Semi, 1),
            (b':', _) => (Tok::Colon, 1),
            (b'.', _) => (Tok::Dot, 1),
            (b'/', _) => (Tok::Slash, 1),
            (b'-', _) => (Tok::Dash, 1),
            (b'+', _) => (Tok::Plus, 1),
            (b'*', _) => (Tok::Star, 1),
            (b'=', _) => (Tok::Assign, 1),
            (b'<', _) => (Tok::Lt, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'&', _) => (Tok::Amp, 1),
            (b'|', _) => (Tok::Pipe, 1),
            (b'^', _) => (Tok::Caret, 1),
            (b'!', _) => (Tok::Bang, 1),
            _ => {
                let len = utf8_len(c);
                let end = (i + len).min(b.len());
                let shown = self.text.get(i..end).unwrap_or("?");
                return Err(self.error(i, end, format!("unexpected character `{shown}`")));
            }
        };
        self.i += n;
        Ok(t)
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Dotted quad at `i`; returns the end offset. Not followed by an identifier character other
/// than `/`, `-` or `:` (which start a prefix, range or port).
fn scan_ip4(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let s = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == s || j - s > 3 {
            return None;
        }
        if part < 3 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    if j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
        return None;
    }
    std::str::from_utf8(&b[i..j])
        .ok()?
        .parse::<std::net::Ipv4Addr>()
        .ok()?;
    Some(j)
}

/// Ethernet address `xx:xx:xx:xx:xx:xx` at `i`.
fn scan_mac(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..6 {
        if j + 2 > b.len() || !b[j].is_ascii_hexdigit() || !b[j + 1].is_ascii_hexdigit() {
            return None;
        }
        j += 2;
        if part < 5 {
            if b.get(j) != Some(&b':') {
                return None;
            }
            j += 1;
        }
    }
    if j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b':' || b[j] == b'.') {
        return None;
    }
    Some(j)
}

/// IPv6 address (possibly with an embedded IPv4 tail) at `i`; returns the end offset.
fn scan_ip6(b: &[u8], i: usize) -> Option<usize> {
    let c = b[i];
    if !(c.is_ascii_hexdigit() || (c == b':' && b.get(i + 1) == Some(&b':'))) {
        return None;
    }
    let mut j = i;
    let mut colons = 0;
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':' || b[j] == b'.') {
        if b[j] == b':' {
            colons += 1;
        }
        j += 1;
    }
    if colons < 2 {
        return None;
    }
    // Try the longest candidate first, then back off to earlier ':' boundaries so that
    // `::1:` or `2001:db8::1 :` style contexts still tokenise.
    let mut end = j;
    while end > i {
        if end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            // would split an identifier
        } else if let Ok(s) = std::str::from_utf8(&b[i..end])
            && s.contains(':')
            && s.parse::<std::net::Ipv6Addr>().is_ok()
        {
            return Some(end);
        }
        end -= 1;
    }
    None
}

#[cfg(test)]
mod test {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut sm = SourceMap::default();
        let id = sm.add("t", s.into(), false);
        tokenize(&sm, id, s)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn addresses_and_names() {
        assert_eq!(
            toks("ip saddr 10.0.0.1/8"),
            vec![
                Tok::Word("ip".into()),
                Tok::Word("saddr".into()),
                Tok::Ip4("10.0.0.1".into()),
                Tok::Slash,
                Tok::Num("8".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("ip6 daddr fd42:b403::/64")[2],
            Tok::Ip6("fd42:b403::".into())
        );
        assert_eq!(toks("::1")[0], Tok::Ip6("::1".into()));
        assert_eq!(
            toks("jump endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80")[1],
            Tok::Word("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80".into())
        );
        assert_eq!(
            toks("{ established : accept }")[1..4],
            [
                Tok::Word("established".into()),
                Tok::Colon,
                Tok::Word("accept".into())
            ]
        );
        assert_eq!(
            toks("10.0.0.1:80")[..3],
            [
                Tok::Ip4("10.0.0.1".into()),
                Tok::Colon,
                Tok::Num("80".into())
            ]
        );
        assert_eq!(
            toks("[2001:db8::1]:8080")[1],
            Tok::Ip6("2001:db8::1".into())
        );
        assert_eq!(
            toks("0x1f-0x20")[..3],
            [Tok::Num("0x1f".into()), Tok::Dash, Tok::Num("0x20".into())]
        );
        assert_eq!(toks("timeout 1h30m")[1], Tok::Word("1h30m".into()));
    }

    #[test]
    fn comments_continuations_and_strings() {
        assert_eq!(
            toks("a \\\n b # c\n\"x y\""),
            vec![
                Tok::Word("a".into()),
                Tok::Word("b".into()),
                Tok::Newline,
                Tok::Str("x y".into()),
                Tok::Eof
            ]
        );
        let mut sm = SourceMap::default();
        let id = sm.add("t", "\"abc".into(), false);
        assert!(tokenize(&sm, id, "\"abc").is_err());
    }
}
