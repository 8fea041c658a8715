//! Trace input benches: the streaming pcap reader and the frame parser over a generated
//! capture held in memory, and the same stream read from a temporary file (page cache), so
//! the figure is the reader's and parser's cost, not the disk's.
//!
//! Groups (run with `cargo bench -p offsim-benches -- traces`):
//! - `traces/records`: `TraceReader::next_record` only (record framing and buffering);
//! - `traces/parse`: `parse_frame` over frames already split out (parsing only);
//! - `traces/stream`: `PacketStream::next_packet` (reader + parser), in memory and from a
//!   file, per generator profile (home-router: small flows and many ACKs; enterprise: more
//!   flows, ICMP and scans; imix: UDP with the IMIX size mix). From a file both ways:
//!   `file` reads it through `read(2)` into the reader's buffer (`PacketStream::open`, what
//!   offsim's decodes do), `file-mapped` maps it (`PacketStream::open_mapped`, what its
//!   walks over record headers do);
//! - `traces/headers`: a walk over every record header of the home-router capture in a
//!   file (`run`'s first pass), by one reader (`one`), in two halves on two threads
//!   (`halves`, `TraceReader::split_half`), and in four parts walked a record of each in
//!   turn on one thread (`four`, `TraceReader::split_at`: what the first pass does on each
//!   of its threads, overlapping the parts' cache misses);
//! - `traces/info`: `info::summarize` (`trace info`) of a synflood, nearly every packet a new
//!   flow: the parser and the flow set's batched inserts.

use std::hint::black_box;
use std::io::Cursor;

use criterion::{BenchmarkId, Criterion, Throughput};
use offsim_traces::r#gen::{GenConfig, Profile, Stop, generate_vec};
use offsim_traces::info::summarize_sized;
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::pcap::TraceReader;
use offsim_traces::stream::PacketStream;
use offsim_traces::time::SimTime;

/// Packets per generated capture.
const PACKETS: u64 = 200_000;

fn capture(p: Profile) -> Vec<u8> {
    generate_vec(&GenConfig::new(p, 1, Stop::Packets(PACKETS)))
        .expect("generator")
        .0
}

/// Reads the whole stream, folding a few fields so nothing is optimised away.
fn drain<R: std::io::Read>(mut s: PacketStream<R>) -> u64 {
    let mut acc = 0u64;
    while let Some(m) = s.next_packet().expect("valid capture") {
        // The whole summary escapes, so no field's parsing can be optimised away.
        black_box(&m);
        acc = acc.wrapping_add(u64::from(m.sport) ^ u64::from(m.wire_len));
    }
    acc
}

/// Record headers read from `r` until the record at byte offset `stop`: (count, bytes).
fn walk(r: &mut TraceReader<std::fs::File>, stop: u64) -> (u64, u64) {
    let (mut k, mut bytes) = (0, 0);
    while r.offset() < stop
        && let Some(rec) = r.next_record().expect("record")
    {
        k += 1;
        bytes += u64::from(rec.orig_len);
    }
    (k, bytes)
}

/// `traces/headers`: the first pass over `capture` in a file, whole and in halves.
fn headers(c: &mut Criterion, capture: &[u8], packets: u64) {
    let dir = std::env::temp_dir().join(format!("offsim-bench-h-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = &dir.join("home-router.pcap");
    std::fs::write(path, capture).expect("write temp capture");
    let mut g = c.benchmark_group("traces/headers");
    g.sample_size(20);
    g.throughput(Throughput::Elements(packets));
    g.bench_function("one", |b| {
        b.iter(|| {
            black_box(walk(
                &mut TraceReader::open_mapped(path).expect("open"),
                u64::MAX,
            ))
        })
    });
    g.bench_function("halves", |b| {
        b.iter(|| {
            let mut r = TraceReader::open_mapped(path).expect("open");
            let (mid, mut second) = r.split_half(0).expect("a mapped pcap splits");
            let (a, b2) = std::thread::scope(|s| {
                let h = s.spawn(move || walk(&mut second, u64::MAX));
                (walk(&mut r, mid), h.join().expect("second half"))
            });
            assert_eq!(a.0 + b2.0, packets);
            black_box((a, b2))
        })
    });
    g.bench_function("four", |b| {
        b.iter(|| {
            let len = std::fs::metadata(path).expect("capture").len();
            let first = TraceReader::open_mapped(path).expect("open");
            let mut parts = vec![(0, first)];
            for i in 1..4 {
                let (at, r) = parts[0]
                    .1
                    .split_at(len * i / 4, 0)
                    .expect("a mapped pcap splits");
                parts.push((at, r));
            }
            let stops: Vec<u64> = parts
                .iter()
                .skip(1)
                .map(|p| p.0)
                .chain([u64::MAX])
                .collect();
            let (mut k, mut live) = (0u64, 4);
            let mut done = [false; 4];
            while live > 0 {
                for (i, (_, r)) in parts.iter_mut().enumerate() {
                    if done[i] {
                        continue;
                    }
                    if r.offset() < stops[i] && r.next_header().expect("record").is_some() {
                        k += 1;
                    } else {
                        (done[i], live) = (true, live - 1);
                    }
                }
            }
            assert_eq!(k, packets);
            black_box(k)
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Registers the trace benches.
pub fn bench(c: &mut Criterion) {
    let home = capture(Profile::HomeRouter);
    let n = |bytes: &[u8]| -> u64 {
        let mut r = TraceReader::new(Cursor::new(bytes), "bench").expect("header");
        let mut k = 0;
        while r.next_record().expect("record").is_some() {
            k += 1;
        }
        k
    };
    let packets = n(&home);

    let mut g = c.benchmark_group("traces/records");
    g.sample_size(20);
    g.throughput(Throughput::Elements(packets));
    g.bench_function("home-router/mem", |b| {
        b.iter(|| {
            let mut r = TraceReader::new(Cursor::new(&home[..]), "bench").expect("header");
            let mut acc = 0u64;
            while let Some(rec) = r.next_record().expect("record") {
                acc = acc.wrapping_add(u64::from(rec.orig_len));
            }
            black_box(acc)
        })
    });
    g.finish();

    // Frames split out once into one contiguous buffer (as the reader's buffer holds them),
    // then parsed.
    let mut data: Vec<u8> = Vec::with_capacity(home.len());
    let mut frames: Vec<(SimTime, usize, usize, u32)> = Vec::with_capacity(packets as usize);
    let mut r = TraceReader::new(Cursor::new(&home[..]), "bench").expect("header");
    while let Some(rec) = r.next_record().expect("record") {
        frames.push((rec.ts, data.len(), rec.data.len(), rec.orig_len));
        data.extend_from_slice(rec.data);
    }
    let mut g = c.benchmark_group("traces/parse");
    g.sample_size(20);
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("home-router", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for &(ts, at, len, orig) in &frames {
                let f = black_box(&data[at..at + len]);
                let m = parse_frame(LinkType::Ethernet, f, orig, ts, 0);
                black_box(&m);
                acc = acc.wrapping_add(u64::from(m.sport) ^ u64::from(m.wire_len));
            }
            black_box(acc)
        })
    });
    g.finish();
    drop((frames, data));

    let mut g = c.benchmark_group("traces/stream");
    g.sample_size(20);
    for p in [Profile::HomeRouter, Profile::Enterprise, Profile::Imix] {
        let bytes = if p == Profile::HomeRouter {
            home.clone()
        } else {
            capture(p)
        };
        g.throughput(Throughput::Elements(n(&bytes)));
        g.bench_with_input(BenchmarkId::new("mem", p.name()), &bytes[..], |b, bytes| {
            b.iter(|| {
                let r = TraceReader::new(Cursor::new(bytes), "bench").expect("header");
                black_box(drain(PacketStream::new(r)))
            })
        });
        if p == Profile::HomeRouter {
            let dir = std::env::temp_dir().join(format!("offsim-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join("home-router.pcap");
            std::fs::write(&path, &bytes).expect("write temp capture");
            g.bench_function(BenchmarkId::new("file", p.name()), |b| {
                b.iter(|| black_box(drain(PacketStream::open(&path).expect("open"))))
            });
            g.bench_function(BenchmarkId::new("file-mapped", p.name()), |b| {
                b.iter(|| black_box(drain(PacketStream::open_mapped(&path).expect("open"))))
            });
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    g.finish();
    headers(c, &home, packets);

    let syn = capture(Profile::Synflood);
    let mut g = c.benchmark_group("traces/info");
    g.sample_size(20);
    g.throughput(Throughput::Elements(n(&syn)));
    g.bench_function("synflood", |b| {
        b.iter(|| {
            let r = TraceReader::new(Cursor::new(&syn[..]), "bench").expect("header");
            let size = Some(syn.len() as u64);
            let info = summarize_sized("bench", &mut PacketStream::new(r), size).expect("summary");
            black_box(info.flows.total)
        })
    });
    g.finish();
}
