#!/bin/bash
# The kernel's cost of one try of masquerade's port search (`nf_nat_used_tuple`, called by
# `nf_nat_l4proto_unique_tuple` for each candidate port), the source of cycles.nat_try in
# sim/presets/cpu/x86-server.toml.
#
# Three network namespaces in a line, A -> R -> C, joined by veth pairs. A sends a new UDP
# tuple per packet (rawflood.c: source ports 1024 + k % 64000, a new source address every
# 64,000 packets, so no tuple repeats), pinned to one CPU, which also runs every softirq of
# the path. R masquerades to a port range the first packets use up, outside the source
# ports, so every later packet runs the whole search and is dropped at confirm (its reply
# tuple clashes):
#   - 128 ports (65408-65535): 128 tries per packet (one round, the range's size);
#   - 512 ports (65024-65535): 128 + 64 + 32 + 16 + 8 = 248 tries per packet.
# The difference between the two, per packet, over 120 is one try. Pairs are alternated, as
# the machine's speed drifts. A reference measured in the same moments converts nanoseconds
# to the model's cycles: 400 linear `ip saddr X drop` rules vs an empty chain in the same
# hook, on one established UDP flow (udpflood.c), the reference `offsim calibrate` scales its
# figures by; the model prices one such rule at REF_CYCLES (cycles.rule + expr_payload of the
# x86-server preset, which calibrate measured at the run's fastest speed). UDP only: a TCP
# SYN's tries may cost more on kernels that check clashing TCP entries harder.
#
# Needs root. Usage: scripts/nat-search/run.sh [PAIRS] [PACKETS]
set -euo pipefail
pairs=${1:-4}; cnt=${2:-300000}
REF_CYCLES=10.7
for tool in nft conntrack cc bc taskset; do
    command -v $tool >/dev/null || { echo "run.sh: needs $tool" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"; for n in ns_a ns_r ns_c; do ip netns del $n 2>/dev/null || true; done' EXIT
cc -O2 -o "$work/rawflood" "$here/rawflood.c"
cc -O2 -o "$work/udpflood" "$here/udpflood.c"
for n in ns_a ns_r ns_c; do ip netns del $n 2>/dev/null || true; ip netns add $n; done
ip link add a0 netns ns_a type veth peer name r0 netns ns_r
ip link add r1 netns ns_r type veth peer name c0 netns ns_c
ip -n ns_a addr add 10.99.1.1/24 dev a0; ip -n ns_a link set a0 up; ip -n ns_a link set lo up
ip -n ns_a route add default via 10.99.1.2
ip -n ns_r addr add 10.99.1.2/24 dev r0; ip -n ns_r addr add 10.99.2.2/24 dev r1
ip -n ns_r link set r0 up; ip -n ns_r link set r1 up; ip -n ns_r link set lo up
ip netns exec ns_r sysctl -qw net.ipv4.ip_forward=1
ip -n ns_c addr add 10.99.2.1/24 dev c0; ip -n ns_c link set c0 up; ip -n ns_c link set lo up
ip -n ns_c route add default via 10.99.2.2

# ns per packet of the flood through R's current ruleset, mean of 3 runs, conntrack flushed
# before each.
flood() {
    local tot=0 pps
    for _ in 1 2 3; do
        ip netns exec ns_r conntrack -F >/dev/null 2>&1
        pps=$(ip netns exec ns_a taskset -c 1 "$work/rawflood" 10.99.2.1 "$cnt" $((cnt / 64000 + 1)) |
            awk '{print $7}')
        tot=$((tot + pps))
    done
    echo "scale=1; 3000000000 / $tot" | bc
}
# ns per packet of one UDP flow for 3 s through R's current ruleset, mean of 3 runs.
steady() {
    local tot=0 pps
    for _ in 1 2 3; do
        pps=$(ip netns exec ns_a taskset -c 1 "$work/udpflood" 10.99.2.1 6000 5000 3 18 | awk '{print $7}')
        tot=$((tot + pps))
    done
    echo "scale=1; 3000000000 / $tot" | bc
}
masq() {
    ip netns exec ns_r nft flush ruleset
    printf 'table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "r1" meta l4proto udp masquerade to :%s\n }\n}\n' "$1" |
        ip netns exec ns_r nft -f -
}
# N linear non-matching rules in a forward base chain (N = 0: the empty chain).
rules() {
    ip netns exec ns_r nft flush ruleset
    { echo 'table ip f {'; echo ' chain fw {'; echo '  type filter hook forward priority 0; policy accept;'
      for i in $(seq 1 "$1"); do echo "  ip saddr 172.16.$((i / 250)).$((i % 250 + 1)) drop"; done
      echo ' }'; echo '}'; } | ip netns exec ns_r nft -f -
}
for p in $(seq 1 "$pairs"); do
    masq 65408-65535; a=$(flood)
    masq 65024-65535; b=$(flood)
    rules 0; r0=$(steady)
    rules 400; r1=$(steady)
    try=$(echo "scale=3; ($b - $a) / 120" | bc); rule=$(echo "scale=4; ($r1 - $r0) / 400" | bc)
    echo "pair $p: 128 tries $a ns, 248 tries $b ns: $try ns/try;" \
        "empty chain $r0 ns, 400 rules $r1 ns: $rule ns/rule;" \
        "$(echo "scale=1; $try * $REF_CYCLES / $rule" | bc) cycles/try"
done
