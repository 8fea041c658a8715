#!/bin/sh
# Runs inside the flowtable VM (see run.sh): the router's extra instructions per packet for
# VLAN and PPPoE on the slow path. Prints RESULT lines: variant, run, packets/s in guest time.
# Measures the router's per-packet cost of VLAN and PPPoE (de)encapsulation on the slow path.
ip() { /usr/bin/ip "$@"; }
taskset() { /usr/bin/taskset "$@"; }
for m in llc stp garp mrp 8021q slhc ppp_generic pppox pppoe; do insmod /job/mod/$m.ko || echo "insmod $m failed"; done
ls -la /dev/ppp
MA=02:00:00:00:00:a0; MR0=02:00:00:00:00:01; MR1=02:00:00:00:00:02; MC=02:00:00:00:00:c0
DUR=0.5
setup() {
  killall pppoe_attach 2>/dev/null; sleep 0.2
  for n in A R C; do ip netns del $n 2>/dev/null; done
  for n in A R C; do ip netns add $n; ip -n $n link set lo up; done
  ip link add a0 netns A address $MA type veth peer name r0 netns R address $MR0
  ip link add r1 netns R address $MR1 type veth peer name c0 netns C address $MC
  for d in "A a0" "R r0" "R r1" "C c0"; do set -- $d; ip -n $1 link set $2 up; done
  ip netns exec R sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward; for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done'
  ip netns exec C nft add table netdev sink
  ip netns exec C nft add chain netdev sink in '{ type filter hook ingress device c0 priority 0; }'
  ip netns exec C nft add rule netdev sink in counter drop
}
sinkc() { ip netns exec C nft list chain netdev sink in | grep -o 'packets [0-9]*' | awk '{print $2}'; }
rx_plain() { ip -n R addr add 10.99.1.2/24 dev r0; }
rx_vlan() { ip -n R link add link r0 name r0.100 type vlan id 100; ip -n R link set r0.100 up; ip -n R addr add 10.99.1.2/24 dev r0.100; }
rx_pppoe() {
  ip netns exec R /job/pppoe_attach r0 0x1234 $MA > /tmp/unit_rx & sleep 0.5
  u=$(cat /tmp/unit_rx); ip -n R link set ppp$u up; ip -n R addr add 10.99.1.2 peer 10.99.1.1 dev ppp$u
}
tx_plain() { ip -n R addr add 10.99.2.2/24 dev r1; ip -n R neigh add 10.99.2.1 lladdr $MC dev r1 nud permanent; }
tx_vlan() { ip -n R link add link r1 name r1.200 type vlan id 200; ip -n R link set r1.200 up; ip -n R addr add 10.99.2.2/24 dev r1.200; ip -n R neigh add 10.99.2.1 lladdr $MC dev r1.200 nud permanent; }
tx_pppoe() {
  ip netns exec R /job/pppoe_attach r1 0x4321 $MC > /tmp/unit_tx & sleep 0.5
  u=$(cat /tmp/unit_tx); ip -n R link set ppp$u up; ip -n R addr add 10.99.2.2 peer 10.99.2.1 dev ppp$u
}
direct() {
  for n in A R C; do ip netns del $n 2>/dev/null; done
  for n in A C; do ip netns add $n; ip -n $n link set lo up; done
  ip link add a0 netns A address $MA type veth peer name c0 netns C address $MC
  ip -n A link set a0 up; ip -n C link set c0 up
  ip netns exec C nft add table netdev sink
  ip netns exec C nft add chain netdev sink in '{ type filter hook ingress device c0 priority 0; }'
  ip netns exec C nft add rule netdev sink in counter drop
  ip netns exec A /job/pktflood a0 $MC 0.2 none >/dev/null 2>&1
  for i in 1 2 3 4 5; do
    c0=$(sinkc)
    out=$(ip netns exec A taskset -c 0 /job/pktflood a0 $MC $DUR none 2>&1)
    c1=$(sinkc)
    echo "RESULT direct run$i $(echo $out | awk '{print $7}') pps sink $(( c1 - c0 ))"
  done
}
run() { # label rx tx frames
  setup; rx_$2; tx_$3; sleep 0.3
  ip netns exec A /job/pktflood a0 $MR0 0.2 $4 >/dev/null 2>&1
  for i in 1 2 3 4 5; do
    c0=$(sinkc)
    out=$(ip netns exec A taskset -c 0 /job/pktflood a0 $MR0 $DUR $4 2>&1)
    c1=$(sinkc)
    echo "RESULT $1 run$i $(echo $out | awk '{print $7}') pps sink $(( c1 - c0 ))"
  done
  kill $(jobs -p) 2>/dev/null; wait 2>/dev/null
}
grep -m1 "model name" /proc/cpuinfo; nproc
for rep in 1 2 3; do
direct
run base plain plain none
run vlan_rx vlan plain vlan:100
run vlan_tx plain vlan none
run pppoe_rx pppoe plain pppoe:0x1234
run pppoe_tx plain pppoe none
done
