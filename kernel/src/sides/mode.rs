//! How a packet's side is decided, as a user sets it (`--sides`, a scenario's
//! `ruleset.sides`): [`SideMode`] and the address [`Prefix`]es of `lan=` mode.

use super::Side;

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// IP version.
    pub version: u8,
    /// Address (IPv4 in the low 32 bits).
    pub addr: u128,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// Parses `a.b.c.d/n` or `v6::/n` (a bare address is a host prefix).
    pub fn parse(s: &str) -> Option<Prefix> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = a.trim().parse().ok()?;
        let (version, addr, bits) = match ip {
            std::net::IpAddr::V4(v) => (4, u128::from(u32::from(v)), 32),
            std::net::IpAddr::V6(v) => (6, u128::from(v), 128),
        };
        let len = l.unwrap_or(bits);
        (len <= bits).then_some(Prefix { version, addr, len })
    }

    /// Whether it contains `addr` of IP version `version`.
    pub fn contains(&self, version: u8, addr: u128) -> bool {
        if version != self.version {
            return false;
        }
        let bits = if version == 4 { 32 } else { 128 };
        if self.len == 0 {
            return true;
        }
        let shift = bits - u32::from(self.len);
        (addr >> shift) == (self.addr >> shift)
    }
}

/// How sides are assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideMode {
    /// Everything on LAN.
    Single,
    /// First packet of a flow is LAN.
    Flow,
    /// By source prefix.
    Lan(Vec<Prefix>),
    /// By capture interface id (pcapng); ids not listed are LAN.
    Iface(Vec<(u32, Side)>),
}

impl SideMode {
    /// Parses `single`, `flow`, `lan=CIDR[,CIDR…]` or `iface=ID:lan|wan[,…]`.
    pub fn parse(s: &str) -> Result<SideMode, String> {
        match s {
            "single" => Ok(SideMode::Single),
            "flow" => Ok(SideMode::Flow),
            _ if s.starts_with("iface=") => parse_ifaces(&s["iface=".len()..]),
            _ => {
                let Some(list) = s.strip_prefix("lan=") else {
                    return Err(format!(
                        "unknown sides mode `{s}` (expected single, flow, lan=CIDR,... or iface=ID:lan,ID:wan,...)"
                    ));
                };
                let mut v = Vec::new();
                for p in list.split(',').filter(|p| !p.trim().is_empty()) {
                    v.push(
                        Prefix::parse(p.trim())
                            .ok_or_else(|| format!("bad prefix `{p}` in sides mode"))?,
                    );
                }
                if v.is_empty() {
                    return Err("sides mode lan= needs at least one prefix".into());
                }
                Ok(SideMode::Lan(v))
            }
        }
    }
}

/// `iface=0:lan,1:wan`: each interface id once, each side at least once.
fn parse_ifaces(list: &str) -> Result<SideMode, String> {
    let mut v: Vec<(u32, Side)> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad =
            || format!("bad interface mapping `{item}` in sides mode (expected ID:lan or ID:wan)");
        let (id, side) = item.split_once(':').ok_or_else(bad)?;
        let id: u32 = id.trim().parse().map_err(|_| bad())?;
        let side = match side.trim() {
            "lan" => Side::Lan,
            "wan" => Side::Wan,
            _ => return Err(bad()),
        };
        if v.iter().any(|(i, _)| *i == id) {
            return Err(format!("interface {id} is mapped twice in sides mode"));
        }
        v.push((id, side));
    }
    if !v.iter().any(|(_, s)| *s == Side::Wan) {
        return Err("sides mode iface= needs a WAN interface (e.g. iface=0:lan,1:wan)".into());
    }
    Ok(SideMode::Iface(v))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn prefixes_parse_with_their_family_s_lengths() {
        let p = |s: &str| Prefix::parse(s).map(|p| (p.version, p.addr, p.len));
        assert_eq!(p("10.1.2.3"), Some((4, 0x0a01_0203, 32)));
        assert_eq!(p("10.0.0.0/8"), Some((4, 0x0a00_0000, 8)));
        assert_eq!(p("0.0.0.0/0"), Some((4, 0, 0)));
        assert_eq!(p("10.0.0.0/33"), None);
        assert_eq!(p("::1"), Some((6, 1, 128)));
        assert_eq!(p("2001:db8::/32").map(|x| x.2), Some(32));
        assert_eq!(p("::/129"), None);
        assert_eq!(p("::/0"), Some((6, 0, 0)));
        assert_eq!(p("10.0.0.0/x"), None);
        let all6 = Prefix::parse("::/0").unwrap();
        assert!(all6.contains(6, u128::MAX) && !all6.contains(4, 1));
        let net = Prefix::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(4, 0x0aff_ffff) && !net.contains(4, 0x0b00_0000));
    }
}
