//! Which path carried a packet: the one name for it across the kernel crate, the engine and
//! the report (per-path arrays are indexed by [`Path::index`]).

/// The path a packet took through the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// The classic path: `ip_rcv`, the netfilter hooks, routing, `ip_forward`.
    Slow,
    /// The software flowtable (`nf_flow_offload_ip_hook` at netdev ingress).
    SwFast,
    /// The NIC's flow table: the packet never reached the CPU.
    Hw,
}

impl Path {
    /// Number of paths: the length of per-path arrays.
    pub const COUNT: usize = 3;
    /// Every path, in index order.
    pub const ALL: [Path; Path::COUNT] = [Path::Slow, Path::SwFast, Path::Hw];

    /// Index into per-path arrays (`[T; Path::COUNT]`).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Report name (`slow`, `sw_fast`, `hw`).
    pub const fn name(self) -> &'static str {
        match self {
            Path::Slow => "slow",
            Path::SwFast => "sw_fast",
            Path::Hw => "hw",
        }
    }
}
