//! Which device names a ruleset uses, and what goes wrong when the router's LAN and WAN
//! devices are not among them: `iifname`/`oifname`/`iif`/`oif` matches that can never be
//! true, flowtables and netdev chains attached to devices the router does not have.
//!
//! The names come from the rules as nft prints them (a name, a `{ … }` list, `!=`, a `*`
//! wildcard), the flowtables' `devices` and the netdev chains' devices.

use offsim_nft::Ruleset;

/// The device names a ruleset mentions, in first-use order.
pub fn ruleset_devices(rs: &Ruleset) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    };
    for r in rs.rules() {
        let t = r.text.as_str();
        for key in ["iifname", "oifname", "iif", "oif"] {
            let mut rest = t;
            while let Some(i) = find_word(rest, key) {
                rest = &rest[i + key.len()..];
                let mut s = rest.trim_start();
                if let Some(x) = s.strip_prefix("!=") {
                    s = x.trim_start();
                }
                if let Some(body) = s.strip_prefix('{') {
                    let end = body.find('}').unwrap_or(body.len());
                    for part in body[..end].split(',') {
                        add(unquote(part.trim()));
                    }
                } else if s.starts_with('"') {
                    add(unquote(s.split_whitespace().next().unwrap_or("")));
                }
            }
        }
    }
    for f in rs.flowtables() {
        for d in &f.devices {
            add(d);
        }
    }
    for c in rs.chains() {
        for d in &c.devices {
            add(d);
        }
    }
    names
}

/// `key` as a whole word in `s` (not part of `iifname` when looking for `iif`, nor of
/// `meta iiftype`).
fn find_word(s: &str, key: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find(key) {
        let at = from + i;
        let before = at == 0 || b[at - 1] == b' ';
        let after = b.get(at + key.len()).is_none_or(|c| *c == b' ');
        if before && after {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

fn unquote(s: &str) -> &str {
    s.trim_matches('"')
}

/// Whether ruleset name `pattern` (possibly ending in `*`) names device `dev`.
fn names(pattern: &str, dev: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(p) => dev.starts_with(p),
        None => pattern == dev,
    }
}

/// Warnings, by name, when the router's devices `lan` and `wan` are not the ones the ruleset
/// names: its interface matches never see them, its flowtables and netdev chains are not
/// attached to them.
pub fn interface_warnings(rs: &Ruleset, lan: &str, wan: &str) -> Vec<String> {
    let used = ruleset_devices(rs);
    let mut w = Vec::new();
    if used.is_empty() {
        return w;
    }
    let listed = used
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    for (role, dev) in [
        ("LAN (--iif, ruleset.iif)", lan),
        ("WAN (--oif, ruleset.oif)", wan),
    ] {
        if !used.iter().any(|p| names(p, dev)) {
            w.push(format!(
                "the {role} device is `{dev}`, but the ruleset never names it (it names {listed}): no interface match, flowtable or netdev chain of the ruleset applies to its packets"
            ));
        }
    }
    for f in rs.flowtables() {
        let strays: Vec<&String> = f
            .devices
            .iter()
            .filter(|d| d.as_str() != lan && d.as_str() != wan)
            .collect();
        if !strays.is_empty() && !f.devices.is_empty() {
            let s = strays
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ");
            w.push(format!(
                "flowtable `{}` is attached to {s}, which is neither `{lan}` nor `{wan}`: packets on the router's devices never take its fast path there",
                f.name
            ));
        }
    }
    w
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::datapath::load_options;

    const RS: &str = r#"
table inet fw4 {
    flowtable ft { hook ingress priority filter; devices = { "br-lan", "wan" }; }
    chain forward {
        type filter hook forward priority filter; policy drop;
        iifname { "br-lan", "dmz" } oifname "wan" accept
        iifname "lan*" accept
        meta l4proto tcp oifname != "guest" accept
    }
}
"#;

    #[test]
    fn names_the_devices_the_ruleset_never_uses() {
        let rs = Ruleset::from_str(RS, "t.nft", &load_options("br-lan", "eth1")).unwrap();
        let used = ruleset_devices(&rs);
        for n in ["br-lan", "dmz", "lan*", "wan", "guest"] {
            assert!(used.iter().any(|u| u == n), "{n} in {used:?}");
        }
        let w = interface_warnings(&rs, "br-lan", "eth1");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("`eth1`") && w[0].contains("`wan`"),
            "{}",
            w[0]
        );
        assert!(
            w[1].contains("flowtable `ft`") && w[1].contains("`wan`"),
            "{}",
            w[1]
        );
        let rs = Ruleset::from_str(RS, "t.nft", &load_options("lan5", "wan")).unwrap();
        let w = interface_warnings(&rs, "lan5", "wan");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("flowtable"));
    }
}
