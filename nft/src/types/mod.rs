//! Data types of nftables expressions, symbol tables and literal parsing.
//!
//! Every constant in a normalised rule is a [`Value`]: a data type plus a 128-bit number.
//! Interface names are stored as 16 bytes big-endian (first character in the most
//! significant byte), so the `eth*` wildcard is an ordinary 24-bit prefix; addresses, ports,
//! marks and flag sets are plain numbers in host order. Symbol tables follow nft's
//! `src/datatype.c`, `src/proto.c`, `src/ct.c`, `src/meta.c` and `src/fib.c` (`types/symbols.rs`).

mod symbols;

pub(crate) use symbols::*;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Data type of an expression or constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// Plain integer of the given bit width.
    Integer(u8),
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// Transport port (`inet_service`).
    InetService,
    /// IP protocol number (`inet_proto`).
    InetProto,
    /// Packet / connection mark.
    Mark,
    /// Interface name (16 bytes).
    Ifname,
    /// Interface index (resolved from a name at load time).
    Ifindex,
    /// `ct state` bits.
    CtState,
    /// `ct status` bits.
    CtStatus,
    /// `ct direction`.
    CtDir,
    /// `ct event` bits.
    CtEvent,
    /// TCP flag bits.
    TcpFlag,
    /// ICMP type.
    IcmpType,
    /// ICMP code.
    IcmpCode,
    /// ICMPv6 type.
    Icmpv6Type,
    /// ICMPv6 code.
    Icmpv6Code,
    /// ICMPx (inet reject) code.
    IcmpxCode,
    /// `meta pkttype`.
    PktType,
    /// `meta nfproto`.
    NfProto,
    /// EtherType (`meta protocol`).
    EtherType,
    /// DSCP.
    Dscp,
    /// ECN.
    Ecn,
    /// Verdict (map data).
    Verdict,
    /// exists / missing.
    Boolean,
    /// `fib ... type` address type.
    FibAddrType,
    /// Ethernet address.
    EtherAddr,
    /// Interface type (`meta iiftype`).
    IfType,
    /// `meta time`: nanoseconds since the Unix epoch.
    Time,
    /// `meta hour`: seconds since midnight.
    Hour,
    /// `meta day`: day of the week, 0 = Sunday.
    Day,
    /// A string (ct helper names etc.).
    Str,
}

impl DType {
    /// Width in bits.
    pub fn bits(self) -> u32 {
        match self {
            DType::Integer(b) => b as u32,
            DType::Ipv4 => 32,
            DType::Ipv6 => 128,
            DType::InetService => 16,
            DType::InetProto => 8,
            DType::Mark => 32,
            DType::Ifname => 128,
            DType::Ifindex => 32,
            DType::CtState | DType::CtStatus | DType::CtEvent => 32,
            DType::CtDir => 8,
            DType::TcpFlag => 8,
            DType::IcmpType | DType::IcmpCode | DType::Icmpv6Type | DType::Icmpv6Code => 8,
            DType::IcmpxCode => 8,
            DType::PktType => 8,
            DType::NfProto => 8,
            DType::EtherType => 16,
            DType::Dscp => 6,
            DType::Ecn => 2,
            DType::Verdict => 32,
            DType::Boolean => 1,
            DType::FibAddrType => 32,
            DType::EtherAddr => 48,
            DType::IfType => 16,
            DType::Time => 64,
            DType::Hour => 32,
            DType::Day => 8,
            DType::Str => 128,
        }
    }

    /// Whether the type is a bit set whose bare flag list means "any of".
    pub fn is_bitmask(self) -> bool {
        matches!(
            self,
            DType::CtState | DType::CtStatus | DType::CtEvent | DType::TcpFlag
        )
    }

    /// Parses a type name as used in `set { type ... }` declarations.
    pub fn from_name(s: &str) -> Option<DType> {
        Some(match s {
            "ipv4_addr" => DType::Ipv4,
            "ipv6_addr" => DType::Ipv6,
            "inet_service" => DType::InetService,
            "inet_proto" => DType::InetProto,
            "mark" => DType::Mark,
            "ifname" => DType::Ifname,
            "iface_index" => DType::Ifindex,
            "ct_state" => DType::CtState,
            "ct_status" => DType::CtStatus,
            "ct_dir" => DType::CtDir,
            "ct_event" => DType::CtEvent,
            "tcp_flag" => DType::TcpFlag,
            "icmp_type" => DType::IcmpType,
            "icmp_code" => DType::IcmpCode,
            "icmpv6_type" => DType::Icmpv6Type,
            "icmpv6_code" => DType::Icmpv6Code,
            "icmpx_code" => DType::IcmpxCode,
            "pkt_type" => DType::PktType,
            "nf_proto" => DType::NfProto,
            "ether_type" => DType::EtherType,
            "dscp" => DType::Dscp,
            "ecn" => DType::Ecn,
            "verdict" => DType::Verdict,
            "boolean" => DType::Boolean,
            "fib_addrtype" => DType::FibAddrType,
            "ether_addr" => DType::EtherAddr,
            "iface_type" => DType::IfType,
            "time" => DType::Time,
            "hour" => DType::Hour,
            "day" => DType::Day,
            "integer" => DType::Integer(32),
            "string" => DType::Str,
            "ct_label" => DType::Integer(128),
            "realm" | "devgroup" | "uid" | "gid" | "cgroupsv2" | "classid" => DType::Integer(32),
            "ct_id" => DType::Integer(32),
            _ => return None,
        })
    }

    /// The type name (`ipv4_addr`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Integer(_) => "integer",
            DType::Ipv4 => "ipv4_addr",
            DType::Ipv6 => "ipv6_addr",
            DType::InetService => "inet_service",
            DType::InetProto => "inet_proto",
            DType::Mark => "mark",
            DType::Ifname => "ifname",
            DType::Ifindex => "iface_index",
            DType::CtState => "ct_state",
            DType::CtStatus => "ct_status",
            DType::CtDir => "ct_dir",
            DType::CtEvent => "ct_event",
            DType::TcpFlag => "tcp_flag",
            DType::IcmpType => "icmp_type",
            DType::IcmpCode => "icmp_code",
            DType::Icmpv6Type => "icmpv6_type",
            DType::Icmpv6Code => "icmpv6_code",
            DType::IcmpxCode => "icmpx_code",
            DType::PktType => "pkt_type",
            DType::NfProto => "nf_proto",
            DType::EtherType => "ether_type",
            DType::Dscp => "dscp",
            DType::Ecn => "ecn",
            DType::Verdict => "verdict",
            DType::Boolean => "boolean",
            DType::FibAddrType => "fib_addrtype",
            DType::EtherAddr => "ether_addr",
            DType::IfType => "iface_type",
            DType::Time => "time",
            DType::Hour => "hour",
            DType::Day => "day",
            DType::Str => "string",
        }
    }

    /// All-ones mask of the type's width.
    pub fn mask(self) -> u128 {
        let b = self.bits();
        if b >= 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    }
}

/// A typed constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value {
    /// Type.
    pub ty: DType,
    /// Number (see module docs for the encoding).
    pub v: u128,
}

impl Value {
    /// A value of a type.
    pub fn new(ty: DType, v: u128) -> Value {
        Value { ty, v }
    }
}

/// Parses an unsigned integer literal (decimal or `0x` hex).
pub(crate) fn parse_uint(s: &str) -> Option<u128> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Encodes an interface name as 16 bytes big-endian.
pub(crate) fn ifname_value(name: &str) -> u128 {
    let mut b = [0u8; 16];
    for (i, c) in name.bytes().take(16).enumerate() {
        b[i] = c;
    }
    u128::from_be_bytes(b)
}

/// Decodes an interface name value.
pub(crate) fn ifname_string(v: u128) -> String {
    let b = v.to_be_bytes();
    let n = b.iter().position(|&c| c == 0).unwrap_or(16);
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// Parses a literal of type `ty`. `quoted` tells whether it was a quoted string.
pub(crate) fn parse_literal(ty: DType, s: &str, quoted: bool) -> Result<Value, String> {
    let bad = || format!("could not parse \"{s}\" as {}", ty.name());
    let num = |s: &str| -> Option<u128> { parse_uint(s).filter(|v| *v <= ty.mask()) };
    let v = match ty {
        DType::Ipv4 | DType::Ipv6 if parse_uint(s).is_some_and(|v| v <= ty.mask()) => {
            parse_uint(s).unwrap_or(0)
        }
        DType::Ipv4 => s
            .parse::<Ipv4Addr>()
            .map(|a| u32::from(a) as u128)
            .map_err(|_| {
                if s.contains(':') {
                    format!("\"{s}\" is not an IPv4 address")
                } else {
                    format!("could not resolve hostname \"{s}\"")
                }
            })?,
        DType::Ipv6 => s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| format!("could not resolve hostname \"{s}\""))?,
        DType::Ifname | DType::Str => {
            if s.len() > 15 && ty == DType::Ifname || s.len() > 16 {
                return Err(format!("name \"{s}\" is too long"));
            }
            if s.is_empty() {
                return Err("empty name".into());
            }
            ifname_value(s)
        }
        DType::Mark | DType::Integer(_) | DType::Ifindex => num(s).ok_or_else(bad)?,
        DType::Time => match num(s) {
            Some(v) => v,
            None => parse_datetime_ns(s).ok_or_else(bad)? as u128,
        },
        DType::Hour => match num(s) {
            Some(v) => v,
            None => parse_hour(s).ok_or_else(bad)? as u128,
        },
        DType::Day => match DAYS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(s) || d[..3].eq_ignore_ascii_case(s))
        {
            Some(i) => i as u128,
            None => num(s).filter(|v| *v < 7).ok_or_else(bad)?,
        },
        DType::EtherAddr => {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() != 6 {
                return Err(bad());
            }
            let mut v = 0u128;
            for p in parts {
                v = (v << 8) | u8::from_str_radix(p, 16).map_err(|_| bad())? as u128;
            }
            v
        }
        DType::Verdict => return Err(bad()),
        _ => {
            if quoted && !matches!(ty, DType::InetService) {
                // nft accepts quoted symbols too
            }
            if let Some(t) = symbols(ty)
                && let Some(v) = lookup(t, s)
            {
                v
            } else if let Some(v) = num(s) {
                v
            } else {
                return Err(match ty {
                    DType::InetService => format!("could not resolve service \"{s}\""),
                    DType::InetProto => format!("could not resolve protocol name \"{s}\""),
                    _ => format!("could not parse \"{s}\" as {}", ty.name()),
                });
            }
        }
    };
    if v > ty.mask() {
        return Err(format!(
            "value {s} exceeds the {}-bit {} type",
            ty.bits(),
            ty.name()
        ));
    }
    Ok(Value { ty, v })
}

/// Day names for `meta day`, index = `tm_wday`.
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `"YYYY-MM-DD[ HH:MM[:SS]]"` as UTC nanoseconds since the epoch (nft converts from the
/// host's local time zone; the simulator assumes UTC).
pub(crate) fn parse_datetime_ns(s: &str) -> Option<u64> {
    let (date, time) = s.trim().split_once(' ').unwrap_or((s.trim(), "00:00:00"));
    let mut it = date.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86400 + parse_hour(time)? as i64;
    u64::try_from(secs).ok()?.checked_mul(1_000_000_000)
}

/// `"HH:MM[:SS]"` as seconds since midnight.
pub(crate) fn parse_hour(s: &str) -> Option<u32> {
    let mut it = s.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let sec: u32 = match it.next() {
        Some(x) => x.parse().ok()?,
        None => 0,
    };
    if it.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// Parses a time string (`10s`, `1h30m`, `2d`, `100ms`, or a bare number of seconds) into ms.
pub(crate) fn parse_time_ms(s: &str) -> Option<u64> {
    if let Some(n) = parse_uint(s) {
        return u64::try_from(n).ok()?.checked_mul(1000);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut any = false;
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if st == i {
            return None;
        }
        let n: u64 = s[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mul = match &s[us..i] {
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1000,
            "ms" => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mul)?)?;
        any = true;
    }
    any.then_some(total)
}

/// Formats milliseconds the way nft prints times (`1h30m`, `10s`, `100ms`).
pub(crate) fn fmt_time_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut s = String::new();
    let mut r = ms;
    for (unit, n) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if r >= n {
            s.push_str(&format!("{}{unit}", r / n));
            r %= n;
        }
    }
    if r > 0 {
        s.push_str(&format!("{r}ms"));
    }
    s
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.v;
        match self.ty {
            DType::Ipv4 => write!(f, "{}", Ipv4Addr::from(v as u32)),
            DType::Ipv6 => write!(f, "{}", Ipv6Addr::from(v)),
            DType::Ifname | DType::Str => write!(f, "\"{}\"", ifname_string(v)),
            DType::Mark => write!(f, "0x{v:08x}"),
            DType::InetService | DType::Integer(_) | DType::Ifindex => write!(f, "{v}"),
            DType::Time => write!(f, "{}", v / 1_000_000_000),
            // nft's `hour_type_print`: seconds only when there are some.
            DType::Hour if v.is_multiple_of(60) => {
                write!(f, "\"{:02}:{:02}\"", v / 3600, v / 60 % 60)
            }
            DType::Hour => write!(f, "\"{:02}:{:02}:{:02}\"", v / 3600, v / 60 % 60, v % 60),
            DType::Day => write!(f, "\"{}\"", DAYS.get(v as usize).copied().unwrap_or("?")),
            DType::EtherAddr => {
                let b = (v as u64).to_be_bytes();
                write!(
                    f,
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    b[2], b[3], b[4], b[5], b[6], b[7]
                )
            }
            DType::Dscp | DType::IfType => match symbols(self.ty).and_then(|t| name_of(t, v)) {
                Some(n) => f.write_str(n),
                None => write!(f, "0x{v:02x}"),
            },
            ty if ty.is_bitmask() => {
                let t = symbols(ty).unwrap_or(&[]);
                if v == 0 {
                    return write!(f, "0x0");
                }
                let mut first = true;
                let mut rest = v;
                for &(n, bit) in t {
                    if rest & bit != 0 && bit.count_ones() == 1 {
                        if !first {
                            f.write_str(",")?;
                        }
                        f.write_str(n)?;
                        first = false;
                        rest &= !bit;
                    }
                }
                if rest != 0 {
                    if !first {
                        f.write_str(",")?;
                    }
                    write!(f, "0x{rest:x}")?;
                }
                Ok(())
            }
            ty => match symbols(ty).and_then(|t| name_of(t, v)) {
                Some(n) => f.write_str(n),
                None => write!(f, "{v}"),
            },
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(
            parse_literal(DType::InetService, "ssh", false).unwrap().v,
            22
        );
        assert_eq!(parse_literal(DType::InetProto, "tcp", false).unwrap().v, 6);
        assert_eq!(
            parse_literal(DType::Ipv4, "10.0.0.1", false).unwrap().v,
            0x0a000001
        );
        assert!(parse_literal(DType::Ipv4, "::1", false).is_err());
        assert_eq!(parse_literal(DType::CtState, "new", false).unwrap().v, 8);
        assert!(parse_literal(DType::CtState, "xxx", false).is_err());
        assert!(parse_literal(DType::InetService, "65536", false).is_err());
        assert_eq!(
            parse_literal(DType::Mark, "0x4000", false).unwrap().v,
            0x4000
        );
        let e = parse_literal(DType::Ifname, "eth0", true).unwrap();
        assert_eq!(ifname_string(e.v), "eth0");
        assert_eq!(e.v >> 96, u32::from_be_bytes(*b"eth0") as u128);
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            parse_datetime_ns("1970-01-02 00:00:01"),
            Some(86_401_000_000_000)
        );
        assert_eq!(
            parse_datetime_ns("2022-05-30 21:51:23"),
            Some(1_653_947_483_000_000_000)
        );
        assert_eq!(parse_hour("21:51"), Some(78_660));
        assert_eq!(parse_literal(DType::Day, "Monday", true).unwrap().v, 1);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_time_ms("10800"), Some(10_800_000));
        assert_eq!(parse_time_ms("100ms"), Some(100));
        assert_eq!(parse_time_ms("x"), None);
        assert_eq!(fmt_time_ms(5_400_000), "1h30m");
    }

    #[test]
    fn display() {
        assert_eq!(
            Value::new(DType::CtState, 6).to_string(),
            "established,related"
        );
        assert_eq!(Value::new(DType::Mark, 4).to_string(), "0x00000004");
        assert_eq!(Value::new(DType::InetProto, 6).to_string(), "tcp");
    }
}
