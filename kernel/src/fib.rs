//! The router's devices, addresses and routing tables (the FIB), and the lookups the packet
//! path makes in them: the input route of a received packet (`ip_route_input_slow`,
//! `ip6_route_input`), the output route of a packet the router sends itself
//! (`ip_route_output_key_hash`, `ip6_route_output`), the reverse route `flow add` looks up
//! (`nft_flow_route` → `nf_route`), the source address the router picks
//! (`inet_select_addr`, `ipv6_dev_get_saddr`) and the multicast groups a device has joined.
//!
//! The router has two devices, LAN and WAN, each with an MTU and addresses. Routing is the
//! kernel's policy routing reduced to what routers (and the kernel oracle's router) use: a
//! `main` table with prefix routes per device, and optionally a second table `reply` that
//! an `ip rule iif WAN lookup reply` consults first for packets received on WAN. The local
//! table is implicit: the devices' addresses, their subnet broadcasts, and the limited
//! broadcast.
//!
//! [`FibSpec`] is what a user configures (`rules eval --route/--addr/--mtu`, scenario keys);
//! [`Fib::build`] turns it into tables for the side mode of the replay (see [`FibSpec`] for
//! the defaults, which are exactly the kernel oracle's router).

use offsim_traces::tuple::AddrMap;

use crate::sides::{Prefix, SideMode};

/// Interface index of the loopback device.
pub const LO_IFINDEX: u32 = 1;

/// An address of a device (`ip addr add ADDR/LEN dev DEV`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// IP version.
    pub version: u8,
    /// Address (IPv4 in the low 32 bits).
    pub addr: u128,
    /// Prefix length (32 or 128 when not given: no connected route, no subnet broadcast).
    pub len: u8,
}

impl IfAddr {
    /// Parses `a.b.c.d[/n]` or `v6addr[/n]`.
    pub fn parse(s: &str) -> Option<IfAddr> {
        let p = Prefix::parse(s)?;
        let a = IfAddr {
            version: p.version,
            addr: p.addr,
            len: p.len,
        };
        let unspecified = a.addr == 0;
        let multicast = if a.version == 4 {
            a.addr >> 28 == 0xe
        } else {
            a.addr >> 120 == 0xff
        };
        (!unspecified && !multicast).then_some(a)
    }

    /// The prefix the address's connected route covers.
    fn subnet(&self) -> Prefix {
        Prefix {
            version: self.version,
            addr: self.addr,
            len: self.len,
        }
    }

    /// The IPv4 subnet broadcast address (`fib_add_ifaddr`: only for prefixes shorter than
    /// /31).
    fn broadcast(&self) -> Option<u128> {
        (self.version == 4 && self.len < 31).then(|| {
            let host = u32::MAX >> self.len;
            u128::from(self.addr as u32 | host)
        })
    }
}

/// A network device of the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Name (as the ruleset names it).
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
    /// MTU (bytes of IP packet).
    pub mtu: u32,
    /// Addresses, primary first per family.
    pub addrs: Vec<IfAddr>,
}

/// A route in a [`FibSpec`]: `PREFIX=DEV`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix (`default` is 0.0.0.0/0 and ::/0).
    pub prefixes: Vec<Prefix>,
    /// Output device name.
    pub dev: String,
}

impl RouteSpec {
    /// Parses `PREFIX=DEV` (`default=DEV` for both families' default routes).
    pub fn parse(s: &str) -> Result<RouteSpec, FibError> {
        let (p, dev) = s
            .split_once('=')
            .ok_or_else(|| FibError::Syntax(format!("route `{s}`: expected PREFIX=DEV")))?;
        let (p, dev) = (p.trim(), dev.trim());
        if dev.is_empty() {
            return Err(FibError::Syntax(format!("route `{s}`: no device")));
        }
        let prefixes = if p == "default" {
            vec![
                Prefix::parse("0.0.0.0/0").expect("v4 default"),
                Prefix::parse("::/0").expect("v6 default"),
            ]
        } else {
            vec![
                Prefix::parse(p)
                    .ok_or_else(|| FibError::Syntax(format!("route `{s}`: bad prefix `{p}`")))?,
            ]
        };
        Ok(RouteSpec {
            prefixes,
            dev: dev.to_string(),
        })
    }
}

/// Parses an MTU setting: `BYTES` (every device) or `DEV=BYTES`.
pub fn parse_mtu(s: &str) -> Result<(Option<String>, u32), FibError> {
    let (dev, v) = match s.split_once('=') {
        Some((d, v)) => (Some(d.trim().to_string()), v),
        None => (None, s),
    };
    let m = v
        .trim()
        .parse::<u32>()
        .map_err(|_| FibError::Syntax(format!("MTU `{s}`: expected BYTES or DEV=BYTES")))?;
    if !(68..=65535).contains(&m) {
        return Err(FibError::Mtu(m));
    }
    Ok((dev, m))
}

/// An address in a [`FibSpec`]: `DEV=ADDR[/LEN]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSpec {
    /// Device name.
    pub dev: String,
    /// The address.
    pub addr: IfAddr,
}

impl AddrSpec {
    /// Parses `DEV=ADDR[/LEN]`.
    pub fn parse(s: &str) -> Result<AddrSpec, FibError> {
        let (dev, a) = s
            .split_once('=')
            .ok_or_else(|| FibError::Syntax(format!("address `{s}`: expected DEV=ADDR[/LEN]")))?;
        let addr = IfAddr::parse(a.trim()).ok_or_else(|| {
            FibError::Syntax(format!(
                "address `{s}`: `{a}` is not a unicast IPv4 or IPv6 address"
            ))
        })?;
        Ok(AddrSpec {
            dev: dev.trim().to_string(),
            addr,
        })
    }
}

/// Why a FIB cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    /// A route or address string does not parse.
    #[error("{0}")]
    Syntax(String),
    /// A route or address names a device the router does not have.
    #[error("{what} names device `{dev}`, but the router's devices are `{lan}` and `{wan}`")]
    UnknownDevice {
        /// The route or address.
        what: String,
        /// The device named.
        dev: String,
        /// The LAN device.
        lan: String,
        /// The WAN device.
        wan: String,
    },
    /// An MTU out of range.
    #[error("MTU {0}: must be between 68 and 65535 (the range of an Ethernet/veth device)")]
    Mtu(u32),
}

/// The default IPv4 address of the LAN device: OpenWrt's LAN address (`192.168.1.1`,
/// `package/base-files/files/bin/config_generate`), as a host address (/32: no connected
/// route, so routing stays as the routes say).
pub const DEFAULT_LAN_ADDR: &str = "192.168.1.1/32";
/// The default IPv4 address of the WAN device: the first address of the shared address
/// space carrier-grade NAT gives subscribers (100.64.0.0/10, RFC 6598), as a host address.
pub const DEFAULT_WAN_ADDR: &str = "100.64.0.1/32";
/// The default device MTU (Ethernet).
pub const DEFAULT_MTU: u32 = 1500;

/// What the user configures about the router's routing: the device MTU, addresses (empty:
/// the defaults, one IPv4 address per device, [`DEFAULT_LAN_ADDR`] and [`DEFAULT_WAN_ADDR`])
/// and extra routes.
///
/// [`Fib::build`] adds the routes of the replay's side mode, which are those of the kernel
/// oracle's router (`sim/tests/kernel/router.rs`):
/// * `single`: default routes (IPv4 and IPv6) via WAN only.
/// * `flow`: default routes via WAN; a host route via LAN for every address seen only on the
///   LAN side ([`FibSpec::lan_hosts`]); a `reply` table with default routes via LAN,
///   consulted first for what arrives on WAN (`ip rule add iif WAN lookup 200`).
/// * `lan=PREFIX,…`: as `flow`, plus a route via LAN for each prefix.
///
/// User routes go into `main` after these (replacing a route of the same prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibSpec {
    /// MTU of both devices.
    pub mtu: u32,
    /// Per-device MTUs (device name, MTU) that override `mtu` (e.g. a PPPoE WAN's 1492).
    pub dev_mtu: Vec<(String, u32)>,
    /// Addresses (empty: the defaults).
    pub addrs: Vec<AddrSpec>,
    /// Routes added to `main`.
    pub routes: Vec<RouteSpec>,
    /// Addresses with a host route via LAN (version, address), in `flow` and `lan=` modes.
    pub lan_hosts: Vec<(u8, u128)>,
}

impl Default for FibSpec {
    fn default() -> Self {
        FibSpec {
            mtu: DEFAULT_MTU,
            dev_mtu: Vec::new(),
            addrs: Vec::new(),
            routes: Vec::new(),
            lan_hosts: Vec::new(),
        }
    }
}

/// Marks a host route the simulator learned (not configured): it may be forgotten.
const LEARNED: u32 = 1 << 31;

/// One routing table: host routes hashed, other prefixes by decreasing length (longest
/// prefix match), per family.
///
/// The host routes are an [`AddrMap`] (8 bytes an IPv4 route, in huge pages, its look-ups
/// prefetchable) rather than a map of 128-bit keys (32 bytes a route, in small pages): the
/// simulator learns a route per LAN host, and on a SYN flood of spoofed sources that is a
/// route per packet.
#[derive(Clone, Debug, Default)]
struct Table {
    hosts: AddrMap<u32>,
    nets: [Vec<(Prefix, u32)>; 2],
}

fn fam(version: u8) -> usize {
    usize::from(version == 6)
}

impl Table {
    fn add(&mut self, p: Prefix, ifindex: u32) {
        let f = fam(p.version);
        if p.len == if p.version == 4 { 32 } else { 128 } {
            *self.hosts.get_or_insert_with(p.version, p.addr, || ifindex) = ifindex;
            return;
        }
        let nets = &mut self.nets[f];
        if let Some(r) = nets
            .iter_mut()
            .find(|(q, _)| q.len == p.len && q.contains(p.version, p.addr))
        {
            r.1 = ifindex;
            return;
        }
        nets.push((p, ifindex));
        nets.sort_by_key(|n| std::cmp::Reverse(n.0.len));
    }

    /// Longest prefix match; with `oif`, only routes via that device count
    /// (`fib_lookup_good_nhc`: a route through another device is skipped).
    fn lookup(&self, version: u8, addr: u128, oif: Option<u32>) -> Option<u32> {
        let f = fam(version);
        let ok = |dev: u32| oif.is_none_or(|o| o == dev);
        if let Some(&d) = self.hosts.get(version, addr)
            && ok(d & !LEARNED)
        {
            return Some(d & !LEARNED);
        }
        self.nets[f]
            .iter()
            .find(|(p, d)| ok(*d) && p.contains(version, addr))
            .map(|(_, d)| *d)
    }
}

/// Where the local table sends a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalDest {
    /// One of the router's addresses (`RTN_LOCAL`).
    Address,
    /// Limited or subnet broadcast (`RTN_BROADCAST`).
    Broadcast,
}

/// The router's devices and routing tables.
#[derive(Clone, Debug)]
pub struct Fib {
    devs: Vec<Device>,
    /// `main` (0) and `reply` (1).
    tables: [Table; 2],
    /// `ip rule iif DEV lookup reply`: the device, if the rule exists.
    reply_rule_iif: Option<u32>,
    /// The local table: every device address as (version, address), then the IPv4 subnet
    /// broadcasts (version 0), flattened from `devs` once built (every routed packet asks).
    local: Vec<(u8, u128)>,
}

impl Fib {
    /// The FIB of a router whose LAN device is `lan` (ifindex `lan_ifindex`) and WAN device
    /// `wan`, for replays in side mode `sides` (see [`FibSpec`]).
    pub fn build(
        spec: &FibSpec,
        lan: (&str, u32),
        wan: (&str, u32),
        sides: &SideMode,
    ) -> Result<Fib, FibError> {
        for m in std::iter::once(spec.mtu).chain(spec.dev_mtu.iter().map(|(_, m)| *m)) {
            if !(68..=65535).contains(&m) {
                return Err(FibError::Mtu(m));
            }
        }
        let dev = |name: &str, ifindex: u32| Device {
            name: name.to_string(),
            ifindex,
            mtu: spec.mtu,
            addrs: Vec::new(),
        };
        let mut fib = Fib {
            devs: vec![dev(lan.0, lan.1), dev(wan.0, wan.1)],
            tables: [Table::default(), Table::default()],
            reply_rule_iif: None,
            local: Vec::new(),
        };
        let unknown = |what: String, d: &str| FibError::UnknownDevice {
            what,
            dev: d.to_string(),
            lan: lan.0.to_string(),
            wan: wan.0.to_string(),
        };
        let index_of = |d: &str| {
            if d == lan.0 {
                Some(0)
            } else if d == wan.0 {
                Some(1)
            } else {
                None
            }
        };
        if spec.addrs.is_empty() {
            for (i, a) in [DEFAULT_LAN_ADDR, DEFAULT_WAN_ADDR].iter().enumerate() {
                fib.devs[i]
                    .addrs
                    .push(IfAddr::parse(a).expect("default address"));
            }
        }
        for (d, m) in &spec.dev_mtu {
            let i = index_of(d).ok_or_else(|| unknown(format!("MTU {m}"), d))?;
            fib.devs[i].mtu = *m;
        }
        for a in &spec.addrs {
            let i = index_of(&a.dev)
                .ok_or_else(|| unknown(format!("address {}", show(a.addr)), &a.dev))?;
            fib.devs[i].addrs.push(a.addr);
        }
        let v4_default = Prefix::parse("0.0.0.0/0").expect("v4 default");
        let v6_default = Prefix::parse("::/0").expect("v6 default");
        for p in [v4_default, v6_default] {
            fib.tables[0].add(p, wan.1);
        }
        if *sides != SideMode::Single {
            for p in [v4_default, v6_default] {
                fib.tables[1].add(p, lan.1);
            }
            fib.reply_rule_iif = Some(wan.1);
            for &(v, a) in &spec.lan_hosts {
                let len = if v == 4 { 32 } else { 128 };
                fib.tables[0].add(
                    Prefix {
                        version: v,
                        addr: a,
                        len,
                    },
                    lan.1,
                );
            }
            if let SideMode::Lan(ps) = sides {
                for p in ps {
                    fib.tables[0].add(*p, lan.1);
                }
            }
        }
        // Connected routes of addresses with a prefix (`fib_add_ifaddr`).
        for i in 0..fib.devs.len() {
            let ifindex = fib.devs[i].ifindex;
            let subnets: Vec<Prefix> = fib.devs[i]
                .addrs
                .iter()
                .filter(|a| a.len < if a.version == 4 { 32 } else { 128 })
                .map(IfAddr::subnet)
                .collect();
            for p in subnets {
                fib.tables[0].add(p, ifindex);
            }
        }
        for r in &spec.routes {
            let i = index_of(&r.dev).ok_or_else(|| unknown("a route".to_string(), &r.dev))?;
            for p in &r.prefixes {
                fib.tables[0].add(*p, fib.devs[i].ifindex);
            }
        }
        let addrs = fib.devs.iter().flat_map(|d| d.addrs.iter());
        fib.local = addrs.clone().map(|a| (a.version, a.addr)).collect();
        fib.local
            .extend(addrs.filter_map(IfAddr::broadcast).map(|b| (0, b)));
        Ok(fib)
    }

    /// Adds a host route via `ifindex` to `main` (the simulator learns LAN hosts as they
    /// appear).
    pub fn add_host_route(&mut self, version: u8, addr: u128, ifindex: u32) {
        let learned = ifindex | LEARNED;
        let d = self.tables[0]
            .hosts
            .get_or_insert_with(version, addr, || learned);
        // A configured host route stays as configured.
        if *d & LEARNED != 0 {
            *d = learned;
        }
    }

    /// Asks for the lines [`Fib::add_host_route`] of `addr` will read first (a hint).
    #[inline]
    pub fn prefetch_host_route(&self, version: u8, addr: u128) {
        self.tables[0].hosts.prefetch(version, addr);
    }

    /// Removes a host route [`Fib::add_host_route`] learned (the side split forgot the last
    /// connection of that host), so the table follows live hosts, not every host ever seen.
    pub fn forget_host_route(&mut self, version: u8, addr: u128) {
        let hosts = &mut self.tables[0].hosts;
        if hosts.get(version, addr).is_some_and(|d| d & LEARNED != 0) {
            hosts.remove(version, addr);
            hosts.shrink_if_sparse();
        }
    }

    /// Whether the FIB routes what arrives on WAN back to LAN (`flow` and `lan=` modes).
    pub fn two_sided(&self) -> bool {
        self.reply_rule_iif.is_some()
    }

    /// The devices.
    pub fn devices(&self) -> &[Device] {
        &self.devs
    }

    /// A device by interface index.
    pub fn device(&self, ifindex: u32) -> Option<&Device> {
        self.devs.iter().find(|d| d.ifindex == ifindex)
    }

    /// The MTU of a device (loopback's is 65536, `loopback_setup`).
    pub fn mtu(&self, ifindex: u32) -> u32 {
        self.device(ifindex).map_or(65536, |d| d.mtu)
    }

    /// Whether `addr` is one of the router's addresses.
    #[inline]
    pub fn is_local(&self, version: u8, addr: u128) -> bool {
        self.local.iter().any(|&(v, a)| v == version && a == addr)
    }

    /// What the local table says of a destination (`RTN_LOCAL`, `RTN_BROADCAST`), if
    /// anything: an address of the router, a subnet broadcast of one (IPv4), the limited
    /// broadcast.
    pub fn local_dest(&self, version: u8, dst: u128) -> Option<LocalDest> {
        if self.is_local(version, dst) {
            return Some(LocalDest::Address);
        }
        if version == 4 && (dst == u128::from(u32::MAX) || self.is_local(0, dst)) {
            return Some(LocalDest::Broadcast);
        }
        None
    }

    /// Whether device `ifindex` has joined multicast group `group` (`ip_check_mc_rcu`,
    /// `ipv6_chk_mcast_addr`): every IPv4 device joins all-hosts 224.0.0.1 when it comes up
    /// (`ip_mc_up`), every IPv6 device the all-nodes groups ff01::1 and ff02::1
    /// (`ipv6_add_dev`) and the solicited-node group of each of its addresses
    /// (`addrconf_join_solict`). The router runs no multicast routing and no daemon that
    /// joins groups; all-routers (ff02::2) is joined only on devices with multicast enabled,
    /// which the oracle's are not.
    pub fn joined(&self, ifindex: u32, version: u8, group: u128) -> bool {
        if version == 4 {
            return group == 0xe000_0001;
        }
        if group == 0xff01_0000_0000_0000_0000_0000_0000_0001
            || group == 0xff02_0000_0000_0000_0000_0000_0000_0001
        {
            return true;
        }
        const SOLICITED: u128 = 0xff02_0000_0000_0000_0000_0001_ff00_0000;
        self.device(ifindex).is_some_and(|d| {
            d.addrs
                .iter()
                .any(|a| a.version == 6 && SOLICITED | (a.addr & 0xff_ffff) == group)
        })
    }

    /// Policy routing then the table: `reply` first for packets received on the rule's
    /// device, then `main` (`fib_lookup` / `fib6_rule_lookup`). `iif` is the input device
    /// (`LO_IFINDEX` for locally generated packets, which no `iif` rule matches). `oif`
    /// restricts the lookup to routes via that device.
    fn lookup(&self, version: u8, dst: u128, iif: u32, oif: Option<u32>) -> Option<u32> {
        if self.reply_rule_iif == Some(iif)
            && let Some(d) = self.tables[1].lookup(version, dst, oif)
        {
            return Some(d);
        }
        self.tables[0].lookup(version, dst, oif)
    }

    /// The output device of a packet received on `iif` and routed on (`ip_route_input_slow`
    /// → `fib_lookup`, `ip6_route_input`); `None`: no route.
    pub fn route_input(&self, version: u8, dst: u128, iif: u32) -> Option<u32> {
        self.lookup(version, dst, iif, None)
    }

    /// The output device of a packet the router sends itself (`ip_route_output_key_hash`
    /// sets `flowi4_iif` to loopback, `ip6_route_output` `flowi6_iif`); `None`: no route.
    pub fn route_output(&self, version: u8, dst: u128) -> Option<u32> {
        self.lookup(version, dst, LO_IFINDEX, None)
    }

    /// The output route of a packet the router sends that must leave by `oif` (an IPv6
    /// lookup with an output device and no source address is strict,
    /// `ip6_route_output_flags_noref`): `oif` if a route through it covers `dst`.
    pub fn route_output_via(&self, version: u8, dst: u128, oif: u32) -> Option<u32> {
        self.lookup(version, dst, LO_IFINDEX, Some(oif))
    }

    /// The device of the route back to `daddr` that `flow add` looks up for the other
    /// direction of a connection (`nft_flow_route` → `nf_route`, flowi `oif` = the packet's
    /// input device `nft_in`, `iif` = its output device):
    /// * IPv4 (`nf_ip_route` → `ip_route_output_key`): the lookup honours `iif` rules and is
    ///   strict on `oif` (`fib_lookup_good_nhc`); with no route through `oif` it assumes
    ///   the destination is on link (`ip_route_output_key_hash_rcu`, "routing tables are
    ///   wrong"). Either way the route leaves by `nft_in`.
    /// * IPv6 (`nf_ip6_route` with `strict` false → `ip6_route_output_flags_noref`): sets
    ///   `flowi6_iif` to loopback, so no `iif` rule applies, and is not strict on `oif` (a
    ///   global destination with a source address), so the route follows the table alone;
    ///   no route means no flowtable entry. An address of the router routes via loopback.
    pub fn flow_reverse(&self, version: u8, daddr: u128, nft_in: u32) -> Option<u32> {
        if version == 4 {
            return Some(nft_in);
        }
        if self.is_local(6, daddr) {
            return Some(LO_IFINDEX);
        }
        self.route_output(6, daddr)
    }

    /// The source address the router gives a packet to `dst` it sends out of `dev`:
    /// * IPv4 (`inet_select_addr`, scope universe): the device's primary address, else the
    ///   first address of another device (the loopback's 127.0.0.1 has host scope and never
    ///   qualifies); `None` without any.
    /// * IPv6 (`ipv6_dev_get_saddr`): an address of the device, else of any device in the
    ///   namespace — which includes the loopback's `::1` when nothing else exists; only the
    ///   device's own for a link-local or multicast destination.
    pub fn select_src(&self, version: u8, dev: u32, dst: u128) -> Option<u128> {
        let of = |d: &Device| {
            d.addrs
                .iter()
                .find(|a| a.version == version)
                .map(|a| a.addr)
        };
        let own = self.device(dev).and_then(of);
        if version == 4 {
            return own.or_else(|| self.devs.iter().find_map(of));
        }
        let oif_only = dst >> 120 == 0xff || dst >> 118 == 0x3fa;
        if oif_only {
            return own;
        }
        own.or_else(|| self.devs.iter().find_map(of)).or(Some(1))
    }
}

/// Whether an address can have a host route (what the kernel oracle routes back to the
/// LAN): not multicast, broadcast, unspecified, loopback or link-local.
pub fn routable(version: u8, a: u128) -> bool {
    if version == 4 {
        let v = std::net::Ipv4Addr::from(a as u32);
        !(v.is_multicast()
            || v.is_broadcast()
            || v.is_unspecified()
            || v.is_loopback()
            || v.is_link_local())
    } else {
        let v = std::net::Ipv6Addr::from(a);
        !(v.is_multicast() || v.is_unspecified() || v.is_loopback() || v.is_unicast_link_local())
    }
}

fn show(a: IfAddr) -> String {
    if a.version == 4 {
        format!("{}/{}", std::net::Ipv4Addr::from(a.addr as u32), a.len)
    } else {
        format!("{}/{}", std::net::Ipv6Addr::from(a.addr), a.len)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn v4(s: &str) -> u128 {
        u128::from(u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()))
    }
    fn v6(s: &str) -> u128 {
        u128::from(s.parse::<std::net::Ipv6Addr>().unwrap())
    }

    fn fib(sides: &str, spec: FibSpec) -> Fib {
        Fib::build(
            &spec,
            ("lan0", 2),
            ("wan0", 3),
            &SideMode::parse(sides).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn single_sided_routes_everything_to_wan() {
        let f = fib("single", FibSpec::default());
        assert_eq!(f.route_input(4, v4("192.0.2.1"), 2), Some(3));
        assert_eq!(f.route_input(6, v6("2001:db8::1"), 2), Some(3));
        // IPv6's reverse route follows the default route; IPv4's leaves by the input device.
        assert_eq!(f.flow_reverse(6, v6("2001:db8:1::10"), 2), Some(3));
        assert_eq!(f.flow_reverse(4, v4("192.0.2.10"), 2), Some(2));
        assert!(f.is_local(4, v4("192.168.1.1")));
        assert_eq!(f.select_src(4, 3, v4("192.0.2.10")), Some(v4("100.64.0.1")));
        // No IPv6 address: the loopback's ::1 (but not towards a link-local address).
        assert_eq!(f.select_src(6, 3, v6("2001:db8::1")), Some(1));
        assert_eq!(f.select_src(6, 3, v6("fe80::1")), None);
    }

    #[test]
    fn flow_mode_is_the_oracle_router() {
        let spec = FibSpec {
            lan_hosts: vec![(6, v6("2001:db8:1::10")), (4, v4("192.0.2.10"))],
            ..FibSpec::default()
        };
        let f = fib("flow", spec);
        // LAN hosts are routed back via LAN; everything else via WAN, except what arrives
        // on WAN (`iif wan0 lookup reply`).
        assert_eq!(f.route_input(6, v6("2001:db8:1::10"), 2), Some(2));
        assert_eq!(f.route_input(6, v6("2001:db8:2::1"), 2), Some(3));
        assert_eq!(f.route_input(6, v6("2001:db8:2::1"), 3), Some(2));
        assert_eq!(f.route_output(6, v6("2001:db8:2::1")), Some(3));
        assert_eq!(f.flow_reverse(6, v6("2001:db8:1::10"), 3), Some(2));
        assert_eq!(f.flow_reverse(6, v6("2001:db8:1::99"), 2), Some(3));
    }

    #[test]
    fn learned_host_routes_come_and_go_configured_ones_stay() {
        let spec = FibSpec {
            lan_hosts: vec![(4, v4("192.0.2.10")), (6, v6("2001:db8:1::10"))],
            ..FibSpec::default()
        };
        let mut f = fib("flow", spec);
        for (v, h, c) in [
            (4, v4("198.51.100.7"), v4("192.0.2.10")),
            (6, v6("2001:db8:2::7"), v6("2001:db8:1::10")),
        ] {
            assert_eq!(f.route_output(v, h), Some(3));
            f.add_host_route(v, h, 2);
            assert_eq!(f.route_output(v, h), Some(2), "learned");
            f.add_host_route(v, h, 2);
            f.forget_host_route(v, h);
            assert_eq!(f.route_output(v, h), Some(3), "forgotten");
            // a configured host route is neither replaced nor forgotten
            f.add_host_route(v, c, 3);
            assert_eq!(f.route_output(v, c), Some(2));
            f.forget_host_route(v, c);
            assert_eq!(f.route_output(v, c), Some(2));
        }
        // Many hosts learned and forgotten: routes follow the live ones.
        for i in 0..100_000u128 {
            f.add_host_route(4, (10 << 24) + i, 2);
        }
        for i in 0..100_000u128 {
            f.forget_host_route(4, (10 << 24) + i);
        }
        assert_eq!(f.tables[0].hosts.len(), 2, "the configured two are left");
    }

    #[test]
    fn prefixes_addresses_and_user_routes() {
        let spec = FibSpec {
            addrs: vec![
                AddrSpec::parse("lan0=192.168.7.1/24").unwrap(),
                AddrSpec::parse("wan0=2001:db8:ff::1").unwrap(),
            ],
            routes: vec![
                RouteSpec::parse("10.0.0.0/8=lan0").unwrap(),
                RouteSpec::parse("default=lan0").unwrap(),
            ],
            ..FibSpec::default()
        };
        let f = fib("lan=192.0.2.0/24", spec);
        assert_eq!(f.route_input(4, v4("192.0.2.77"), 3), Some(2));
        assert_eq!(f.route_input(4, v4("10.1.2.3"), 2), Some(2));
        assert_eq!(f.route_input(4, v4("192.168.7.9"), 2), Some(2));
        assert_eq!(f.route_output(4, v4("8.8.8.8")), Some(2));
        assert_eq!(
            f.local_dest(4, v4("192.168.7.255")),
            Some(LocalDest::Broadcast)
        );
        assert_eq!(
            f.local_dest(4, v4("255.255.255.255")),
            Some(LocalDest::Broadcast)
        );
        assert_eq!(f.local_dest(4, v4("192.168.7.1")), Some(LocalDest::Address));
        assert_eq!(f.local_dest(4, v4("192.168.1.1")), None);
        assert_eq!(
            f.local_dest(6, v6("2001:db8:ff::1")),
            Some(LocalDest::Address)
        );
        // A broadcast is an IPv4 destination only; an address of the other family with
        // the same bits is not local.
        assert_eq!(f.local_dest(6, v4("192.168.7.255")), None);
        assert_eq!(f.local_dest(4, v6("2001:db8:ff::1")), None);
        assert!(f.is_local(4, v4("192.168.7.1")) && !f.is_local(4, v4("192.168.7.255")));
        assert!(f.joined(3, 6, v6("ff02::1:ff00:1")));
        assert!(!f.joined(2, 6, v6("ff02::1:ff00:1")));
        assert!(f.joined(2, 4, v4("224.0.0.1")));
        assert!(!f.joined(2, 4, v4("224.0.0.251")));
        // The only IPv6 address is on WAN: the router uses it on LAN too.
        assert_eq!(
            f.select_src(6, 2, v6("2001:db8::9")),
            Some(v6("2001:db8:ff::1"))
        );
    }

    #[test]
    fn bad_specs_are_errors() {
        assert!(RouteSpec::parse("10.0.0.0/8").is_err());
        assert!(RouteSpec::parse("10.0.0.0/33=lan0").is_err());
        assert!(AddrSpec::parse("lan0=224.0.0.1").is_err());
        assert!(AddrSpec::parse("lan0").is_err());
        let spec = FibSpec {
            routes: vec![RouteSpec::parse("10.0.0.0/8=eth1").unwrap()],
            ..FibSpec::default()
        };
        let e = Fib::build(&spec, ("lan0", 2), ("wan0", 3), &SideMode::Single).unwrap_err();
        assert!(e.to_string().contains("`eth1`"), "{e}");
        let spec = FibSpec {
            mtu: 40,
            ..FibSpec::default()
        };
        assert!(Fib::build(&spec, ("lan0", 2), ("wan0", 3), &SideMode::Single).is_err());
    }
}
