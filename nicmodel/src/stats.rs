//! Counters of the NIC model, mergeable with `+`/`+=`.
//!
//! Merging adds every counter and takes the maximum of the `peak_*` fields (merging the
//! intervals of one run, or sweep shards). [`NicStats`] is what the engine copies into the
//! report's `nic` section; all fields are plain integers so two runs with the same inputs
//! produce identical numbers.

use serde::{Serialize, Serializer};
use std::ops::{Add, AddAssign};

/// JSON numbers are safe only up to 2^53 (and serde_json's values to 2^64); long integrals
/// are written as floats in the same unit.
fn u128_as_f64<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*v as f64)
}

macro_rules! mergeable {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* $f:ident : $t:ty ),* $(,)? }
     peaks { $( $(#[$pm:meta])* $p:ident : $pt:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct $name {
            $( $(#[$fm])* pub $f: $t, )*
            $( $(#[$pm])* pub $p: $pt, )*
        }
        impl AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                $( self.$f += o.$f; )*
                $( self.$p = self.$p.max(o.$p); )*
            }
        }
        impl Add for $name {
            type Output = Self;
            fn add(mut self, o: Self) -> Self {
                self += o;
                self
            }
        }
    };
}

mergeable! {
    /// Flow-table counters.
    pub struct TableStats {
        /// Table lookups (packets that reached the table).
        lookups: u64,
        /// Lookups that found a bound entry (forwarded in hardware).
        hits: u64,
        /// Lookups that found nothing.
        misses: u64,
        /// Lazy: lookups that found an unbound entry below the bind rate.
        unbound_hits: u64,
        /// Lazy: lookups that found an unbound entry at the bind rate (punted for a check).
        rate_reached: u64,
        /// Lazy: unbound entries the hardware created on a miss.
        unbound_created: u64,
        /// Lazy: misses that could not create an unbound entry (bucket full).
        unbound_create_failed: u64,
        /// Lazy: CPU-side bind checks run.
        bind_checks: u64,
        /// Lazy: bind checks skipped by the per-entry rate limit.
        bind_checks_rate_limited: u64,
        /// Lazy: checks that bound a listed flow.
        binds: u64,
        /// Lazy: checks that found no listed flow matching the unbound entry.
        bind_no_match: u64,
        /// Lazy: checks whose entry was already bound.
        bind_already_bound: u64,
        /// Lazy: listed flows unlinked from their bound entry by a check in their bucket.
        unlinked_peers: u64,
        /// Insert ops accepted (direct: bound; lazy: listed).
        inserts_ok: u64,
        /// Inserts refused: every candidate slot of the bucket taken.
        refused_bucket_full: u64,
        /// Inserts refused: table full.
        refused_table_full: u64,
        /// Inserts refused: unsupported rule.
        refused_unsupported: u64,
        /// Inserts refused: cookie or key already present.
        refused_exists: u64,
        /// Remove ops that found their flow.
        removes_ok: u64,
        /// Remove or stats ops for an unknown cookie.
        not_found: u64,
        /// Entries evicted to make room (what-if policies).
        evictions: u64,
        /// Bound entries removed by hardware aging.
        aged_bound: u64,
        /// Unbound entries removed by hardware aging.
        aged_unbound: u64,
        /// Stats reads served.
        stats_reads: u64,
        /// Cuckoo displacements performed by successful inserts.
        cuckoo_kicks: u64,
        /// Integral of occupied entries (bound + unbound) over time, entry-nanoseconds. Serialised as a JSON float.
        #[serde(serialize_with = "u128_as_f64")]
        occupancy_area: u128,
        /// Integral of bound entries over time, entry-nanoseconds. Serialised as a JSON float.
        #[serde(serialize_with = "u128_as_f64")]
        bound_area: u128,
    }
    peaks {
        /// Highest number of occupied entries (bound + unbound).
        peak_occupancy: u64,
        /// Highest number of bound entries.
        peak_bound: u64,
    }
}

mergeable! {
    /// One counter per op kind.
    pub struct PerKind {
        /// Insert (REPLACE) ops.
        insert: u64,
        /// Remove (DESTROY) ops.
        remove: u64,
        /// Stats ops.
        stats: u64,
    }
    peaks {}
}

mergeable! {
    /// Insertion-pipeline counters.
    pub struct PipelineStats {
        /// Ops accepted by `submit`, per kind.
        submitted: PerKind,
        /// Ops completed, per kind.
        completed: PerKind,
        /// Submissions refused because the kind's queue was full.
        refused_queue_full: u64,
        /// Submissions refused because the device was busy and there is no queue.
        refused_rate_limited: u64,
        /// Sum over completed ops of (start - submit), ns. Serialised as a JSON float.
        #[serde(serialize_with = "u128_as_f64")]
        wait_ns: u128,
        /// Sum over completed ops of (done - submit), ns. Serialised as a JSON float.
        #[serde(serialize_with = "u128_as_f64")]
        latency_ns: u128,
        /// Host CPU time charged by completed ops, ns.
        cpu_ns: u64,
    }
    peaks {
        /// Highest number of ops waiting to start.
        peak_queue: u64,
        /// Longest submit-to-done latency, ns.
        max_latency_ns: u64,
    }
}

mergeable! {
    /// Packets the NIC handed to the CPU, by reason.
    pub struct PuntCounts {
        /// No entry (or lazy: no bound entry and no unbound one).
        miss: u64,
        /// Lazy: unbound entry below the bind rate.
        unbound: u64,
        /// Lazy: unbound entry at the bind rate (CPU should run the bind check).
        bind_check: u64,
        /// TCP flag in the punt mask (SYN/FIN/RST).
        tcp_flags: u64,
        /// Not IP, or malformed.
        not_ip: u64,
        /// IPv4/IPv6 fragment.
        fragment: u64,
        /// IPv4 options.
        ip_options: u64,
        /// IPv6 extension headers.
        ipv6_ext: u64,
        /// Transport protocol other than TCP/UDP, or transport header missing.
        l4_protocol: u64,
        /// IPv6 on a NIC that does not offload it.
        ipv6_unsupported: u64,
        /// More encapsulation layers than the NIC parses.
        too_many_tags: u64,
        /// TTL/hop limit <= 1 on a hit.
        ttl_expired: u64,
        /// Packet longer than the entry's MTU.
        exceed_mtu: u64,
    }
    peaks {}
}

impl PuntCounts {
    /// Total punted packets.
    pub fn total(&self) -> u64 {
        self.miss
            + self.unbound
            + self.bind_check
            + self.tcp_flags
            + self.not_ip
            + self.fragment
            + self.ip_options
            + self.ipv6_ext
            + self.l4_protocol
            + self.ipv6_unsupported
            + self.too_many_tags
            + self.ttl_expired
            + self.exceed_mtu
    }
}

mergeable! {
    /// Data-path counters.
    pub struct DataPathStats {
        /// Packets received.
        rx_packets: u64,
        /// Frame bytes received (as captured, FCS excluded unless the capture has it).
        rx_bytes: u64,
        /// Bytes on the wire including preamble, IFG, FCS and padding.
        rx_wire_bytes: u64,
        /// Packets that arrived before the previous one on the same port finished (the trace
        /// exceeds line rate; they were delayed, not dropped).
        ingress_overruns: u64,
        /// Packets lost before the port because it was still busy receiving for longer than
        /// the far end could hold them (the offered load exceeds the line rate).
        ingress_overrun_drops: u64,
        /// Packets forwarded by the offload engine.
        hw_packets: u64,
        /// Frame bytes forwarded by the offload engine.
        hw_bytes: u64,
        /// Packets sent through a port by the CPU (`Nic::tx`).
        tx_packets: u64,
        /// Packets dropped because the engine queue was full.
        engine_drops: u64,
        /// Packets dropped because the egress buffer was full.
        egress_drops: u64,
        /// Packets handed to the CPU, by reason.
        punts: PuntCounts,
        /// Dynamic energy spent on packets, picojoules.
        energy_pj: u64,
        /// Calls made with a time earlier than a previous call (clamped).
        time_regressions: u64,
    }
    peaks {}
}

mergeable! {
    /// Everything the NIC counts.
    pub struct NicStats {
        /// Flow table.
        table: TableStats,
        /// Insertion pipeline.
        pipeline: PipelineStats,
        /// Data path.
        datapath: DataPathStats,
    }
    peaks {}
}

impl TableStats {
    /// Time-weighted mean number of occupied entries (bound + unbound) over `duration_ns`
    /// (the simulated span the stats cover).
    pub fn mean_occupancy(&self, duration_ns: u64) -> f64 {
        if duration_ns == 0 {
            return 0.0;
        }
        self.occupancy_area as f64 / duration_ns as f64
    }

    /// Time-weighted mean number of bound entries over `duration_ns`.
    #[cfg(test)]
    pub(crate) fn mean_bound(&self, duration_ns: u64) -> f64 {
        if duration_ns == 0 {
            return 0.0;
        }
        self.bound_area as f64 / duration_ns as f64
    }

    /// Fraction of lookups that hit a bound entry.
    #[cfg(test)]
    pub(crate) fn hit_ratio(&self) -> f64 {
        if self.lookups == 0 {
            0.0
        } else {
            self.hits as f64 / self.lookups as f64
        }
    }

    /// All refused inserts.
    #[cfg(test)]
    pub(crate) fn refusals(&self) -> u64 {
        self.refused_bucket_full
            + self.refused_table_full
            + self.refused_unsupported
            + self.refused_exists
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn merging_adds_counters_and_keeps_the_highest_peak() {
        let mut a = NicStats::default();
        a.table.hits = 3;
        a.table.peak_occupancy = 10;
        a.table.occupancy_area = 5;
        a.pipeline.submitted.insert = 2;
        a.pipeline.max_latency_ns = 100;
        a.datapath.punts.miss = 4;
        let mut b = NicStats::default();
        b.table.hits = 5;
        b.table.peak_occupancy = 7;
        b.table.occupancy_area = 1 << 100;
        b.pipeline.submitted.insert = 1;
        b.pipeline.max_latency_ns = 300;
        b.datapath.punts.miss = 1;
        b.datapath.punts.tcp_flags = 2;
        let c = a + b;
        assert_eq!(c.table.hits, 8);
        assert_eq!(c.table.peak_occupancy, 10);
        assert_eq!(c.table.occupancy_area, 5 + (1 << 100));
        assert_eq!(c.pipeline.submitted.insert, 3);
        assert_eq!(c.pipeline.max_latency_ns, 300);
        assert_eq!(c.datapath.punts.total(), 7);
        let mut d = a;
        d += b;
        assert_eq!(d, c);
        assert_eq!(a + NicStats::default(), a);
    }

    #[test]
    fn serialises_to_json_with_named_fields() {
        let mut s = NicStats::default();
        s.table.occupancy_area = u128::from(u64::MAX) * 4;
        s.datapath.punts.bind_check = 9;
        let j = serde_json::to_value(s).unwrap();
        assert_eq!(j["datapath"]["punts"]["bind_check"], 9);
        assert_eq!(
            j["table"]["occupancy_area"].as_f64(),
            Some(u64::MAX as f64 * 4.0)
        );
        assert_eq!(j["pipeline"]["submitted"]["insert"], 0);
    }

    #[test]
    fn mean_helpers() {
        let t = TableStats {
            occupancy_area: 3_000,
            bound_area: 1_000,
            lookups: 4,
            hits: 1,
            refused_bucket_full: 2,
            refused_exists: 1,
            ..TableStats::default()
        };
        assert_eq!(t.mean_occupancy(1_000), 3.0);
        assert_eq!(t.mean_bound(1_000), 1.0);
        assert_eq!(t.mean_occupancy(0), 0.0);
        assert_eq!(t.hit_ratio(), 0.25);
        assert_eq!(t.refusals(), 3);
    }
}
