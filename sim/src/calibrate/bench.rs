//! The namespace micro-benchmark of `shared/calibration/nftbench`: a sender, a router and a
//! sink in three network namespaces joined by veth pairs. All the softirq work of a packet
//! (the router's whole forward path and the sink's receive) runs on the sender's CPU, inside
//! its `sendmmsg` call, so the CPU time the sender thread and that CPU's ksoftirqd spend per
//! packet is the path's cost. CPU time rather than wall time: other processes on the
//! machine take the CPU away from the sender without adding to it.
//!
//! The sender uses `sendmmsg` through the `nix` crate (safe wrappers; the workspace denies
//! unsafe code), 64 datagrams per call like nftbench's `udpflood.c`, so the per-packet
//! system call cost stays small next to the netfilter work being measured.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use nix::sched::{CloneFlags, CpuSet, sched_setaffinity, setns};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

use super::CalError;

/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;
/// UDP payload bytes (nftbench's 18).
const PAYLOAD: usize = 18;
/// The sink's address and port.
pub(crate) const SINK: Ipv4Addr = Ipv4Addr::new(10, 99, 2, 1);
/// Destination port of the fixed flows.
pub(crate) const DPORT: u16 = 6000;

/// Runs a command; its stderr in the error when it fails.
/// Turns IPv4 forwarding on in namespace `ns` (the router's).
fn forwarding_on(ns: &str) -> Result<(), CalError> {
    sh(
        &[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
        None,
    )
    .map(|_| ())
}

pub(crate) fn sh(args: &[&str], stdin: Option<&str>) -> Result<String, CalError> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let fail = |msg: String| CalError::Command {
        cmd: args.join(" "),
        msg,
    };
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How the sender addresses its datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// One flow from source port `sport` to the sink.
    Fixed {
        /// Source port.
        sport: u16,
    },
    /// One flow from source port `sport` to the sink through router `router` of a bench
    /// with several ([`Bench::with_routers`]; router 0 is the one [`Flow::Fixed`] takes).
    /// Every router's ruleset stays loaded, so flows through different rulesets are
    /// measured in the same moments, with no ruleset reload between them.
    Via {
        /// Source port.
        sport: u16,
        /// Router index.
        router: usize,
    },
    /// A new 5-tuple on every datagram: destinations `10.<net>.x.y` (routed to the sink),
    /// destination ports 1024-61023, starting at datagram `offset` of the sequence.
    NewEach {
        /// Second octet of the destination network.
        net: u8,
        /// Position in the sequence of tuples (never reuse one within a session).
        offset: u64,
    },
}

/// The namespaces (sender, routers, sink); removed on drop.
pub(crate) struct Bench {
    /// Namespace names: sender, router 0, sink.
    pub(crate) ns: [String; 3],
    /// Namespaces of routers 1.. ([`Bench::with_routers`]).
    more: Vec<String>,
    /// The sender's namespace, for `setns`.
    sender_ns: File,
    /// CPU the sender is pinned to.
    pub(crate) cpu: usize,
    /// PID of that CPU's ksoftirqd (softirq work deferred to it counts too).
    ksoftirqd: Option<u32>,
}

impl Bench {
    /// Builds the topology (`nftbench/setup.sh`) with the router's interfaces named `iif`
    /// (towards the sender) and `oif` (towards the sink).
    ///
    /// The topology with `routers` router namespaces side by side, identical but for the
    /// ruleset each is given: router `k` is reached from the sender's `a<k>` and reaches
    /// the sink's `c<k>`, with the same addresses in each (the sender's 10.99.1.1 on every
    /// `a<k>`, each router 10.99.1.2 and 10.99.2.2, the sink 10.99.2.1 on every `c<k>`), so
    /// a packet is the same packet whichever router it crosses. A [`Flow::Via`] socket is
    /// bound to its `a<k>` (`SO_BINDTODEVICE`), which picks that device's routes.
    pub(crate) fn with_routers(
        iif: &str,
        oif: &str,
        cpu: usize,
        routers: usize,
    ) -> Result<Bench, CalError> {
        let id = std::process::id();
        let ns = [
            format!("offsim-cal-{id}-a"),
            format!("offsim-cal-{id}-r"),
            format!("offsim-cal-{id}-c"),
        ];
        let more: Vec<String> = (1..routers.max(1))
            .map(|k| format!("offsim-cal-{id}-r{k}"))
            .collect();
        for n in ns.iter().chain(&more) {
            sh(&["ip", "netns", "add", n], None)?;
        }
        let b = Bench {
            more,
            sender_ns: File::open(format!("/run/netns/{}", ns[0])).map_err(|e| {
                CalError::Command {
                    cmd: format!("open /run/netns/{}", ns[0]),
                    msg: e.to_string(),
                }
            })?,
            ns,
            cpu,
            ksoftirqd: find_ksoftirqd(cpu),
        };
        let [a, r, c] = [&b.ns[0], &b.ns[1], &b.ns[2]].map(String::as_str);
        let ip = |args: &str| {
            let v: Vec<&str> = args.split_whitespace().collect();
            sh(&v, None)
        };
        ip(&format!(
            "ip link add a0 netns {a} type veth peer name {iif} netns {r}"
        ))?;
        ip(&format!(
            "ip link add {oif} netns {r} type veth peer name c0 address {} netns {c}",
            sink_mac(0)
        ))?;
        for cmd in [
            format!("ip -n {a} addr add 10.99.1.1/24 dev a0"),
            format!("ip -n {a} link set a0 up"),
            format!("ip -n {a} link set lo up"),
            format!("ip -n {a} route add default via 10.99.1.2"),
            format!("ip -n {r} addr add 10.99.1.2/24 dev {iif}"),
            format!("ip -n {r} addr add 10.99.2.2/24 dev {oif}"),
            format!("ip -n {r} link set {iif} up"),
            format!("ip -n {r} link set {oif} up"),
            format!("ip -n {r} link set lo up"),
            // the new-tuple destinations, all via the sink
            format!("ip -n {r} route add 10.100.0.0/14 via 10.99.2.1"),
            // the sink drops everything at ingress, ARP too: a permanent neighbour, so the
            // router transmits to the sink as a real one would (nftbench's sink answers ARP)
            // instead of queueing every datagram on an unresolved neighbour (`__neigh_event_send`)
            format!(
                "ip -n {r} neigh replace 10.99.2.1 lladdr {} dev {oif} nud permanent",
                sink_mac(0)
            ),
            format!("ip -n {c} addr add 10.99.2.1/24 dev c0"),
            format!("ip -n {c} link set c0 up"),
            format!("ip -n {c} link set lo up"),
            format!("ip -n {c} route add default via 10.99.2.2"),
        ] {
            ip(&cmd)?;
        }
        forwarding_on(r)?;
        // the sink drops everything at ingress, as nftbench's counter-drop does
        b.nft(
            2,
            "table netdev sink {\n chain in { type filter hook ingress device c0 priority 0; policy drop; }\n}\n",
        )?;
        for k in 1..=b.more.len() {
            b.add_router(k, iif, oif)?;
        }
        Ok(b)
    }

    /// Router `k` >= 1, beside router 0 (see [`Bench::with_routers`]).
    fn add_router(&self, k: usize, iif: &str, oif: &str) -> Result<(), CalError> {
        let (a, c) = (&self.ns[0], &self.ns[2]);
        let r = &self.more[k - 1];
        let ip = |args: &str| {
            let v: Vec<&str> = args.split_whitespace().collect();
            sh(&v, None)
        };
        ip(&format!(
            "ip link add a{k} netns {a} type veth peer name {iif} netns {r}"
        ))?;
        ip(&format!(
            "ip link add {oif} netns {r} type veth peer name c{k} address {} netns {c}",
            sink_mac(k)
        ))?;
        for cmd in [
            format!("ip -n {a} addr add 10.99.1.1/24 dev a{k} noprefixroute"),
            format!("ip -n {a} link set a{k} up"),
            // only a socket bound to a<k> takes these (fib_lookup_good_nhc)
            format!("ip -n {a} route add 10.99.1.0/24 dev a{k} metric {k}"),
            format!("ip -n {a} route add default via 10.99.1.2 dev a{k} metric {k}"),
            format!("ip -n {r} addr add 10.99.1.2/24 dev {iif}"),
            format!("ip -n {r} addr add 10.99.2.2/24 dev {oif}"),
            format!("ip -n {r} link set {iif} up"),
            format!("ip -n {r} link set {oif} up"),
            format!("ip -n {r} link set lo up"),
            format!("ip -n {r} route add 10.100.0.0/14 via 10.99.2.1"),
            format!(
                "ip -n {r} neigh replace 10.99.2.1 lladdr {} dev {oif} nud permanent",
                sink_mac(k)
            ),
            format!("ip -n {c} addr add 10.99.2.1/24 dev c{k} noprefixroute"),
            format!("ip -n {c} link set c{k} up"),
        ] {
            ip(&cmd)?;
        }
        forwarding_on(r)?;
        self.nft(
            2,
            &format!(
                "table netdev sink{k} {{\n chain in {{ type filter hook ingress device c{k} priority 0; policy drop; }}\n}}\n"
            ),
        )
    }

    /// Number of routers.
    pub(crate) fn routers(&self) -> usize {
        1 + self.more.len()
    }

    /// Namespace of router `k`.
    fn router_ns(&self, k: usize) -> &str {
        if k == 0 {
            &self.ns[1]
        } else {
            &self.more[k - 1]
        }
    }

    /// Replaces router `k`'s ruleset.
    pub(crate) fn ruleset_of(&self, k: usize, text: &str) -> Result<(), CalError> {
        sh(
            &["ip", "netns", "exec", self.router_ns(k), "nft", "-f", "-"],
            Some(&format!("flush ruleset\n{text}")),
        )?;
        Ok(())
    }

    /// Loads `text` (`nft -f -`) in namespace `k` (0 sender, 1 router, 2 sink).
    pub(crate) fn nft(&self, k: usize, text: &str) -> Result<(), CalError> {
        sh(
            &["ip", "netns", "exec", &self.ns[k], "nft", "-f", "-"],
            Some(text),
        )?;
        Ok(())
    }

    /// Replaces the router's ruleset.
    pub(crate) fn router_ruleset(&self, text: &str) -> Result<(), CalError> {
        self.nft(1, &format!("flush ruleset\n{text}"))
    }

    /// Sets a sysctl in every router.
    pub(crate) fn router_sysctl(&self, kv: &str) -> Result<(), CalError> {
        for k in 0..self.routers() {
            sh(
                &[
                    "ip",
                    "netns",
                    "exec",
                    self.router_ns(k),
                    "sysctl",
                    "-qw",
                    kv,
                ],
                None,
            )?;
        }
        Ok(())
    }

    /// Sends `count` datagrams of `flow` from the sender, pinned to the bench CPU; the CPU
    /// nanoseconds per datagram its thread and the CPU's ksoftirqd spent.
    pub(crate) fn run(&self, flow: Flow, count: u64) -> Result<f64, CalError> {
        let k0 = self.ksoftirqd.map(schedstat_ns).unwrap_or(0);
        let ns_fd = self.sender_ns.try_clone().map_err(io_err)?;
        let cpu = self.cpu;
        let (sent, thread_ns) =
            std::thread::scope(|s| s.spawn(move || flood(&ns_fd, cpu, flow, count)).join())
                .map_err(|_| CalError::Sender("the sender thread panicked".into()))??;
        let k1 = self.ksoftirqd.map(schedstat_ns).unwrap_or(0);
        if sent == 0 {
            return Err(CalError::Sender("no datagram was sent".into()));
        }
        Ok((thread_ns + k1.saturating_sub(k0)) as f64 / sent as f64)
    }

    /// Sends `chunks` rounds of `per_chunk` datagrams of each of `n` flows in turn
    /// (`flow(k, round)`; the order reversed every other round), so all the flows see the
    /// same moments of the machine; the CPU nanoseconds per datagram of each flow. `before`
    /// runs before each chunk.
    pub(crate) fn run_mixed(
        &self,
        flow: &mut dyn FnMut(usize, usize) -> Flow,
        n: usize,
        per_chunk: u64,
        chunks: usize,
        before: &mut dyn FnMut() -> Result<(), CalError>,
    ) -> Result<Vec<f64>, CalError> {
        let mut total = vec![0.0; n];
        for c in 0..chunks {
            for i in 0..n {
                let k = if c % 2 == 0 { i } else { n - 1 - i };
                before()?;
                total[k] += self.run(flow(k, c), per_chunk)?;
            }
        }
        Ok(total
            .into_iter()
            .map(|t| t / chunks.max(1) as f64)
            .collect())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for n in self.ns.iter().chain(&self.more) {
            let _ = sh(&["ip", "netns", "del", n], None);
        }
    }
}

fn io_err(e: std::io::Error) -> CalError {
    CalError::Sender(e.to_string())
}

fn nix_err(what: &str) -> impl Fn(nix::Error) -> CalError + '_ {
    move |e| CalError::Sender(format!("{what}: {e}"))
}

/// The sender thread: joins the sender namespace, pins itself, floods; (datagrams sent,
/// thread CPU ns).
fn flood(ns: &File, cpu: usize, flow: Flow, count: u64) -> Result<(u64, u64), CalError> {
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(nix_err("setns"))?;
    let mut set = CpuSet::new();
    set.set(cpu).map_err(nix_err("cpu set"))?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(nix_err("sched_setaffinity"))?;
    let sport = match flow {
        Flow::Fixed { sport } | Flow::Via { sport, .. } => sport,
        Flow::NewEach { .. } => 4999,
    };
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, sport)).map_err(io_err)?;
    if let Flow::Via { router, .. } = flow {
        let dev = std::ffi::OsString::from(format!("a{router}"));
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::BindToDevice, &dev)
            .map_err(nix_err("SO_BINDTODEVICE"))?;
    }
    if let Flow::Fixed { .. } | Flow::Via { .. } = flow {
        sock.connect(SocketAddrV4::new(SINK, DPORT))
            .map_err(io_err)?;
    }
    let buf = [b'x'; PAYLOAD];
    let iovs: Vec<[IoSlice; 1]> = (0..BATCH).map(|_| [IoSlice::new(&buf)]).collect();
    let mut hdrs = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let mut addrs: Vec<Option<SockaddrIn>> = vec![None; BATCH];
    let t0 = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_err(nix_err("clock"))?;
    let mut sent = 0u64;
    while sent < count {
        let n = (count - sent).min(BATCH as u64) as usize;
        if let Flow::NewEach { net, offset } = flow {
            for (i, a) in addrs.iter_mut().take(n).enumerate() {
                let k = offset + sent + i as u64;
                let host = (k / 60_000) as u32;
                let dst = Ipv4Addr::from(0x0a00_0000 | u32::from(net) << 16 | (host & 0xffff));
                *a = Some(SockaddrIn::from(SocketAddrV4::new(
                    dst,
                    1024 + (k % 60_000) as u16,
                )));
            }
        }
        let r = sendmmsg(
            sock.as_raw_fd(),
            &mut hdrs,
            &iovs[..n],
            &addrs[..n],
            [],
            MsgFlags::empty(),
        );
        match r {
            Ok(res) => sent += res.count() as u64,
            // the backlog is full: the datagrams are dropped, try again; or an ICMP error
            // (a ruleset that rejects the flow) was queued on the connected socket and this
            // call reported it (`ip_icmp_error` → `sk->sk_err`): the next call sends again
            Err(
                nix::Error::ENOBUFS
                | nix::Error::EAGAIN
                | nix::Error::EHOSTUNREACH
                | nix::Error::ENETUNREACH
                | nix::Error::ECONNREFUSED
                | nix::Error::EHOSTDOWN,
            ) => {}
            Err(e) => return Err(CalError::Sender(format!("sendmmsg: {e}"))),
        }
    }
    let t1 = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_err(nix_err("clock"))?;
    let ns = |t: nix::sys::time::TimeSpec| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64;
    Ok((sent, ns(t1).saturating_sub(ns(t0))))
}

/// The MAC address of the sink's interface `c<k>`.
fn sink_mac(k: usize) -> String {
    format!("02:00:00:99:02:{:02x}", k & 0xff)
}

/// PID of `ksoftirqd/CPU`.
fn find_ksoftirqd(cpu: usize) -> Option<u32> {
    let want = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == want).then_some(pid)
    })
}

/// Nanoseconds a task has run (`/proc/PID/schedstat`, first field).
fn schedstat_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
