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

use offsim_reports::schema as rep;
use rayon::prelude::*;

use crate::prepare::{Prepared, RunError, prepare};
use crate::report::{
    apply_savings, overload_warnings, ruleset_warnings, run_report, scenario_info, tool,
};
use crate::run::{RunOutcome, run_policy};
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
    let path = file.path.display().to_string();
    let Some(sweep) = spec.sweep.filter(|s| !s.is_empty()) else {
        return Err(ScenarioError::Invalid {
            file: path,
            key: "sweep".into(),
            msg: "`offsim sweep` needs a [sweep] table with at least one key".into(),
        });
    };
    let mut total: u64 = 1;
    for (k, vals) in &sweep {
        if k == "sweep" || k.starts_with("sweep.") || k == "plan" || k.starts_with("plan.") {
            return Err(ScenarioError::Invalid {
                file: path,
                key: format!("sweep.\"{k}\""),
                msg: "the sweep and plan sections cannot be swept".into(),
            });
        }
        if vals.is_empty() {
            return Err(ScenarioError::Invalid {
                file: path,
                key: format!("sweep.\"{k}\""),
                msg: "needs at least one value".into(),
            });
        }
        total = total.saturating_mul(vals.len() as u64);
    }
    if total > MAX_POINTS {
        return Err(ScenarioError::Invalid {
            file: path,
            key: "sweep".into(),
            msg: format!("the grid has {total} points; at most {MAX_POINTS} are accepted"),
        });
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

/// Prepares one point: the scenario with the point's values, validated and loaded.
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
    prepare(sc)
}

/// Runs the points of the grid this shard owns and builds the sweep report. `progress`
/// draws a bar over the runs (on a terminal only, see [`crate::progress`]).
pub fn run_sweep(
    file: &ScenarioFile,
    shard: Option<rep::Shard>,
    progress: bool,
) -> Result<rep::Report, RunError> {
    let (keys, all) = grid(file)?;
    let total = all.len() as u64;
    let points: Vec<GridPoint> = all
        .into_iter()
        .filter(|p| shard.is_none_or(|s| offsim_reports::merge::shard_owns(p.index, s)))
        .collect();
    // The scenario section describes the base scenario, the same in every shard.
    let base = prepare(file.resolve()?)?;
    let prepared: Vec<Result<Prepared, RunError>> =
        points.par_iter().map(|p| prepare_point(file, p)).collect();
    let prepared: Vec<Prepared> = prepared.into_iter().collect::<Result<_, _>>()?;
    // Every (point, policy) pair is a job.
    let jobs: Vec<(usize, usize)> = prepared
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..p.scenario.policies.len()).map(move |j| (i, j)))
        .collect();
    let bar = crate::progress::Progress::new("sweep", jobs.len() as u64, "runs", progress);
    let outs: Vec<Result<RunOutcome, RunError>> = jobs
        .par_iter()
        .map(|&(i, j)| {
            let p = &prepared[i];
            let r = run_policy(p, &p.scenario.policies[j]);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish();
    let mut by_point: Vec<Vec<RunOutcome>> = prepared.iter().map(|_| Vec::new()).collect();
    for (o, &(i, _)) in outs.into_iter().zip(&jobs) {
        by_point[i].push(o?);
    }
    let mut runs = Vec::new();
    let mut rpoints = Vec::new();
    for ((point, p), outs) in points.iter().zip(&prepared).zip(by_point.iter_mut()) {
        let mut point_runs: Vec<rep::Run> = outs
            .iter_mut()
            .map(|o| run_report(p, &o.policy, &mut o.engine, &point.name))
            .collect();
        apply_savings(&mut point_runs);
        rpoints.push(rep::SweepPoint {
            index: point.index,
            name: point.name.clone(),
            values: point
                .values
                .iter()
                .map(|(k, v)| (k.clone(), param_value(v)))
                .collect::<BTreeMap<_, _>>(),
            runs: point_runs.iter().map(|r| r.name.clone()).collect(),
            warnings: overload_warnings(&point_runs),
        });
        runs.extend(point_runs);
    }
    Ok(rep::Report {
        tool: tool(),
        kind: rep::ReportKind::Sweep,
        scenario: scenario_info(&base),
        runs,
        warnings: ruleset_warnings(&base),
        sweep: Some(rep::Sweep {
            parameters: keys,
            total_points: total,
            shard,
            points: rpoints,
        }),
        ..rep::Report::default()
    })
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
        let dir = std::env::temp_dir().join(format!("offsim-sweep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("s{}.toml", body.len()));
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
