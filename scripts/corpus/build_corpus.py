#!/usr/bin/env python3
"""Derives corpus/pciconf-msix.tsv from the public bsdhw/PCIconf probes.

Each probe there is the output of FreeBSD's `pciconf -lvbc` on one machine: per function its IDs,
class, BAR registers (type, 32/64-bit, size) and capabilities, MSI-X with "Table in map 0xRR[0xOFF],
PBA in map 0xRR[0xOFF]". This keeps every distinct MSI-X layout of a type-0 function: vendor,
device, class, the MSI-X capability, every BAR pciconf lists, how many probes show it, and the
first probe (path in the repository at the recorded commit) as provenance.

    # the repository as a git directory (the project's `fetch github:bsdhw/PCIconf` gives one)
    python3 scripts/corpus/build_corpus.py /work/.mirror/bsdhw+PCIconf/repo > corpus/pciconf-msix.tsv
"""
import re
import subprocess
import sys

HEADER = re.compile(
    r"^(\S+)@pci(\d+):(\d+):(\d+):(\d+):\s+class=0x([0-9a-f]{6}) rev=0x([0-9a-f]+) hdr=0x([0-9a-f]+) "
    r"vendor=0x([0-9a-f]{4}) device=0x([0-9a-f]{4})"
)
NAME = re.compile(r"^\s+(vendor|device|class|subclass)\s+= (.*)$")
BAR = re.compile(r"^\s+bar\s+\[([0-9a-f]+)\] = type (Memory|Prefetchable Memory|I/O Port), range (\d+), base \S+, size (\d+)")
MSIX = re.compile(r"^\s+cap 11\[([0-9a-f]+)\] = MSI-X supports (\d+) messages?")
WHERE = re.compile(r"^\s+Table in map 0x([0-9a-f]+)\[0x([0-9a-f]+)\], PBA in map 0x([0-9a-f]+)\[0x([0-9a-f]+)\]")


def git(repo, *args, data=None):
    return subprocess.run(["git", "--git-dir", repo, *args], input=data, capture_output=True, check=True).stdout


def bir(map_reg):
    """pciconf names a BAR by its register (0x10..0x24); the BIR is its slot."""
    return (int(map_reg, 16) - 0x10) // 4


def functions(text):
    """Yields one dict per function of a probe."""
    cur = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = HEADER.match(line)
        if m:
            if cur:
                yield cur
            cur = {
                "hdr": int(m.group(8), 16),
                "vendor": m.group(9),
                "device": m.group(10),
                "class": m.group(6),
                "names": {},
                "bars": [],
                "msix": None,
            }
            continue
        if cur is None:
            continue
        if (n := NAME.match(line)) and n.group(1) not in cur["names"]:
            cur["names"][n.group(1)] = n.group(2).strip("'")
        elif b := BAR.match(line):
            kind = "io" if b.group(2) == "I/O Port" else ("m64" if b.group(3) == "64" else "m32")
            if b.group(2) == "Prefetchable Memory":
                kind += "p"
            cur["bars"].append((bir(b.group(1)), kind, int(b.group(4))))
        elif x := MSIX.match(line):
            w = WHERE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if w:
                cur["msix"] = (
                    int(x.group(1), 16),
                    int(x.group(2)),
                    bir(w.group(1)),
                    int(w.group(2), 16),
                    bir(w.group(3)),
                    int(w.group(4), 16),
                )
    if cur:
        yield cur


def main(repo):
    commit = git(repo, "rev-parse", "HEAD").decode().strip()
    paths = [p for p in git(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD").decode().split("\0") if p]
    blobs = git(repo, "cat-file", "--batch", data="".join(f"HEAD:{p}\n" for p in paths).encode())
    layouts = {}
    pos = 0
    for path in paths:
        head_end = blobs.index(b"\n", pos)
        size = int(blobs[pos:head_end].split()[2])
        text = blobs[head_end + 1: head_end + 1 + size].decode("utf-8", "replace")
        pos = head_end + 1 + size + 1
        for f in functions(text):
            if f["hdr"] != 0 or f["msix"] is None:
                continue
            bars = ";".join(f"{i}:{k}:{s:#x}" for i, k, s in sorted(set(f["bars"])))
            cap, n, tb, to, pb, po = f["msix"]
            msix = f"cap={cap:#x};n={n};table={tb}+{to:#x};pba={pb}+{po:#x}"
            key = (f["vendor"], f["device"], f["class"], msix, bars)
            if key in layouts:
                layouts[key]["reports"] += 1
                continue
            names = f["names"]
            family = "/".join(x for x in (names.get("class"), names.get("subclass")) if x) or "unknown"
            name = f"{names.get('vendor', '?')} {names.get('device', '?')}".replace("\t", " ")
            layouts[key] = {"reports": 1, "source": path, "family": family, "name": name}
    out = sys.stdout
    out.write("# Distinct MSI-X layouts of type-0 PCI functions in public FreeBSD `pciconf -lvbc` probes.\n")
    out.write(f"# source: https://github.com/bsdhw/PCIconf at commit {commit} ({len(paths)} probes)\n")
    out.write("# derived by scripts/corpus/build_corpus.py; one line per distinct (ids, class, MSI-X, BARs).\n")
    out.write("# bars: slot:kind:size (kind m32/m64 memory, p prefetchable, io); msix: capability offset,\n")
    out.write("# vectors, table and PBA as BIR+offset; reports: probes showing it; source: first probe's path.\n")
    out.write("vendor\tdevice\tclass\tmsix\tbars\treports\tfamily\tname\tsource\n")
    for key in sorted(layouts):
        v = layouts[key]
        out.write("\t".join([*key, str(v["reports"]), v["family"], v["name"], v["source"]]) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/bsdhw+PCIconf/repo")
