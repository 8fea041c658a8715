#!/usr/bin/env bash
# Builds offsim with profile-guided optimisation (PGO): an instrumented build runs a training
# set, and the release build is compiled again with the profile it wrote. The result,
# TARGET/pgo/offsim, gives every output byte for byte as `cargo build --release` does (the
# profile changes where the compiler inlines and how it lays out and orders code, never what
# the code computes) in less CPU time: the chain walk, conntrack and the engine are branchy
# code whose hot paths the compiler cannot see without a profile. README's "A faster build"
# has the figures.
#
#   scripts/build-pgo.sh            # then: target/pgo/offsim run scenarios/default.toml
#   scripts/build-pgo.sh --native   # also for this machine's CPU (-Ctarget-cpu=native): a
#                                   # few per cent more, but the binary then runs only on
#                                   # CPUs with this one's instruction set extensions
#
# Cargo's own settings apply: with
#   CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# in the environment the binary takes 0-7 % less CPU again, and the script 6 min against 4.
#
# Needs `llvm-profdata` of the LLVM that rustc uses (`rustup component add llvm-tools`, or
# llvm-profdata-N on PATH for rustc's LLVM N). Takes two release builds plus about a minute
# of training; the builds go to TARGET/pgo/{gen,use} and leave TARGET/release alone.
#
# The training set is offsim's own generator's captures of every profile (200k packets, a
# seed the benchmark does not use), the capture variants the tests bundle (pcapng, Linux
# cooked, VLAN, raw IP, truncated), `trace info` and `rules eval` of the bundled rulesets and
# an ACL on them, `run` of every bundled scenario and of one configuration at a time on the
# generated captures (the reader-beside-engine path), `run --flows`, `sweep` and `plan`.
# Code it never runs is compiled as cold: kept correct, placed apart, optimised for size.
#
# Exit: 0 built; 2 a tool is missing or a step failed (the step is named).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
work=$target/pgo
fail() {
  echo "build-pgo: $*" >&2
  exit 2
}
flags=${RUSTFLAGS:-}
for a in "$@"; do
  case $a in
    --native) flags="$flags -Ctarget-cpu=native" ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown argument $a (scripts/build-pgo.sh [--native])" ;;
  esac
done

# llvm-profdata must read the raw profiles of rustc's own LLVM (their format changes with it).
rustc=${RUSTC:-rustc}
llvm_major=$("$rustc" -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
host=$("$rustc" -vV | sed -n 's/^host: //p')
[ -n "$llvm_major" ] || fail "cannot tell rustc's LLVM version ($rustc -vV)"
profdata=""
for c in "$("$rustc" --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" \
  "llvm-profdata-$llvm_major" llvm-profdata; do
  p=$(command -v "$c" 2>/dev/null) || continue
  if "$p" --version 2>/dev/null | grep -q "LLVM version $llvm_major\."; then
    profdata=$p
    break
  fi
done
[ -n "$profdata" ] || fail "needs llvm-profdata of LLVM $llvm_major (rustc's): rustup component add llvm-tools"

rm -rf "$work/raw" "$work/train"
mkdir -p "$work/raw" "$work/train"

echo "build-pgo: 1/4 instrumented build" >&2
RUSTFLAGS="$flags -Cprofile-generate=$work/raw" \
  "${CARGO:-cargo}" build --release -p offsim --target-dir "$work/gen" --quiet || fail "instrumented build failed"
gen=$work/gen/release/offsim

echo "build-pgo: 2/4 training" >&2
train=$work/train
# Runs offsim; `run`, `sweep` and `plan` exit 1 for a missed SLO, which is still a finished
# run.
o() {
  local rc=0
  "$gen" "$@" >/dev/null 2>"$train/stderr" || rc=$?
  [ "$rc" -le 1 ] || fail "training step failed (exit $rc): offsim $* — $(tail -1 "$train/stderr")"
}
# A bundled scenario replaying `trace` with one configuration (as benches/e2e.py does).
one_config() { # scenario trace policy out
  awk -v trace="$2" -v pol="$3" -v rs="$root/scenarios/rulesets/" '
    /^\[/ { skip = ($0 == "[trace.generate]"); if (skip) { print "[trace]\nfile = \"" trace "\""; next } }
    skip { next }
    /^policies/ { print "policies = [\"" pol "\"]"; next }
    { sub(/"rulesets\//, "\"" rs); print }' "$root/scenarios/$1" >"$4"
}
# An ACL of the shape users write: saddr/dport pairs, then set look-ups.
{
  echo "table inet train_acl {"
  echo " set blocked { type ipv4_addr; flags interval; elements = { 192.0.2.0/24, 198.51.100.0/24 } }"
  echo " chain forward { type filter hook forward priority 0; policy accept;"
  for i in $(seq 0 119); do
    echo "  ip daddr 172.16.$((i / 100)).$((i % 100 + 1)) udp dport $((2000 + i)) counter drop"
  done
  echo "  ip saddr @blocked drop"
  echo "  ip6 daddr 2001:db8::/32 tcp dport { 22, 23, 3389 } reject"
  echo " }"
  echo "}"
} >"$train/acl.nft"

for p in home-router enterprise datacenter synflood imix connections; do
  o trace gen --profile "$p" --packets 200000 --seed 1001 -q -o "$train/$p.pcap"
  o trace info "$train/$p.pcap"
done
for f in "$root"/traces/data/variants/*; do
  o trace info "$f"
  o rules eval "$root/scenarios/rulesets/home-fw4.nft" "$f"
done
for r in "$root"/scenarios/rulesets/*.nft "$train/acl.nft"; do
  for p in home-router enterprise datacenter synflood; do
    o rules eval "$r" "$train/$p.pcap"
  done
done
for s in default enterprise-edge datacenter bufferbloat events; do
  o run "$root/scenarios/$s.toml" -q -o "$train/out"
  o run "$root/scenarios/$s.toml" -q --jobs 1 -o "$train/out"
done
for pair in default:home-router enterprise-edge:enterprise datacenter:datacenter default:synflood; do
  s=${pair%%:*} p=${pair#*:}
  for pol in none software hardware; do
    one_config "$s.toml" "$train/$p.pcap" "$pol" "$train/$p-$pol.toml"
    o run "$train/$p-$pol.toml" -q -o "$train/out"
  done
done
o run "$root/scenarios/default.toml" -q --flows -o "$train/out"
o sweep "$root/scenarios/sweep-table.toml" -q -o "$train/sweep"
o plan "$root/scenarios/default.toml" -q -o "$train/plan"

echo "build-pgo: 3/4 merging the profile" >&2
"$profdata" merge -o "$work/offsim.profdata" "$work/raw" || fail "llvm-profdata merge failed"

echo "build-pgo: 4/4 optimised build" >&2
RUSTFLAGS="$flags -Cprofile-use=$work/offsim.profdata" \
  "${CARGO:-cargo}" build --release -p offsim --target-dir "$work/use" --quiet || fail "optimised build failed"
cp "$work/use/release/offsim" "$work/offsim.new"
mv "$work/offsim.new" "$work/offsim"
rm -rf "$train"
echo "build-pgo: built $work/offsim" >&2
