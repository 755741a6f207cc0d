#!/usr/bin/env python3
"""The fixture lab: boots Debian's own kernels for amd64, ppc64el and arm64 under QEMU (TCG),
with a tiny initramfs (busybox-static and the driver modules, so drivers really bind and
allocate MSI-X vectors) whose init runs msix-policy's own recorder and audit on the live guest.

    python3 scripts/lab/lab.py list                 # the machines
    python3 scripts/lab/lab.py run [MACHINE...]     # boot, record to fixtures/qemu/<machine>
    python3 scripts/lab/lab.py run --keep-logs ...  # also keep each serial log in docs/lab/
    python3 scripts/lab/lab.py run x86-q35-vtd-ir@5.10   # the same machine on Debian 11's kernel
    python3 scripts/lab/lab.py kernel-matrix        # docs/lab/kernel-matrix.md: cargo xtask kernel-matrix
    python3 scripts/lab/lab.py vmm arm64-virt-el2-kvm-16k  # QEMU + an L2 Linux guest under KVM in the
                                                    # EL2 machine: exits per I/O, mtree vs plan

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


# What every lab initramfs's /init starts with: busybox and the kernel's filesystems; then the
# modules listed in /modules.load.
INIT_MOUNTS = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
"""
INIT_MODULES = r"""while read m args; do insmod /lib/modules/$m $args 2>/dev/null; done < /modules.load
"""

INIT = INIT_MOUNTS + INIT_MODULES + r"""sleep 3
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


def build_initramfs(name, m, recorder, init_text=None, extra=None):
    """The machine's initramfs; `init_text` replaces the recorder's /init, `extra(stage, root, moddir)`
    adds files (the vmm run's QEMU and L2 guest)."""
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
    if m.get("kvm") and init_text is None:
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
    if extra:
        extra(stage, root, moddir)
    init = (init_text or INIT).replace("$LAB_SRIOV", sriov_script(m)).replace("$LAB_KVM_ARGS", m.get("kvm_args", "")).replace("$LAB_DESC", m["desc"]).replace("$LAB_MACHINE", "lab.py " + name + ": " + m["qemu"].format(disk="nvme.img").replace('"', "'"))
    p = os.path.join(stage, "init")
    open(p, "w").write(init)
    os.chmod(p, 0o755)
    initrd = os.path.join(WORK, name + ".cpio.gz")
    sh("cd %s && find . | cpio -o -H newc 2>/dev/null | gzip -1 > %s" % (stage, initrd))
    return kernel, initrd


def boot(name, m, kernel, initrd, timeout, qemu_args=None):
    arch = m["arch"]
    qemu, console = ARCHES[arch][2], ARCHES[arch][3]
    disk = os.path.join(WORK, "nvme.img")
    if not os.path.exists(disk):
        with open(disk, "wb") as f:
            f.truncate(64 << 20)
    append = "console=%s panic=-1 quiet loglevel=4 %s" % (console, m["append"])
    cmd = "%s -accel tcg -nographic -no-reboot -kernel %s -initrd %s -append '%s' %s" % (
        qemu, kernel, initrd, append, (qemu_args or m["qemu"]).format(disk=disk))
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


# ---------------------------------------------------------------------------------------------
# `lab.py vmm MACHINE`: a real VMM and a real guest driver. Inside an EL2 machine (L1),
# Debian's own QEMU (the machine's suite's `qemu-system-arm` with its libraries) runs an L2 Linux
# guest under KVM with `-device vfio-pci,host=<the nvme>`: once as QEMU does by default, once with
# the properties `msix-policy audit --format qemu` prints. The L2 guest (the same Debian kernel, an
# initramfs of busybox and the nvme modules) reads N direct 4 KiB blocks; L1 counts KVM's MMIO exits
# to userspace (debugfs `kvm/mmio_exit_user`) around a control window (no I/O) and the I/O window,
# and asks QEMU's monitor for `info pci`, `info mtree -f` and `info mtree -D` (the tree with its
# disabled regions); QEMU's `kvm_set_user_memory` trace gives the memslots. Memslots and the flat
# view are compared here with `msix-policy plan --mode qemu` of the same device (computed in L1 on
# the live device).

# The functions the L2 guest gets, one at a time: (address, vendor:device, the guest's workload).
# The NVMe is what msix-policy relocates on 16 KiB pages; the e1000e (MSI-X in a BAR of its own) is
# what it traps, as QEMU does.
VMM_DEVICES = [("0000:00:03.0", "1b36:0010", "nvme"), ("0000:00:02.0", "8086:10d3", "net")]

L2_INIT = INIT_MOUNTS + INIT_MODULES + r"""# lab_io (from the kernel command line): nvme, N direct 4 KiB reads of /dev/nvme0n1; net, N pings
# of QEMU's user-mode gateway through the e1000e.
PI=0.2
if [ "$lab_io" = net ]; then
    PAT=eth0
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done
    ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
    i=0
    while ! ping -c 1 -W 1 10.0.2.2 >/dev/null 2>&1 && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
    ping -c 2 -i $PI 10.0.2.2 >/dev/null 2>&1 || PI=1
else
    PAT=nvme
    i=0
    while [ ! -b /dev/nvme0n1 ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done
fi
irq() { awk -v p=$PAT '$0 ~ p {s+=$2} END {print s+0}' /proc/interrupts; }
stty -echo 2>/dev/null
echo ===L2-READY===
# Control window: L1 sends a line, the guest answers with a marker (the serial traffic of the
# protocol, measured alone).
read go
echo @1@
# I/O window: the same protocol around the N operations.
read go
i0=$(irq)
if [ "$lab_io" = net ]; then
    ping -c @IOS@ -i $PI 10.0.2.2 >/tmp/io.log 2>&1
else
    dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=@IOS@ iflag=direct 2>/tmp/io.log
fi
i1=$(irq)
echo @2@
read go
echo "L2 kernel: $(uname -r), workload $lab_io"
echo "L2 uptime at the end: $(cat /proc/uptime)"
echo "L2 $PAT interrupts before: $i0 after: $i1"
echo "L2 io:"; tail -4 /tmp/io.log
echo "L2 /proc/interrupts:"; cat /proc/interrupts
echo "L2 PCI functions:"; for d in /sys/bus/pci/devices/*; do echo "${d##*/} $(cat $d/vendor):$(cat $d/device) driver $(basename $(readlink $d/driver) 2>/dev/null)"; done
echo ===L2-END===
poweroff -f
"""

VMM_INIT = INIT_MOUNTS + "mount -t debugfs debugfs /sys/kernel/debug\n" + INIT_MODULES + r"""sleep 3
QEMU="/lib/ld-linux-aarch64.so.1 --library-path /qemu/lib /qemu/qemu-system-aarch64"
echo ===VMM-START===
echo "L1 kernel: $(uname -r)"
echo ===QEMU-VERSION-BEGIN===
$QEMU --version
echo ===QEMU-VERSION-END===
echo ===AUDIT-QEMU-BEGIN===
/msix-policy audit --root / --format qemu
echo ===AUDIT-QEMU-END===
kstat() { echo "$(cat /sys/kernel/debug/kvm/mmio_exit_user) $(cat /sys/kernel/debug/kvm/mmio_exit_kernel) $(cat /sys/kernel/debug/kvm/exits)"; }
waitfor() { i=0; while ! grep -q -- "$1" /tmp/l2.log; do i=$((i+1)); [ $i -gt $2 ] && return 1; sleep 1; done; return 0; }
run() {
    DEV=$1; IO=$2; L=$3; P=$4
    rm -f /tmp/l2.* /tmp/mon.* /tmp/memslots.log
    mkfifo /tmp/l2.in /tmp/l2.out /tmp/mon.in /tmp/mon.out
    cat /tmp/l2.out > /tmp/l2.log &
    C1=$!
    cat /tmp/mon.out > /tmp/mon.log &
    C2=$!
    echo ===RUN-$DEV-$L-BEGIN===
    echo "properties: $P"
    echo "\$ qemu-system-aarch64 @L2ARGS_ECHO@ -trace kvm_set_user_memory -device vfio-pci,host=$DEV$P"
    T0=$(date +%s)
    $QEMU @L2ARGS@ -chardev pipe,id=s0,path=/tmp/l2 -serial chardev:s0 \
        -chardev pipe,id=m0,path=/tmp/mon -mon chardev=m0,mode=readline \
        -trace kvm_set_user_memory -device vfio-pci,host=$DEV$P > /tmp/qemu.err 2>&1 &
    Q=$!
    if waitfor ===L2-READY=== @BOOT_TIMEOUT@; then
        T1=$(date +%s)
        echo "L2 ready after $((T1 - T0)) s"
        echo "info pci" > /tmp/mon.in
        echo "info mtree -f" > /tmp/mon.in
        sleep 5
        cp /tmp/qemu.err /tmp/memslots.log
        echo "info mtree -D" > /tmp/mon.in
        sleep 5
        S0=$(kstat)
        echo go > /tmp/l2.in
        waitfor @1@ 600
        S1=$(kstat)
        T2=$(date +%s)
        echo go > /tmp/l2.in
        waitfor @2@ 1200
        S2=$(kstat)
        T3=$(date +%s)
        echo "stats (mmio_exit_user mmio_exit_kernel exits): ready $S0 control $S1 io $S2"
        echo "io window $((T3 - T2)) s"
        echo go > /tmp/l2.in
        waitfor ===L2-END=== 300
    else
        echo "L2 not ready after @BOOT_TIMEOUT@ s"
    fi
    i=0; while kill -0 $Q 2>/dev/null && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
    kill $Q 2>/dev/null
    sleep 1
    kill $C1 $C2 2>/dev/null
    echo "qemu stderr (without the trace):"; grep -v kvm_set_user_memory /tmp/qemu.err
    echo ===MEMSLOTS-BEGIN===
    cat /tmp/memslots.log 2>/dev/null
    echo ===MEMSLOTS-END===
    echo ===L2-LOG-BEGIN===
    cat /tmp/l2.log
    echo ===L2-LOG-END===
    echo ===MONITOR-BEGIN===
    cat /tmp/mon.log
    echo ===MONITOR-END===
    echo ===RUN-$DEV-$L-END===
}
for spec in @DEVICES@; do
    DEV=${spec%%/*}; IO=${spec##*/}
    PROPS=$(/msix-policy audit --root / --format qemu | grep -- "-device vfio-pci,host=$DEV" | sed -e "s/.*host=$DEV//")
    /msix-policy plan --device $DEV --mode qemu --print-input > /tmp/in-msix-policy.json
    # QEMU's default: the same input with no relocation allowed (QEMU relocates only when told).
    sed -e 's/"add_bar": true/"add_bar": false/' -e 's/"extend_bar": true/"extend_bar": false/' \
        -e 's/"extend_32bit_bar": true/"extend_32bit_bar": false/' /tmp/in-msix-policy.json > /tmp/in-default.json
    for L in default msix-policy; do
        echo ===PLAN-INPUT-$DEV-$L-BEGIN===
        cat /tmp/in-$L.json
        echo ===PLAN-INPUT-$DEV-$L-END===
        echo ===PLAN-$DEV-$L-BEGIN===
        /msix-policy plan /tmp/in-$L.json --format json
        echo ===PLAN-$DEV-$L-END===
    done
    run $DEV $IO default ""
    run $DEV $IO msix-policy "$PROPS"
done
echo ===VMM-END===
poweroff -f
"""

# The L2 QEMU: KVM, the host's CPU, one vCPU, 256 MiB. highmem=off keeps the memory map below
# 4 GiB, so QEMU asks KVM for a 32-bit IPA (a 40-bit IPA with 16 KiB pages did not run under the
# lab's QEMU 7.2, docs/performance.md).
L2_ARGS = ("-M virt,gic-version=3,highmem=off -accel kvm -cpu host -smp 1 -m 256 -nodefaults -display none "
           "-no-reboot -kernel /l2/Image -initrd /l2/initrd.gz -append \"console=ttyAMA0 quiet loglevel=3 panic=-1 lab_io=$IO\"")


def elf_needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def fetch_qemu(arch, suite):
    """The suite's `qemu-system-arm` for `arch` and the library packages of its dependency closure,
    unpacked under target/lab/qemu-<arch>-<suite>/x (once)."""
    root = os.path.join(WORK, "qemu-%s-%s" % (arch, suite))
    if os.path.exists(os.path.join(root, ".done")):
        return root
    o = apt_opts(arch, suite)
    subprocess.run(["apt-get", "update", "-qq"] + o, check=False)
    dep = subprocess.run(["apt-cache"] + o + ["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                         "--no-breaks", "--no-replaces", "--no-enhances", "qemu-system-arm"],
                         check=True, capture_output=True, text=True).stdout
    pkgs = sorted({l for l in dep.splitlines() if l and not l.startswith((" ", "<")) and re.match(r"(lib|zlib|qemu-system-arm$)", l)})
    debs = os.path.join(root, "debs")
    os.makedirs(debs, exist_ok=True)
    sh(["apt-get"] + o + ["download"] + pkgs, cwd=debs)
    for d in glob.glob(os.path.join(debs, "*.deb")):
        sh(["dpkg-deb", "-x", d, os.path.join(root, "x")])
    open(os.path.join(root, ".done"), "w").close()
    return root


def stage_qemu(stage, qroot):
    """qemu-system-aarch64 at /qemu, the libraries it links (readelf NEEDED, closed) at /qemu/lib,
    the dynamic loader at /lib/ld-linux-aarch64.so.1."""
    x = os.path.join(qroot, "x")
    idx = {}
    for p in glob.glob(os.path.join(x, "**", "*.so*"), recursive=True):
        idx.setdefault(os.path.basename(p), p)
    exe = os.path.join(x, "usr", "bin", "qemu-system-aarch64")
    lib = os.path.join(stage, "qemu", "lib")
    os.makedirs(lib, exist_ok=True)
    shutil.copy(exe, os.path.join(stage, "qemu", "qemu-system-aarch64"))
    todo, seen = [exe], set()
    while todo:
        for n in elf_needed(todo.pop()):
            if n in seen:
                continue
            seen.add(n)
            if n not in idx:
                raise SystemExit("qemu: no package of the closure has %s" % n)
            shutil.copy(os.path.realpath(idx[n]), os.path.join(lib, n))
            todo.append(idx[n])
    os.makedirs(os.path.join(stage, "lib"), exist_ok=True)
    shutil.copy(os.path.join(lib, "ld-linux-aarch64.so.1"), os.path.join(stage, "lib", "ld-linux-aarch64.so.1"))
    return sorted(seen)


def stage_l2(stage, root, moddir, kernel, ios):
    """The L2 guest: the machine's own kernel Image and an initramfs of busybox and the nvme modules."""
    l2 = os.path.join(stage, "l2")
    os.makedirs(l2, exist_ok=True)
    shutil.copy(kernel, os.path.join(l2, "Image"))
    s2 = os.path.join(WORK, "stage-l2")
    shutil.rmtree(s2, ignore_errors=True)
    os.makedirs(os.path.join(s2, "bin"))
    bb = [p for p in (os.path.join(root, "x", "bin", "busybox"), os.path.join(root, "x", "usr", "bin", "busybox")) if os.path.isfile(p)][0]
    shutil.copy(bb, os.path.join(s2, "bin", "busybox"))
    load = []
    for path in module_closure(moddir, ["nvme", "e1000e"]):
        plain = path[:-3] if path.endswith(".xz") else path
        dst = os.path.join(s2, "lib", "modules", plain)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "wb").write(read_module(os.path.join(moddir, path)))
        load.append(plain)
    open(os.path.join(s2, "modules.load"), "w").write("\n".join(load) + "\n")
    p = os.path.join(s2, "init")
    open(p, "w").write(L2_INIT.replace("@IOS@", str(ios)))
    os.chmod(p, 0o755)
    sh("cd %s && find . | cpio -o -H newc 2>/dev/null | gzip -9 > %s" % (s2, os.path.join(l2, "initrd.gz")))


MTREE_LINE = re.compile(r"^\s*([0-9a-f]+)-([0-9a-f]+) \(prio (-?\d+), ([^)]+)\): (.*)$")


def flat_memory_view(mtree):
    """The FlatView of address space "memory" in `info mtree -f`: [(start, end_inclusive, kind, name)].
    QEMU appends the accelerator's name (" KVM") to a range the accelerator maps (a KVM memslot)."""
    views, cur = [], None
    for line in mtree.splitlines():
        if line.startswith("FlatView #"):
            cur = {"as": [], "ranges": []}
            views.append(cur)
        elif "address-space" in line or "(qemu)" in line:
            cur = None
        elif cur is not None and line.strip().startswith("AS \""):
            cur["as"].append(line.strip().split('"')[1])
        elif cur is not None:
            mm = MTREE_LINE.match(line)
            if mm:
                cur["ranges"].append((int(mm.group(1), 16), int(mm.group(2), 16), mm.group(4), mm.group(5).strip()))
    for v in views:
        if "memory" in v["as"]:
            return v["ranges"]
    return []


def pci_bars(info_pci, ids):
    """Guest BAR addresses of the function `ids` (vendor:device) from `info pci`: {bar: (base, end)}."""
    bars, inside = {}, False
    for line in info_pci.splitlines():
        if re.match(r"\s*Bus\s+\d+, device\s+\d+, function \d+:", line):
            inside = None
            continue
        if inside is None and "PCI device" in line:
            inside = ("PCI device " + ids) in line
            continue
        m = re.match(r"\s*BAR(\d+): (?:64|32) bit (?:prefetchable )?memory at 0x([0-9a-f]+) \[0x([0-9a-f]+)\]", line)
        if inside and m:
            bars[int(m.group(1))] = (int(m.group(2), 16), int(m.group(3), 16))
        m = re.match(r"\s*BAR(\d+): I/O (.*)", line)
        if inside and m:
            bars[int(m.group(1))] = "I/O " + m.group(2).strip().rstrip(".")
    return bars


def merge(ranges):
    out = []
    for a, l in sorted(ranges):
        if out and out[-1][0] + out[-1][1] == a:
            out[-1] = (out[-1][0], out[-1][1] + l)
        else:
            out.append((a, l))
    return out


def memslots(trace):
    """KVM memslots of address space 0 at the end of a `-trace kvm_set_user_memory` log (QEMU deletes a
    slot with size 0 and adds it again): [(gpa, size)]."""
    slots = {}
    for m in re.finditer(r"kvm_set_user_memory AddrSpace#(\d+) Slot#(\d+) flags=0x[0-9a-f]+ gpa=0x([0-9a-f]+) size=0x([0-9a-f]+)", trace):
        if m.group(1) != "0":
            continue
        gpa, size = int(m.group(3), 16), int(m.group(4), 16)
        if size:
            slots[int(m.group(2))] = (gpa, size)
        else:
            slots.pop(int(m.group(2)), None)
    return sorted(slots.values())


def intersect(ranges, others):
    out = []
    for a, l in ranges:
        for b, k in others:
            lo, hi = max(a, b), min(a + l, b + k)
            if lo < hi:
                out.append((lo, hi - lo))
    return merge(out)


def subtract(ranges, holes):
    out = []
    for a, l in ranges:
        cur = [(a, l)]
        for b, k in holes:
            nxt = []
            for c, m in cur:
                if b + k <= c or b >= c + m:
                    nxt.append((c, m))
                    continue
                if b > c:
                    nxt.append((c, b - c))
                if b + k < c + m:
                    nxt.append((b + k, c + m - b - k))
            cur = nxt
        out += cur
    return merge(out)


def served_by(kind, name, slotted):
    """What serves an access to a flat-view range: the guest's own mapping (a KVM memslot) or QEMU
    after an exit, and with what. `slotted`: the part of the range that is a memslot."""
    if kind in ("ram", "ramd") and slotted:
        return "mapped (KVM memslot %s)" % fmt(slotted)
    if name.startswith("msix-table"):
        return "exit: QEMU's MSI-X table emulation"
    if name.startswith("msix-pba"):
        return "exit: QEMU's PBA emulation"
    if kind == "ramd":
        return "exit: QEMU forwards through its mmap of the BAR (no memslot)"
    if " base BAR " in name:
        return "exit: the BAR's container region (no ops: unassigned, no subregion enabled there)"
    return "exit: QEMU forwards to the device (region read/write)"


def compare_mtree(plan, flat, bars, slots):
    """Per BAR of the plan: the bytes the guest reaches without an exit (QEMU's `ramd` mmap ranges of
    `info mtree -f` where KVM has a memslot, from the kvm_set_user_memory trace) and every other byte
    (an exit), as offsets in the BAR, against the plan's `mmap` and `trap` segments; the table's
    range against QEMU's `msix-table`. Returns (equal, lines, notes): notes name where QEMU's tree or
    its handlers differ from the plan."""
    equal, lines, notes = True, [], []
    for b in plan["bars"]:
        idx, size = b["index"], b["size"]
        want_map = merge([(s["offset"], s["length"]) for s in b["mmap"]])
        want_trap = merge([(s["offset"], s["length"]) for s in b["trap"]])
        want_table = [(s["offset"], s["length"]) for s in b["trap"] if s["holds"] in ("table", "virtual-table")]
        if idx not in bars:
            equal = False
            lines.append("BAR%d: not in QEMU's `info pci` (plan: map %s trap %s)" % (idx, fmt(want_map), fmt(want_trap)))
            continue
        if isinstance(bars[idx], str):
            # An I/O BAR: no VMM maps it (VFIO offers no mmap of I/O regions); QEMU serves it after an
            # exit wherever the guest places it.
            same = not want_map and b.get("kind") == "io"
            equal &= same
            lines.append("BAR%d (%s bar, QEMU's info pci: %s): %s: plan map %s trap %s; QEMU never maps an I/O BAR" % (
                idx, b.get("kind"), bars[idx], "EQUAL" if same else "DIFFER", fmt(want_map), fmt(want_trap)))
            continue
        base, end = bars[idx]
        bar_slots = [(g - base, l) for g, l in intersect([(base, end - base + 1)], slots)]
        got_map, covered, got_table, parts, ramd, flagged = [], [], [], [], [], []
        for s, e, kind, name in flat:
            lo, hi = max(s, base), min(e, end)
            if lo > hi:
                continue
            seg = (lo - base, hi - lo + 1)
            covered.append(seg)
            slotted = intersect([seg], bar_slots) if kind in ("ram", "ramd") else []
            got_map += slotted
            if name.startswith("msix-table"):
                got_table.append(seg)
            if kind == "ramd":
                ramd.append(seg)
            if name.endswith(" KVM"):
                flagged.append(seg)
            parts.append("    0x%04x-0x%04x %-4s %-45s %s" % (seg[0], seg[0] + seg[1] - 1, kind, name, served_by(kind, name, slotted)))
        got_map, covered, ramd = merge(got_map), merge(covered), merge(ramd)
        got_trap = subtract(covered, got_map)
        same = (got_map == want_map and got_trap == want_trap and covered == [(0, size)] and (end - base + 1) == size
                and merge(got_table) == merge(want_table))
        equal &= same
        lines.append("BAR%d at 0x%x, %d bytes (QEMU's BAR: %d): %s" % (idx, base, size, end - base + 1, "EQUAL" if same else "DIFFER"))
        lines.append("  plan   map %s trap %s table %s" % (fmt(want_map), fmt(want_trap), fmt(want_table)))
        lines.append("  QEMU   map %s trap %s table %s   (map: memslots of the trace inside the BAR)" % (
            fmt(got_map), fmt(got_trap), fmt(merge(got_table))))
        lines.append("  mtree mmap subregions (ramd): %s; flagged ' KVM' in the flat view: %s" % (fmt(ramd), fmt(merge(flagged))))
        lines.append("  plan segments:")
        for sgm in b["mmap"]:
            lines.append("    0x%04x-0x%04x map" % (sgm["offset"], sgm["offset"] + sgm["length"] - 1))
        for sgm in b["trap"]:
            lines.append("    0x%04x-0x%04x trap %s (%s)" % (sgm["offset"], sgm["offset"] + sgm["length"] - 1, sgm["holds"], sgm["handler"]))
        lines.append("  info mtree -f ranges in the BAR (offsets):")
        lines += parts
        if got_map != want_map:
            notes.append("BAR%d: QEMU maps %s (memslots), the plan maps %s: QEMU maps %s more, the plan %s more" % (
                idx, fmt(got_map), fmt(want_map), fmt(subtract(got_map, want_map)), fmt(subtract(want_map, got_map))))
        if ramd != got_map:
            notes.append("BAR%d: QEMU's tree holds the mmap subregion(s) %s, of which KVM has memslots for %s only (a memslot "
                         "is whole %d-byte host pages): %s exit%s and QEMU serves them through its mmap; the plan traps them as "
                         "registers (forward-to-device)" % (idx, fmt(ramd), fmt(got_map), plan["page_size"],
                                                            fmt(subtract(ramd, got_map)), "" if subtract(ramd, got_map) else "s"))
        for sgm in b["trap"]:
            if sgm["holds"] not in ("pba", "virtual-pba"):
                continue
            lo, hi = sgm["offset"], sgm["offset"] + sgm["length"] - 1
            served = sorted({served_by(k, n, intersect([(max(s, base + lo) - base, min(e, base + hi) - max(s, base + lo) + 1)], bar_slots)
                                       if k in ("ram", "ramd") else [])
                             for s, e, k, n in flat if max(s, base + lo) <= min(e, base + hi)})
            if served != ["exit: QEMU's PBA emulation"]:
                notes.append("BAR%d: the plan traps the PBA 0x%x-0x%x as %s (%s); QEMU's msix-pba is not enabled there "
                             "(QEMU enables it only when a masked vector fires through QEMU): %s" % (
                                 idx, lo, hi, sgm["holds"], sgm["handler"], "; ".join(served)))
    return equal, lines, notes


def fmt(ranges):
    return "[" + ", ".join("0x%x-0x%x" % (a, a + l - 1) for a, l in ranges) + "]"


def vmm(name, timeout, ios):
    m = MACHINES[name]
    if not m.get("kvm") or m["arch"] != "arm64":
        raise SystemExit("vmm: %s is not an arm64 EL2 (KVM) machine" % name)
    suite = m.get("suite") or "trixie"
    recorder = build_recorder(m["arch"], kvm=False)
    qroot = fetch_qemu(m["arch"], suite)
    root = fetch(m["arch"], m.get("suite"), m.get("flavour"))
    kernel, _ = kernel_of(root)
    l2args = L2_ARGS
    init = (VMM_INIT.replace("@DEVICES@", " ".join("%s/%s" % (d, io) for d, _, io in VMM_DEVICES))
            .replace("@L2ARGS_ECHO@", l2args.replace('"', '\\"')).replace("@L2ARGS@", l2args).replace("@BOOT_TIMEOUT@", "900"))

    def extra(stage, root_, moddir):
        libs = stage_qemu(stage, qroot)
        print("qemu: %d libraries" % len(libs), file=sys.stderr)
        stage_l2(stage, root_, moddir, kernel, ios)

    kernel, initrd = build_initramfs(name + ".vmm", m, recorder, init_text=init, extra=extra)
    qemu_args = m["qemu"].replace("-m 1024", "-m 2048")
    out, cmd, secs = boot(name + ".vmm", m, kernel, initrd, timeout, qemu_args=qemu_args)
    log = os.path.join(DOCS, name + ".vmm.log")
    open(log, "w").write("$ %s\n# L1 boot to power-off: %.0f s\n%s" % (cmd, secs, out))
    print("== %s: L1 ran %.0f s, serial log %s" % (name, secs, os.path.relpath(log, REPO)), file=sys.stderr)
    return vmm_results(name)


def vmm_results(name):
    """docs/lab/<machine>.vmm.json and .vmm.txt from the kept serial log docs/lab/<machine>.vmm.log."""
    m = MACHINES[name]
    out = open(os.path.join(DOCS, name + ".vmm.log")).read()
    secs = float(re.search(r"# L1 boot to power-off: (\d+) s", out).group(1))
    version = (between(out, "===QEMU-VERSION-BEGIN===", "===QEMU-VERSION-END===") or "").strip()
    mv = re.search(r"version (.+)", version)
    page = 16384 if "16k" in (m.get("flavour") or "") else 4096
    result = {"vmm": "qemu", "version": mv.group(1).strip() if mv else version, "page_size": page, "runs": []}
    report = []
    for dev, ids, io, layout in [(d, i, w, l) for d, i, w in VMM_DEVICES for l in ("default", "msix-policy")]:
        run_out = between(out, "===RUN-%s-%s-BEGIN===" % (dev, layout), "===RUN-%s-%s-END===" % (dev, layout))
        plan_text = between(out, "===PLAN-%s-%s-BEGIN===" % (dev, layout), "===PLAN-%s-%s-END===" % (dev, layout))
        if run_out is None or plan_text is None:
            report.append("%s %s: no run in the log" % (dev, layout))
            continue
        plan = json.loads(plan_text)
        props = re.search(r"properties: (.*)", run_out).group(1).strip().lstrip(",")  # the comma that joins it to host= dropped
        l2 = between(run_out, "===L2-LOG-BEGIN===", "===L2-LOG-END===") or ""
        mon = between(run_out, "===MONITOR-BEGIN===", "===MONITOR-END===") or ""
        st = re.search(r"stats \(mmio_exit_user mmio_exit_kernel exits\): ready (\d+) (\d+) (\d+) control (\d+) (\d+) (\d+) io (\d+) (\d+) (\d+)", run_out)
        irq = re.search(r"L2 \S+ interrupts before: (\d+) after: (\d+)", l2)
        # nvme: dd's whole records read; net: echo replies received
        dd = re.search(r"(\d+)\+(\d+) records in", l2) or re.search(r"\d+ packets transmitted, (\d+) packets received", l2)
        ready = re.search(r"L2 ready after (\d+) s", run_out)
        iow = re.search(r"io window (\d+) s", run_out)
        flat = flat_memory_view(mon)
        bars = pci_bars(mon, ids)
        trace = between(run_out, "===MEMSLOTS-BEGIN===", "===MEMSLOTS-END===")
        if trace and "kvm_set_user_memory" in trace:
            slots = memslots(trace)
        else:
            # No trace: the ranges QEMU flags ` KVM` (a memslot of exactly that range).
            slots = [(s_, e_ - s_ + 1) for s_, e_, _, n_ in flat if n_.endswith(" KVM")]
        same, lines, notes = compare_mtree(plan, flat, bars, slots) if flat and bars else (False, ["no flat view or no BARs in the monitor log"], [])
        r = {"device": dev, "layout": layout, "properties": props, "ios": int(dd.group(1)) if dd else 0,
             "interrupts": int(irq.group(2)) - int(irq.group(1)) if irq else 0,
             "mmio_exits": int(st.group(7)) - int(st.group(4)) if st else None}
        r["exits_per_io"] = round(r["mmio_exits"] / r["ios"], 3) if st and r["ios"] else None
        r["mtree_matches_plan"] = bool(same)
        result["runs"].append(r)
        ctrl = int(st.group(4)) - int(st.group(1)) if st else None
        report.append("%s %s %s (props %r): L2 ready after %s s, I/O window %s s; ios %s, interrupts %s, mmio_exit_user %s in the "
                      "I/O window, %s in the control window (no I/O), net %s per I/O; mtree %s" % (
                          dev, ids, layout, props, ready.group(1) if ready else "?", iow.group(1) if iow else "?", r["ios"], r["interrupts"],
                          r["mmio_exits"], ctrl, round((r["mmio_exits"] - ctrl) / r["ios"], 3) if st and r["ios"] else None,
                          "EQUAL to the plan" if same else "DIFFERS from the plan"))
        report += ["  " + l for l in lines]
        report += ["  difference: " + n for n in notes] or ["  no difference"]
    open(os.path.join(DOCS, name + ".vmm.json"), "w").write(json.dumps(result, indent=2) + "\n")
    text = "lab.py vmm %s: L1 boot to power-off %.0f s\n%s\n" % (name, secs, "\n".join(report))
    open(os.path.join(DOCS, name + ".vmm.txt"), "w").write(text)
    print(text)
    return 0 if len(result["runs"]) == 2 * len(VMM_DEVICES) else 1


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
    sub.add_parser("kernel-matrix", help="regenerate docs/lab/kernel-matrix.md (runs `cargo xtask kernel-matrix`)")
    v = sub.add_parser("vmm", help="QEMU + an L2 Linux guest under KVM inside an EL2 machine, default vs msix-policy's properties")
    v.add_argument("machine")
    v.add_argument("--ios", type=int, default=200, help="direct 4 KiB reads the L2 guest makes")
    v.add_argument("--timeout", type=int, default=3600)
    v.add_argument("--from-log", action="store_true", help="only recompute the results from docs/lab/<machine>.vmm.log")
    a = ap.parse_args()
    if a.cmd == "vmm":
        return vmm_results(a.machine) if a.from_log else vmm(a.machine, a.timeout, a.ios)
    if a.cmd == "kernel-matrix":
        # The document and its prose (xtask/kernel-matrix.toml) live with the other generators.
        return subprocess.run(["cargo", "xtask", "kernel-matrix"], cwd=REPO).returncode
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
