//! Range and cross-field checks of each configuration section ([`NicConfig::validate`] runs
//! them in order).

use super::{
    AgingConfig, BindMode, BindingConfig, ConfigError, CounterConfig, DatapathConfig, Eviction,
    HashKind, Layout, NicConfig, PipelineConfig, PowerConfig, TableConfig,
};

/// An [`ConfigError::Invalid`] for `field`.
pub(super) fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Longest period or delay a NIC field may set, ms (one hour): longer ones make no sense
/// for a device and would stretch simulated time.
const MAX_PERIOD_MS: u64 = 3_600_000;
/// Longest per-operation delay or CPU cost, ns (one second).
const MAX_OP_NS: u64 = 1_000_000_000;

/// `v` must be at most `max`.
fn at_most(field: &str, v: u64, max: u64, unit: &str) -> Result<(), ConfigError> {
    if v > max {
        return Err(invalid(field, format!("at most {max} {unit}, got {v}")));
    }
    Ok(())
}

impl NicConfig {
    /// Checks ranges and cross-field consistency, section by section in the order the
    /// configuration lists them (the first error found is returned).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.ranges()?;
        self.table.validate()?;
        self.binding.validate(&self.table)?;
        self.aging.validate()?;
        self.counters.validate()?;
        self.pipeline.validate()?;
        self.datapath.validate()?;
        self.power.validate()
    }
}

impl NicConfig {
    /// The documented range of every numeric field without one of its own below.
    fn ranges(&self) -> Result<(), ConfigError> {
        let (t, b, a, c, p, d) = (
            &self.table,
            &self.binding,
            &self.aging,
            &self.counters,
            &self.pipeline,
            &self.datapath,
        );
        at_most("table.capacity", u64::from(t.capacity), 1 << 27, "entries")?;
        at_most("table.max_kicks", u64::from(t.max_kicks), 10_000, "kicks")?;
        at_most(
            "binding.rate_window_ms",
            b.rate_window_ms,
            MAX_PERIOD_MS,
            "ms",
        )?;
        at_most(
            "binding.check_interval_ms",
            b.check_interval_ms,
            MAX_PERIOD_MS,
            "ms",
        )?;
        at_most("aging.tick_ms", a.tick_ms, MAX_PERIOD_MS, "ms")?;
        at_most("counters.refresh_ms", c.refresh_ms, MAX_PERIOD_MS, "ms")?;
        at_most(
            "counters.timestamp_tick_ms",
            c.timestamp_tick_ms,
            MAX_PERIOD_MS,
            "ms",
        )?;
        at_most(
            "pipeline.queue_delay_ns",
            p.queue_delay_ns,
            10 * MAX_OP_NS,
            "ns",
        )?;
        at_most(
            "pipeline.queue_depth",
            u64::from(p.queue_depth),
            10_000_000,
            "ops",
        )?;
        at_most("pipeline.cpu_ns_insert", p.cpu_ns_insert, MAX_OP_NS, "ns")?;
        at_most("pipeline.cpu_ns_remove", p.cpu_ns_remove, MAX_OP_NS, "ns")?;
        at_most("pipeline.cpu_ns_stats", p.cpu_ns_stats, MAX_OP_NS, "ns")?;
        at_most(
            "datapath.preamble_bytes",
            u64::from(d.preamble_bytes),
            1024,
            "bytes",
        )?;
        at_most("datapath.ifg_bytes", u64::from(d.ifg_bytes), 1024, "bytes")?;
        at_most("datapath.fcs_bytes", u64::from(d.fcs_bytes), 1024, "bytes")?;
        at_most(
            "datapath.engine_queue",
            u64::from(d.engine_queue),
            100_000_000,
            "packets",
        )?;
        at_most(
            "datapath.forward_latency_ns",
            d.forward_latency_ns,
            MAX_OP_NS,
            "ns",
        )?;
        at_most(
            "datapath.egress_buffer_bytes",
            d.egress_buffer_bytes,
            1 << 40,
            "bytes",
        )?;
        Ok(())
    }
}

impl TableConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Err(invalid("table.capacity", "must be at least 1"));
        }
        if self.capacity >= u32::MAX / 2 {
            return Err(invalid("table.capacity", "must be below 2^31"));
        }
        if self.ways == 0 {
            return Err(invalid("table.ways", "must be at least 1"));
        }
        match self.layout {
            Layout::Hashed | Layout::Cuckoo => {
                if !self.capacity.is_multiple_of(self.ways) {
                    return Err(invalid(
                        "table.ways",
                        format!(
                            "{} ways do not divide the capacity {}",
                            self.ways, self.capacity
                        ),
                    ));
                }
                if self.ways > 16 {
                    return Err(invalid("table.ways", "at most 16 ways per bucket"));
                }
            }
            Layout::FullyAssociative => {}
        }
        if self.layout == Layout::Hashed && self.hash == HashKind::MtkPpe {
            if !self.capacity.is_power_of_two() {
                return Err(invalid(
                    "table.capacity",
                    "the mtk_ppe hash masks with capacity - 1: capacity must be a power of two",
                ));
            }
            if !self.ways.is_power_of_two() {
                return Err(invalid(
                    "table.ways",
                    "the mtk_ppe hash shifts by log2(ways): ways must be a power of two",
                ));
            }
        }
        if self.layout == Layout::Cuckoo && self.capacity / self.ways < 2 {
            return Err(invalid(
                "table.capacity",
                "cuckoo hashing needs at least 2 buckets",
            ));
        }
        if self.reserved_period == 0 {
            if !self.reserved_indices.is_empty() {
                return Err(invalid(
                    "table.reserved_indices",
                    "reserved indices need a reserved_period",
                ));
            }
        } else {
            if !self.capacity.is_multiple_of(self.reserved_period) {
                return Err(invalid("table.reserved_period", "must divide the capacity"));
            }
            if let Some(i) = self
                .reserved_indices
                .iter()
                .find(|&&i| i >= self.reserved_period)
            {
                return Err(invalid(
                    "table.reserved_indices",
                    format!("index {i} is not below the period {}", self.reserved_period),
                ));
            }
            let mut s = self.reserved_indices.clone();
            s.sort_unstable();
            s.dedup();
            if s.len() != self.reserved_indices.len() {
                return Err(invalid("table.reserved_indices", "duplicate index"));
            }
            if s.len() as u32 >= self.reserved_period {
                return Err(invalid(
                    "table.reserved_indices",
                    "every entry would be reserved",
                ));
            }
        }
        if self.max_encap > 2 {
            return Err(invalid(
                "table.max_encap",
                "at most 2 (NF_FLOW_TABLE_ENCAP_MAX)",
            ));
        }
        if self.eviction == Eviction::LeastActive && self.layout == Layout::FullyAssociative {
            return Err(invalid(
                "table.eviction",
                "least_active needs a bucketed layout (hashed or cuckoo); use lru",
            ));
        }
        Ok(())
    }
}

impl BindingConfig {
    fn validate(&self, t: &TableConfig) -> Result<(), ConfigError> {
        if self.mode == BindMode::Lazy {
            if t.layout != Layout::Hashed {
                return Err(invalid(
                    "binding.mode",
                    "lazy binding needs the hashed layout (the hardware creates unbound entries in the key's bucket)",
                ));
            }
            if self.bind_rate_pps == 0 {
                return Err(invalid("binding.bind_rate_pps", "must be at least 1"));
            }
            if self.rate_window_ms == 0 {
                return Err(invalid("binding.rate_window_ms", "must be at least 1"));
            }
        }
        Ok(())
    }
}

impl AgingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled {
            if self.tick_ms == 0 {
                return Err(invalid(
                    "aging.tick_ms",
                    "must be at least 1 when aging is enabled",
                ));
            }
            for (f, v) in [
                ("aging.tcp_ticks", self.tcp_ticks),
                ("aging.udp_ticks", self.udp_ticks),
                ("aging.other_ticks", self.other_ticks),
                ("aging.unbound_ticks", self.unbound_ticks),
            ] {
                if v == 0 {
                    return Err(invalid(f, "must be at least 1 tick"));
                }
            }
        }
        Ok(())
    }
}

impl CounterConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.timestamp_bits > 32 {
            return Err(invalid("counters.timestamp_bits", "at most 32"));
        }
        if self.timestamp_bits > 0 && self.timestamp_tick_ms == 0 {
            return Err(invalid(
                "counters.timestamp_bits",
                "a wrapping timestamp needs counters.timestamp_tick_ms",
            ));
        }
        Ok(())
    }
}

impl PipelineConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (f, v) in [
            ("pipeline.insert_rate_per_s", self.insert_rate_per_s),
            ("pipeline.remove_rate_per_s", self.remove_rate_per_s),
            ("pipeline.stats_rate_per_s", self.stats_rate_per_s),
        ] {
            if v == 0 {
                return Err(invalid(f, "must be at least 1"));
            }
            if v > 1_000_000_000 {
                return Err(invalid(f, "at most 1e9 per second (1 ns per op)"));
            }
        }
        Ok(())
    }
}

impl DatapathConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.line_rate_bps < 1_000 {
            return Err(invalid(
                "datapath.line_rate_bps",
                "must be at least 1 kbit/s",
            ));
        }
        if self.line_rate_bps > 8_000_000_000_000 {
            return Err(invalid("datapath.line_rate_bps", "at most 8 Tbit/s"));
        }
        if self.engine_pps == 0 {
            return Err(invalid("datapath.engine_pps", "must be at least 1"));
        }
        if self.engine_pps > 1_000_000_000_000 {
            return Err(invalid("datapath.engine_pps", "at most 1e12"));
        }
        if self.min_frame_bytes > 16_384 {
            return Err(invalid("datapath.min_frame_bytes", "at most 16384"));
        }
        Ok(())
    }
}

impl PowerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (f, v) in [
            ("power.static_w", self.static_w),
            ("power.rx_nj_per_packet", self.rx_nj_per_packet),
            ("power.hw_nj_per_packet", self.hw_nj_per_packet),
        ] {
            if !v.is_finite() || !(0.0..=1e6).contains(&v) {
                return Err(invalid(f, "must be a number in [0, 1e6]"));
            }
        }
        Ok(())
    }
}
