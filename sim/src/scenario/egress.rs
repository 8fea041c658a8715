//! `[egress.PORT]`: a port's host qdisc, checked and resolved with the kernel's defaults
//! for the discipline (`crate::qdisc`).

use super::{Invalid, ScenarioError, ScenarioSpec};
use crate::qdisc::{EgressConfig, QdiscConfig, QdiscKind};

pub(super) fn resolve_egress(
    spec: &ScenarioSpec,
    invalid: Invalid,
) -> Result<[Option<EgressConfig>; 2], ScenarioError> {
    let mut out: [Option<EgressConfig>; 2] = [None, None];
    for (dev, e) in &spec.egress {
        let key = |f: &str| format!("egress.{dev}.{f}");
        let side = if dev == "lan" || *dev == spec.ruleset.iif {
            0
        } else if dev == "wan" || *dev == spec.ruleset.oif {
            1
        } else {
            return Err(invalid(
                &format!("egress.{dev}"),
                format!(
                    "`{dev}` is not one of the router's ports: \"lan\" or \"{}\", \"wan\" or \"{}\"",
                    spec.ruleset.iif, spec.ruleset.oif
                ),
            ));
        };
        if out[side].is_some() {
            return Err(invalid(
                &format!("egress.{dev}"),
                "a second qdisc for the same port".into(),
            ));
        }
        let kind = QdiscKind::parse(&e.qdisc).ok_or_else(|| {
            invalid(
                &key("qdisc"),
                format!(
                    "unknown qdisc `{}`; one of: pfifo_fast, fq_codel, cake",
                    e.qdisc
                ),
            )
        })?;
        let mut q = QdiscConfig::defaults(kind);
        let ms = |v: Option<f64>, f: &str, d: u64| -> Result<u64, ScenarioError> {
            match v {
                None => Ok(d),
                Some(x) if x.is_finite() && x > 0.0 && x <= 10_000.0 => {
                    Ok((x * 1e6).round() as u64)
                }
                Some(x) => Err(invalid(&key(f), format!("{x} is not in (0, 10000] ms"))),
            }
        };
        q.target_ns = ms(e.target_ms, "target_ms", q.target_ns)?;
        q.interval_ns = ms(e.interval_ms, "interval_ms", q.interval_ns)?;
        let count = |v: Option<u32>, f: &str, d: u32, max: u32| match v {
            None => Ok(d),
            Some(x) if (1..=max).contains(&x) => Ok(x),
            Some(x) => Err(invalid(&key(f), format!("{x} is not in 1..={max}"))),
        };
        q.limit = count(e.limit, "limit", q.limit, 1 << 20)?;
        q.flows = count(e.flows, "flows", q.flows, 65536)?;
        q.quantum = count(e.quantum, "quantum", q.quantum, 1 << 20)?;
        q.ecn = e.ecn.unwrap_or(q.ecn);
        let shaper_bps = match e.shaper_mbit {
            None => None,
            Some(x) if x.is_finite() && (0.001..=1e7).contains(&x) => {
                Some((x * 1e6).round() as u64)
            }
            Some(x) => {
                return Err(invalid(
                    &key("shaper_mbit"),
                    format!("{x} is not in [0.001, 1e7] Mbit/s"),
                ));
            }
        };
        out[side] = Some(EgressConfig {
            device: dev.clone(),
            qdisc: q,
            shaper_bps,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use crate::qdisc::QdiscKind;
    use crate::scenario::testkit::resolve;

    #[test]
    fn egress_resolves_with_the_kernel_defaults() {
        let s = resolve("[egress.wan]\nqdisc = \"cake\"\nshaper_mbit = 450\n[egress.br-lan]\nqdisc = \"pfifo_fast\"\n").unwrap();
        let wan = s.egress[1].as_ref().unwrap();
        assert_eq!(wan.qdisc.kind, QdiscKind::Cake);
        assert_eq!(wan.shaper_bps, Some(450_000_000));
        assert_eq!(
            (wan.qdisc.target_ns, wan.qdisc.interval_ns),
            (5_000_000, 100_000_000)
        );
        let lan = s.egress[0].as_ref().unwrap();
        assert_eq!((lan.qdisc.limit, lan.qdisc.ecn), (1000, false));
    }

    #[test]
    fn bad_egress_names_the_key() {
        for (body, key) in [
            ("[egress.eth9]\nqdisc = \"fq_codel\"\n", "egress.eth9"),
            ("[egress.wan]\nqdisc = \"red\"\n", "egress.wan.qdisc"),
            (
                "[egress.wan]\nqdisc = \"fq_codel\"\ntarget_ms = 0\n",
                "egress.wan.target_ms",
            ),
            (
                "[egress.wan]\nqdisc = \"fq_codel\"\nshaper_mbit = inf\n",
                "egress.wan.shaper_mbit",
            ),
            (
                "[egress.wan]\nqdisc = \"fq_codel\"\nlimit = 0\n",
                "egress.wan.limit",
            ),
            (
                "[egress.wan]\nqdisc = \"fq_codel\"\n[egress.lan]\nqdisc = \"cake\"\n[egress.br-lan]\nqdisc = \"cake\"\n",
                "a second qdisc",
            ),
        ] {
            let e = resolve(body).unwrap_err();
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
