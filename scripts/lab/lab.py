#!/usr/bin/env python3
"""The fixture lab: boots Debian's own kernels for amd64, ppc64el and arm64 under QEMU (TCG),
with a tiny initramfs (busybox-static and the driver modules, so drivers really bind and
allocate MSI-X vectors) whose init runs msix-policy's own recorder and audit on the live guest.

    python3 scripts/lab/lab.py list                 # the machines
    python3 scripts/lab/lab.py run [MACHINE...]     # boot, record to fixtures/qemu/<machine>
    python3 scripts/lab/lab.py run --keep-logs ...  # also keep each serial log in docs/lab/
    python3 scripts/lab/lab.py run x86-q35-vtd-ir@5.10   # the same machine on Debian 11's kernel
    python3 scripts/lab/lab.py kernel-matrix        # docs/lab/kernel-matrix.md from the fixtures

Everything it needs comes from Debian's packages (qemu-system-*, cross linkers, the kernels and
busybox-static of each architecture via `apt-get download`); work files go to target/lab/.
For each machine it writes:
  fixtures/qemu/<machine>/            the recording made inside the guest
  docs/lab/<machine>.audit.json       `msix-policy audit --format json` run inside the guest on /
and `compare` checks that the in-guest decision equals, field for field, what the x86 build
computes from the fixture (docs/lab/compare.txt keeps the last output).
"""
import argparse
import base64
import glob
import gzip
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.path.join(REPO, "target", "lab")
FIXTURES = os.path.join(REPO, "fixtures", "qemu")
DOCS = os.path.join(REPO, "docs", "lab")

ARCHES = {
    # deb arch: (rust target, kernel flavour, qemu binary, console, cross gcc)
    "amd64": ("x86_64-unknown-linux-gnu", "amd64", "qemu-system-x86_64", "ttyS0", None),
    "arm64": ("aarch64-unknown-linux-gnu", "arm64", "qemu-system-aarch64", "ttyAMA0", "aarch64-linux-gnu-gcc"),
    "ppc64el": ("powerpc64le-unknown-linux-gnu", "powerpc64le", "qemu-system-ppc64", "hvc0", "powerpc64le-linux-gnu-gcc"),
}

# Modules loaded in this order (dependencies first, from modules.dep). vfio-pci comes before the
# device drivers so that `ids=` claims its devices first on the vfio machines.
BASE_MODULES = ["virtio_pci", "virtio_net", "e1000e", "nvme"]
VFIO_MODULES = ["vfio_iommu_type1", "vfio_pci"]
VFIO_ARCH_MODULES = {"ppc64el": ["vfio_iommu_spapr_tce", "vfio_pci"]}

NIC = "-netdev user,id=n{i},restrict=on -device {model},netdev=n{i}{bus}"


def devices(buses=("", "", ""), norom=False):
    """virtio-net, e1000e and nvme; `buses` puts each on its own bus (PowerNV: one root port per PHB);
    `norom` loads no option ROM (a QEMU without ipxe-qemu's ROMs; -kernel boots need none)."""
    b = [(",bus=" + x) if x else "" for x in buses]
    if norom:
        b = [x + ",romfile=" for x in b[:2]] + b[2:]
    return " ".join([
        NIC.format(i=0, model="virtio-net-pci", bus=b[0]),
        NIC.format(i=1, model="e1000e", bus=b[1]),
        "-drive if=none,id=d0,file={disk},format=raw -device nvme,serial=lab0001,drive=d0" + b[2],
    ])


MACHINES = {
    "x86-q35-vtd-ir": dict(arch="amd64", desc="q35 + VT-d with interrupt remapping (x2apic)",
        qemu="-M q35,kernel-irqchip=split -cpu max -smp 2 -m 1024 -device intel-iommu,intremap=on,caching-mode=on " + devices(),
        append="intel_iommu=on"),
    "x86-q35-vtd-intremap-off": dict(arch="amd64", desc="q35 + VT-d, intremap=off",
        qemu="-M q35,kernel-irqchip=split -cpu max -smp 2 -m 1024 -device intel-iommu,intremap=on,caching-mode=on " + devices(),
        append="intel_iommu=on intremap=off"),
    "x86-q35-amdvi": dict(arch="amd64", desc="q35 + AMD-Vi with interrupt remapping",
        qemu="-M q35,kernel-irqchip=split -cpu max -smp 2 -m 1024 -device amd-iommu,intremap=on " + devices(),
        append=""),
    "x86-q35-no-iommu": dict(arch="amd64", desc="q35 without IOMMU",
        qemu="-M q35 -cpu max -smp 2 -m 1024 " + devices(), append=""),
    "x86-q35-vtd-vfio": dict(arch="amd64", desc="q35 + VT-d, e1000e and nvme bound to vfio-pci",
        qemu="-M q35,kernel-irqchip=split -cpu max -smp 2 -m 1024 -device intel-iommu,intremap=on,caching-mode=on " + devices(),
        append="intel_iommu=on", vfio="8086:10d3,1b36:0010"),
    "x86-q35-allow-unsafe": dict(arch="amd64", desc="q35 + VT-d with intremap=off, vfio_iommu_type1.allow_unsafe_interrupts=1",
        qemu="-M q35,kernel-irqchip=split -cpu max -smp 2 -m 1024 -device intel-iommu,intremap=on,caching-mode=on " + devices(),
        append="intel_iommu=on intremap=off", vfio="8086:10d3,1b36:0010", allow_unsafe=True),
    # SR-IOV: an nvme PF (QEMU >= 7.0, nvme-subsys) behind a root port; init enables its VFs
    # (`sriov`: PF, VF count, how many of its first VFs to bind to vfio-pci; the rest stay unbound).
    "x86-q35-vtd-sriov": dict(arch="amd64", desc="q35 + VT-d with interrupt remapping, an SR-IOV nvme PF with 2 VFs (VF 0 on vfio-pci)",
        qemu="-M q35,kernel-irqchip=split -cpu max -smp 1 -m 1024 -device intel-iommu,intremap=on,caching-mode=on " + devices()
        + " -device pcie-root-port,id=rp1,chassis=1 -device nvme-subsys,id=subsys0 -device nvme,serial=labvf01,subsys=subsys0,bus=rp1,"
        "sriov_max_vfs=2,sriov_vq_flexible=4,sriov_vi_flexible=2,max_ioqpairs=6,msix_qsize=6",
        append="intel_iommu=on", sriov=[("0000:01:00.0", 2, 1)]),
    "arm64-virt-its-smmuv3": dict(arch="arm64", desc="arm64 virt, GICv3 ITS, SMMUv3",
        qemu="-M virt,gic-version=3,its=on,iommu=smmuv3 -cpu max -smp 2 -m 1024 " + devices(), append=""),
    # EL2 hosts: the kernel boots at EL2 (VHE) so /dev/kvm works, and kvm-lab runs every MSI-X
    # layout of the vfio-pci devices under KVM (docs/lab/<machine>.kvm.log).
    "arm64-virt-el2-kvm-4k": dict(arch="arm64", desc="arm64 virt at EL2 (KVM, VHE), GICv3 ITS, SMMUv3, 4 KiB pages, e1000e and nvme on vfio-pci",
        qemu="-M virt,virtualization=on,gic-version=3,its=on,iommu=smmuv3 -cpu max -smp 1 -m 1024 " + devices(norom=True),
        append="", vfio="8086:10d3,1b36:0010", kvm=True, kvm_args="--msi --watchdog 30"),
    "arm64-virt-el2-kvm-16k": dict(arch="arm64", desc="arm64 virt at EL2 (KVM, VHE), GICv3 ITS, SMMUv3, 16 KiB pages (Debian 13 arm64-16k), e1000e and nvme on vfio-pci",
        qemu="-M virt,virtualization=on,gic-version=3,its=on,iommu=smmuv3 -cpu max -smp 1 -m 1024 " + devices(norom=True),
        append="", vfio="8086:10d3,1b36:0010", kvm=True, suite="trixie", flavour="arm64-16k", kvm_args="--msi --ipa-bits 36 --watchdog 30"),
    # ACPI boot: Debian's edk2 (qemu-efi-aarch64) loads the kernel from fw_cfg and hands it
    # QEMU's ACPI tables (MADT with the GIC ITS, IORT with the SMMUv3 and the root complex);
    # acpi=force makes the kernel use them instead of the device tree.
    "arm64-virt-acpi-its-smmuv3": dict(arch="arm64", desc="arm64 virt booted with ACPI (edk2, acpi=force), GICv3 ITS, SMMUv3",
        qemu="-M virt,gic-version=3,its=on,iommu=smmuv3 -cpu max -smp 2 -m 1024 -bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd " + devices(norom=True),
        append="acpi=force"),
    "arm64-virt-gicv2m": dict(arch="arm64", desc="arm64 virt, GICv2 + GICv2m (no ITS), SMMUv3",
        qemu="-M virt,gic-version=2,iommu=smmuv3 -cpu max -smp 2 -m 1024 " + devices(), append=""),
    "ppc64-pseries-power9": dict(arch="ppc64el", desc="pSeries POWER9 guest, 64 KiB pages",
        qemu="-M pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off -cpu POWER9 -smp 1 -m 2048 " + devices(), append=""),
    "ppc64-powernv9": dict(arch="ppc64el", desc="PowerNV9 host, 64 KiB pages, PHB4 (IODA3)",
        qemu="-M powernv9 -smp 1 -m 3072 " + devices(buses=("pcie.0", "pcie.1", "pcie.2")), append=""),
}

# The kernel matrix: each machine also recorded with the kernels of Debian 11 and 13 (Debian's own
# packages of each suite, `linux-image-<flavour>` of that suite). The machine's own lists are
# bookworm (Debian 12, 6.1): those recordings keep their plain names; the others are named
# `<machine>@<kernel>` (fixtures/qemu/x86-q35-vtd-ir@5.10).
KERNELS = {
    # kernel generation: (Debian suite, Debian release); None: the machine's own lists (bookworm)
    "5.10": ("bullseye", 11),
    "6.1": (None, 12),
    "6.12": ("trixie", 13),
}
MATRIX = ["x86-q35-vtd-ir", "x86-q35-vtd-intremap-off", "x86-q35-amdvi", "x86-q35-no-iommu", "x86-q35-vtd-vfio",
          "arm64-virt-its-smmuv3", "ppc64-pseries-power9"]


def generation_of(name):
    """The kernel generation a machine boots: its `@<kernel>` suffix, else its suite's, else 6.1."""
    if "@" in name:
        return name.split("@", 1)[1]
    suite = MACHINES[name].get("suite")
    return next(k for k, (s, _) in KERNELS.items() if s == suite)


for _base in MATRIX:
    for _k, (_suite, _rel) in KERNELS.items():
        if _suite is None:
            continue
        _m = dict(MACHINES[_base])
        _m.update(suite=_suite, desc="%s; Debian %d kernel (%s)" % (_m["desc"], _rel, _k))
        MACHINES["%s@%s" % (_base, _k)] = _m


def sh(cmd, **kw):
    print("+", cmd if isinstance(cmd, str) else " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def apt_opts(arch, suite=None):
    """apt options for one architecture; with `suite` (e.g. trixie) a sources list of its own, so
    the machine's own lists stay as they are."""
    tag = arch + ("-" + suite if suite else "")
    lists = os.path.join(WORK, "apt", tag, "lists")
    os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
    o = ["-o", "Dir::State::Lists=" + lists, "-o", "APT::Architecture=" + arch, "-o", "APT::Architectures::=" + arch]
    if suite:
        src = os.path.join(WORK, "apt", tag, "sources.list")
        with open(src, "w") as f:
            f.write("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n" % suite)
        o += ["-o", "Dir::Etc::SourceList=" + src, "-o", "Dir::Etc::SourceParts=-"]
    return o


def fetch(arch, suite=None, flavour=None):
    """Downloads and unpacks the kernel and busybox-static of one architecture (once); `suite`
    and `flavour` pick another Debian release and kernel flavour (trixie, arm64-16k)."""
    root = os.path.join(WORK, arch + ("-" + suite if suite else "") + ("-" + flavour if flavour else ""))
    stamp = os.path.join(root, ".done")
    if os.path.exists(stamp):
        return root
    os.makedirs(root, exist_ok=True)
    o = apt_opts(arch, suite)
    subprocess.run(["apt-get", "update", "-qq"] + o, check=False)
    flavour = flavour or ARCHES[arch][1]
    dep = subprocess.run(["apt-cache"] + o + ["depends", "linux-image-" + flavour], check=True, capture_output=True, text=True).stdout
    image = re.search(r"Depends: (linux-image-\S+)", dep).group(1)
    debs = os.path.join(root, "debs")
    os.makedirs(debs, exist_ok=True)
    # busybox-static/<suite>: the machine's own (installed) busybox-static would otherwise be the
    # candidate whenever it is newer than the suite's (bookworm's over bullseye's).
    sh(["apt-get"] + o + ["download", image, "busybox-static" + ("/" + suite if suite else "")], cwd=debs)
    for d in glob.glob(os.path.join(debs, "*.deb")):
        sh(["dpkg-deb", "-x", d, os.path.join(root, "x")])
    open(stamp, "w").close()
    return root


def modules_root(root):
    """lib/modules, or usr/lib/modules where the package keeps them (Debian 13)."""
    for d in ("lib/modules", "usr/lib/modules"):
        p = os.path.join(root, "x", d)
        if os.path.isdir(p):
            return p
    raise FileNotFoundError("no lib/modules under " + root)


def kernel_of(root):
    x = os.path.join(root, "x")
    k = sorted(glob.glob(os.path.join(x, "boot", "vmlinu*")))[0]
    ver = sorted(os.listdir(modules_root(root)))[0]
    return k, ver


def read_module(path):
    data = open(path, "rb").read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def module_closure(moddir, names):
    """Modules `names` and their dependencies, dependencies first, from each module's .modinfo
    `depends=` (the package ships no modules.dep: depmod runs at install)."""
    by_name = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if ".ko" in f:
                by_name[f.split(".ko")[0].replace("-", "_")] = os.path.relpath(os.path.join(dirpath, f), moddir)
    order = []

    def visit(name):
        path = by_name.get(name)
        if path is None or path in order:
            return  # built into the kernel, or already placed
        m = re.search(rb"depends=([^\0]*)\0", read_module(os.path.join(moddir, path)))
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep.replace("-", "_"))
        order.append(path)

    for n in names:
        visit(n)
    return order


def build_recorder(arch, kvm=False):
    """Cross-builds msix-policy (and kvm-lab for the KVM machines), static."""
    target, _, _, _, gcc = ARCHES[arch]
    sh(["rustup", "target", "add", target])
    env = dict(os.environ)
    if gcc:
        env["CARGO_TARGET_%s_LINKER" % target.upper().replace("-", "_")] = gcc
    env["RUSTFLAGS"] = "-C target-feature=+crt-static"
    out = os.path.join(env.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), target, "release")
    sh(["cargo", "build", "--release", "--target", target, "--bin", "msix-policy"], cwd=REPO, env=env)
    if kvm:
        sh(["cargo", "build", "--release", "--target", target, "-p", "msix-kvm-lab", "--bin", "kvm-lab"], cwd=REPO, env=env)
    return os.path.join(out, "msix-policy")


INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read m args; do insmod /lib/modules/$m $args 2>/dev/null; done < /modules.load
sleep 3
$LAB_SRIOV
echo ===LAB-START===
/msix-policy record /fx --kind qemu --description "$LAB_DESC" --machine "$LAB_MACHINE"
echo ===AUDIT-BEGIN===
/msix-policy audit --root / --format json
echo ===AUDIT-END===
echo ===APPLY-BEGIN===
for d in /sys/bus/pci/drivers/vfio-pci/0000:*; do
    [ -e "$d" ] || continue
    echo "\$ msix-policy apply ${d##*/}"
    /msix-policy apply ${d##*/}
    echo "exit status $?"
done
echo ===APPLY-END===
if [ -x /kvm-lab ]; then
    echo ===KVM-BEGIN===
    echo "\$ kvm-lab run --iterations 1000 --json /tmp/kvm.json $LAB_KVM_ARGS"
    /kvm-lab run --iterations 1000 --json /tmp/kvm.json $LAB_KVM_ARGS
    echo "exit status $?"
    echo ===KVM-END===
    echo ===KVM-JSON-BEGIN===
    cat /tmp/kvm.json
    echo ===KVM-JSON-END===
fi
echo ===FIXTURE-BEGIN===
# Debian 11's busybox (1.30) has no base64 applet: uuencode -m writes the same alphabet.
if command -v base64 >/dev/null; then tar -C /fx -cf - . | gzip -9 | base64; else tar -C /fx -cf - . | gzip -9 | uuencode -m fixture.tgz; fi
echo ===FIXTURE-END===
poweroff -f
"""


def sriov_script(m):
    """Init lines that enable the VFs of each PF in the machine's `sriov` list (PF address, VF
    count, how many of the first VFs to bind to vfio-pci) and print what the kernel shows of them.
    Autoprobe is off so that no driver touches the VFs; vfio-pci binds through driver_override."""
    lines = []
    for pf, numvfs, vfio in m.get("sriov", ()):
        p = "/sys/bus/pci/devices/" + pf
        lines += ["echo 0 > %s/sriov_drivers_autoprobe" % p,
                  "echo %d > %s/sriov_numvfs || echo 'sriov: enabling %d VFs of %s failed'" % (numvfs, p, numvfs, pf)]
        for n in range(vfio):
            lines += ["vf=$(readlink %s/virtfn%d); vf=${vf##*/}" % (p, n),
                      "echo vfio-pci > /sys/bus/pci/devices/$vf/driver_override",
                      "echo $vf > /sys/bus/pci/drivers_probe"]
        lines += ["echo ===SRIOV-BEGIN===",
                  "for a in sriov_totalvfs sriov_numvfs sriov_offset sriov_stride sriov_vf_device; do echo \"%s $a $(cat %s/$a)\"; done" % (pf, p),
                  "for d in %s %s/virtfn*; do d=$(cd $d && pwd -P); cd $d; echo \"${d##*/} id $(cat vendor):$(cat device) class $(cat class)"
                  " config[0:4] $(od -An -tx1 -N4 config) driver $(readlink driver) iommu_group $(readlink iommu_group)"
                  " physfn $(readlink physfn) msi_irqs $(ls msi_irqs 2>/dev/null | wc -l)\"; sed 's/^/  resource /' resource | grep -v ' 0x0000000000000000 0x0000000000000000'; cd /; done" % (p, p),
                  "echo ===SRIOV-END==="]
    return "\n".join(lines)


def build_initramfs(name, m, recorder):
    arch = m["arch"]
    root = fetch(arch, m.get("suite"), m.get("flavour"))
    kernel, ver = kernel_of(root)
    moddir = os.path.join(modules_root(root), ver)
    stage = os.path.join(WORK, "stage-" + name)
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(os.path.join(stage, "bin"))
    bb = [p for p in (os.path.join(root, "x", "bin", "busybox"), os.path.join(root, "x", "usr", "bin", "busybox")) if os.path.isfile(p)][0]
    shutil.copy(bb, os.path.join(stage, "bin", "busybox"))
    shutil.copy(recorder, os.path.join(stage, "msix-policy"))
    if m.get("kvm"):
        shutil.copy(os.path.join(os.path.dirname(recorder), "kvm-lab"), os.path.join(stage, "kvm-lab"))
    wanted = list(BASE_MODULES)
    if m.get("vfio") or any(vfio for _, _, vfio in m.get("sriov", ())):
        wanted = VFIO_ARCH_MODULES.get(arch, VFIO_MODULES) + wanted
    load = []
    for path in module_closure(moddir, wanted):
        src = os.path.join(moddir, path)
        plain = path[:-3] if path.endswith(".xz") else path
        dst = os.path.join(stage, "lib", "modules", plain)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "wb").write(read_module(src))
        base = os.path.basename(plain)[:-3].replace("-", "_")
        args = ""
        if base == "vfio_pci" and m.get("vfio"):
            args = "ids=" + m["vfio"]
        if base == "vfio_iommu_type1" and m.get("allow_unsafe"):
            args = "allow_unsafe_interrupts=1"
        load.append(plain + (" " + args if args else ""))
    open(os.path.join(stage, "modules.load"), "w").write("\n".join(load) + "\n")
    init = INIT.replace("$LAB_SRIOV", sriov_script(m)).replace("$LAB_KVM_ARGS", m.get("kvm_args", "")).replace("$LAB_DESC", m["desc"]).replace("$LAB_MACHINE", "lab.py " + name + ": " + m["qemu"].format(disk="nvme.img").replace('"', "'"))
    p = os.path.join(stage, "init")
    open(p, "w").write(init)
    os.chmod(p, 0o755)
    initrd = os.path.join(WORK, name + ".cpio.gz")
    sh("cd %s && find . | cpio -o -H newc 2>/dev/null | gzip -1 > %s" % (stage, initrd))
    return kernel, initrd


def boot(name, m, kernel, initrd, timeout):
    arch = m["arch"]
    qemu, console = ARCHES[arch][2], ARCHES[arch][3]
    disk = os.path.join(WORK, "nvme.img")
    if not os.path.exists(disk):
        with open(disk, "wb") as f:
            f.truncate(64 << 20)
    append = "console=%s panic=-1 quiet loglevel=4 %s" % (console, m["append"])
    cmd = "%s -accel tcg -nographic -no-reboot -kernel %s -initrd %s -append '%s' %s" % (
        qemu, kernel, initrd, append, m["qemu"].format(disk=disk))
    print("+", cmd, file=sys.stderr)
    t0 = time.time()
    # The serial output goes to a file while the machine runs (tail -f it to watch).
    live = os.path.join(WORK, name + ".serial.live")
    with open(live, "wb") as f:
        p = subprocess.Popen(cmd, shell=True, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    out = open(live, "rb").read().decode("utf-8", "replace")
    return out, cmd, time.time() - t0


def between(out, a, b):
    i, j = out.find(a), out.find(b)
    if i < 0 or j < 0:
        return None
    return out[i + len(a):j]


def run(names, timeout, keep_logs):
    recorders = {}
    failed = []
    os.makedirs(DOCS, exist_ok=True)
    for name in names:
        m = MACHINES[name]
        arch = m["arch"]
        key = (arch, bool(m.get("kvm")))
        if key not in recorders:
            recorders[key] = build_recorder(arch, kvm=key[1])
        kernel, initrd = build_initramfs(name, m, recorders[key])
        try:
            out, cmd, secs = boot(name, m, kernel, initrd, timeout)
        except subprocess.TimeoutExpired as e:
            out, cmd, secs = (e.stdout or b"").decode("utf-8", "replace"), "timeout", timeout
        if keep_logs:
            open(os.path.join(DOCS, name + ".serial.log"), "w").write(out)
        fx = between(out, "===FIXTURE-BEGIN===", "===FIXTURE-END===")
        audit = between(out, "===AUDIT-BEGIN===", "===AUDIT-END===")
        if fx is None or audit is None:
            print("!! %s: no recording in the serial output (%.0f s); tail:\n%s" % (name, secs, out[-3000:]), file=sys.stderr)
            failed.append(name)
            continue
        dest = os.path.join(FIXTURES, name)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        blob = base64.b64decode("".join(l.strip() for l in fx.strip().splitlines() if re.fullmatch(r"[A-Za-z0-9+/=]+", l.strip()) and l.strip() != "===="))
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as t:
            t.extractall(dest, filter="tar")
        audit_json = audit.strip()
        json.loads(audit_json)
        open(os.path.join(DOCS, name + ".audit.json"), "w").write(audit_json + "\n")
        kvm = between(out, "===KVM-BEGIN===", "===KVM-END===")
        if kvm is not None:
            open(os.path.join(DOCS, name + ".kvm.log"), "w").write(kvm.strip() + "\n")
            kj = between(out, "===KVM-JSON-BEGIN===", "===KVM-JSON-END===")
            if kj and kj.strip():
                try:
                    json.loads(kj)
                    open(os.path.join(DOCS, name + ".kvm.json"), "w").write(kj.strip() + "\n")
                except ValueError:
                    print("!! %s: kvm-lab JSON unreadable" % name, file=sys.stderr)
        applied = between(out, "===APPLY-BEGIN===", "===APPLY-END===")
        if applied and applied.strip():
            open(os.path.join(DOCS, name + ".apply.log"), "w").write(applied.strip() + "\n")
        print("== %s: recorded in %.0f s -> %s" % (name, secs, os.path.relpath(dest, REPO)), file=sys.stderr)
    return failed


def decision_view(report):
    """The fields compared between the in-guest audit and the fixture audit."""
    out = {}
    for d in report["devices"]:
        out[d["address"]] = {
            "isolation": d["isolation"], "isolation_rule": d["isolation_rule"], "exposure": d["exposure"],
            "risk": d["risk"], "assignable": d["assignable"], "guest": d["guest"], "msix": d["msix"],
            "plan": d["plan"], "rules": [r["rule"] for r in d["reasons"]], "warnings": d["warnings"],
        }
    return {"arch": report["host"]["arch"], "page_size": report["host"]["page_size"],
            "platform": report["host"]["platform"], "devices": out}


def compare(names):
    sh(["cargo", "build", "--release", "--bin", "msix-policy"], cwd=REPO)
    exe = os.path.join(REPO, "target", "release", "msix-policy")
    lines, bad = [], 0
    for name in names:
        guest_file = os.path.join(DOCS, name + ".audit.json")
        if not os.path.exists(guest_file):
            lines.append("%-28s no in-guest audit" % name)
            bad += 1
            continue
        guest = decision_view(json.load(open(guest_file)))
        host = subprocess.run([exe, "audit", "--root", os.path.join(FIXTURES, name), "--format", "json"], check=True, capture_output=True)
        host = decision_view(json.loads(host.stdout))
        same = guest == host
        note = ""
        if not same:
            # A recording made with devices bound to vfio-pci holds the probed MSIX_MAPPABLE
            # capability; the live audit (read-only, it opens no device) infers it from the release.
            norm = lambda v: json.loads(json.dumps(v).replace("host.msix-mappable.probed", "host.msix-mappable.inferred"))
            if norm(guest) == norm(host):
                same, note = True, "  (mappability: probed in the recording, inferred by the read-only live audit)"
        bad += not same
        summary = ", ".join("%s %s/%s" % (a, d["isolation"], d["exposure"]) for a, d in sorted(guest["devices"].items()) if d["msix"]["state"] != "absent")
        lines.append("%-28s %-9s %s %3d KiB pages  %s  [%s]%s" % (
            name, guest["arch"], "EQUAL " if same else "DIFFER", guest["page_size"] // 1024, guest["platform"], summary, note))
        if not same:
            for a in sorted(set(guest["devices"]) | set(host["devices"])):
                if guest["devices"].get(a) != host["devices"].get(a):
                    lines.append("    %s guest=%s" % (a, json.dumps(guest["devices"].get(a))[:400]))
                    lines.append("    %s host =%s" % (a, json.dumps(host["devices"].get(a))[:400]))
    text = "\n".join(lines) + "\n"
    print(text)
    open(os.path.join(DOCS, "compare.txt"), "w").write(text)
    return bad


# Machines and kernels of the matrix that do not record, and why (kept in the generated doc).
NOT_RECORDED = {
    ("ppc64-pseries-power9", "5.10"): "the Debian mirror the lab reaches serves no bullseye `main/binary-ppc64el` index "
        "(`dists/bullseye/main/binary-ppc64el/Packages.xz`: 404), so `linux-image-powerpc64le` of Debian 11 cannot be found",
    ("ppc64-pseries-power9", "6.12"): "the trixie index names `linux-image-6.12.117+deb13-powerpc64le` 6.12.117-1, but the "
        "mirror answers 404 for its `.deb`",
}

# The prose below each diff of docs/lab/kernel-matrix.md: (machine, old kernel, new kernel) -> text.
# `kernel-matrix` fails when a diff that shows a change has no explanation here.
_X86_OLD = ("Nothing changed. Debian 11's 5.10 and Debian 12's 6.1 are both before 6.3, so every device that reaches "
    "the type1 step cites `kernel.type1.msi-check-system-wide` on both sides (only the release in its evidence differs): "
    "`vfio_iommu_type1_attach_group` checks `irq_domain_check_msi_remap() || IOMMU_CAP_INTR_REMAP` (5.10 asks "
    "`iommu_capable(bus, ...)`, its module imports `iommu_capable`; 6.1 asks each device, `device_iommu_capable`). On x86 no "
    "irq domain sets MSI_REMAP, so the IOMMU's interrupt remapping decides on both, as the device's own verdict does. "
    "The same rules fire on both kernels, and the MSI-X BAR is mmappable on both (4.16 or later). "
    "Not in the diff (a host fact): `iommufd` is `false` on both (`kernel.iommufd.absent`, before 6.6).")
_X86_NEW = ("Every device that reaches the type1 step swaps `kernel.type1.msi-check-system-wide` for "
    "`kernel.type1.msi-check-per-group`: Debian 13's `vfio_iommu_type1.ko` imports `iommu_group_has_isolated_msi` where "
    "Debian 12's imports `irq_domain_check_msi_remap` and `device_iommu_capable` (the 6.3 change). Class `same`: on x86 "
    "both checks come down to the IOMMU's interrupt remapping, so isolation, assignability, exposure, risk and every plan "
    "are the ones of 6.1. Not in the diff (a host fact): `iommufd` goes from `false` (`kernel.iommufd.absent`) to "
    "unknown, because Debian 13's amd64 kernel is built without `CONFIG_IOMMUFD` (its config says `# CONFIG_IOMMUFD is "
    "not set`, `CONFIG_VFIO_CONTAINER=y`): 6.12 could offer the VFIO cdev, Debian's build does not, and the recording "
    "has no `sys/module/iommufd`.")
NOTES = {
    ("x86-q35-vtd-ir", "5.10", "6.1"): _X86_OLD,
    ("x86-q35-vtd-ir", "6.1", "6.12"): _X86_NEW + " All 8 functions (VT-d `isolation.vtd.ir-enabled`, "
        "`DMAR-IR: Enabled IRQ remapping in xapic mode` on all three kernels) stay assignable.",
    ("x86-q35-vtd-intremap-off", "5.10", "6.1"): _X86_OLD + " Every function stays refused "
        "(`isolation.vtd.intremap-off`, `assign.type1.not-isolated`).",
    ("x86-q35-vtd-intremap-off", "6.1", "6.12"): _X86_NEW + " Every function stays refused (`isolation.vtd.intremap-off`, "
        "`assign.type1.not-isolated`): on 6.12 the kernel refuses the group itself, on 5.10 and 6.1 its check fails because "
        "VT-d reports no `IOMMU_CAP_INTR_REMAP` with remapping off.",
    ("x86-q35-amdvi", "5.10", "6.1"): _X86_OLD,
    ("x86-q35-amdvi", "6.1", "6.12"): _X86_NEW + " 8 of the 9 functions change rules; `0000:00:02.0`, the AMD IOMMU's own "
        "PCI function, has no IOMMU group and is refused by `assign.no-iommu-group` before the type1 step on every kernel, "
        "so it cites no kernel rule and does not change.",
    ("x86-q35-no-iommu", "5.10", "6.1"): "Nothing changed: no function has an IOMMU group on any kernel "
        "(`isolation.x86.no-iommu`), so every one is refused by `assign.no-iommu-group` before the type1 step and no kernel "
        "rule applies.",
    ("x86-q35-no-iommu", "6.1", "6.12"): "Nothing changed, for the same reason: every function is refused by "
        "`assign.no-iommu-group` before the type1 step, where the kernel rules are. Only the host's kernel differs.",
    ("arm64-virt-its-smmuv3", "5.10", "6.1"): "Nothing changed. Both kernels are before 6.3 and cite "
        "`kernel.type1.msi-check-system-wide` on the three assignable functions. Here the system-wide half of the old check "
        "is what accepts the groups: the GICv3 ITS's MSI domain sets MSI_REMAP, so `irq_domain_check_msi_remap()` is true "
        "for every group of the machine, whatever controller a device's MSIs would use; msix-policy accepts them because "
        "each device's own MSIs go to the ITS (`isolation.arm64.its`), which is why the reason says the device's own "
        "verdict decides. `0000:00:00.0`, the host bridge, has no IOMMU group on either kernel. Not in the diff: "
        "`iommufd` is `false` on both (`kernel.iommufd.absent`).",
    ("arm64-virt-its-smmuv3", "6.1", "6.12"): "The three assignable functions (virtio-net, e1000e, nvme) swap "
        "`kernel.type1.msi-check-system-wide` for `kernel.type1.msi-check-per-group`; Debian 13's arm64 "
        "`vfio_iommu_type1.ko` imports `iommu_group_has_isolated_msi`. Class `same`: the ITS domain is "
        "`IRQ_DOMAIN_FLAG_ISOLATED_MSI`, so the per-group check accepts exactly the groups whose devices' MSIs go to the "
        "ITS, as msix-policy's verdict does; isolation, exposure (`trap`, no collateral on 4 KiB pages), risk and plans "
        "are unchanged. A machine where some device's MSIs go to a GICv2m frame beside an ITS is where the two rules "
        "part: before 6.3 the kernel accepts that group (the ITS makes the check true), from 6.3 it refuses it; "
        "msix-policy refuses it on every kernel. Not in the diff: Debian 13's arm64 kernel is also built without "
        "`CONFIG_IOMMUFD`, so `iommufd` goes from `false` to unknown (not recorded).",
    ("x86-q35-vtd-vfio", "5.10", "6.1"): _X86_OLD + " The recordings probed `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` (cap id 3) "
        "on the e1000e and nvme MSI-X BARs through vfio-pci on both kernels (`host.msix-mappable.probed`), and `apply` "
        "exited 0 on both devices on both (docs/lab/x86-q35-vtd-vfio@5.10.apply.log).",
    ("x86-q35-vtd-vfio", "6.1", "6.12"): _X86_NEW + " `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` is probed on 6.12 as on 6.1, and "
        "`apply` exited 0 on both vfio-pci devices (docs/lab/x86-q35-vtd-vfio@6.12.apply.log).",
}


def fixture_of(machine, gen):
    """The fixture directory of one machine and kernel generation (the plain name for its own)."""
    if gen == generation_of(machine):
        return os.path.join(FIXTURES, machine)
    return os.path.join(FIXTURES, "%s@%s" % (machine, gen))


def kernel_matrix(out_path):
    """Writes docs/lab/kernel-matrix.md: `msix-policy diff` between the kernel generations of each
    machine of the matrix, with the prose of NOTES below each diff."""
    sh(["cargo", "build", "--release", "--bin", "msix-policy"], cwd=REPO)
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "msix-policy")
    gens = list(KERNELS)
    lines = [
        "# The kernel matrix",
        "",
        "Generated by `python3 scripts/lab/lab.py kernel-matrix` (do not edit by hand: the prose lives",
        "in `NOTES` of `scripts/lab/lab.py`). Each machine of the lab recorded with the kernels of",
        "Debian 11, 12 and 13 (Debian's own `linux-image-<flavour>` of each suite, booted by",
        "`lab.py run <machine>@<kernel>`), then `msix-policy diff OLD NEW --format markdown` between",
        "consecutive generations, decided by this build. The kernel rules are in",
        "[docs/policy.md](../policy.md#the-kernel-generation).",
        "",
        "| machine | " + " | ".join("Debian %d (%s)" % (KERNELS[g][1], g) for g in gens) + " |",
        "|---|" + "---|" * len(gens),
    ]
    missing_notes = []
    recorded = {}
    for m in MATRIX:
        row = []
        for g in gens:
            fx = fixture_of(m, g)
            toml = os.path.join(fx, "fixture.toml")
            if os.path.exists(toml):
                rel = re.search(r'kernel = "([^"]+)"', open(toml).read()).group(1)
                row.append("`%s` (`%s`)" % (rel, os.path.relpath(fx, REPO)))
                recorded.setdefault(m, []).append(g)
            else:
                row.append("not recorded" + (": " + NOT_RECORDED[(m, g)] if (m, g) in NOT_RECORDED else ""))
        lines.append("| %s | %s |" % (m, " | ".join(row)))
    lines.append("")
    for m in MATRIX:
        have = recorded.get(m, [])
        lines.append("## %s" % m)
        lines.append("")
        lines.append(MACHINES[m]["desc"] + ".")
        lines.append("")
        for (m2, g), why in sorted(NOT_RECORDED.items()):
            if m2 == m:
                lines += ["Not recorded with %s: %s" % (g, why), ""]
        for old, new in zip(have, have[1:]):
            a, b = fixture_of(m, old), fixture_of(m, new)
            r = subprocess.run([exe, "diff", os.path.relpath(a, REPO), os.path.relpath(b, REPO), "--format", "markdown"],
                               cwd=REPO, capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"))
            if r.returncode not in (0, 1):
                raise SystemExit("msix-policy diff %s %s: %s" % (a, b, r.stderr))
            lines.append("### %s -> %s (exit %d)" % (old, new, r.returncode))
            lines.append("")
            body = r.stdout.replace("## msix-policy diff\n", "").replace("\n### Rules that changed\n", "\n#### Rules that changed\n")
            lines.append("```sh\nmsix-policy diff %s %s --format markdown\n```" % (os.path.relpath(a, REPO), os.path.relpath(b, REPO)))
            lines.append("")
            lines.append(body.strip())
            lines.append("")
            note = NOTES.get((m, old, new))
            if note is None:
                missing_notes.append("%s %s->%s" % (m, old, new))
                note = "**Not explained yet.**"
            lines.append("**What changed.** " + note.strip())
            lines.append("")
    open(out_path, "w").write("\n".join(lines).rstrip() + "\n")
    print("wrote %s" % os.path.relpath(out_path, REPO), file=sys.stderr)
    if missing_notes:
        print("!! no explanation for: %s" % ", ".join(missing_notes), file=sys.stderr)
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    r = sub.add_parser("run")
    r.add_argument("machines", nargs="*")
    r.add_argument("--timeout", type=int, default=900)
    r.add_argument("--keep-logs", action="store_true")
    r.add_argument("--kvm-args", help="kvm-lab options instead of the machine's own")
    c = sub.add_parser("compare")
    c.add_argument("machines", nargs="*")
    sub.add_parser("kernel-matrix", help="regenerate docs/lab/kernel-matrix.md from the matrix fixtures")
    a = ap.parse_args()
    if a.cmd == "kernel-matrix":
        return kernel_matrix(os.path.join(DOCS, "kernel-matrix.md"))
    if a.cmd == "list":
        for n, m in MACHINES.items():
            print("%-28s %-8s %s" % (n, m["arch"], m["desc"]))
        return 0
    names = a.machines or list(MACHINES)
    unknown = [n for n in names if n not in MACHINES]
    if unknown:
        ap.error("unknown machines: %s" % unknown)
    if a.cmd == "run":
        if a.kvm_args is not None:
            for n in names:
                MACHINES[n]["kvm_args"] = a.kvm_args
        failed = run(names, a.timeout, a.keep_logs)
        if failed:
            print("failed: %s" % failed, file=sys.stderr)
            return 1
        return 0
    return 1 if compare(names) else 0


if __name__ == "__main__":
    sys.exit(main())
