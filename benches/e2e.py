#!/usr/bin/env python3
"""End-to-end speed of offsim against tcpdump copying the same capture.

For a generated capture of each traffic profile (1M packets by default), this measures the
CPU time (user + system, of the child process) of

    tcpdump -r F -w /dev/null                     the reference: reading and copying F
    offsim trace info F
    offsim rules eval RULESET F                   fw4, the datacenter ruleset, a 300-rule ACL,
                                                  and `no-rules`: a forward chain and a NAT
                                                  chain without rules, the floor under any
                                                  ruleset that tracks and NATs connections
    offsim run SCENARIO                           one configuration at a time (none,
                                                  software, hardware) of the bundled scenario
                                                  of that profile, replaying F

and prints packets per CPU-second and the ratio to tcpdump's (above 1: faster than tcpdump
copying the file). Each figure is the median of --repeats runs, tcpdump and offsim
alternated (A/B) so that a noisy machine slows both alike; the ratio is the median of each
repeat's own ratio (the two runs side by side share the machine's state of the moment),
and `±` is half the spread of those ratios relative to it: a row whose spread is larger
than a change being judged cannot show it. Wall-clock time is printed for `run` too
(configurations read and simulate on separate threads).

    cargo build --release -p offsim
    python3 benches/e2e.py [--packets 1000000] [--repeats 5] [--profiles home-router,...]

(`--written-by tcpdump` has tcpdump write each capture, as a user's is written, instead of
offsim's generator: how the page cache holds it differs. `OFFSIM=path` measures another
build, e.g. `OFFSIM=target/pgo/offsim` the profile-guided one of `scripts/build-pgo.sh`.
`--baseline PATH` also times a second build, run alternately with this one in each
repeat, and prints its packets per CPU-second and how much less CPU this build takes (the
median of each repeat's own comparison, with its `±` as above): two builds compared side
by side rather than in passes minutes apart, between which a shared machine drifts by more
than most changes.)

`--instructions` counts instructions instead of timing (valgrind's cachegrind, once per
command, one thread: `run --jobs 1`), and with `--baseline` prints how many fewer this build
executes. Counts are deterministic: on this 2-core machine two builds' times drift by ±5 %
from one minute to the next, and a few-per-cent change shows only in counts. They are not
time (a branch miss or a cache miss costs more than an instruction), so a change is judged
by both. They are user-space instructions only: a system call's work (the kernel's copy
for `read(2)`, most of what tcpdump spends) is not in them, so tcpdump is not counted.

`--split` says where each command's time goes instead: its CPU per packet (one thread: `run
--jobs 1`; median of --repeats) beside tcpdump's, cut by `perf record --call-graph dwarf`
into the kernel's `read(2)` of the capture, the simulated datapath
(`Datapath::process_into`: hooks, conntrack, rules, routing, NAT, flowtable) and the rest
(parsing, the engine's queues, senders and NIC, the CPU model, datapath work the engine
calls outside `process_into`, the kernel's other work such as zeroing pages, the report).
It needs `perf` (Debian: linux-perf) and times one build (no `--baseline`). The shares come
from one sampled run (3,000 Hz, so a 0.1 s row rests on ~300 samples, ±6 % of its time; a 1
s row on ~3,000, ±2 %), applied to the median of unsampled runs; tcpdump is timed once per
capture, before its rows, not alternated with them; a sample whose stack perf could not
unwind to `process_into` counts in the rest. A goal that is a rate is a budget per packet,
and this shows roughly which part would have to shrink to meet it.

`--two-cores` measures what a second core buys one configuration instead: for each `run`
row, the wall-clock time of `run --jobs 1` (reading, parsing and simulating on one thread)
and of `run --jobs 2` (the capture read and parsed on one thread while the configuration
simulates on the other), alternated, median of --repeats, the speedup the median of each
repeat's own ratio (with its `±` as above), and the CPU time of each (the second thread's
hand-over costs CPU). It needs two cores and times one build (no `--baseline`).

Timings are measured here and never asserted in tests (issue 15).
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFSIM = os.environ.get("OFFSIM", os.path.join(ROOT, "target", "release", "offsim"))

# The bundled scenario of each profile (its ruleset, CPU, NIC and replay settings).
SCENARIOS = {
    "home-router": "scenarios/default.toml",
    "enterprise": "scenarios/enterprise-edge.toml",
    "datacenter": "scenarios/datacenter.toml",
    "synflood": "scenarios/default.toml",
}
RULESETS = {
    "fw4": "scenarios/rulesets/home-fw4.nft",
    "datacenter": "scenarios/rulesets/datacenter.nft",
}


def acl300(path):
    """A 300-rule ACL in a forward chain: payload matches a packet runs through in full."""
    with open(path, "w") as f:
        f.write("table inet acl {\n chain forward_acl {\n  type filter hook forward priority 0; policy accept;\n")
        for i in range(300):
            f.write(f"  ip saddr 10.{i // 250}.{i % 250}.1 tcp dport {1000 + i} drop\n")
        f.write(" }\n}\n")


def no_rules(path):
    """The floor under fw4-like rulesets: a filter chain on forward and a NAT chain on
    postrouting, neither with a rule, so every packet is parsed, tracked (the NAT chain
    makes conntrack run), routed and passed through both hooks, and no rule is evaluated.
    A rate goal for a ruleset above this row's rate cannot be met by a faster rule walk."""
    with open(path, "w") as f:
        f.write("table inet floor {\n"
                " chain forward { type filter hook forward priority filter; policy accept; }\n"
                " chain srcnat { type nat hook postrouting priority srcnat; policy accept; }\n"
                "}\n")


def cpu_time(cmd):
    """CPU seconds (user + system) and wall seconds of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):  # `run` exits 1 when an SLO is missed: still a run
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def fresh_copy(src, dst):
    """`src` copied to `dst` (executable). Both builds run from copies written together:
    the same bytes ran up to 8 % slower from one file than from a fresh copy of it
    (measured: `run`, median of 15), as how the page cache holds a 50 MB binary's pages
    decides how its code is mapped; copies made together are held alike."""
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o755)
    return dst


# `--split`'s sampling rate: about 300 samples for a 0.1 s command, 3,000 for a second
# (a share p is then good to about ±2·sqrt(p(1-p)/n): ±6 % and ±2 % of the time at worst).
PERF_HZ = 3000


def instructions(cmd):
    """Instructions one run of `cmd` executes (valgrind's cachegrind, no cache model)."""
    r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
                       + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr.decode(errors='replace')}")
    for line in r.stderr.decode(errors="replace").splitlines():
        if "I   refs:" in line or "I refs:" in line:
            return int(line.split(":")[1].replace(",", "").strip())
    sys.exit(f"{' '.join(cmd)}: no instruction count in valgrind's output")


def perf_split(cmd, tmp, datapath):
    """The shares (fractions) of one run of `cmd`'s CPU samples in `read(2)` and in the
    datapath (`perf report --children`: a frame's samples with everything it called; a frame
    both inlined and not has an entry of each, which no sample shares). `datapath`: the
    command simulates one, so a build without symbols is an error, not a share of 0."""
    data = os.path.join(tmp, "perf.data")
    r = subprocess.run(["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", str(PERF_HZ), "-o", data,
                        "--"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in (0, 1):
        sys.exit(f"perf record {' '.join(cmd)}: exit {r.returncode}\n{r.stderr.decode(errors='replace')}")
    r = subprocess.run(["perf", "report", "-i", data, "--children", "--stdio", "--sort", "sym", "-g", "none",
                        "--percent-limit", "0"], capture_output=True, text=True)
    os.remove(data)
    if r.returncode != 0:
        sys.exit(f"perf report: exit {r.returncode}\n{r.stderr}")

    def share(frame):
        # "children% self% [.] symbol" (`--sort sym`); " (inlined)" marks an inlined copy
        rows = (re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[.\]\s+(.*\S)", line) for line in r.stdout.splitlines())
        return sum(float(m.group(1)) / 100 for m in rows
                   if m and m.group(2).removesuffix(" (inlined)").endswith(frame))

    read, dp = share("ksys_read"), share("Datapath>::process_into")
    # A frame not found would move its time into "rest" without a word.
    if read == 0:
        sys.exit(f"perf recorded no sample in read(2) of {' '.join(cmd)}: kernel samples are off "
                 "(kernel.perf_event_paranoid must be 1 or less, or run as root)")
    if datapath and dp == 0 and "offsim_kernel::" not in r.stdout:
        sys.exit(f"perf found no offsim symbol in {' '.join(cmd)}: a build without symbols?")
    return read, dp


def split_all(args, ours, rulesets, only, tmp):
    """`--split`: each command's CPU per packet beside tcpdump's, cut into read(2), the
    datapath and the rest."""
    print(f"{'profile':<12} {'what':<24} {'pkt/CPU-s':>10} {'ns/pkt':>7} {'read':>6} {'datapath':>9} {'rest':>6}"
          f" {'tcpdump ns/pkt':>15}")
    for profile in args.profiles.split(","):
        trace = capture(ours, profile, args, tmp)
        theirs = statistics.median(cpu_time(["tcpdump", "-r", trace, "-w", "/dev/null"])[0]
                                   for _ in range(args.repeats))
        for what, cmd in jobs_for(ours, profile, trace, rulesets, only, tmp, ["--jobs", "1"]):
            o = statistics.median(cpu_time(cmd)[0] for _ in range(args.repeats))
            read, dp = perf_split(cmd, tmp, datapath=what != "trace info")
            ns = o / args.packets * 1e9
            print(f"{profile:<12} {what:<24} {args.packets / o / 1e6:>8.2f} M {ns:>7.0f} {read * ns:>6.0f}"
                  f" {dp * ns:>9.0f} {(1 - read - dp) * ns:>6.0f} {theirs / args.packets * 1e9:>15.0f}", flush=True)
        os.remove(trace)


def scenario_for(profile, trace, policy, tmp):
    """The bundled scenario of `profile`, replaying `trace`, with one configuration (all of
    its own when `policy` is None)."""
    src = os.path.join(ROOT, SCENARIOS[profile])
    out, skip = [], False
    for line in open(src):
        s = line.strip()
        if s.startswith("["):
            skip = s == "[trace.generate]"
            if skip:
                # a JSON string is a TOML basic string: quotes and backslashes escaped
                out.append(f'[trace]\nfile = {json.dumps(trace)}\n')
                continue
        if skip:
            continue
        if policy is not None and s.startswith("policies"):  # the configurations, and the SLO's gated ones
            line = f'policies = ["{policy}"]\n'
        if s.startswith("file = \"rulesets/"):
            line = line.replace('"rulesets/', '"' + os.path.join(ROOT, "scenarios", "rulesets") + "/")
        out.append(line)
    path = os.path.join(tmp, f"{profile}-{policy or 'all'}.toml")
    with open(path, "w") as f:
        f.write("".join(out))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profiles", default="home-router,enterprise,datacenter,synflood")
    ap.add_argument("--only", default="", help="comma-separated: info,rules,run")
    ap.add_argument("--baseline", default="", help="another offsim build, timed alternately with this one")
    ap.add_argument("--written-by", choices=("offsim", "tcpdump"), default="offsim",
                    help="who writes the capture offsim reads: offsim's generator, or tcpdump "
                         "copying it (`tcpdump -r gen -w F`, as a user's capture is written; "
                         "the page cache then holds it in small pages: see traces/src/pcap/bytes.rs)")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions (valgrind) instead of timing; `run` on one thread")
    ap.add_argument("--split", action="store_true",
                    help="where the time goes: CPU per packet cut into read(2), the datapath and the rest "
                         "(perf); `run` on one thread")
    ap.add_argument("--two-cores", action="store_true",
                    help="wall-clock speedup of each `run` row on two threads (--jobs 2) against one (--jobs 1)")
    args = ap.parse_args()
    if args.two_cores and (args.split or args.instructions or args.baseline):
        sys.exit("--two-cores times one build's `run` rows: not with --split, --instructions or --baseline")
    if args.two_cores and (os.cpu_count() or 1) < 2:
        sys.exit("--two-cores needs two cores")
    if args.split and (args.instructions or args.baseline):
        sys.exit("--split measures one build's time: not with --instructions or --baseline")
    if args.split and shutil.which("perf") is None:
        sys.exit("--split needs perf (apt-get install linux-perf)")
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    if not os.access(OFFSIM, os.X_OK):
        sys.exit(f"{OFFSIM} missing: run `cargo build --release -p offsim` first")
    if args.baseline and not os.access(args.baseline, os.X_OK):
        sys.exit(f"--baseline {args.baseline}: not an executable")
    # timing runs tcpdump beside offsim; counting only to write a capture as it would
    if (not args.instructions or args.written_by == "tcpdump") and shutil.which("tcpdump") is None:
        sys.exit("tcpdump not found: the benchmark runs it beside offsim (apt-get install tcpdump)")
    only = set(filter(None, args.only.split(","))) or {"info", "rules", "run"}
    with tempfile.TemporaryDirectory(prefix="offsim-e2e-") as tmp:
        ours = fresh_copy(OFFSIM, os.path.join(tmp, "offsim"))
        base = fresh_copy(args.baseline, os.path.join(tmp, "offsim-baseline")) if args.baseline else ""
        acl = os.path.join(tmp, "acl300.nft")
        acl300(acl)
        floor = os.path.join(tmp, "no-rules.nft")
        no_rules(floor)
        rulesets = dict(RULESETS, acl300=acl, **{"no-rules": floor})
        if args.split:
            split_all(args, ours, rulesets, only, tmp)
        elif args.two_cores:
            two_cores_all(args, ours, tmp)
        else:
            (count_all if args.instructions else time_all)(args, ours, base, rulesets, only, tmp)


def jobs_for(offsim, profile, trace, rulesets, only, tmp, run_args):
    """The commands measured on `trace`: (label, argv), `run` with `run_args` added."""
    jobs = []
    if "info" in only:
        jobs.append(("trace info", [offsim, "trace", "info", trace]))
    if "rules" in only:
        for name, rs in rulesets.items():
            jobs.append((f"rules eval {name}", [offsim, "rules", "eval", rs, trace]))
    if "run" in only:
        for policy in ("none", "software", "hardware"):
            sc = scenario_for(profile, trace, policy, tmp)
            jobs.append((f"run {policy}", [offsim, "run", sc, *run_args, "--out", os.path.join(tmp, "out"), "-q"]))
    return jobs


def time_all(args, ours, base, rulesets, only, tmp):
    """Packets per CPU-second of each command, beside tcpdump's (and the baseline's)."""
    base_head = f" {'baseline pkt/CPU-s':>19} {'less CPU':>9} {'±':>5}" if base else ""
    print(f"{'profile':<12} {'what':<24} {'offsim pkt/CPU-s':>17} {'tcpdump pkt/CPU-s':>18} {'ratio':>6} {'±':>5}"
          f" {'wall s':>7}" + base_head)
    for profile in args.profiles.split(","):
        trace = capture(ours, profile, args, tmp)
        for what, cmd in jobs_for(ours, profile, trace, rulesets, only, tmp, []):
            mine, theirs, walls, based = [], [], [], []
            for i in range(args.repeats):
                t, _ = cpu_time(["tcpdump", "-r", trace, "-w", "/dev/null"])
                theirs.append(t)
                # with a baseline, which build goes first alternates between repeats
                if base and i % 2 == 1:
                    based.append(cpu_time([base] + cmd[1:])[0])
                o, w = cpu_time(cmd)
                mine.append(o)
                walls.append(w)
                if base and i % 2 == 0:
                    based.append(cpu_time([base] + cmd[1:])[0])
            o, t = statistics.median(mine), statistics.median(theirs)
            ratio, ratio_pm = paired([ti / oi for ti, oi in zip(theirs, mine)])
            tail = ""
            if based:
                b = statistics.median(based)
                less, less_pm = paired([1 - oi / bi for oi, bi in zip(mine, based)], relative=False)
                tail = f" {args.packets / b / 1e6:>17.2f} M {100 * less:>8.1f}% {100 * less_pm:>4.1f}%"
            print(f"{profile:<12} {what:<24} {args.packets / o / 1e6:>15.2f} M {args.packets / t / 1e6:>16.2f} M"
                  f" {ratio:>6.2f} {100 * ratio_pm:>4.0f}% {statistics.median(walls):>7.2f}" + tail, flush=True)
        os.remove(trace)


def two_cores_all(args, ours, tmp):
    """`--two-cores`: wall-clock time of each configuration's `run` on one thread and on two,
    and the speedup."""
    print(f"{'profile':<12} {'what':<24} {'wall s, 1 thread':>17} {'wall s, 2':>10} {'speedup':>8} {'±':>5}"
          f" {'CPU s, 1':>9} {'CPU s, 2':>9}")

    def med(runs, k):  # k: 0 CPU, 1 wall (`cpu_time`'s pair)
        return statistics.median(r[k] for r in runs)

    for profile in args.profiles.split(","):
        trace = capture(ours, profile, args, tmp)
        for what, cmd in jobs_for(ours, profile, trace, {}, {"run"}, tmp, []):
            one, two = [], []
            for i in range(args.repeats):
                # which goes first alternates between repeats
                for jobs in (("1", "2") if i % 2 == 0 else ("2", "1")):
                    (one if jobs == "1" else two).append(cpu_time(cmd + ["--jobs", jobs]))
            speedup, pm = paired([a[1] / b[1] for a, b in zip(one, two)])
            print(f"{profile:<12} {what:<24} {med(one, 1):>17.3f} {med(two, 1):>10.3f} {speedup:>8.2f}"
                  f" {100 * pm:>4.0f}% {med(one, 0):>9.3f} {med(two, 0):>9.3f}", flush=True)
        os.remove(trace)


def paired(values, relative=True):
    """The median of per-repeat comparisons and half their spread (max - min), relative to
    the median when `relative` (a ratio), else absolute (a difference of fractions)."""
    m = statistics.median(values)
    half = (max(values) - min(values)) / 2
    return m, (half / m if relative and m else half)


def capture(offsim, profile, args, tmp):
    """The capture of `profile`, written as `--written-by` says."""
    trace = os.path.join(tmp, f"{profile}.pcap")
    made = trace if args.written_by == "offsim" else os.path.join(tmp, f"{profile}-gen.pcap")
    subprocess.run([offsim, "trace", "gen", "--profile", profile, "--packets", str(args.packets),
                    "--out", made, "-q"], check=True)
    if made != trace:
        subprocess.run(["tcpdump", "-r", made, "-w", trace], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.remove(made)
    return trace


def count_all(args, ours, base, rulesets, only, tmp):
    """`--instructions`: user-space instructions per packet of each command, this build's
    and the baseline's."""
    base_head = f" {'baseline instr/pkt':>19} {'fewer':>7}" if base else ""
    print(f"{'profile':<12} {'what':<24} {'offsim instr/pkt':>17}" + base_head)
    for profile in args.profiles.split(","):
        trace = capture(ours, profile, args, tmp)
        for what, cmd in jobs_for(ours, profile, trace, rulesets, only, tmp, ["--jobs", "1"]):
            mine = instructions(cmd)
            tail = ""
            if base:
                b = instructions([base] + cmd[1:])
                tail = f" {b / args.packets:>19.0f} {100 * (1 - mine / b):>6.1f}%"
            print(f"{profile:<12} {what:<24} {mine / args.packets:>17.0f}" + tail, flush=True)
        os.remove(trace)


if __name__ == "__main__":
    main()
