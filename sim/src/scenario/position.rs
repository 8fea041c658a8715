//! Where a dotted key is in a scenario's TOML text, for errors that name line and column.

/// Splits a dotted key (`a.b`, `"quoted.part"`, `list[2]`) into parts.
fn key_parts(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            '[' if !quoted => {
                parts.push(std::mem::take(&mut cur));
                cur.push('[');
            }
            ']' if !quoted => {}
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts.retain(|p| !p.is_empty());
    parts
}

/// Byte offset of the value of dotted `key` in TOML `text` (or of its deepest part found).
pub(super) fn key_offset(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable = root.get_ref();
    let mut array: Option<&toml::de::DeArray> = None;
    let mut found = None;
    for part in key_parts(key) {
        let v = if let Some(i) = part.strip_prefix('[') {
            match (i.parse::<usize>().ok(), array) {
                (Some(i), Some(a)) => a.get(i),
                _ => None,
            }
        } else {
            table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == part.as_str())
                .map(|(_, v)| v)
        };
        let Some(v) = v else { break };
        found = Some(v.span().start);
        array = None;
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    found
}

/// 1-based line and column (characters) of byte offset `off`.
pub(super) fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text[..off.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
