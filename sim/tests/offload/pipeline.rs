//! Generated traces through `offsim run`'s pipeline: who binds (the bind rate, mice and
//! elephants), the table's occupancy and collisions, what-if gates and eviction.

use super::*;

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("offsim-offload")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A scenario with the fw4 ruleset on an MT7621 (CPU and NIC), OpenWrt 24.10's kernel,
/// replayed at the recorded rate; `nic` overrides NIC fields.
fn scenario(name: &str, policies: &str, trace: &str, nic: &str) -> Prepared {
    let dir = scratch(name);
    let path = dir.join("scenario.toml");
    let body = format!(
        "name = \"{name}\"\nseed = 1\npolicies = {policies}\n[trace]\ngenerate = {trace}\n\
         [ruleset]\nfile = {:?}\n[cpu]\npreset = \"mt7621\"\n[kernel]\nflavour = \"6.6\"\n\
         [nic]\npreset = \"mt7621\"\n{nic}\n",
        fw4().display().to_string()
    );
    std::fs::write(&path, body).unwrap();
    let sc = ScenarioFile::load(&path).unwrap().resolve().unwrap();
    let mut p = prepare(sc).unwrap();
    p.flows_dir = Some(dir);
    p
}

struct Done {
    run: rep::Run,
    rows: Vec<Row>,
    engine: Engine,
}

fn run(p: &Prepared, policy: &str) -> Done {
    let pol = p
        .scenario
        .policies
        .iter()
        .find(|q| q.name == policy)
        .unwrap();
    let mut o = run_policy(p, pol).unwrap();
    let run = run_report(p, &o.policy, &mut o.engine, "");
    let file = p
        .flows_dir
        .as_ref()
        .unwrap()
        .join(format!("flows-{policy}.jsonl"));
    Done {
        run,
        rows: rows(&std::fs::read_to_string(file).unwrap()),
        engine: o.engine,
    }
}

const HOME: &str = "{ profile = \"home-router\", duration_s = 20.0 }";

/// Packet shares by path: slow, software fast path, hardware.
fn shares(r: &rep::Run) -> [f64; 3] {
    let p = &r.paths;
    let all = (p.slow + p.sw_fast + p.hw) as f64;
    [
        p.slow as f64 / all,
        p.sw_fast as f64 / all,
        p.hw as f64 / all,
    ]
}

/// Each connection of a generated trace, keyed like the flow records (its ORIGINAL tuple,
/// the direction of its first packet): its packets' times (ns) and directions (0, 1).
fn trace_flows(profile: Profile, secs: f64) -> HashMap<String, Vec<(u64, usize)>> {
    let stop = Stop::from_args(None, Some(secs), profile).unwrap();
    let mut g = Generator::new(&GenConfig::new(profile, 1, stop)).unwrap();
    let mut dir_of: HashMap<offsim_traces::FlowKey, (String, usize)> = HashMap::new();
    let mut out: HashMap<String, Vec<(u64, usize)>> = HashMap::new();
    while let Some((ts, f)) = g.next_frame() {
        let m = parse_frame(LinkType::Ethernet, f, f.len() as u32, ts, 0);
        let Some(k) = m.flow_key() else { continue };
        let (name, d) = match dir_of.get(&k) {
            Some(x) => x.clone(),
            None => {
                let name = k.to_string();
                dir_of.insert(k, (name.clone(), 0));
                dir_of.insert(k.reversed(), (name.clone(), 1));
                (name, 0)
            }
        };
        out.entry(name).or_default().push((ts.0, d));
    }
    out
}

/// The most packets one direction puts in one rate window, windows starting at the first
/// packet and restarting with the first packet after each has run out, as the NIC counts.
fn window_max(pkts: &[(u64, usize)], dir: usize, window_ns: u64) -> u64 {
    let (mut start, mut n, mut max) = (0u64, 0u64, 0u64);
    for &(t, _) in pkts.iter().filter(|p| p.1 == dir) {
        if n == 0 || t >= start + window_ns {
            start = t;
            n = 0;
        }
        n += 1;
        max = max.max(n);
    }
    max
}

/// A 30-packets/s bind threshold leaves mice in software while elephants bind: the MT7621
/// preset (8,192 entries, lazy binding) on 20 s of generated home-router traffic, judged
/// from the per-flow records against each flow's packet rate in the trace (the most packets
/// one direction sends in one of the NIC's 1 s rate windows).
#[test]
fn bind_threshold_leaves_mice_in_software_and_binds_elephants() {
    let p = scenario("bind-rate", "[\"hardware\"]", HOME, "");
    let d = run(&p, "hardware");
    let trace = trace_flows(Profile::HomeRouter, 20.0);
    let (mut mice, mut elephants) = (0, 0);
    for r in d.rows.iter().filter(|r| r.offloadable() && r.adds > 0) {
        let pk = trace
            .get(&r.flow)
            .unwrap_or_else(|| panic!("{} is not in the trace", r.flow));
        let w = [0, 1].map(|dir| window_max(pk, dir, 1_000_000_000));
        if w[0] < 30 && w[1] < 30 {
            // Never 30 packets in a window: the PPE never binds it, every packet after the
            // `flow add` stays in the software flowtable, and the record says why.
            mice += 1;
            assert_eq!(r.packets[2], 0, "{r:?} {w:?}");
            assert_eq!(
                (r.outcome.as_str(), r.reason.as_str()),
                ("sw", "below_bind_rate")
            );
        }
        if w[0] >= 100 || w[1] >= 100 {
            // An elephant: bound after its first window, the hardware carries the rest.
            elephants += 1;
            assert_eq!(r.outcome, "hw", "{r:?} {w:?}");
            assert!(r.packets[2] as f64 > 0.5 * r.total() as f64, "{r:?} {w:?}");
        }
        if r.outcome == "hw" {
            assert!(
                w[0] >= 30 || w[1] >= 30,
                "bound below the bind rate: {r:?} {w:?}"
            );
        }
        if r.reason == "below_bind_rate" {
            assert_eq!(r.packets[2], 0, "{r:?}");
        }
    }
    // 20 s of home-router traffic: 164 mice, 9 elephants (figures of this seed).
    eprintln!("bind rate: {mice} mice in software, {elephants} elephants bound");
    assert!(mice >= 100 && elephants >= 5, "{mice} {elephants}");
    let f = &d.run.flows;
    assert_eq!(f.hw_refused.get("below_bind_rate"), Some(&mice));
    assert_eq!(
        f.offloaded_hw,
        d.rows.iter().filter(|r| r.outcome == "hw").count() as u64
    );
    // The elephants carry almost all packets: the hardware forwards > 95 % of them although
    // most flows never leave the CPU.
    let sh = shares(&d.run);
    eprintln!("bind rate: path shares slow/sw/hw {sh:?}");
    assert!(sh[2] > 0.95, "{sh:?}");
    assert!(f.offloaded_sw > f.offloaded_hw);
}

const NIC_DIRECT: &str = "[nic.binding]\nmode = \"direct\"\n";

/// Table occupancy never exceeds capacity, over the whole run and at every interval, for
/// every table organisation, under pressure (2 s of enterprise traffic: ~2,300 flows into
/// 256 entries), and MT7621's reserved entries are never used.
#[test]
fn table_occupancy_never_exceeds_capacity() {
    let ent = "{ profile = \"enterprise\", duration_s = 2.0 }";
    let small = "[nic.table]\ncapacity = 256\n";
    let fa = "[nic.table]\ncapacity = 256\nlayout = \"fully_associative\"\n";
    let cuckoo = "[nic.table]\ncapacity = 256\nlayout = \"cuckoo\"\nways = 4\nhash = \"mix64\"\n\
                  max_kicks = 32\nreserved_period = 0\nreserved_indices = []\n";
    let cases = [
        ("occ-lazy", "[\"hardware\"]", small.to_string()),
        (
            "occ-hashed",
            "[\"hardware\"]",
            format!("{small}{NIC_DIRECT}"),
        ),
        (
            "occ-fa",
            "[\"hardware\", { name = \"lru\", admission = \"evict-lru\" }]",
            format!("{fa}{NIC_DIRECT}"),
        ),
        (
            "occ-cuckoo",
            "[\"hardware\"]",
            format!("{cuckoo}{NIC_DIRECT}"),
        ),
    ];
    for (name, policies, nic) in cases {
        let p = scenario(name, policies, ent, &nic);
        for pol in &p.scenario.policies {
            let mut d = run(&p, &pol.name);
            let cap = d.run.nic.capacity;
            let usable = u64::from(d.engine.nic().table().usable_capacity());
            assert_eq!(cap, usable);
            let s = d.engine.nic_stats().table;
            let series = &d.run.series.hw_occupancy;
            eprintln!(
                "{name}/{}: capacity {cap}, peak {} (bound {}), interval max {:?}, \
                 refusals {:?}, evictions {}",
                pol.name,
                s.peak_occupancy,
                s.peak_bound,
                series.iter().max(),
                d.run.nic.refusals_by_reason,
                s.evictions
            );
            assert!(s.peak_occupancy <= cap && s.peak_bound <= cap, "{name}");
            assert!(d.run.nic.peak_occupancy <= cap, "{name}");
            assert!(series.len() >= 20, "one sample per 100 ms");
            assert!(series.iter().all(|&o| o <= cap), "{name}: {series:?}");
            // Under pressure: the table filled up (the fully associative one exactly).
            assert!(
                s.peak_occupancy * 10 >= cap * 9,
                "{name}: peak {}",
                s.peak_occupancy
            );
            if name == "occ-fa" {
                assert_eq!(s.peak_occupancy, cap);
            }
            if pol.name == "lru" {
                assert!(s.evictions > 0);
            } else {
                assert!(d.run.nic.refusals > 0, "{name}: no refusal under pressure");
            }
            let t = d.engine.nic().table();
            assert!(t.occupancy() <= cap);
            if name != "occ-fa" && name != "occ-cuckoo" {
                // MT7621: 7 of every 128 entries are STATIC (mtk_ppe_init_foe_table).
                assert_eq!(cap, 256 - 14);
                for i in 0..256u32 {
                    let reserved = [12, 25, 38, 51, 76, 89, 102].contains(&(i % 128));
                    let st = t.slot_state(i).unwrap();
                    assert_eq!(
                        st == SlotState::Reserved,
                        reserved,
                        "{name}: slot {i} {st:?}"
                    );
                }
            }
        }
    }
}

/// With a small MT7621 table (256 entries, 242 usable) a home-router trace shows
/// bucket-collision refusals, flows kept in software with the reason in their records, and
/// packets that still reach the CPU; a fully associative table of the same size does better.
/// Three tables: the PPE as the driver runs it (2-way buckets, lazy binding), the same
/// buckets with direct insertion (isolates the layout), and a fully associative table.
#[test]
fn small_mt7621_table_collides_and_associative_does_better() {
    let small = "[nic.table]\ncapacity = 256\n";
    let fa = "[nic.table]\ncapacity = 256\nlayout = \"fully_associative\"\n";
    let lazy = run(
        &scenario("coll-lazy", "[\"hardware\"]", HOME, small),
        "hardware",
    );
    let hashed = run(
        &scenario(
            "coll-hashed",
            "[\"hardware\"]",
            HOME,
            &format!("{small}{NIC_DIRECT}"),
        ),
        "hardware",
    );
    let assoc = run(
        &scenario(
            "coll-fa",
            "[\"hardware\"]",
            HOME,
            &format!("{fa}{NIC_DIRECT}"),
        ),
        "hardware",
    );
    let cpu = |d: &Done| d.run.paths.slow + d.run.paths.sw_fast;
    for (name, d) in [("lazy", &lazy), ("hashed", &hashed), ("assoc", &assoc)] {
        let n = &d.run.nic;
        eprintln!(
            "collisions {name}: capacity {} peak {}, refusals {:?}, flows hw {} sw {} \
             (sw because {:?}), path shares {:?}, CPU packets {}",
            n.capacity,
            n.peak_occupancy,
            n.refusals_by_reason,
            d.run.flows.offloaded_hw,
            d.run.flows.offloaded_sw,
            d.run.flows.hw_refused,
            shares(&d.run),
            cpu(d)
        );
        assert_eq!(n.capacity, 242);
    }
    // The 2-way buckets refuse flows although the table is far from full.
    for d in [&lazy, &hashed] {
        let n = &d.run.nic;
        assert!(
            n.refusals_by_reason
                .get("bucket_full")
                .copied()
                .unwrap_or(0)
                > 0
        );
        assert!(n.peak_occupancy < n.capacity);
        // Those flows stay in the software flowtable and their records say why.
        let kept: Vec<&Row> = d
            .rows
            .iter()
            .filter(|r| r.outcome == "sw" && r.reason == "bucket_full")
            .collect();
        assert!(!kept.is_empty());
        assert!(kept.iter().all(|r| r.packets[2] == 0));
        assert!(kept.iter().map(|r| r.packets[1]).sum::<u64>() > 0);
        assert_eq!(
            d.run.flows.hw_refused.get("bucket_full").copied(),
            Some(kept.len() as u64)
        );
    }
    // The fully associative table never refuses for a bucket (the trace never fills it).
    assert!(assoc.run.nic.refusals_by_reason.is_empty());
    assert!(assoc.rows.iter().all(|r| r.reason != "bucket_full"));
    // ... and carries more in hardware, so fewer packets reach the CPU.
    let sh = shares(&assoc.run);
    for d in [&lazy, &hashed] {
        assert!(sh[2] > shares(&d.run)[2]);
        assert!(cpu(&assoc) < cpu(d));
        assert!(assoc.run.flows.offloaded_hw > d.run.flows.offloaded_hw);
    }
}

/// The what-if gates in front of `flow add` behave as named on 20 s of home-router traffic
/// (NIC: a fully associative 242-entry table with direct insertion, never full here, so only
/// the gate decides): `after_packets`, `after_bytes`, `min_pps`.
#[test]
fn what_if_gates_offload_as_named() {
    let p = scenario(
        "gates",
        "[\"hardware\", { name = \"after100\", after_packets = 100 }, \
          { name = \"after100k\", after_bytes = 100000 }, { name = \"pps30\", min_pps = 30.0 }]",
        HOME,
        &format!("[nic.table]\ncapacity = 256\nlayout = \"fully_associative\"\n{NIC_DIRECT}"),
    );
    let trace = trace_flows(Profile::HomeRouter, 20.0);
    let base = run(&p, "hardware");
    let offloaded = |d: &Done| d.rows.iter().filter(|r| r.adds > 0).count();
    let gated = |d: &Done| {
        d.rows
            .iter()
            .filter(|r| r.reason == "policy_threshold")
            .count() as u64
    };
    // The kernel's own policy offloads nearly every TCP/UDP connection; the records of the
    // others name the eligibility rule that failed, even when `flow add` only ever saw their
    // first packet (before the record existed).
    assert_eq!(gated(&base), 0);
    let n_base = offloaded(&base);
    let never: Vec<&Row> = base
        .rows
        .iter()
        .filter(|r| r.offloadable() && r.adds == 0)
        .collect();
    assert!(!never.is_empty());
    for r in never {
        assert!(
            ["unconfirmed", "tcp_not_established", "tcp_fin_rst"].contains(&r.reason.as_str()),
            "{r:?}"
        );
    }

    // after_packets = 100: a connection shorter than 100 packets never offloads and its
    // record says why; a longer one offloads on its 100th packet (which itself takes the
    // slow path, like the kernel's triggering packet).
    let d = run(&p, "after100");
    let n_after100 = offloaded(&d);
    for r in d.rows.iter().filter(|r| r.offloadable()) {
        if r.total() < 100 {
            assert_eq!(r.adds, 0, "{r:?}");
            assert_eq!(
                (r.outcome.as_str(), r.reason.as_str()),
                ("slow", "policy_threshold")
            );
        } else if r.adds > 0 {
            assert!(r.packets[0] >= 100, "{r:?}");
        }
    }
    let first = d
        .rows
        .iter()
        .filter(|r| r.adds > 0)
        .map(|r| r.packets[0])
        .min();
    assert_eq!(first, Some(100));
    assert!(gated(&d) > 0);
    assert_eq!(
        d.run.flows.not_offloaded.get("policy_threshold"),
        Some(&gated(&d))
    );

    // after_bytes = 100 kB: connections below it (wire bytes bound the L3 bytes the gate
    // counts) never offload; every offloaded one had carried 100 kB.
    let d = run(&p, "after100k");
    let n_after100k = offloaded(&d);
    for r in d.rows.iter().filter(|r| r.offloadable()) {
        if r.bytes < 100_000 {
            assert_eq!(
                (r.adds, r.reason.as_str()),
                (0, "policy_threshold"),
                "{r:?}"
            );
        }
        if r.adds > 0 {
            assert!(r.bytes >= 100_000, "{r:?}");
        }
    }
    assert!(gated(&d) > 0 && offloaded(&d) > 0);

    // min_pps = 30 (elephants only): a connection can pass only on a packet i (counting both
    // directions) with i >= 30 x max(age, 1 s) — those that never reach that in the trace
    // stay on the slow path; sustained elephants offload; most connections are mice.
    let d = run(&p, "pps30");
    let mut mice = 0;
    for r in d.rows.iter().filter(|r| r.offloadable()) {
        let pk = trace
            .get(&r.flow)
            .unwrap_or_else(|| panic!("{} is not in the trace", r.flow));
        let t0 = pk[0].0;
        let can = pk
            .iter()
            .enumerate()
            .any(|(i, &(t, _))| (i + 1) as f64 >= 30.0 * ((t - t0) as f64 / 1e9).max(1.0) * 0.999);
        if !can {
            mice += 1;
            assert_eq!(
                (r.adds, r.reason.as_str()),
                (0, "policy_threshold"),
                "{r:?}"
            );
        }
        let secs = (pk.last().unwrap().0 - t0) as f64 / 1e9;
        if pk.len() >= 1000 && pk.len() as f64 / secs >= 100.0 {
            assert!(r.adds > 0, "elephant not offloaded: {r:?}");
        }
    }
    eprintln!(
        "gates: offloaded connections: kernel {n_base}, after 100 packets {}, after 100 kB {}, \
         >= 30 pkt/s {} ({mice} below the rate)",
        n_after100,
        n_after100k,
        offloaded(&d)
    );
    assert!(mice > 0 && offloaded(&d) > 0);
    assert!(
        offloaded(&d) * 2 < n_base,
        "min_pps must leave the mice out"
    );
}

/// Table-full admission on 10 s of home-router traffic: with a 64-entry fully associative
/// table, `refuse` (what drivers do) turns new connections away while the table is full;
/// `evict-lru` admits them by evicting the least recently used entry.
#[test]
fn evict_lru_admits_where_refuse_would_not() {
    let p = scenario(
        "admission",
        "[\"hardware\", { name = \"lru\", admission = \"evict-lru\" }]",
        "{ profile = \"home-router\", duration_s = 10.0 }",
        &format!(
            "[nic.table]\ncapacity = 64\nlayout = \"fully_associative\"\nreserved_period = 0\n\
             reserved_indices = []\n{NIC_DIRECT}"
        ),
    );
    let mut refuse = run(&p, "hardware");
    let mut lru = run(&p, "lru");
    let (rs, ls) = (
        refuse.engine.nic_stats().table,
        lru.engine.nic_stats().table,
    );
    eprintln!(
        "admission: refuse: {:?} refusals, {} evictions, {} connections in hardware; \
         evict-lru: {:?} refusals, {} evictions, {} connections in hardware",
        refuse.run.nic.refusals_by_reason,
        rs.evictions,
        refuse.run.flows.offloaded_hw,
        lru.run.nic.refusals_by_reason,
        ls.evictions,
        lru.run.flows.offloaded_hw
    );
    assert_eq!(rs.peak_occupancy, 64);
    assert!(
        refuse
            .run
            .nic
            .refusals_by_reason
            .get("table_full")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert_eq!(rs.evictions, 0);
    assert!(refuse.rows.iter().any(|r| r.reason == "table_full"));
    // LRU never refuses for a full table: it evicts instead, and more connections reach
    // the hardware.
    assert!(ls.evictions > 0);
    assert_eq!(lru.run.nic.refusals_by_reason.get("table_full"), None);
    assert!(lru.rows.iter().all(|r| r.reason != "table_full"));
    assert!(lru.run.flows.offloaded_hw > refuse.run.flows.offloaded_hw);
    assert!(lru.run.nic.inserts > refuse.run.nic.inserts);
}
