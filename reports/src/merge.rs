//! Join the reports of `offsim sweep --shard K/N` into the report one machine would have
//! written: `offsim merge SHARD.json...`.
//!
//! Contract with the engine (what makes the merge byte-identical to an unsharded sweep):
//! - a sweep report's `runs` are exactly the runs named by its points, in point order and
//!   in each point's `runs` order;
//! - `sweep.points[].index` is the point's global 0-based index in the whole grid and
//!   `sweep.total_points` the size of the whole grid, in every shard;
//! - a shard carries `sweep.shard = {index: K, count: N}`; the unsharded report has none;
//! - warnings about one point go in that point's `warnings`; the report's top-level
//!   `warnings` are about the scenario and are the same in every shard (the merge keeps
//!   their union in order of first appearance, shards taken in shard order);
//! - the scenario and tool are the same in every shard.
//!
//! Which points a shard runs is up to the engine; [`shard_owns`] is the suggested
//! assignment (round robin) and [`split`] applies it to a whole report.

use std::collections::{BTreeMap, BTreeSet};

use crate::ReportError;
use crate::schema::{Report, ReportKind, Run, Shard, Sweep, SweepPoint};

/// Suggested assignment of points to shards: point `index` belongs to shard `K` of `N`
/// when `index % N == K - 1` (round robin, so every shard gets a similar mix).
pub fn shard_owns(index: u64, shard: Shard) -> bool {
    shard.count > 0 && index % shard.count == shard.index.wrapping_sub(1)
}

/// A [`ReportError::Merge`].
fn err(m: String) -> ReportError {
    ReportError::Merge(m)
}

/// How input `i` is named in errors: `shard K/N`, or `input #N` (1-based) for an unsharded
/// one.
fn shard_label(r: &Report, i: usize) -> String {
    match r.sweep.as_ref().and_then(|s| s.shard) {
        Some(s) => format!("shard {}/{}", s.index, s.count),
        None => format!("input #{}", i + 1),
    }
}

/// Merge sweep shard reports into one report, points in index order, without `shard`.
///
/// Errors: no input; an input that is not a sweep report; different scenarios, tools,
/// parameters, total point counts or shard counts; the same shard given twice; a point in
/// two inputs; missing points; a run named in no point or in two inputs.
pub fn merge(shards: &[Report]) -> Result<Report, ReportError> {
    let Some(first) = shards.first() else {
        return Err(err("no shard reports given".into()));
    };
    for (i, r) in shards.iter().enumerate() {
        r.validate()
            .map_err(|e| err(format!("{}: {e}", shard_label(r, i))))?;
        if r.kind != ReportKind::Sweep || r.sweep.is_none() {
            return Err(err(format!(
                "{}: a {} report, not a sweep",
                shard_label(r, i),
                r.kind.as_str()
            )));
        }
    }
    let fsw = first
        .sweep
        .as_ref()
        .ok_or_else(|| err("first input has no sweep section".into()))?;
    let seen_shards = check_same_sweep(shards, first, fsw)?;
    let points = collect_points(shards)?;
    check_no_missing_point(&points, fsw, &seen_shards)?;
    check_runs(shards)?;
    let mut runs: Vec<Run> = Vec::new();
    let mut merged_points = Vec::with_capacity(points.len());
    for (i, p) in points.values() {
        let src = &shards[*i];
        for name in &p.runs {
            let run = src.run(name).ok_or_else(|| {
                err(format!(
                    "{}: point {} names missing run {name:?}",
                    shard_label(src, *i),
                    p.index
                ))
            })?;
            runs.push(run.clone());
        }
        merged_points.push((*p).clone());
    }
    let merged = Report {
        schema: first.schema.clone(),
        tool: first.tool.clone(),
        kind: ReportKind::Sweep,
        scenario: first.scenario.clone(),
        runs,
        sweep: Some(Sweep {
            parameters: fsw.parameters.clone(),
            total_points: fsw.total_points,
            shard: None,
            points: merged_points,
        }),
        plan: None,
        warnings: merged_warnings(shards),
        notes: first.notes.clone(),
    };
    merged.validate()?;
    Ok(merged)
}

/// Check that every input is a shard of the same sweep as `first` (whose sweep section is
/// `fsw`): same scenario, tool, parameters, total points and shard count, no shard twice.
/// Returns the shard numbers given.
fn check_same_sweep(
    shards: &[Report],
    first: &Report,
    fsw: &Sweep,
) -> Result<BTreeSet<u64>, ReportError> {
    let mut seen_shards: BTreeSet<u64> = BTreeSet::new();
    for (i, r) in shards.iter().enumerate() {
        let sw = r
            .sweep
            .as_ref()
            .ok_or_else(|| err("input without a sweep section".into()))?;
        let label = shard_label(r, i);
        if r.scenario != first.scenario {
            return Err(err(format!(
                "{label}: scenario differs from {} (scenario {:?} from {:?} vs {:?} from {:?})",
                shard_label(first, 0),
                r.scenario.name,
                r.scenario.file,
                first.scenario.name,
                first.scenario.file
            )));
        }
        if r.tool != first.tool {
            return Err(err(format!(
                "{label}: written by {} {} but {} was written by {} {}",
                r.tool.name,
                r.tool.version,
                shard_label(first, 0),
                first.tool.name,
                first.tool.version
            )));
        }
        if sw.parameters != fsw.parameters {
            return Err(err(format!(
                "{label}: swept parameters {:?} differ from {:?}",
                sw.parameters, fsw.parameters
            )));
        }
        if sw.total_points != fsw.total_points {
            return Err(err(format!(
                "{label}: total_points {} differs from {}",
                sw.total_points, fsw.total_points
            )));
        }
        match (sw.shard, fsw.shard) {
            (Some(a), Some(b)) if a.count != b.count => {
                return Err(err(format!(
                    "{label}: from a {}-way split, but the first input is from a {}-way split",
                    a.count, b.count
                )));
            }
            (Some(a), _) if !seen_shards.insert(a.index) => {
                return Err(err(format!("shard {}/{} given twice", a.index, a.count)));
            }
            _ => {}
        }
    }
    Ok(seen_shards)
}

/// Every point of every input by index, with the input it came from; a point in two inputs
/// is an error.
fn collect_points(shards: &[Report]) -> Result<BTreeMap<u64, (usize, &SweepPoint)>, ReportError> {
    let mut points: BTreeMap<u64, (usize, &SweepPoint)> = BTreeMap::new();
    for (i, r) in shards.iter().enumerate() {
        let Some(sw) = &r.sweep else { continue };
        for p in &sw.points {
            if let Some((j, _)) = points.insert(p.index, (i, p)) {
                return Err(err(format!(
                    "point {} ({:?}) is in both {} and {}",
                    p.index,
                    p.name,
                    shard_label(&shards[j], j),
                    shard_label(r, i)
                )));
            }
        }
    }
    Ok(points)
}

/// Error naming the missing points (the first 20) and the shards not given, if any point of
/// the grid is in no input.
fn check_no_missing_point(
    points: &BTreeMap<u64, (usize, &SweepPoint)>,
    fsw: &Sweep,
    seen_shards: &BTreeSet<u64>,
) -> Result<(), ReportError> {
    let missing: Vec<u64> = (0..fsw.total_points)
        .filter(|k| !points.contains_key(k))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = missing.iter().take(20).map(|k| k.to_string()).collect();
    let more = if missing.len() > 20 {
        format!(" and {} more", missing.len() - 20)
    } else {
        String::new()
    };
    let hint = match fsw.shard {
        Some(s) => {
            let absent: Vec<String> = (1..=s.count)
                .filter(|k| !seen_shards.contains(k))
                .map(|k| format!("{k}/{}", s.count))
                .collect();
            if absent.is_empty() {
                String::new()
            } else {
                format!(" (shards not given: {})", absent.join(", "))
            }
        }
        None => String::new(),
    };
    Err(err(format!(
        "{} of {} point(s) missing: {}{more}{hint}",
        missing.len(),
        fsw.total_points,
        shown.join(", ")
    )))
}

/// Runs: exactly the points' runs, each in one input.
fn check_runs(shards: &[Report]) -> Result<(), ReportError> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (i, r) in shards.iter().enumerate() {
        let Some(sw) = &r.sweep else { continue };
        let named: BTreeSet<&str> = sw
            .points
            .iter()
            .flat_map(|p| p.runs.iter().map(|s| s.as_str()))
            .collect();
        for run in &r.runs {
            if !named.contains(run.name.as_str()) {
                return Err(err(format!(
                    "{}: run {:?} belongs to no sweep point",
                    shard_label(r, i),
                    run.name
                )));
            }
            if !names.insert(run.name.as_str()) {
                return Err(err(format!(
                    "run name {:?} appears in more than one input",
                    run.name
                )));
            }
        }
    }
    Ok(())
}

/// Top-level warnings: their union, in shard order then order of appearance.
fn merged_warnings(shards: &[Report]) -> Vec<String> {
    let mut order: Vec<usize> = (0..shards.len()).collect();
    order.sort_by_key(|&i| {
        shards[i]
            .sweep
            .as_ref()
            .and_then(|s| s.shard)
            .map_or(0, |s| s.index)
    });
    let mut warnings: Vec<String> = Vec::new();
    for i in order {
        for w in &shards[i].warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    warnings
}

/// Split a sweep report into `n` shard reports with [`shard_owns`] (what `n` machines
/// running `--shard K/n` would write). Errors when the report is not a sweep, is itself a
/// shard, or `n` is 0.
pub fn split(report: &Report, n: u64) -> Result<Vec<Report>, ReportError> {
    let Some(sw) = &report.sweep else {
        return Err(err(format!(
            "a {} report cannot be split",
            report.kind.as_str()
        )));
    };
    if n == 0 {
        return Err(err("cannot split into 0 shards".into()));
    }
    if sw.shard.is_some() {
        return Err(err("the report is already a shard".into()));
    }
    let mut out = Vec::with_capacity(n as usize);
    for k in 1..=n {
        let shard = Shard { index: k, count: n };
        let points: Vec<SweepPoint> = sw
            .points
            .iter()
            .filter(|p| shard_owns(p.index, shard))
            .cloned()
            .collect();
        let names: BTreeSet<&str> = points
            .iter()
            .flat_map(|p| p.runs.iter().map(|s| s.as_str()))
            .collect();
        let runs = report
            .runs
            .iter()
            .filter(|r| names.contains(r.name.as_str()))
            .cloned()
            .collect();
        out.push(Report {
            runs,
            sweep: Some(Sweep {
                parameters: sw.parameters.clone(),
                total_points: sw.total_points,
                shard: Some(shard),
                points,
            }),
            ..report.clone()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::example;

    #[test]
    fn owns_is_a_partition() {
        for n in 1..5 {
            for i in 0..20 {
                let owners = (1..=n)
                    .filter(|&k| shard_owns(i, Shard { index: k, count: n }))
                    .count();
                assert_eq!(owners, 1);
            }
        }
        assert!(!shard_owns(0, Shard { index: 0, count: 0 }));
    }

    #[test]
    fn split_then_merge_is_identity_in_any_order() {
        let full = example::sweep_report();
        for n in 1..=4 {
            let mut parts = split(&full, n).unwrap();
            parts.reverse();
            let merged = merge(&parts).unwrap();
            assert_eq!(merged.to_json_string(), full.to_json_string(), "n = {n}");
        }
    }

    #[test]
    fn overlap_missing_and_mismatch_are_errors() {
        let full = example::sweep_report();
        let parts = split(&full, 3).unwrap();
        let e = merge(&parts[..2]).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("3/3"), "{e}");
        let e = merge(&[parts[0].clone(), parts[0].clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");
        let mut dup = parts[1].clone();
        dup.sweep.as_mut().unwrap().shard = Some(Shard { index: 3, count: 3 });
        let e = merge(&[parts[0].clone(), parts[1].clone(), dup])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is in both"), "{e}");
        let mut other = parts[2].clone();
        other.scenario.name = "something else".into();
        let e = merge(&[parts[0].clone(), parts[1].clone(), other])
            .unwrap_err()
            .to_string();
        assert!(e.contains("scenario differs"), "{e}");
        let e = merge(&[example::run_report()]).unwrap_err().to_string();
        assert!(e.contains("not a sweep"), "{e}");
        assert!(merge(&[]).is_err());
        let mut count = parts[2].clone();
        count.sweep.as_mut().unwrap().shard = Some(Shard { index: 3, count: 4 });
        let e = merge(&[parts[0].clone(), parts[1].clone(), count])
            .unwrap_err()
            .to_string();
        assert!(e.contains("4-way"), "{e}");
    }
}
