//! `offsim sweep`: a grid over scenario fields, run in parallel, one report.
//!
//! The `[sweep]` table maps dotted scenario keys to lists of values:
//!
//! ```toml
//! [sweep]
//! "nic.table.capacity" = [256, 1024, 4096]
//! "replay.rate_gbps" = [0.2, 0.5, 1.0]
//! ```
//!
//! The grid is the cartesian product; parameters are taken in key order (sorted by name) and
//! the first varies slowest. Point `i` is the scenario with each key replaced by its value
//! (through [`ScenarioFile::with`], so a point is validated exactly like a scenario file);
//! every configuration of every point runs as an independent job on the rayon pool, and
//! results are assembled in point order, so the report does not depend on the number of
//! threads. With `--shard K/N` only the points with `index % N == K - 1` run (see
//! [`offsim_reports::merge::shard_owns`]), and `offsim merge` of all shards gives the bytes
//! of the unsharded report.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use offsim_reports::schema as rep;
use rayon::prelude::*;

use crate::prepare::{Prepared, RunError, prepare, prepare_deferred};
use crate::report::{apply_savings, overload_warnings, ruleset_warnings, scenario_info, tool};
use crate::run::{run_to_report, settled};
use crate::scenario::{ScenarioError, ScenarioFile};

/// One point of the grid.
#[derive(Clone, Debug)]
pub struct GridPoint {
    /// Global index.
    pub index: u64,
    /// `key=value,...`.
    pub name: String,
    /// Key → value.
    pub values: Vec<(String, toml::Value)>,
}

/// Largest grid `offsim sweep` accepts.
pub(crate) const MAX_POINTS: u64 = 100_000;

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => {
            let s = f.to_string();
            if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
                s
            } else {
                format!("{s}.0")
            }
        }
        other => other.to_string(),
    }
}

fn param_value(v: &toml::Value) -> rep::ParamValue {
    match v {
        toml::Value::Integer(i) => rep::ParamValue::Num(*i as f64),
        toml::Value::Float(f) => rep::ParamValue::Num(*f),
        other => rep::ParamValue::Text(value_text(other)),
    }
}

/// The points of the scenario's `[sweep]` grid, in grid order.
pub fn grid(file: &ScenarioFile) -> Result<(Vec<String>, Vec<GridPoint>), ScenarioError> {
    let spec = file.spec()?;
    let Some(sweep) = spec.sweep.filter(|s| !s.is_empty()) else {
        return Err(file.invalid(
            "sweep",
            "`offsim sweep` needs a [sweep] table with at least one key",
        ));
    };
    let mut total: u64 = 1;
    for (k, vals) in &sweep {
        if k == "sweep" || k.starts_with("sweep.") || k == "plan" || k.starts_with("plan.") {
            return Err(file.invalid(
                &format!("sweep.\"{k}\""),
                "the sweep and plan sections cannot be swept",
            ));
        }
        if vals.is_empty() {
            return Err(file.invalid(&format!("sweep.\"{k}\""), "needs at least one value"));
        }
        total = total.saturating_mul(vals.len() as u64);
    }
    if total > MAX_POINTS {
        return Err(file.invalid(
            "sweep",
            format!("the grid has {total} points; at most {MAX_POINTS} are accepted"),
        ));
    }
    let keys: Vec<String> = sweep.keys().cloned().collect();
    let lists: Vec<&Vec<toml::Value>> = sweep.values().collect();
    let mut points = Vec::with_capacity(total as usize);
    for index in 0..total {
        // Mixed radix, last key fastest.
        let mut rest = index;
        let mut idx = vec![0usize; lists.len()];
        for (d, l) in lists.iter().enumerate().rev() {
            idx[d] = (rest % l.len() as u64) as usize;
            rest /= l.len() as u64;
        }
        let values: Vec<(String, toml::Value)> = keys
            .iter()
            .zip(&idx)
            .zip(&lists)
            .map(|((k, &i), l)| (k.clone(), l[i].clone()))
            .collect();
        let name = values
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(",");
        points.push(GridPoint {
            index,
            name,
            values,
        });
    }
    Ok((keys, points))
}

/// Prepares one point: the scenario with the point's values, validated and loaded, its first
/// pass deferred to its runs where the replay allows ([`prepare_deferred`]: a sweep's
/// progress counts points, not packets).
pub(crate) fn prepare_point(file: &ScenarioFile, point: &GridPoint) -> Result<Prepared, RunError> {
    let mut f = file.clone();
    for (k, v) in &point.values {
        f = f.with(k, v.clone())?;
    }
    let sc = f.resolve().map_err(|e| match e {
        ScenarioError::Invalid { file, key, msg } => ScenarioError::Invalid {
            file,
            key,
            msg: format!("{msg} (sweep point {})", point.name),
        },
        other => other,
    })?;
    prepare_deferred(sc)
}

/// A finished sweep: the report with its runs slimmed (no time series, no latency
/// histograms: what the summary, the page and the charts of a sweep use), and every full
/// run kept on disk until [`SweepOutcome::write_json`] streams them into `report.json`.
pub struct SweepOutcome {
    /// The report; its runs lack `series` and latency histograms.
    pub report: rep::Report,
    spill: Spill,
}

/// Full runs, one JSON line per point, in a file deleted when dropped.
struct Spill {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
    /// Where each point's line is: (offset, length), by position in the shard's points.
    at: Mutex<Vec<Option<(u64, u64)>>>,
    end: Mutex<u64>,
}

impl Spill {
    fn new(points: usize) -> Result<Spill, RunError> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "offsim-sweep-{}-{}.jsonl",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |source| RunError::Io {
            path: path.display().to_string(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        Ok(Spill {
            file: Mutex::new(BufWriter::new(f)),
            at: Mutex::new(vec![None; points]),
            end: Mutex::new(0),
            path,
        })
    }

    fn io(&self, source: std::io::Error) -> RunError {
        RunError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Keeps point `i`'s runs.
    fn put(&self, i: usize, runs: &[rep::Run]) -> Result<(), RunError> {
        let mut line = serde_json::to_vec(runs).map_err(|e| self.io(e.into()))?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&line).map_err(|e| self.io(e))?;
        self.at.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((*end, line.len() as u64));
        *end += line.len() as u64;
        Ok(())
    }

    /// Point `i`'s runs.
    fn get(&self, i: usize) -> Result<Vec<rep::Run>, RunError> {
        let (off, len) = self.at.lock().unwrap_or_else(|e| e.into_inner())[i]
            .ok_or_else(|| self.io(std::io::Error::other("a sweep point was not kept")))?;
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.flush().map_err(|e| self.io(e))?;
        let file = f.get_mut();
        file.seek(SeekFrom::Start(off)).map_err(|e| self.io(e))?;
        let mut buf = vec![0; len as usize];
        file.read_exact(&mut buf).map_err(|e| self.io(e))?;
        file.seek(SeekFrom::End(0)).map_err(|e| self.io(e))?;
        serde_json::from_slice(&buf).map_err(|e| self.io(e.into()))
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl SweepOutcome {
    /// Writes `report.json`: the bytes of the full report, the runs read back one point at
    /// a time.
    pub fn write_json(&self, out: &mut impl Write) -> Result<(), RunError> {
        let points = self.report.sweep.as_ref().map_or(0, |s| s.points.len());
        let runs = (0..points)
            .map(|i| self.spill.get(i))
            .flat_map(|r| match r {
                Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            });
        self.report
            .write_json_streaming(runs, out)
            .map_err(|e| match e {
                rep::StreamError::Io(source) => RunError::Io {
                    path: "report.json".into(),
                    source,
                },
                rep::StreamError::Run(e) => e,
            })
    }

    /// The full report (every run read back): for tests and small sweeps.
    pub fn into_full_report(self) -> Result<rep::Report, RunError> {
        let mut buf = Vec::new();
        self.write_json(&mut buf)?;
        rep::Report::from_json(&String::from_utf8_lossy(&buf)).map_err(|e| RunError::Io {
            path: "report.json".into(),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

/// A run without what a sweep's summary, page and charts do not use.
fn slim(r: &rep::Run) -> rep::Run {
    let mut s = r.clone();
    s.series = rep::Series::default();
    let l = &mut s.latency_ns;
    for h in [
        &mut l.overall,
        &mut l.by_path.slow,
        &mut l.by_path.sw_fast,
        &mut l.by_path.hw,
    ] {
        h.histogram = Vec::new();
    }
    s
}

/// Runs one point: prepares it, runs its configurations (in parallel), reduces each engine
/// to its run at once.
fn run_point(file: &ScenarioFile, point: &GridPoint) -> Result<Vec<rep::Run>, RunError> {
    let mut p = prepare_point(file, point)?;
    let mut runs = settled(&mut p, |p| {
        let runs: Vec<Result<rep::Run, RunError>> = p
            .scenario
            .policies
            .par_iter()
            .map(|pol| run_to_report(p, pol, &point.name))
            .collect();
        runs.into_iter().collect::<Result<Vec<_>, _>>()
    })?;
    apply_savings(&mut runs);
    Ok(runs)
}

/// Runs the points of the grid this shard owns and builds the sweep report. `progress`
/// draws a bar over the points (on a terminal only, see [`crate::progress`]). Memory does
/// not follow the number of points: a point is prepared when it runs and its full runs go to
/// a spill file as it finishes.
pub fn run_sweep(
    file: &ScenarioFile,
    shard: Option<rep::Shard>,
    progress: bool,
) -> Result<SweepOutcome, RunError> {
    let (keys, all) = grid(file)?;
    let total = all.len() as u64;
    let points: Vec<GridPoint> = all
        .into_iter()
        .filter(|p| shard.is_none_or(|s| offsim_reports::merge::shard_owns(p.index, s)))
        .collect();
    // The scenario section describes the base scenario, the same in every shard.
    let base = prepare(file.resolve()?)?;
    let spill = Spill::new(points.len())?;
    let bar = crate::progress::Progress::new("sweep", points.len() as u64, "points", progress);
    let results: Vec<Result<(Vec<rep::Run>, rep::SweepPoint), RunError>> = points
        .par_iter()
        .enumerate()
        .map(|(i, point)| {
            let runs = run_point(file, point)?;
            spill.put(i, &runs)?;
            bar.inc(1);
            let sp = rep::SweepPoint {
                index: point.index,
                name: point.name.clone(),
                values: point
                    .values
                    .iter()
                    .map(|(k, v)| (k.clone(), param_value(v)))
                    .collect::<BTreeMap<_, _>>(),
                runs: runs.iter().map(|r| r.name.clone()).collect(),
                warnings: overload_warnings(&runs),
            };
            Ok((runs.iter().map(slim).collect(), sp))
        })
        .collect();
    bar.finish();
    let mut runs = Vec::new();
    let mut rpoints = Vec::new();
    for r in results {
        let (point_runs, sp) = r?;
        runs.extend(point_runs);
        rpoints.push(sp);
    }
    let report = rep::Report {
        tool: tool(),
        kind: rep::ReportKind::Sweep,
        scenario: scenario_info(&base),
        runs,
        warnings: ruleset_warnings(&base, base.findings()?),
        sweep: Some(rep::Sweep {
            parameters: keys,
            total_points: total,
            shard,
            points: rpoints,
        }),
        ..rep::Report::default()
    };
    Ok(SweepOutcome { report, spill })
}

/// Parses `K/N` (1-based).
pub fn parse_shard(s: &str) -> Result<rep::Shard, String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("--shard {s}: expected K/N, e.g. 2/8"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("--shard {s}: K is not a number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("--shard {s}: N is not a number"))?;
    if n == 0 || k == 0 || k > n || n > MAX_POINTS {
        return Err(format!("--shard {s}: need 1 <= K <= N <= {MAX_POINTS}"));
    }
    Ok(rep::Shard { index: k, count: n })
}

#[cfg(test)]
mod test {
    use super::*;

    fn file(body: &str) -> ScenarioFile {
        let dir = crate::scratch::Scratch::new("sweep", &body.len().to_string());
        let p = dir.join("s.toml");
        std::fs::write(&p, body).unwrap();
        ScenarioFile::load(&p).unwrap()
    }

    const BASE: &str = "name = \"t\"\n[trace.generate]\nprofile = \"home-router\"\npackets = 10\n[ruleset]\nfile = \"x.nft\"\n[cpu]\npreset = \"x86-server\"\n[nic]\npreset = \"mt7621\"\n";

    #[test]
    fn grid_order_first_key_slowest() {
        let f = file(&format!(
            "{BASE}[sweep]\n\"a.x\" = [1, 2]\n\"b.y\" = [\"p\", \"q\", \"r\"]\n"
        ));
        let (keys, pts) = grid(&f).unwrap();
        assert_eq!(keys, vec!["a.x", "b.y"]);
        let names: Vec<&str> = pts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "a.x=1,b.y=p",
                "a.x=1,b.y=q",
                "a.x=1,b.y=r",
                "a.x=2,b.y=p",
                "a.x=2,b.y=q",
                "a.x=2,b.y=r"
            ]
        );
        assert_eq!(pts[4].index, 4);
    }

    #[test]
    fn bad_grids_and_shards() {
        assert!(grid(&file(BASE)).is_err());
        assert!(grid(&file(&format!("{BASE}[sweep]\n\"a\" = []\n"))).is_err());
        assert!(grid(&file(&format!("{BASE}[sweep]\n\"plan.steps\" = [1]\n"))).is_err());
        assert_eq!(
            parse_shard("2/8").unwrap(),
            rep::Shard { index: 2, count: 8 }
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
