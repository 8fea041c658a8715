//! Helpers of the parser that do not read tokens: names from `$variables` and include
//! file globbing.

use std::path::{Path, PathBuf};

use crate::ast::Expr;

pub(super) fn flatten_names(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Sym(s, _) => out.push(s.clone()),
        Expr::Set(el) => {
            for x in el {
                flatten_names(&x.key, out);
            }
        }
        Expr::List(l) => {
            for x in l {
                flatten_names(x, out);
            }
        }
        _ => {}
    }
}

/// Files matching a glob pattern in its last path component, sorted by name.
pub(super) fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let pat = pattern
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter(|e| glob_match(pat.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

pub(super) fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&p[1..], s) || (!s.is_empty() && glob_match(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob_match(&p[1..], &s[1..]),
        (Some(b'['), Some(&c)) => {
            let Some(end) = p.iter().position(|&x| x == b']') else {
                return false;
            };
            let class = &p[1..end];
            let mut ok = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    ok |= (class[i]..=class[i + 2]).contains(&c);
                    i += 3;
                } else {
                    ok |= class[i] == c;
                    i += 1;
                }
            }
            ok && glob_match(&p[end + 1..], &s[1..])
        }
        (Some(a), Some(b)) if a == b => glob_match(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob_match(b"*.nft", b"a.nft"));
        assert!(!glob_match(b"*.nft", b"a.nf"));
        assert!(glob_match(b"x[0-9]?", b"x5a"));
    }
}
