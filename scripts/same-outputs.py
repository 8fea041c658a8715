#!/usr/bin/env python3
"""Do two offsim builds give the same outputs, byte for byte?

    scripts/same-outputs.py BASE NEW [--packets N] [--capture FILE]... [--ruleset FILE]...

Speed work must not change a result (issue 15). The golden tests pin the bundled scenarios'
reports and `rules eval` of the bundled rulesets on generated traces; this runs two builds
(say `target/release/offsim` and a copy of it built from the commit before a change, or the
profile-guided `target/pgo/offsim`) over far more, and compares everything they write:

- `trace gen` of every traffic profile (N packets, default 50,000; the captures each build
  writes are compared, and the first build's are used below);
- `trace info --json` of those captures, the bundled capture variants (pcapng, Linux
  cooked, VLAN, raw IP, truncated), the real captures `scripts/fetch-traces.sh` fetched
  into `traces/data/fetched/` if it was run, and every `--capture`;
- `rules eval --json` of every bundled ruleset and a 300-rule ACL on each of those
  captures, with `--sides flow` and `--sides single`, and of every `--ruleset` (for instance
  each file of a corpus of real rulesets) on the generated captures, two of the variants and
  every `--capture`;
- `run` of every bundled scenario at `--jobs 1` and the default (configurations on threads
  of their own, fed by one decode), `sweep` of the bundled sweep;
- `run` of each profile's bundled scenario replaying its generated capture, all its
  configurations at once, and each configuration alone (with `--flows`: the per-connection
  records too);
- `run` of the default and the enterprise scenarios replaying each real capture.

Each check compares the exit code, standard output, standard error and the files written
(`report.json`, `flows-*.jsonl`); charts and the HTML page follow from `report.json`. Both
builds run side by side, each in a scratch directory of its own with the same relative
paths, so that paths in messages agree. Reports record no commit or date
(`OFFSIM_COMMIT`/`OFFSIM_DATE` empty).

Exit code: 0 when every output is the same, 1 when one differs (each is named; a build
killed by a signal is a difference), 2 on bad usage, a build that fails to run at all, or a
check that cannot work (the base build refusing a bundled scenario or the sweep).
`sim/tests/pgo.rs` runs it on the PGO build.
"""

import argparse
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from e2e import SCENARIOS, acl300, scenario_for  # noqa: E402  (the benchmark's helpers)

PROFILES = ["home-router", "enterprise", "datacenter", "synflood"]
# What each build writes into its scratch directory and the check compares.
OUT = "out"


def fail(msg):
    """Bad usage, or a build that cannot run: exit 2."""
    print(f"same-outputs.py: {msg}", file=sys.stderr)
    sys.exit(2)


class Build:
    """One build: its binary and a scratch directory it runs in."""

    def __init__(self, name, binary, scratch):
        self.name = name
        self.binary = binary
        self.dir = os.path.join(scratch, name)
        os.makedirs(self.dir)

    def run(self, args):
        """Runs offsim with `args` in the scratch directory (its `out/` empty at first);
        returns what it printed and the files it wrote in `out/`."""
        out = os.path.join(self.dir, OUT)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        env = dict(os.environ, OFFSIM_COMMIT="", OFFSIM_DATE="")
        try:
            r = subprocess.run([self.binary] + args, cwd=self.dir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            fail(f"{self.binary}: {e}")
        files = {}
        for f in sorted(os.listdir(out)):
            if f in ("report.json", "t.pcap") or f.startswith("flows-"):
                with open(os.path.join(out, f), "rb") as fh:
                    files[f] = fh.read()
        return r.returncode, r.stdout, r.stderr, files


class Checker:
    """Runs each check on both builds at once and keeps the tally."""

    def __init__(self, base, new, verbose):
        self.base, self.new, self.verbose = base, new, verbose
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self.same = 0
        self.differ = []

    def check(self, label, args):
        """Runs `args` on both builds; returns both results (exit code, stdout, stderr,
        files). A build killed by a signal is a difference, whatever the other did."""
        a, b = self.pool.map(lambda build: build.run(args), [self.base, self.new])
        if a == b and a[0] >= 0:
            self.same += 1
            if self.verbose:
                print(f"same     {label}")
            return a, b
        what = [n for n, x, y in zip(["exit code", "stdout", "stderr"], a, b) if x != y]
        what += [f for f in sorted(set(a[3]) | set(b[3])) if a[3].get(f) != b[3].get(f)]
        what += [f"{build.name} killed by signal {-r[0]}"
                 for build, r in [(self.base, a), (self.new, b)] if r[0] < 0]
        self.differ.append(label)
        print(f"DIFFERS  {label}: {', '.join(what)}")
        return a, b


def replay(scenario, trace, scratch, tag, policy=None):
    """A copy of bundled `scenario` (a path under scenarios/) replaying `trace`, with its
    configurations (and its SLO's) cut to `policy` if given."""
    profile = next(p for p, s in SCENARIOS.items() if s == scenario)
    d = os.path.join(scratch, "scenarios", tag)
    os.makedirs(d, exist_ok=True)
    return scenario_for(profile, trace, policy, d)


def must_run(results, base):
    """A run (or sweep) of a bundled scenario, or a run of one replaying a generated capture,
    that the base build refuses says the check is broken (two builds refusing alike would
    pass it)."""
    code, _, err, _ = results[0]
    if code not in (0, 1):
        fail(f"{base.binary} refused a scenario it must run: exit {code}\n"
             f"{err.decode(errors='replace')}")


def policies_of(path):
    """The configurations scenario `path` names (its top-level `policies`)."""
    for line in open(path):
        s = line.strip()
        if s.startswith("["):
            break
        if s.startswith("policies") and "=" in s:
            return [p.strip().strip('"') for p in s.split("=", 1)[1].strip(" []").split(",")]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="the offsim binary to compare against")
    ap.add_argument("new", help="the offsim binary under test")
    ap.add_argument("--packets", type=int, default=50_000, help="packets of each generated capture")
    ap.add_argument("--capture", action="append", default=[], help="another capture to read")
    ap.add_argument("--ruleset", action="append", default=[], help="another ruleset to evaluate")
    ap.add_argument("--quick", action="store_true",
                    help="a few checks of each kind (one profile, the bundled variants, the default "
                         "scenario): a smoke test, about a tenth of the whole")
    ap.add_argument("-v", "--verbose", action="store_true", help="name every check, not only those that differ")
    a = ap.parse_args()
    for b in (a.base, a.new):
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            fail(f"{b}: not an executable file")
    if a.packets < 1:
        fail("--packets must be at least 1")
    for f in a.capture + a.ruleset:
        if not os.path.isfile(f):
            fail(f"{f}: no such file")

    scratch = tempfile.mkdtemp(prefix="offsim-same-")
    try:
        base = Build("base", os.path.abspath(a.base), scratch)
        new = Build("new", os.path.abspath(a.new), scratch)
        c = Checker(base, new, a.verbose)
        inputs = os.path.join(scratch, "inputs")
        os.makedirs(inputs)

        # Generated captures: each build writes one; the first build's are read below.
        generated = {}
        for p in PROFILES[:1] if a.quick else PROFILES:
            results = c.check(f"trace gen {p}", [
                "trace", "gen", "--profile", p, "--seed", "7", "--packets", str(a.packets),
                "-q", "-o", f"{OUT}/t.pcap"])
            for build, (code, _, err, files) in zip([base, new], results):
                if "t.pcap" not in files:
                    fail(f"{build.binary} trace gen --profile {p}: exit {code}\n"
                         f"{err.decode(errors='replace')}")
            generated[p] = os.path.join(inputs, f"{p}.pcap")
            with open(generated[p], "wb") as f:
                f.write(results[0][3]["t.pcap"])

        real = sorted(glob.glob(os.path.join(ROOT, "traces", "data", "variants", "*")))
        if not a.quick:
            real += sorted(glob.glob(os.path.join(ROOT, "traces", "data", "fetched", "*.pcap*")))
        extra = [os.path.abspath(f) for f in a.capture]
        variants = real[:2]
        real += extra
        captures = list(generated.values()) + real
        name = os.path.basename

        for t in captures:
            c.check(f"trace info {name(t)}", ["trace", "info", "--json", t])

        acl = os.path.join(inputs, "acl300.nft")
        acl300(acl)
        rulesets = sorted(glob.glob(os.path.join(ROOT, "scenarios", "rulesets", "*.nft"))) + [acl]
        for r in rulesets:
            for t in captures:
                for sides in ("flow", "single"):
                    c.check(f"rules eval {name(r)} {name(t)} --sides {sides}",
                            ["rules", "eval", "--json", "--sides", sides, r, t])
        for r in a.ruleset:
            for t in list(generated.values()) + variants + extra:
                c.check(f"rules eval {r} {name(t)}", ["rules", "eval", "--json", os.path.abspath(r), t])

        scenarios = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.toml")))
        if a.quick:
            scenarios = [os.path.join(ROOT, "scenarios", "default.toml")]
        for s in scenarios:
            if any(line.strip() == "[sweep]" for line in open(s)):
                must_run(c.check(f"sweep {name(s)}", ["sweep", s, "-q", "-o", OUT]), base)
                continue
            for jobs in (["--jobs", "1"], []):
                must_run(c.check(f"run {name(s)} {' '.join(jobs)}".rstrip(),
                                 ["run", s, "-q", "-o", OUT] + jobs), base)

        for p, t in generated.items():
            sc = replay(SCENARIOS[p], t, scratch, p)
            must_run(c.check(f"run {p} (all configurations)", ["run", sc, "-q", "-o", OUT]), base)
            for pol in policies_of(sc):
                one = replay(SCENARIOS[p], t, scratch, p, pol)
                must_run(c.check(f"run {p} {pol} --flows",
                                 ["run", one, "-q", "--flows", "-o", OUT]), base)

        for t in real[:2] if a.quick else real:
            for s in ("scenarios/default.toml", "scenarios/enterprise-edge.toml"):
                sc = replay(s, t, scratch, name(t))
                c.check(f"run {name(s)} replaying {name(t)}", ["run", sc, "-q", "-o", OUT])

        print(f"same {c.same}, differing {len(c.differ)}")
        return 1 if c.differ else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
