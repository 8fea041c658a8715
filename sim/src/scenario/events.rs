//! `[[events]]`: each entry checked (a known kind, a time within the run's reach, the device
//! or host it needs) and resolved into a [`TimedEvent`], in time order.

use super::{Invalid, ScenarioError, ScenarioSpec};
use crate::timeline::{EventKind, TimedEvent};
use offsim_kernel::sides::Side;

/// The latest event time accepted, s (a week: far beyond any trace offsim replays, and
/// small enough that nanoseconds stay exact in a `u64`).
const MAX_AT_S: f64 = 7.0 * 86_400.0;

/// The most events a scenario may have (each is applied to every configuration and listed
/// in the report).
const MAX_EVENTS: usize = 10_000;

pub(super) fn resolve_events(
    spec: &ScenarioSpec,
    dir: &std::path::Path,
    invalid: Invalid,
) -> Result<Vec<TimedEvent>, ScenarioError> {
    if spec.events.len() > MAX_EVENTS {
        return Err(invalid(
            "events",
            format!(
                "{} events; at most {MAX_EVENTS} are accepted",
                spec.events.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(spec.events.len());
    for (i, e) in spec.events.iter().enumerate() {
        let key = |f: &str| format!("events[{i}].{f}");
        if !e.at_s.is_finite() || !(0.0..=MAX_AT_S).contains(&e.at_s) {
            return Err(invalid(
                &key("at_s"),
                format!(
                    "{} is not a time from 0 to {MAX_AT_S} s after the first packet",
                    e.at_s
                ),
            ));
        }
        let side = |dev: &Option<String>| -> Result<(Side, String), ScenarioError> {
            let Some(d) = dev else {
                return Err(invalid(
                    &key("kind"),
                    format!(
                        "`{}` needs `device` (\"lan\", \"wan\", or the ruleset's iif / oif name)",
                        e.kind
                    ),
                ));
            };
            let s = if d == "lan" || *d == spec.ruleset.iif {
                Side::Lan
            } else if d == "wan" || *d == spec.ruleset.oif {
                Side::Wan
            } else {
                return Err(invalid(
                    &key("device"),
                    format!(
                        "`{d}` is not one of the router's ports: \"lan\" or \"{}\", \"wan\" or \"{}\"",
                        spec.ruleset.iif, spec.ruleset.oif
                    ),
                ));
            };
            Ok((s, d.clone()))
        };
        let unused = |field: &str, set: bool| {
            if set {
                Err(invalid(
                    &key(field),
                    format!("`{field}` does not apply to `{}`", e.kind),
                ))
            } else {
                Ok(())
            }
        };
        if !matches!(e.kind.as_str(), "ruleset-reload" | "policy-change") {
            unused("ruleset", e.ruleset.is_some())?;
        }
        let (kind, target) = match e.kind.as_str() {
            "policy-change" => {
                unused("device", e.device.is_some())?;
                unused("host", e.host.is_some())?;
                unused("fdb_teardown", e.fdb_teardown.is_some())?;
                let Some(r) = &e.ruleset else {
                    return Err(invalid(
                        &key("kind"),
                        "`policy-change` needs `ruleset` (the new rules' file)".into(),
                    ));
                };
                (EventKind::PolicyChange, r.clone())
            }
            "ruleset-reload" | "flowtable-flush" | "conntrack-flush" => {
                unused("device", e.device.is_some())?;
                unused("host", e.host.is_some())?;
                unused("fdb_teardown", e.fdb_teardown.is_some())?;
                let k = match e.kind.as_str() {
                    "ruleset-reload" => EventKind::RulesetReload,
                    "flowtable-flush" => EventKind::FlowtableFlush,
                    _ => EventKind::ConntrackFlush,
                };
                (k, e.ruleset.clone().unwrap_or_default())
            }
            "link-down" | "link-up" => {
                unused("host", e.host.is_some())?;
                unused("fdb_teardown", e.fdb_teardown.is_some())?;
                let (s, name) = side(&e.device)?;
                let k = if e.kind == "link-down" {
                    EventKind::LinkDown(s)
                } else {
                    EventKind::LinkUp(s)
                };
                (k, name)
            }
            "host-move" => {
                unused("device", e.device.is_some())?;
                let Some(h) = &e.host else {
                    return Err(invalid(
                        &key("kind"),
                        "`host-move` needs `host` (the LAN host's address)".into(),
                    ));
                };
                let ip: std::net::IpAddr = h.parse().map_err(|_| {
                    invalid(
                        &key("host"),
                        format!("`{h}` is not an IPv4 or IPv6 address"),
                    )
                })?;
                let (version, addr) = match ip {
                    std::net::IpAddr::V4(a) => (4, u128::from(u32::from(a))),
                    std::net::IpAddr::V6(a) => (6, u128::from(a)),
                };
                let k = EventKind::HostMove {
                    version,
                    addr,
                    fdb_teardown: e.fdb_teardown.unwrap_or(false),
                };
                (k, h.clone())
            }
            other => {
                return Err(invalid(
                    &key("kind"),
                    format!(
                        "unknown event kind `{other}`; one of: {}",
                        EventKind::NAMES.join(", ")
                    ),
                ));
            }
        };
        out.push(TimedEvent {
            at_ns: crate::replay::secs_to_ns(e.at_s),
            kind,
            target,
            ruleset: e.ruleset.as_ref().map(|r| dir.join(r)),
        });
    }
    // Stable: events at the same time keep the file's order.
    out.sort_by_key(|e| e.at_ns);
    Ok(out)
}

#[cfg(test)]
mod test {
    use crate::timeline::EventKind;
    use offsim_kernel::sides::Side;

    fn resolve(events: &str) -> Result<Vec<crate::timeline::TimedEvent>, String> {
        crate::scenario::testkit::resolve(events).map(|s| s.events)
    }

    #[test]
    fn events_resolve_in_time_order_with_their_targets() {
        let ev = resolve(
            "[[events]]\nat_s = 2\nkind = \"link-up\"\ndevice = \"wan\"\n\
             [[events]]\nat_s = 1\nkind = \"link-down\"\ndevice = \"br-lan\"\n\
             [[events]]\nat_s = 3\nkind = \"host-move\"\nhost = \"192.168.1.20\"\n",
        )
        .unwrap();
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].kind, EventKind::LinkDown(Side::Lan));
        assert_eq!(ev[0].at_ns, 1_000_000_000);
        assert_eq!(ev[1].kind, EventKind::LinkUp(Side::Wan));
        assert_eq!(
            ev[2].kind,
            EventKind::HostMove {
                version: 4,
                addr: 0xc0a8_0114,
                fdb_teardown: false
            }
        );
    }

    #[test]
    fn bad_events_name_the_key_and_line() {
        for (body, key) in [
            (
                "[[events]]\nat_s = -1\nkind = \"flowtable-flush\"\n",
                "events[0].at_s",
            ),
            (
                "[[events]]\nat_s = nan\nkind = \"flowtable-flush\"\n",
                "events[0].at_s",
            ),
            (
                "[[events]]\nat_s = 1e12\nkind = \"flowtable-flush\"\n",
                "events[0].at_s",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"reboot\"\n",
                "events[0].kind",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"link-down\"\n",
                "events[0].kind",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"link-down\"\ndevice = \"eth9\"\n",
                "events[0].device",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"host-move\"\nhost = \"nope\"\n",
                "events[0].host",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"conntrack-flush\"\nhost = \"10.0.0.1\"\n",
                "events[0].host",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"policy-change\"\n",
                "events[0].kind",
            ),
            (
                "[[events]]\nat_s = 1\nkind = \"link-up\"\ndevice = \"wan\"\nruleset = \"x.nft\"\n",
                "events[0].ruleset",
            ),
        ] {
            let e = resolve(body).unwrap_err();
            assert!(e.contains(key) && e.contains("s.toml:"), "{key}: {e}");
        }
        let e =
            resolve("[[events]]\nat_s = 1\nkind = \"flowtable-flush\"\nwhen = 2\n").unwrap_err();
        assert!(e.contains("when"), "{e}");
    }
}
