#!/bin/bash
# Measures the per-packet cost of VLAN and PPPoE on the Linux slow path, as instructions.
#
# The host kernel of this project's machines has neither CONFIG_VLAN_8021Q nor CONFIG_PPP,
# and KVM is not usable here, so the Debian 6.1 kernel of the flowtable VM
# (scripts/build-flowvm.sh) runs under qemu TCG with `-icount shift=0`: the guest's clock
# advances one nanosecond per instruction, so a rate measured in the guest is instructions
# per packet, exact and independent of the host's load.
#
# In the guest (guest.sh), netns A sends raw frames with sendmmsg on an AF_PACKET socket
# (pktflood.c: the same sender cost whatever the frames carry) through router R to C, whose
# netdev ingress drops them; variants: A straight to C (`direct`), plain forwarding (`base`),
# R receiving on a VLAN (`vlan_rx`) or a PPPoE session (`pppoe_rx`, bound with
# pppoe_attach.c, no pppd), R sending on a VLAN (`vlan_tx`) or a PPPoE session (`pppoe_tx`).
#
# Usage: scripts/encap-bench/run.sh   (needs root, qemu-system-x86_64, gcc with static libc,
#        dpkg-deb, and the VM image: scripts/build-flowvm.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=${OFFSIM_FLOWVM_DIR:-${TMPDIR:-/tmp}/offsim-flowvm}
# shellcheck disable=SC1091
. "$DIR/image/image.env"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/job/mod" "$W/x"
gcc -O2 -static -o "$W/job/pktflood" "$here/pktflood.c"
gcc -O2 -static -o "$W/job/pppoe_attach" "$here/pppoe_attach.c"
cp "$here/guest.sh" "$W/job/cmd"
dpkg-deb -x "$DIR/downloads/$KERNEL_PACKAGE" "$W/x"
M=$W/x/lib/modules/$KERNEL_RELEASE/kernel
for m in net/llc/llc net/802/stp net/802/garp net/802/mrp net/8021q/8021q \
  drivers/net/slip/slhc drivers/net/ppp/ppp_generic drivers/net/ppp/pppox drivers/net/ppp/pppoe; do
  cp "$M/$m.ko" "$W/job/mod/"
done
(cd "$W" && find job | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc >job.cpio 2>/dev/null)
cat "$INITRD" "$W/job.cpio" >"$W/all.cpio"
qemu-system-x86_64 -accel tcg,thread=single -icount shift=0,sleep=off -cpu max -m 1024 -smp 1 \
  -nodefaults -nic none -display none -monitor none -no-reboot -kernel "$KERNEL" \
  -initrd "$W/all.cpio" -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off" \
  -serial "file:$W/console.log" -serial null
python3 - "$W/console.log" <<'PY'
import re, statistics, sys, collections
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    m = re.match(r'RESULT (\w+) run\d (\d+) pps', l)
    if m:
        d[m.group(1)].append(1e9 / int(m.group(2)))
for k, v in d.items():
    print(f"{k:9} instructions/packet median {statistics.median(v):7.0f} (n={len(v)}, spread {max(v)-min(v):.0f})")
PY
