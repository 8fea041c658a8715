//! Per-connection records: "is this flow offloaded, and if not, why?"
//!
//! A record is opened when a connection's conntrack entry is confirmed and closed when the
//! entry goes away (or at the end of the run). It counts the connection's packets per path
//! and remembers what happened to it: whether `flow add` created a software flowtable entry,
//! whether the NIC bound it, the last reason it was refused, and why it left the fast path.
//! Closed records are folded into aggregate counts by reason, a bounded list of the largest
//! flows as examples, and optionally one JSON line each.

use std::collections::BTreeMap;
use std::io::Write;

use offsim_traces::histogram::Histogram;
use offsim_traces::meta::{FlowKey, proto};
use offsim_traces::time::SimTime;

use crate::path::Path;

/// A reason, as an index into its book's names (0: none). Records are kept for every live
/// connection, so they hold one byte per reason, not a 16-byte `&str`.
type Code = u8;

/// One connection's history (64 bytes: its tuple is conntrack's, given at close).
#[derive(Clone, Debug, Default)]
pub struct FlowRecord {
    /// First packet (confirmation time).
    pub first: SimTime,
    /// Last packet.
    pub last: SimTime,
    /// Packets per path, by [`Path::index`].
    pub packets: [u64; Path::COUNT],
    /// Wire bytes, all paths.
    pub bytes: u64,
    /// Times the flow entered the flowtable.
    pub adds: u32,
    /// `flow add` created a flowtable entry at some point.
    pub sw: bool,
    /// The NIC held the flow at some point.
    pub hw: bool,
    /// Whether `flow add` was ever evaluated for it.
    pub flow_add_seen: bool,
    /// A packet took the slow path after a teardown.
    pub fell_back: bool,
    /// Last reason `flow add` refused the connection (or the what-if policy held it back).
    refused: Code,
    /// Last reason the NIC refused or dropped it.
    hw_refused: Code,
    /// Causes it left the flowtable (teardown), in order (at most 4 kept).
    teardowns: [Code; 4],
    n_teardowns: u8,
    live: bool,
}

impl FlowRecord {
    /// Whether it left the flowtable at least once.
    pub fn torn_down(&self) -> bool {
        self.n_teardowns > 0
    }

    fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }
}

/// An example flow (for the report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The flow.
    pub flow: String,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Outcome.
    pub outcome: String,
    /// Reason.
    pub reason: String,
}

/// Aggregates over closed records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowTotals {
    /// Records closed.
    pub total: u64,
    /// Reached the software flowtable (and stayed in software).
    pub offloaded_sw: u64,
    /// Were in hardware at some point.
    pub offloaded_hw: u64,
    /// Never offloaded, by reason.
    pub not_offloaded: BTreeMap<String, u64>,
    /// In software because the NIC refused, by reason.
    pub hw_refused: BTreeMap<String, u64>,
    /// Flowtable entries torn down, by cause.
    pub teardown: BTreeMap<String, u64>,
    /// Flows whose packets took the slow path again after a teardown, by the cause of
    /// their last teardown.
    pub fell_back: BTreeMap<String, u64>,
    /// Largest flows (by packets, then key), at most [`MAX_EXAMPLES`].
    pub examples: Vec<Example>,
    /// Time to offload, ns: from a connection's first packet to its first flowtable entry
    /// (recorded when the entry is made, not when the record closes).
    pub to_sw: Histogram,
    /// From its first packet to its first forwarding hardware entry, ns.
    pub to_hw: Histogram,
}

/// Examples kept.
pub const MAX_EXAMPLES: usize = 12;

/// Free slots below which the book never compacts.
const MIN_COMPACT: usize = 4096;

/// Counts one more under `key` without allocating when the key is there already.
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// The open records and the aggregates of the closed ones.
pub struct FlowBook {
    recs: Vec<FlowRecord>,
    free: Vec<u32>,
    /// Compact when the free list grows past this: it doubles after each compaction, so
    /// closing n records costs O(n) whatever their order (closing in index order, as
    /// `close_all` does, leaves the tail live, and compacting at every close was O(n²)).
    compact_at: usize,
    /// Compactions so far.
    compactions: u32,
    /// The reasons records name, by code - 1 (a handful per run).
    names: Vec<&'static str>,
    /// The last name coded, by address and length, and its code: most packets of a
    /// connection that `flow add` refuses are refused for the reason the one before was.
    last_name: (usize, usize, Code),
    /// Aggregates.
    pub totals: FlowTotals,
    hardware_policy: bool,
    flowtable_policy: bool,
    jsonl: Option<Box<dyn Write + Send>>,
    /// First error writing JSON lines, if any.
    pub write_error: Option<std::io::Error>,
}

impl std::fmt::Debug for FlowBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowBook")
            .field("open", &(self.recs.len() - self.free.len()))
            .finish()
    }
}

impl FlowBook {
    /// A book for a run with the given policy; `jsonl` receives one line per closed flow.
    pub fn new(
        flowtable_policy: bool,
        hardware_policy: bool,
        jsonl: Option<Box<dyn Write + Send>>,
    ) -> FlowBook {
        FlowBook {
            recs: Vec::new(),
            free: Vec::new(),
            compact_at: MIN_COMPACT,
            compactions: 0,
            names: Vec::new(),
            last_name: (0, 0, 0),
            totals: FlowTotals::default(),
            hardware_policy,
            flowtable_policy,
            jsonl,
            write_error: None,
        }
    }

    /// Opens a record.
    pub fn open(&mut self, now: SimTime) -> u32 {
        let r = FlowRecord {
            first: now,
            last: now,
            live: true,
            ..FlowRecord::default()
        };
        match self.free.pop() {
            Some(i) => {
                self.recs[i as usize] = r;
                i
            }
            None => {
                self.recs.push(r);
                self.recs.len() as u32 - 1
            }
        }
    }

    /// A record, mutably (None for `u32::MAX` or a closed one).
    #[inline]
    pub fn get_mut(&mut self, i: u32) -> Option<&mut FlowRecord> {
        self.recs.get_mut(i as usize).filter(|r| r.live)
    }

    /// Record `i`'s connection got a flowtable entry at `now`; the first one counts in the
    /// time to offload.
    pub fn offloaded_sw(&mut self, i: u32, now: SimTime) {
        if let Some(r) = self.recs.get_mut(i as usize).filter(|r| r.live) {
            if r.adds == 0 {
                self.totals.to_sw.record(now.0.saturating_sub(r.first.0));
            }
            r.sw = true;
            r.adds += 1;
        }
    }

    /// Record `i`'s connection is forwarded in hardware from `now`; the first time counts in
    /// the time to hardware.
    pub fn offloaded_hw(&mut self, i: u32, now: SimTime) {
        if let Some(r) = self.recs.get_mut(i as usize).filter(|r| r.live) {
            if !r.hw {
                self.totals.to_hw.record(now.0.saturating_sub(r.first.0));
            }
            r.hw = true;
        }
    }

    fn code(&mut self, why: &'static str) -> Code {
        // The same `'static` text at the same address: the same name (an address alone is not
        // enough, two texts may start at one).
        let (at, len, c) = self.last_name;
        if at == why.as_ptr() as usize && len == why.len() && c != 0 {
            return c;
        }
        let c = self.code_of(why);
        self.last_name = (why.as_ptr() as usize, why.len(), c);
        c
    }

    fn code_of(&mut self, why: &'static str) -> Code {
        match self.names.iter().position(|n| *n == why) {
            Some(i) => i as Code + 1,
            None if self.names.len() < usize::from(Code::MAX) => {
                self.names.push(why);
                self.names.len() as Code
            }
            // More distinct reasons than codes: cannot happen with offsim's fixed names.
            None => Code::MAX,
        }
    }

    fn name(&self, c: Code) -> Option<&'static str> {
        (c != 0).then(|| self.names[usize::from(c) - 1])
    }

    /// Records why `flow add` refused record `i`'s connection.
    pub fn set_refused(&mut self, i: u32, why: &'static str) {
        let c = self.code(why);
        if let Some(r) = self.get_mut(i) {
            r.refused = c;
        }
    }

    /// Records why the NIC refused or dropped record `i`'s flow.
    pub fn set_hw_refused(&mut self, i: u32, why: &'static str) {
        let c = self.code(why);
        if let Some(r) = self.get_mut(i) {
            r.hw_refused = c;
        }
    }

    /// Records that record `i`'s flow left the flowtable for `why` (the first 4 are kept).
    pub fn push_teardown(&mut self, i: u32, why: &'static str) {
        let c = self.code(why);
        if let Some(r) = self.get_mut(i)
            && usize::from(r.n_teardowns) < r.teardowns.len()
        {
            r.teardowns[usize::from(r.n_teardowns)] = c;
            r.n_teardowns += 1;
        }
    }

    /// Final outcome of a record: `hw`, `sw` or `slow`, and why.
    pub fn outcome(&self, r: &FlowRecord, key: &FlowKey) -> (&'static str, &'static str) {
        if r.hw {
            ("hw", "bound")
        } else if r.sw {
            let why = if !self.hardware_policy {
                "software_policy"
            } else {
                self.name(r.hw_refused).unwrap_or("hw_pending")
            };
            ("sw", why)
        } else if !self.flowtable_policy {
            ("slow", "policy_none")
        } else if let Some(why) = self.name(r.refused) {
            ("slow", why)
        } else if !r.flow_add_seen {
            if matches!(key.proto, proto::TCP | proto::UDP) {
                ("slow", "no_flow_add_rule")
            } else {
                ("slow", "unsupported_proto")
            }
        } else {
            ("slow", "not_offloaded")
        }
    }

    /// Counts a packet on a path.
    #[inline]
    pub fn packet(&mut self, i: u32, path: Path, bytes: u32, now: SimTime) {
        if let Some(r) = self.get_mut(i) {
            r.packets[path.index()] += 1;
            r.bytes += u64::from(bytes);
            r.last = now;
            if path == Path::Slow && r.n_teardowns > 0 {
                r.fell_back = true;
            }
        }
    }

    /// Closes record `i`, whose connection's ORIGINAL tuple is `key`, and folds it into the
    /// aggregates.
    pub fn close(&mut self, i: u32, key: &FlowKey) {
        let Some(r) = self.recs.get_mut(i as usize).filter(|r| r.live) else {
            return;
        };
        r.live = false;
        let r = std::mem::take(r);
        self.free.push(i);
        let (outcome, reason) = self.outcome(&r, key);
        let mut names = [""; 4];
        let mut n = 0;
        for c in &r.teardowns[..usize::from(r.n_teardowns)] {
            if let Some(name) = self.name(*c) {
                names[n] = name;
                n += 1;
            }
        }
        let teardowns = &names[..n];
        let t = &mut self.totals;
        t.total += 1;
        match outcome {
            "hw" => t.offloaded_hw += 1,
            "sw" => {
                t.offloaded_sw += 1;
                if self.hardware_policy {
                    bump(&mut t.hw_refused, reason);
                }
            }
            _ => bump(&mut t.not_offloaded, reason),
        }
        for c in teardowns {
            bump(&mut t.teardown, c);
        }
        if r.fell_back
            && let Some(c) = teardowns.last()
        {
            bump(&mut t.fell_back, c);
        }
        let packets = r.total_packets();
        let smallest = t.examples.last().map(|e| e.packets).unwrap_or(0);
        if t.examples.len() < MAX_EXAMPLES || packets > smallest {
            t.examples.push(Example {
                flow: key.to_string(),
                packets,
                bytes: r.bytes,
                outcome: outcome.to_string(),
                reason: reason.to_string(),
            });
            // Largest first; ties by flow text so the order never depends on close order.
            t.examples
                .sort_by(|x, y| y.packets.cmp(&x.packets).then_with(|| x.flow.cmp(&y.flow)));
            t.examples.truncate(MAX_EXAMPLES);
        }
        if let Some(w) = self.jsonl.as_mut()
            && self.write_error.is_none()
        {
            let line = serde_json::json!({
                "flow": key.to_string(),
                "first_ns": r.first.0,
                "last_ns": r.last.0,
                "packets": {"slow": r.packets[Path::Slow.index()], "sw_fast": r.packets[Path::SwFast.index()], "hw": r.packets[Path::Hw.index()]},
                "bytes": r.bytes,
                "outcome": outcome,
                "reason": reason,
                "flowtable_adds": r.adds,
                "teardown": teardowns,
            });
            if let Err(e) = writeln!(w, "{line}") {
                self.write_error = Some(e);
            }
        }
        if self.free.len() > self.compact_at
            && self.free.len() > 2 * (self.recs.len() - self.free.len())
        {
            self.compact();
            self.compactions += 1;
            self.compact_at = MIN_COMPACT.max(2 * self.free.len());
        }
    }

    /// Gives memory back after most records closed: trailing closed slots are dropped.
    fn compact(&mut self) {
        while self.recs.last().is_some_and(|r| !r.live) {
            self.recs.pop();
        }
        let n = self.recs.len() as u32;
        self.free.retain(|&i| i < n);
        if self.recs.capacity() > 2 * self.recs.len() + 1024 {
            self.recs.shrink_to(self.recs.len() + self.recs.len() / 2);
        }
        if self.free.capacity() > 2 * self.free.len() + 1024 {
            self.free.shrink_to(self.free.len() * 2);
        }
    }

    /// Record slots in use or free (an index bound for per-record side tables).
    pub fn slots(&self) -> usize {
        self.recs.len()
    }

    /// Open records, in index order (`u32::MAX`-free indexes).
    pub fn open_records(&self) -> impl Iterator<Item = u32> + '_ {
        self.recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.live)
            .map(|(i, _)| i as u32)
    }

    /// Closes every open record (end of run), in index order; `key` gives a record's
    /// ORIGINAL tuple.
    pub fn close_all(&mut self, key: impl Fn(u32) -> FlowKey) {
        // `close` may drop trailing closed slots: re-read the length each time.
        let mut i = 0u32;
        while (i as usize) < self.recs.len() {
            if self.recs[i as usize].live {
                self.close(i, &key(i));
            }
            i += 1;
        }
        if let Some(w) = self.jsonl.as_mut()
            && let Err(e) = w.flush()
            && self.write_error.is_none()
        {
            self.write_error = Some(e);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;

    /// Time to offload counts a connection's first flowtable entry and its first hardware
    /// entry once each: re-adds after a teardown are not new offloads.
    #[test]
    fn time_to_offload_counts_the_first_entry_only() {
        let mut b = FlowBook::new(true, true, None);
        let r = b.open(SimTime(1_000));
        b.offloaded_sw(r, SimTime(3_000));
        b.offloaded_sw(r, SimTime(9_000));
        b.offloaded_hw(r, SimTime(5_000));
        b.offloaded_hw(r, SimTime(9_500));
        assert_eq!((b.totals.to_sw.count(), b.totals.to_sw.max()), (1, 2_000));
        assert_eq!((b.totals.to_hw.count(), b.totals.to_hw.max()), (1, 4_000));
        assert_eq!(
            b.get_mut(r).map(|x| (x.adds, x.sw, x.hw)),
            Some((2, true, true))
        );
        // a closed or unknown record counts nothing
        b.offloaded_sw(u32::MAX, SimTime(1));
        assert_eq!(b.totals.to_sw.count(), 1);
    }

    #[test]
    fn outcomes_and_examples() {
        let mut b = FlowBook::new(true, true, None);
        let k = Pkt::tcp4("192.0.2.1:1000", "198.51.100.1:443")
            .build()
            .flow_key()
            .unwrap();
        let a = b.open(SimTime(0));
        for _ in 0..3 {
            b.packet(a, Path::Slow, 100, SimTime(1));
        }
        b.get_mut(a).unwrap().sw = true;
        b.set_hw_refused(a, "bucket_full");
        let k2 = Pkt::udp("192.0.2.1:53", "198.51.100.1:53")
            .build()
            .flow_key()
            .unwrap();
        let c = b.open(SimTime(0));
        b.packet(c, Path::Slow, 80, SimTime(1));
        b.get_mut(c).unwrap().flow_add_seen = true;
        b.set_refused(c, "unconfirmed");
        b.close_all(|i| if i == a { k } else { k2 });
        let t = &b.totals;
        assert_eq!(t.total, 2);
        assert_eq!(t.offloaded_sw, 1);
        assert_eq!(t.hw_refused.get("bucket_full"), Some(&1));
        assert_eq!(t.not_offloaded.get("unconfirmed"), Some(&1));
        assert_eq!(t.examples.len(), 2);
        assert_eq!(t.examples[0].packets, 3);
        // Slots are reused.
        let d = b.open(SimTime(5));
        assert!(d == a || d == c);
    }

    #[test]
    fn teardowns_and_fall_backs_are_counted_apart() {
        let mut b = FlowBook::new(true, false, None);
        let key = |port: &str| {
            Pkt::tcp4(&format!("192.0.2.1:{port}"), "198.51.100.1:443")
                .build()
                .flow_key()
                .unwrap()
        };
        // Torn down on FIN and then closed on the slow path: fell back.
        let a = b.open(SimTime(0));
        b.packet(a, Path::SwFast, 100, SimTime(1));
        b.push_teardown(a, "tcp_fin_rst");
        b.packet(a, Path::Slow, 60, SimTime(2));
        // Timed out and never heard of again: a teardown, not a fall back.
        let c = b.open(SimTime(0));
        b.packet(c, Path::Slow, 100, SimTime(1));
        b.packet(c, Path::SwFast, 100, SimTime(2));
        b.push_teardown(c, "timeout");
        b.close_all(|i| if i == a { key("1000") } else { key("1001") });
        let t = &b.totals;
        assert_eq!(t.teardown.get("tcp_fin_rst"), Some(&1));
        assert_eq!(t.teardown.get("timeout"), Some(&1));
        assert_eq!(t.fell_back.get("tcp_fin_rst"), Some(&1));
        assert_eq!(t.fell_back.get("timeout"), None);
    }

    /// Closing most records gives their memory back without disturbing open ones.
    #[test]
    fn many_records_close_and_compact() {
        let mut b = FlowBook::new(true, false, None);
        let k = Pkt::udp("192.0.2.1:53", "198.51.100.1:53")
            .build()
            .flow_key()
            .unwrap();
        let ids: Vec<u32> = (0..20_000).map(|_| b.open(SimTime(0))).collect();
        for &i in &ids[100..] {
            b.close(i, &k);
        }
        assert!(b.recs.len() <= 20_000);
        b.packet(ids[5], Path::Slow, 60, SimTime(1));
        b.close_all(|_| k);
        assert_eq!(b.totals.total, 20_000);
        assert_eq!(b.open_records().count(), 0);
    }

    /// Closing every record in index order (as `close_all` does at the end of a run) keeps
    /// the tail live until the last close: compacting at every close made that O(n²), a
    /// 2M-connection run spent ten minutes in it.
    #[test]
    fn closing_in_index_order_compacts_a_logarithmic_number_of_times() {
        let mut b = FlowBook::new(false, false, None);
        let k = Pkt::udp("192.0.2.1:53", "198.51.100.1:53")
            .build()
            .flow_key()
            .unwrap();
        for _ in 0..300_000 {
            b.open(SimTime(0));
        }
        b.close_all(|_| k);
        assert_eq!(b.totals.total, 300_000);
        assert!(b.compactions <= 8, "{} compactions", b.compactions);
    }

    #[test]
    fn jsonl_lines() {
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let mut b = FlowBook::new(false, false, Some(Box::new(sink.clone())));
        let k = Pkt::udp("192.0.2.1:53", "198.51.100.1:53")
            .build()
            .flow_key()
            .unwrap();
        let a = b.open(SimTime(0));
        b.packet(a, Path::Slow, 80, SimTime(1));
        b.close_all(|_| k);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["reason"], "policy_none");
        assert_eq!(v["packets"]["slow"], 1);
    }

    #[test]
    fn names_are_coded_by_text() {
        let mut b = FlowBook::new(true, true, None);
        let long: &'static str = "tcp_not_established";
        // the same address, another length: another name
        let short: &'static str = &long[..3];
        let texts = [long, short, long, "unconfirmed", short, long];
        let codes: Vec<Code> = texts.iter().map(|t| b.code(t)).collect();
        for (t, c) in texts.iter().zip(&codes) {
            assert_eq!(b.name(*c), Some(*t));
        }
        assert_eq!(codes[0], codes[2]);
        assert_ne!(codes[0], codes[1]);
        assert_eq!(b.names.len(), 3);
    }
}

#[cfg(test)]
mod size {
    /// Records and entries exist for every live connection: their size is the cost of one.
    #[test]
    fn per_connection_structures_stay_compact() {
        assert!(std::mem::size_of::<super::FlowRecord>() <= 64);
        // 176 bytes plus the pointer to a NATed entry's REPLY tuple.
        assert!(std::mem::size_of::<crate::conntrack::Conn>() <= 184);
    }
}
