//! The invariants a renderer and a CI gate rely on ([`Report::validate`]).

use super::{Report, ReportKind, SCHEMA};
use crate::ReportError;

impl Report {
    /// Check the invariants a renderer and a CI gate rely on: the schema string, unique
    /// run names, series arrays of equal length, a `sweep` section exactly for sweep
    /// reports and a `plan` section exactly for plan reports, sweep points in increasing
    /// index order below `total_points`, each naming existing runs.
    pub fn validate(&self) -> Result<(), ReportError> {
        let bad = |m: String| Err(ReportError::Invalid(m));
        if self.schema != SCHEMA {
            return Err(ReportError::Schema {
                found: Some(self.schema.clone()),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.runs.iter().enumerate() {
            if r.name.is_empty() {
                return bad(format!("runs[{i}]: empty run name"));
            }
            if !names.insert(r.name.as_str()) {
                return bad(format!("runs[{i}]: duplicate run name {:?}", r.name));
            }
            let lens = r.series.lengths();
            let n = r.series.len();
            for (field, len) in lens {
                if len != n {
                    return bad(format!(
                        "runs[{i}] ({:?}): series.{field} has {len} entries, expected {n} \
                         (every series array must have one entry per interval)",
                        r.name
                    ));
                }
            }
            let idx = &r.series.index;
            if !idx.is_empty() && (idx.len() != n || idx.windows(2).any(|w| w[0] >= w[1])) {
                return bad(format!(
                    "runs[{i}] ({:?}): series.index must have one strictly increasing entry \
                     per interval",
                    r.name
                ));
            }
            if n > 0 && r.series.interval_ns == 0 {
                return bad(format!("runs[{i}] ({:?}): series.interval_ns is 0", r.name));
            }
        }
        for (i, r) in self.runs.iter().enumerate() {
            if let Some(b) = &r.baseline
                && !names.contains(b.as_str())
            {
                return bad(format!(
                    "runs[{i}] ({:?}): baseline {b:?} is not a run of this report",
                    r.name
                ));
            }
        }
        match (self.kind, &self.sweep) {
            (ReportKind::Sweep, None) => return bad("sweep report without a sweep section".into()),
            (k, Some(_)) if k != ReportKind::Sweep => {
                return bad(format!("{} report with a sweep section", k.as_str()));
            }
            _ => {}
        }
        match (self.kind, &self.plan) {
            (ReportKind::Plan, None) => return bad("plan report without a plan section".into()),
            (k, Some(_)) if k != ReportKind::Plan => {
                return bad(format!("{} report with a plan section", k.as_str()));
            }
            _ => {}
        }
        if let Some(sw) = &self.sweep {
            if let Some(sh) = sw.shard
                && (sh.count == 0 || sh.index == 0 || sh.index > sh.count)
            {
                return bad(format!(
                    "sweep.shard {}/{} is not K/N with 1 <= K <= N",
                    sh.index, sh.count
                ));
            }
            let mut prev: Option<u64> = None;
            for (i, p) in sw.points.iter().enumerate() {
                if p.index >= sw.total_points {
                    return bad(format!(
                        "sweep.points[{i}]: index {} is not below total_points {}",
                        p.index, sw.total_points
                    ));
                }
                if prev.is_some_and(|q| p.index <= q) {
                    return bad(format!(
                        "sweep.points[{i}]: index {} not in increasing order",
                        p.index
                    ));
                }
                prev = Some(p.index);
                for r in &p.runs {
                    if !names.contains(r.as_str()) {
                        return bad(format!("sweep.points[{i}]: run {r:?} is not in runs"));
                    }
                }
            }
        }
        Ok(())
    }
}
