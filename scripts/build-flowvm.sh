#!/usr/bin/env bash
# build-flowvm.sh: build (or reuse) the kernel and base initramfs of offsim's flowtable
# oracle VM.
#
# The host kernel may lack nf_flow_table (CONFIG_NF_FLOW_TABLE), so the kernel oracle tests
# that need a flowtable boot Debian 12's 6.1 kernel under qemu instead (sim/tests/kernel/vm.rs).
# This script prepares what such a boot needs:
#
#   * the kernel image package that `linux-image-amd64` depends on, plus busybox-static, kmod
#     and libkmod2, fetched with `apt-get download` (nothing is installed on the host);
#   * an initramfs holding busybox (shell and applets), kmod as /sbin/modprobe (the kernel's
#     request_module() runs it, so nft can auto-load nft_* modules), the dependency closure of
#     the netfilter modules and veth (soft dependencies included: libcrc32c needs crc32c),
#     depmod'ed, and the host's ip, nft, tcpreplay, tcpprep and taskset with their shared
#     libraries; and /init, which runs /job/cmd (staged per run as a second, appended cpio
#     archive) and powers off.
#
# Usage: scripts/build-flowvm.sh [--force]
#
# Output (stdout, one KEY=value per line; also in $DIR/image/image.env):
#   KERNEL=<path of vmlinuz>  INITRD=<path of the base initramfs>  KERNEL_RELEASE=<uname -r>
#   KERNEL_PACKAGE=<deb>  BUSYBOX=<path of a static busybox usable on the host>
#
# Cache: $OFFSIM_FLOWVM_DIR (default ${TMPDIR:-/tmp}/offsim-flowvm): downloads/ (the .debs)
# and image/. The image is rebuilt only when its fingerprint (this script, the .debs, the
# host tools and their libraries) changes, or with --force. Concurrent runs serialise on a
# lock file.
#
# Exit status: 0 built or up to date; 77 the environment cannot build it (not root, no
# apt-get, download failed, a host tool missing): callers skip; anything else: a real error.
set -euo pipefail

UNAVAILABLE=77
DIR=${OFFSIM_FLOWVM_DIR:-${TMPDIR:-/tmp}/offsim-flowvm}
DL=$DIR/downloads
IMG=$DIR/image
SELF=$(readlink -f "${BASH_SOURCE[0]}")
FORCE=0
case "${1:-}" in
  --force) FORCE=1 ;;
  "") ;;
  -h | --help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-flowvm: unknown argument $1" >&2; exit 2 ;;
esac

say() { echo "build-flowvm: $*" >&2; }
unavailable() { say "UNAVAILABLE: $*"; exit "$UNAVAILABLE"; }
die() { say "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || unavailable "needs root (apt-get download)"
for t in apt-get apt-cache dpkg-deb ldd gzip flock sha256sum find sort; do
  command -v "$t" >/dev/null || unavailable "$t not found"
done
# Host programs the oracle harness runs inside the VM.
TOOLS=()
for t in ip nft tcpreplay tcpprep taskset; do
  p=$(command -v "$t") || unavailable "host tool $t not found"
  TOOLS+=("$(readlink -f "$p")")
done

mkdir -p "$DL" "$IMG"
exec 9>"$DIR/lock"
flock 9

# ----------------------------------------------------------------------------- packages
KPKG=${OFFSIM_FLOWVM_KERNEL_PKG:-}
if [[ -z $KPKG ]]; then
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
  [[ -n $KPKG ]] || unavailable "apt-cache does not know linux-image-amd64 (apt-get update?)"
fi

# deb PACKAGE: path of its cached .deb, downloading it first if needed.
deb() {
  local pkg=$1 f
  f=$(find "$DL" -maxdepth 1 -name "${pkg}_*.deb" | LC_ALL=C sort | tail -1)
  if [[ -z $f ]]; then
    say "apt-get download $pkg"
    (cd "$DL" && apt-get download -q "$pkg" >"$DL/$pkg.log" 2>&1) ||
      { cat "$DL/$pkg.log" >&2; unavailable "apt-get download $pkg failed"; }
    f=$(find "$DL" -maxdepth 1 -name "${pkg}_*.deb" | LC_ALL=C sort | tail -1)
    [[ -n $f ]] || unavailable "apt-get download $pkg produced no .deb"
  fi
  echo "$f"
}
KDEB=$(deb "$KPKG")
BBDEB=$(deb busybox-static)
KMODDEB=$(deb kmod)
LIBKMODDEB=$(deb libkmod2)

# Shared libraries (and the ELF interpreter) an ELF file needs, as host paths.
libs_of() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

# ---------------------------------------------------------------------- fingerprint
fingerprint() {
  sha256sum "$SELF" | cut -d' ' -f1
  for f in "$KDEB" "$BBDEB" "$KMODDEB" "$LIBKMODDEB"; do stat -c '%n %s' "$f"; done
  for t in "${TOOLS[@]}"; do
    stat -L -c '%n %s %Y' "$t"
    libs_of "$t" | while read -r l; do stat -L -c '%n %s %Y' "$l"; done
  done
}
FP=$(fingerprint | sha256sum | cut -d' ' -f1)
if ((!FORCE)) && [[ -s $IMG/image.env && $(cat "$IMG/fingerprint" 2>/dev/null) == "$FP" ]]; then
  say "up to date: $IMG"
  cat "$IMG/image.env"
  exit 0
fi
T0=$SECONDS

# ----------------------------------------------------------------------- extraction
X=$IMG/extract
rm -rf "$X" "$IMG/image.env" "$IMG/fingerprint"
mkdir -p "$X"
for p in kernel:"$KDEB" busybox:"$BBDEB" kmod:"$KMODDEB" libkmod:"$LIBKMODDEB"; do
  mkdir -p "$X/${p%%:*}"
  dpkg-deb -x "${p#*:}" "$X/${p%%:*}" || die "cannot extract ${p#*:}"
done
BB=$X/busybox/bin/busybox
[[ -x $BB ]] || die "no busybox in $BBDEB"
"$BB" true || die "the static busybox does not run on this host"
KVER=$(find "$X/kernel/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -1)
[[ -n $KVER && -f $X/kernel/boot/vmlinuz-$KVER ]] || die "no kernel/modules in $KDEB"
KMOD_LIBDIR=$(dirname "$(find "$X/libkmod" -name 'libkmod.so.2*' | head -1)")
# kmod picks its personality from argv[0].
mkdir -p "$X/kmod-tools"
for a in depmod modprobe; do ln -sf "$X/kmod/bin/kmod" "$X/kmod-tools/$a"; done
kmod_tool() { LD_LIBRARY_PATH=$KMOD_LIBDIR "$X/kmod-tools/$1" "${@:2}"; }
kmod_tool depmod --version >/dev/null || die "the extracted kmod does not run on this host"

# --------------------------------------------------------------------------- rootfs
R=$IMG/rootfs
rm -rf "$R"
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{dev,proc,sys,run,tmp,etc,root,job,var}
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"

# put HOSTFILE [NAME]: copy a host file (symlinks followed) to the same place in the rootfs,
# with its directory canonicalised (usr-merge) and its file name kept (soname links).
put() {
  local src=$1 name=${2:-$(basename "$1")} dir
  dir=$(readlink -f "$(dirname "$src")")
  [[ -e $R$dir/$name ]] && return 0
  mkdir -p "$R$dir"
  cp -L "$src" "$R$dir/$name"
}
put_elf() {
  put "$1"
  local l
  while read -r l; do put "$l"; done < <(libs_of "$1")
}
for t in "${TOOLS[@]}"; do put_elf "$t"; done

# kmod, from the downloaded packages (its libraries besides libkmod come from the host).
cp "$X/kmod/bin/kmod" "$R/usr/bin/kmod"
mkdir -p "$R/usr/lib/x86_64-linux-gnu"
cp -L "$KMOD_LIBDIR/libkmod.so.2" "$R/usr/lib/x86_64-linux-gnu/libkmod.so.2"
while read -r l; do
  [[ $(basename "$l") == libkmod.so.2 ]] || put "$l"
done < <(LD_LIBRARY_PATH=$KMOD_LIBDIR libs_of "$X/kmod/bin/kmod")
for a in modprobe insmod rmmod lsmod modinfo depmod; do ln -s ../bin/kmod "$R/usr/sbin/$a"; done

# busybox for the shell and every applet that no real program above provides.
cp "$BB" "$R/usr/bin/busybox"
for a in $("$BB" --list); do
  [[ -e $R/usr/bin/$a || -e $R/usr/sbin/$a || -L $R/usr/sbin/$a ]] || ln -s busybox "$R/usr/bin/$a"
done

for f in /etc/protocols /etc/services /etc/ethertypes; do [[ -r $f ]] && cp "$f" "$R/etc/"; done
for d in /etc/iproute2 /usr/share/iproute2 /usr/lib/iproute2; do
  [[ -d $d ]] && mkdir -p "$R$(dirname "$d")" && cp -r "$d" "$R$d"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
printf 'passwd: files\ngroup: files\nprotocols: files\nservices: files\nhosts: files\n' \
  >"$R/etc/nsswitch.conf"
echo '127.0.0.1 localhost' >"$R/etc/hosts"

# --------------------------------------------------------------------------- modules
MSRC=$X/kernel/lib/modules/$KVER
[[ -s $MSRC/modules.dep ]] || kmod_tool depmod -b "$X/kernel" "$KVER" ||
  die "depmod on the extracted kernel failed"
ROOTS=()
while read -r m; do
  m=$(basename "$m")
  ROOTS+=("${m%%.ko*}")
done < <(find "$MSRC/kernel/net/netfilter" "$MSRC/kernel/net/ipv4/netfilter" \
  "$MSRC/kernel/net/ipv6/netfilter" -name '*.ko*' -not -path '*/ipvs/*')
ROOTS+=(veth)
# --show-depends lists each module's dependencies and soft dependencies (e.g. libcrc32c's
# "pre: crc32c") in load order; an empty config directory keeps the host's modprobe.d out.
mkdir -p "$X/empty-conf"
kmod_tool modprobe -d "$X/kernel" -S "$KVER" -C "$X/empty-conf" --show-depends -a "${ROOTS[@]}" \
  >"$X/closure.txt" 2>"$X/closure.err" || { cat "$X/closure.err" >&2; die "modprobe --show-depends failed"; }
MDST=$R/usr/lib/modules/$KVER
NMOD=0
while read -r verb path _; do
  [[ $verb == insmod ]] || continue
  rel=${path#"$MSRC"/}
  [[ -e $MDST/$rel ]] && continue
  mkdir -p "$(dirname "$MDST/$rel")"
  cp "$path" "$MDST/$rel"
  NMOD=$((NMOD + 1))
done <"$X/closure.txt"
grep -q '/crc32c' "$X/closure.txt" || die "crc32c is not in the module closure (softdep of libcrc32c)"
for f in modules.order modules.builtin modules.builtin.modinfo; do
  [[ -e $MSRC/$f ]] && cp "$MSRC/$f" "$MDST/"
done
kmod_tool depmod -b "$R" "$KVER" || die "depmod on the image failed"
[[ -s $MDST/modules.dep ]] || die "depmod wrote no modules.dep"

# ----------------------------------------------------------------------------- /init
cat >"$R/init" <<'INIT'
#!/bin/sh
# PID 1 of offsim's flowtable VM: mount the pseudo file systems, load the flowtable modules,
# run /job/cmd (from the per-run cpio archive appended to this initramfs) and power off.
# The job writes its own result, to the second serial port.
export PATH=/usr/sbin:/usr/bin HOME=/root LC_ALL=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/netns /dev/pts
ln -s /run /var/run 2>/dev/null
# devtmpfs has no fd links; `nft -j -f -` opens /dev/stdin.
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
echo /sbin/modprobe >/proc/sys/kernel/modprobe
echo 1 >/proc/sys/kernel/printk
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "offsim-vm: init at $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r)"
for m in veth nf_conntrack nf_tables nft_ct nf_flow_table nf_flow_table_inet nft_flow_offload; do
  modprobe "$m" || echo "offsim-vm: modprobe $m failed"
done
echo "offsim-vm: modules loaded at $(cut -d' ' -f1 /proc/uptime) s"
if [ -f /job/cmd ]; then
  cd /job && sh /job/cmd
  echo "offsim-vm: job exited with $? at $(cut -d' ' -f1 /proc/uptime) s"
else
  echo "offsim-vm: no /job/cmd"
fi
sync
poweroff -f
echo o >/proc/sysrq-trigger
INIT
chmod 755 "$R/init"

# ------------------------------------------------------------------------------ cpio
# Kept uncompressed: under TCG, inflating a gzip initramfs costs more boot time than
# reading a larger file costs qemu.
OUT=$IMG/initramfs.cpio
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | "$BB" cpio -o -H newc 2>/dev/null) >"$OUT.tmp" ||
  die "cpio failed"
mv "$OUT.tmp" "$OUT"
cp "$X/kernel/boot/vmlinuz-$KVER" "$IMG/vmlinuz"
cp "$BB" "$IMG/busybox"
# The extracted kernel package is the bulk of the cache and not needed any more.
rm -rf "$X"
{
  echo "KERNEL=$IMG/vmlinuz"
  echo "INITRD=$OUT"
  echo "KERNEL_RELEASE=$KVER"
  echo "KERNEL_PACKAGE=$(basename "$KDEB")"
  echo "BUSYBOX=$IMG/busybox"
} >"$IMG/image.env"
echo "$FP" >"$IMG/fingerprint"
say "built $OUT ($(du -h "$OUT" | cut -f1), $NMOD modules, kernel $KVER) in $((SECONDS - T0)) s"
cat "$IMG/image.env"
