//! Whole-simulation benches: the default scenario (`scenarios/default.toml`: MT7621,
//! firewall4, a generated home-router trace replayed at 500 Mbit/s) end to end per policy,
//! through the library the `offsim run` command uses ([`prepare`] once, then [`run_policy`]
//! per iteration: a fresh datapath, NIC and CPU, the trace replayed through the
//! discrete-event engine). Throughput is simulated packets per second of wall time on one
//! core.
//!
//! - `engine/default/{none,software,hardware}`: the trace comes from the generator, as
//!   `offsim run scenarios/default.toml` does (frame building and parsing included);
//! - `engine/default-pcap/{…}`: the same packets from a pcap file (reader and parser
//!   instead of the generator), as a run over a user's capture does;
//! - `engine/default-pcap-run/all`: the three configurations together through
//!   [`run_scenario`], as `offsim run` does: one reader thread decodes the capture for all
//!   of them (`sim/src/feed.rs`), each simulates on its own thread (with two or more in the
//!   thread pool; the trace's scan for copies runs in the first iteration only). Its
//!   throughput counts the packets of all three.
//!
//! Run with `cargo bench -p offsim-benches -- engine`.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use offsim::prepare::{Prepared, prepare};
use offsim::run::{run_policy, run_scenario};
use offsim::scenario::ScenarioFile;
use offsim::source::Input;
use offsim_traces::r#gen::generate_file;

fn default_scenario() -> Prepared {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/default.toml");
    let sc = ScenarioFile::load(&path)
        .expect("default scenario loads")
        .resolve()
        .expect("default scenario resolves");
    prepare(sc).expect("default scenario prepares")
}

fn bench_all(c: &mut Criterion, group: &str, p: &Prepared) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.throughput(Throughput::Elements(p.pass.totals.packets));
    for pol in &p.scenario.policies {
        g.bench_with_input(BenchmarkId::from_parameter(&pol.name), pol, |b, pol| {
            b.iter(|| {
                let o = run_policy(p, pol).expect("run");
                black_box(o.engine.measure().delivered)
            })
        });
    }
    g.finish();
}

/// Registers the engine benches.
pub fn bench(c: &mut Criterion) {
    let mut p = default_scenario();
    bench_all(c, "engine/default", &p);

    let Input::Gen(cfg) = p.input.clone() else {
        panic!("the default scenario generates its trace");
    };
    let dir = std::env::temp_dir().join(format!("offsim-bench-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("default.pcap");
    generate_file(&cfg, &path).expect("write the default trace");
    p.input = Input::File(path);
    bench_all(c, "engine/default-pcap", &p);
    let mut g = c.benchmark_group("engine/default-pcap-run");
    g.sample_size(10);
    g.throughput(Throughput::Elements(
        p.pass.totals.packets * p.scenario.policies.len() as u64,
    ));
    g.bench_function("all", |b| {
        b.iter(|| black_box(run_scenario(&p).expect("run").runs.len()))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}
