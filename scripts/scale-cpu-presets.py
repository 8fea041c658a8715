#!/usr/bin/env python3
"""Rescales the SoC CPU presets from the x86-server preset (the one `offsim calibrate`
measures): every cycle cost of sim/presets/cpu/{mt7621,mt7986}.toml becomes the x86-server
figure times the SoC's factor, whose own source (the field report it reproduces) stays in
the preset. Run after regenerating x86-server.toml:

    python3 scripts/scale-cpu-presets.py

Fields that are not cycle costs (cache_miss, which is a latency, and everything outside
[cycles]) keep their SoC values and sources.
"""
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "sim" / "presets" / "cpu"
# factor, the note every scaled field cites, and whether the CPU has AVX2
SOCS = {
    "mt7621": (7.0, "x86-server x 7.0 (see cycles.driver_rx)", False),
    "mt7986": (3.5, "x86-server x 3.5 (estimate: Cortex-A53 dual-issue in-order core vs x86 "
               "IPC; no published per-packet A53 figure; see cycles.driver_rx of mt7621 for "
               "the method)", False),
}
# the scale factor's own source, kept verbatim on this field
KEEP_SOURCE = {"mt7621": {"cycles.driver_rx", "cycles.ft_xmit"}, "mt7986": set()}
UNSCALED = {"cache_miss"}


def fmt(v):
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def main():
    x86 = tomllib.loads((ROOT / "x86-server.toml").read_text())
    for soc, (factor, note, avx2) in SOCS.items():
        path = ROOT / f"{soc}.toml"
        text = path.read_text()
        old = tomllib.loads(text)
        cycles = {}
        for k, v in x86["cycles"].items():
            cycles[k] = old["cycles"][k] if k in UNSCALED and k in old["cycles"] else round(v * factor, 1)
        sources = dict(old["sources"])
        for k in list(sources):
            if k.startswith("cycles.") and k[7:] not in x86["cycles"]:
                del sources[k]
        for k in cycles:
            key = f"cycles.{k}"
            if k in UNSCALED and key in sources:
                continue
            if key in KEEP_SOURCE[soc] and key in sources:
                continue
            sources[key] = note
        sources["avx2"] = f"{soc}: no AVX2 (not an x86 CPU), so the kernel's generic nft_set_pipapo"
        head = text[: text.index("[cycles]")]
        head = re.sub(r"^avx2 = .*\n", "", head, flags=re.M)
        head = head.replace("llc_bytes = ", f"avx2 = {'true' if avx2 else 'false'}\nllc_bytes = ", 1)
        out = [head.rstrip("\n"), "", "[cycles]"]
        out += [f"{k} = {fmt(v)}" for k, v in cycles.items()]
        out += ["", "[power]"]
        out += [f"{k} = {fmt(v)}" for k, v in old["power"].items()]
        out += ["", "[sources]"]
        for k, v in sources.items():
            key = k if re.fullmatch(r"[A-Za-z0-9_]+", k) else f'"{k}"'
            out.append(f'{key} = "{v}"')
        path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
