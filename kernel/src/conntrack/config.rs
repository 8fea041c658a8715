//! Conntrack's sysctls: timeouts per protocol and state (kernel defaults, OpenWrt's values,
//! `ct timeout` policies) and the table's limits.

use offsim_traces::meta::proto;

use super::tcp::{self, TcpState};

/// Conntrack timeouts in seconds (kernel defaults or OpenWrt's sysctl values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtTimeouts {
    /// TCP per state (index = [`TcpState`] as usize), then RETRANS (10) and UNACK (11).
    pub tcp: [u32; 12],
    /// UDP unreplied.
    pub udp_unreplied: u32,
    /// UDP replied (stream).
    pub udp_replied: u32,
    /// ICMP / ICMPv6.
    pub icmp: u32,
    /// Other protocols.
    pub generic: u32,
}

impl CtTimeouts {
    /// The kernel's defaults (`tcp_timeouts[]` in `nf_conntrack_proto_tcp.c`, `udp_timeouts[]`,
    /// `nf_ct_icmp_timeout`, `nf_ct_generic_timeout`).
    pub fn kernel() -> Self {
        CtTimeouts {
            // NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK,
            // TIME_WAIT, CLOSE, SYN_SENT2, RETRANS, UNACK
            tcp: [0, 120, 60, 432_000, 120, 60, 30, 120, 10, 120, 300, 300],
            udp_unreplied: 30,
            udp_replied: 120,
            icmp: 30,
            generic: 600,
        }
    }

    /// These timeouts with the states named in an nftables `ct timeout` policy replaced
    /// (state names as nft spells them, seconds); states not named keep their value, as the
    /// kernel's `*_timeout_nlattr_to_obj` starts from the current defaults. TCP's NONE slot
    /// takes SYN_SENT's value as there (`timeouts[TCP_CONNTRACK_NONE] = SYN_SENT`). Unknown
    /// names are ignored (the loader validates them).
    pub fn with_policy(&self, protocol: u8, policy: &[(String, u32)]) -> CtTimeouts {
        let mut t = self.clone();
        for (name, secs) in policy {
            let s = *secs;
            match (protocol, name.as_str()) {
                (proto::TCP, n) => {
                    let i = match n {
                        "syn_sent" => TcpState::SynSent as usize,
                        "syn_recv" => TcpState::SynRecv as usize,
                        "established" => TcpState::Established as usize,
                        "fin_wait" => TcpState::FinWait as usize,
                        "close_wait" => TcpState::CloseWait as usize,
                        "last_ack" => TcpState::LastAck as usize,
                        "time_wait" => TcpState::TimeWait as usize,
                        "close" => TcpState::Close as usize,
                        "syn_sent2" => TcpState::SynSent2 as usize,
                        "retrans" => tcp::T_RETRANS,
                        "unack" => tcp::T_UNACK,
                        _ => continue,
                    };
                    t.tcp[i] = s;
                }
                (proto::UDP | proto::UDPLITE, "unreplied") => t.udp_unreplied = s,
                (proto::UDP | proto::UDPLITE, "replied") => t.udp_replied = s,
                (proto::ICMP | proto::ICMPV6, "timeout") => t.icmp = s,
                (_, "timeout") => t.generic = s,
                _ => {}
            }
        }
        t.tcp[TcpState::None as usize] = t.tcp[TcpState::SynSent as usize];
        t
    }

    /// The timeout a policy gives a connection of `protocol` when it is attached
    /// (`nft_ct_timeout_obj_eval` refreshes the entry with the policy's first value).
    pub fn initial(&self, protocol: u8) -> u32 {
        match protocol {
            proto::TCP => self.tcp[TcpState::None as usize],
            proto::UDP | proto::UDPLITE => self.udp_unreplied,
            proto::ICMP | proto::ICMPV6 => self.icmp,
            _ => self.generic,
        }
    }

    /// OpenWrt's overrides (`package/kernel/linux/files/sysctl-nf-conntrack.conf`):
    /// `tcp_timeout_established=7440`, `udp_timeout=60`, `udp_timeout_stream=180`.
    pub fn openwrt() -> Self {
        let mut t = Self::kernel();
        t.tcp[TcpState::Established as usize] = 7_440;
        t.udp_unreplied = 60;
        t.udp_replied = 180;
        t
    }
}

/// Conntrack configuration: sysctls and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtConfig {
    /// `nf_conntrack_tcp_loose` (pick up established connections mid-stream; default 1).
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal` (only out-of-window RSTs are invalid; default 0).
    pub tcp_be_liberal: bool,
    /// `nf_conntrack_tcp_ignore_invalid_rst` (default 0).
    pub tcp_ignore_invalid_rst: bool,
    /// `nf_conntrack_tcp_max_retrans` (default 3; OpenWrt 5? kernel default kept).
    pub tcp_max_retrans: u32,
    /// `nf_conntrack_checksum` (verify L4 checksums at PREROUTING; default 1). offsim treats
    /// every checksum as valid unless the caller verified it (captures from hosts with
    /// checksum offload carry bogus checksums; the kernel oracle fixes them the same way).
    pub checksum: bool,
    /// Timeouts.
    pub timeouts: CtTimeouts,
    /// `nf_conntrack_max`: table capacity (None = unlimited).
    pub max_entries: Option<u32>,
    /// `nf_conntrack_buckets` (`nf_conntrack_htable_size`); `None`: [`CtConfig::buckets`].
    pub buckets: Option<u32>,
}

/// Largest `nf_conntrack_buckets` accepted (the kernel caps the sysctl at
/// `INT_MAX / sizeof(struct hlist_nulls_head)`; offsim at 2^26, 256 MiB of heads).
pub const MAX_BUCKETS: u32 = 1 << 26;

impl CtConfig {
    /// The number of hash buckets: the configured `nf_conntrack_buckets`, else the pairing
    /// the kernel's autosizing gives (`nf_conntrack_init_start`: `nf_conntrack_max = 1 ×
    /// htable_size`, at least 1024 buckets), so `nf_conntrack_max` entries average two nodes
    /// a bucket; without a limit, the autosize of a machine with more than 4 GiB (262144).
    pub fn buckets(&self) -> u32 {
        self.buckets
            .unwrap_or(match self.max_entries {
                Some(m) => m.max(1024),
                None => 262_144,
            })
            .clamp(1, MAX_BUCKETS)
    }
}

impl Default for CtConfig {
    fn default() -> Self {
        CtConfig {
            tcp_loose: true,
            tcp_be_liberal: false,
            tcp_ignore_invalid_rst: false,
            tcp_max_retrans: 3,
            checksum: false,
            timeouts: CtTimeouts::kernel(),
            max_entries: None,
            buckets: None,
        }
    }
}
