#!/usr/bin/env python3
"""Writes the synthetic fixtures under fixtures/synthetic/ (kind = "synthetic").

Each one stands in for a platform branch until a real recording lands (issue: fixture lab).
Device layouts follow what QEMU's models present (virtio-net-pci modern, e1000e, nvme), so the
decisions they produce are the ones a real host of that kind would get.

    python3 scripts/synth_fixtures.py            # rewrite every synthetic fixture
"""
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "synthetic")


def cfg(vendor, device, cls, header=0, caps=(), cap_ptr=None, size=256):
    """A config space image. caps: list of (offset, bytes-without-next-pointer)."""
    b = bytearray(size)
    struct.pack_into("<HH", b, 0, vendor, device)
    b[0x08] = 0x01  # revision
    b[0x09] = cls & 0xFF
    b[0x0A] = (cls >> 8) & 0xFF
    b[0x0B] = (cls >> 16) & 0xFF
    b[0x0E] = header
    if caps:
        struct.pack_into("<H", b, 0x06, 0x0010)
        order = list(caps)
        b[0x34] = cap_ptr if cap_ptr is not None else order[0][0]
        for i, (off, body) in enumerate(order):
            nxt = order[i + 1][0] if i + 1 < len(order) else 0
            b[off] = body[0]
            b[off + 1] = nxt
            b[off + 2: off + len(body) + 1] = body[1:]
    assert len(b) == size, "a capability runs past the config space"
    return bytes(b)


def msix(vectors, tbir, toff, pbir, poff):
    return bytes([0x11]) + struct.pack("<HII", vectors - 1, toff | tbir, poff | pbir)


def virtio_cap(cfg_type, bar, off, length, mult=None):
    body = bytes([0x09, 20 if mult is not None else 16, cfg_type, bar, 0, 0, 0]) + struct.pack("<II", off, length)
    if mult is not None:
        body += struct.pack("<I", mult)
    return body


PM = bytes([0x01, 0x03, 0x00, 0, 0, 0, 0])
PCIE = bytes([0x10, 0x01, 0x00]) + bytes(17)  # PCIe capability v1: 20 bytes
MSI = bytes([0x05, 0x80, 0x00]) + bytes(11)


def resource(bars):
    """bars: {index: (start, size, flags)} -> the sysfs resource text (13 lines)."""
    lines = []
    for i in range(13):
        if i in bars:
            s, n, f = bars[i]
            lines.append("0x%016x 0x%016x 0x%016x" % (s, s + n - 1, f))
        else:
            lines.append("0x%016x 0x%016x 0x%016x" % (0, 0, 0))
    return "\n".join(lines) + "\n"


def with_bar_registers(config, bars):
    """The BAR registers (config 0x10-0x27) of a type-0 header, as firmware programmed them
    from the same resources sysfs shows: I/O bit, 64-bit type with its upper dword, prefetch."""
    b = bytearray(config)
    if b[0x0E] & 0x7F != 0:
        return bytes(b)
    for i, (start, _size, flags) in bars.items():
        if i > 5:
            continue
        if flags & 0x100:  # IORESOURCE_IO
            struct.pack_into("<I", b, 0x10 + 4 * i, (start & ~0x3) | 0x1)
            continue
        low = (start & 0xFFFFFFF0) | (0x8 if flags & 0x2000 else 0)  # IORESOURCE_PREFETCH
        if flags & 0x100000:  # IORESOURCE_MEM_64
            struct.pack_into("<II", b, 0x10 + 4 * i, low | 0x4, start >> 32)
        else:
            struct.pack_into("<I", b, 0x10 + 4 * i, low)
    return bytes(b)


MEM32 = 0x40200
MEM64 = 0x14220C
MEM64_NP = 0x140204
IO = 0x40101


def virtio_net(base, io):
    caps = [
        (0x98, msix(3, 1, 0x0, 1, 0x800)),
        (0x84, virtio_cap(5, 0, 0, 0) + bytes(4)),
        (0x70, virtio_cap(2, 4, 0x3000, 0x1000, mult=4)),
        (0x60, virtio_cap(4, 4, 0x2000, 0x1000)),
        (0x50, virtio_cap(3, 4, 0x1000, 0x1000)),
        (0x40, virtio_cap(1, 4, 0x0, 0x1000)),
    ]
    return dict(
        vendor=0x1AF4, device=0x1041, cls=0x020000, driver="virtio-pci", name="virtio0",
        config=cfg(0x1AF4, 0x1041, 0x020000, caps=caps),
        bars={0: (io, 0x20, IO), 1: (base, 0x1000, MEM32), 4: (base + 0x100000, 0x4000, MEM64)},
        vectors=3,
    )


def e1000e(base, io):
    caps = [(0xC8, PM), (0xD0, MSI), (0xE0, PCIE), (0xA0, msix(5, 3, 0x0, 3, 0x2000))]
    return dict(
        vendor=0x8086, device=0x10D3, cls=0x020000, driver="e1000e", name="enp0s2",
        config=cfg(0x8086, 0x10D3, 0x020000, caps=caps),
        bars={0: (base, 0x20000, MEM32), 1: (base + 0x20000, 0x20000, MEM32), 2: (io, 0x20, IO), 3: (base + 0x40000, 0x4000, MEM32)},
        vectors=5,
    )


def nvme(base):
    caps = [(0x40, PM), (0x60, msix(65, 0, 0x2000, 0, 0x3000)), (0x80, PCIE)]
    return dict(
        vendor=0x1B36, device=0x0010, cls=0x010802, driver="nvme", name="nvme0q",
        config=cfg(0x1B36, 0x0010, 0x010802, caps=caps),
        bars={0: (base, 0x4000, MEM64_NP)},
        vectors=3,
    )


def sriov_cap(total_vfs, num_vfs, first_offset, stride, vf_device, vf_bars):
    """The SR-IOV extended capability (id 0x0010, version 1) without its header dword: 60 bytes.
    vf_bars: {index: (start, size, flags)} of the first VF (VF BARn registers at +0x24 + 4n)."""
    body = bytearray(0x40 - 4)
    struct.pack_into("<I", body, 0x00, 0)  # SR-IOV capabilities
    struct.pack_into("<H", body, 0x04, 0x0009 if num_vfs else 0)  # control: VF Enable, VF MSE
    struct.pack_into("<HHHBx", body, 0x0A, total_vfs, total_vfs, num_vfs, 0)  # initial, total, num, FDL
    struct.pack_into("<HHxxH", body, 0x10, first_offset, stride, vf_device)
    struct.pack_into("<I", body, 0x18, 0x553)  # supported page sizes: 4K 8K 64K 256K 1M 4M
    struct.pack_into("<I", body, 0x1C, 0x1)  # system page size: 4 KiB
    for i, (start, _size, flags) in vf_bars.items():
        low = (start & 0xFFFFFFF0) | (0x8 if flags & 0x2000 else 0)
        if flags & 0x100000:
            struct.pack_into("<II", body, 0x20 + 4 * i, low | 0x4, start >> 32)
        else:
            struct.pack_into("<I", body, 0x20 + 4 * i, low)
    return bytes(body)


def with_ext_caps(config, caps):
    """config extended to 4 KiB with PCIe extended capabilities: list of (offset, id, version, body)."""
    b = bytearray(config) + bytearray(4096 - len(config))
    for i, (off, cap_id, ver, body) in enumerate(caps):
        nxt = caps[i + 1][0] if i + 1 < len(caps) else 0
        struct.pack_into("<I", b, off, cap_id | (ver << 16) | (nxt << 20))
        b[off + 4: off + 4 + len(body)] = body
    return bytes(b)


def igb_82576_pf(base, vf_base, total_vfs, num_vfs):
    """Intel 82576 (8086:10c9, igb): BAR0 128 KiB registers, BAR2 I/O, BAR3 16 KiB MSI-X
    (10 vectors, table at 0, PBA at 0x2000); an SR-IOV capability at 0x160 whose VFs (8086:10ca)
    have BAR0 16 KiB and BAR3 16 KiB (table at 0, PBA at 0x2000), each VF's BARs one after the
    other's (VF offset 0x80, stride 2 on function numbers as the 82576 reports)."""
    caps = [(0x40, PM), (0x50, MSI), (0x70, msix(10, 3, 0x0, 3, 0x2000)), (0xA0, PCIE)]
    vf_bars = {0: (vf_base, 0x4000, MEM64_NP), 3: (vf_base + 0x4000 * total_vfs, 0x4000, MEM64_NP)}
    config = with_ext_caps(cfg(0x8086, 0x10C9, 0x020000, caps=caps),
                           [(0x100, 0x0001, 1, bytes(0x40)),  # AER
                            (0x160, 0x0010, 1, sriov_cap(total_vfs, num_vfs, 0x80, 2, 0x10CA, vf_bars))])
    return dict(
        vendor=0x8086, device=0x10C9, cls=0x020000, driver="igb", name="enp1s0f0",
        config=config,
        bars={0: (base, 0x20000, MEM32), 2: (0xE000, 0x20, IO), 3: (base + 0x20000, 0x4000, MEM32),
              7: (vf_base, 0x4000 * total_vfs, MEM64_NP), 10: (vf_base + 0x4000 * total_vfs, 0x4000 * total_vfs, MEM64_NP)},
        vectors=10,
    )


def igb_82576_vf(vf_base, total_vfs, n):
    """VF n of an 82576 (8086:10ca, igbvf): its config space reads Vendor and Device ID 0xFFFF
    (SR-IOV 1.1, 3.4.1.1-2) and its BAR registers read 0 (3.4.1.11); its own MSI-X capability
    (3 vectors, table at BAR3 + 0, PBA at BAR3 + 0x2000). The kernel serves the ids from the PF's
    SR-IOV capability as the vendor and device attributes."""
    caps = [(0x70, msix(3, 3, 0x0, 3, 0x2000)), (0xA0, PCIE)]
    return dict(
        vendor=0x8086, device=0x10CA, cls=0x020000, driver="igbvf", name="enp1s16f%d" % n,
        config=cfg(0xFFFF, 0xFFFF, 0x020000, caps=caps), vf=True,
        bars={0: (vf_base + 0x4000 * n, 0x4000, MEM64_NP), 3: (vf_base + 0x4000 * (total_vfs + n), 0x4000, MEM64_NP)},
        vectors=3,
    )


def host_bridge():
    return dict(vendor=0x8086, device=0x29C0, cls=0x060000, driver=None, name=None,
                config=cfg(0x8086, 0x29C0, 0x060000), bars={}, vectors=0)


def root_port(base):
    caps = [(0x40, PCIE), (0x80, MSI)]
    return dict(vendor=0x1B36, device=0x000C, cls=0x060400, driver="pcieport", name="PCIe PME",
                config=cfg(0x1B36, 0x000C, 0x060400, header=1, caps=caps), bars={0: (base, 0x1000, MEM32)}, vectors=0)


class Fixture:
    def __init__(self, name, arch, page, kernel, description, machine):
        self.dir = os.path.join(OUT, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.arch = arch
        self.irq = 24
        self.lines = []
        self.write("fixture.toml", (
            "[host]\narch = \"%s\"\npage_size = %d\nkernel = \"%s\"\n\n[source]\nkind = \"synthetic\"\n"
            "description = \"%s\"\nmachine = \"%s\"\n") % (arch, page, kernel, description, machine))
        self.write("proc/sys/kernel/osrelease", kernel + "\n")
        self.write("proc/version", "Linux version %s (synthetic)\n" % kernel)

    def write(self, rel, data):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)

    def link(self, rel, target):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(target, p)

    def device(self, bdf, d, group=None, chip="PCI-MSI", truncate=None, of_node=None):
        base = "sys/bus/pci/devices/" + bdf
        self.write(base + "/vendor", "0x%04x\n" % d["vendor"])
        self.write(base + "/device", "0x%04x\n" % d["device"])
        self.write(base + "/class", "0x%06x\n" % d["cls"])
        # A VF has no INTx pin: its irq attribute reads 0.
        self.write(base + "/irq", "0\n" if d.get("vf") else "%d\n" % (16 + int(bdf[-4:-2], 16) % 8))
        self.write(base + "/subsystem_vendor", "0x%04x\n" % d["vendor"])
        self.write(base + "/subsystem_device", "0x0001\n")
        # A VF's BAR registers read 0 (its BARs are the PF's VF BARs); resource still lists them.
        config = d["config"] if d.get("vf") else with_bar_registers(d["config"], d["bars"])
        config = config if truncate is None else config[:truncate]
        self.write(base + "/config", config)
        self.write(base + "/resource", resource(d["bars"]))
        if d["driver"]:
            self.link(base + "/driver", "../../../bus/pci/drivers/" + d["driver"])
        if group is not None:
            self.link(base + "/iommu_group", "../../../kernel/iommu_groups/%d" % group)
            self.link("sys/kernel/iommu_groups/%d/devices/%s" % (group, bdf), "../../../../devices/pci0000:00/" + bdf)
            self.write("sys/kernel/iommu_groups/%d/type" % group, "DMA\n")
        if of_node:
            self.link(base + "/of_node", "../../../firmware/devicetree/base/" + of_node)
        for v in range(d["vectors"]):
            irq = self.irq
            self.irq += 1
            self.write(base + "/msi_irqs/%d" % irq, "msix\n")
            if chip is not None:
                self.lines.append((irq, chip.replace("{bdf}", bdf), "%d-edge" % v, "%s-%d" % (d["name"], v)))

    def interrupts(self, extra=()):
        rows = ["           CPU0       CPU1"]
        for irq, chip, hw, name in list(extra) + self.lines:
            rows.append("%4d:%11d%11d  %s %s      %s" % (irq, 7, 0, chip, hw, name))
        self.write("proc/interrupts", "\n".join(rows) + "\n")


def dmar(flags):
    body = bytearray(48)
    body[0:4] = b"DMAR"
    struct.pack_into("<I", body, 4, 48)
    body[8] = 1
    body[10:16] = b"BOCHS "
    body[36] = 38  # host address width - 1
    body[37] = flags
    return bytes(body)


X86_KERNEL = "6.1.0-26-amd64"


def x86_q35(name, description, cmdline, iommu, ir_chips, dmesg, allow_unsafe="N", truncate=None, dmar_flags=0x01,
            kernel=X86_KERNEL, groups=None):
    f = Fixture(name, "x86_64", 4096, kernel, description, "synthetic q35: " + cmdline)
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-%s root=/dev/vda1 ro %s\n" % (kernel, cmdline))
    f.write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: QEMU Virtual CPU\n")
    chip = "IR-PCI-MSI" if ir_chips else "PCI-MSI"
    groups = iommu is not None if groups is None else groups
    f.device("0000:00:00.0", host_bridge(), group=0 if groups else None)
    f.device("0000:00:01.0", virtio_net(0xFEA00000, 0xC000), group=1 if groups else None, chip=chip, truncate=truncate)
    f.device("0000:00:02.0", e1000e(0xFE800000, 0xC040), group=2 if groups else None, chip=chip, truncate=truncate)
    f.device("0000:00:03.0", root_port(0xFEB00000), group=3 if groups else None, chip=None, truncate=truncate)
    f.device("0000:00:04.0", nvme(0xFEC00000), group=4 if groups else None, chip=chip, truncate=truncate)
    f.interrupts([(0, "IO-APIC" if not ir_chips else "IR-IO-APIC", "2-edge", "timer")])
    if iommu == "vtd":
        f.write("sys/class/iommu/dmar0/intel-iommu/cap", "12008c22260286\n")
        f.write("sys/class/iommu/dmar0/intel-iommu/ecap", "f0205a\n")
        f.write("sys/class/iommu/dmar0/intel-iommu/version", "1:0\n")
        f.write("sys/firmware/acpi/tables/DMAR", dmar(dmar_flags))
    elif iommu == "amd":
        f.write("sys/class/iommu/ivhd0/amd-iommu/cap", "190b0011\n")
        f.write("sys/class/iommu/ivhd0/amd-iommu/features", "a4\n")
    if allow_unsafe is not None:
        f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", allow_unsafe + "\n")
        f.write("sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "65535\n")
    f.write("dmesg.txt", "".join("[    0.%06d] %s\n" % (i * 1000, l) for i, l in enumerate(dmesg)))
    return f


X86_IOMMUFD_KERNEL = "6.12.57-amd64"


def vfio_cdev(f, bdfs):
    """The VFIO device cdev as a 6.6+ kernel shows it for functions bound to vfio-pci."""
    for i, bdf in enumerate(bdfs):
        base = "sys/bus/pci/devices/" + bdf
        f.write("sys/class/vfio-dev/vfio%d/dev" % i, "511:%d\n" % i)
        f.write(base + "/vfio-dev/vfio%d/dev" % i, "511:%d\n" % i)
        os.remove(os.path.join(f.dir, base, "driver"))
        f.link(base + "/driver", "../../../bus/pci/drivers/vfio-pci")


def iommufd(f, allow_unsafe):
    f.write("sys/module/iommufd/parameters/allow_unsafe_interrupts", allow_unsafe + "\n")


def x86_iommufd_hosts():
    """Kernels that offer iommufd and the VFIO cdev. Two without the type1 container
    (CONFIG_IOMMUFD_VFIO_CONTAINER: /dev/vfio/vfio is iommufd's; no vfio_iommu_type1 module)
    with interrupt remapping off, whose command line sets the type1 parameter that cannot take
    effect; one with both backends and remapping on."""
    off = ["DMAR: IOMMU enabled"]
    for name, allow in [("x86-iommufd-only", "N"), ("x86-iommufd-only-allow-unsafe", "Y")]:
        f = x86_q35(name, "q35 with VT-d, intremap=off, an iommufd-only kernel (no type1 container), iommufd "
                    "allow_unsafe_interrupts=%s; vfio_iommu_type1.allow_unsafe_interrupts=1 on the command line has no "
                    "module to apply to" % allow,
                    "intel_iommu=on intremap=off vfio_iommu_type1.allow_unsafe_interrupts=1 iommufd.allow_unsafe_interrupts=%s"
                    % ("1" if allow == "Y" else "0"),
                    "vtd", False, off, allow_unsafe=None, kernel=X86_IOMMUFD_KERNEL)
        iommufd(f, allow)
        vfio_cdev(f, ["0000:00:02.0", "0000:00:04.0"])
    ir_on = ["DMAR: IOMMU enabled", "DMAR-IR: Enabled IRQ remapping in x2apic mode"]
    f = x86_q35("x86-vtd-type1-and-iommufd", "q35 with VT-d interrupt remapping: both the type1 container and iommufd (VFIO cdev)",
                "intel_iommu=on", "vtd", True, ir_on, allow_unsafe="N", kernel=X86_IOMMUFD_KERNEL)
    iommufd(f, "N")
    vfio_cdev(f, ["0000:00:02.0", "0000:00:04.0"])


def x86_noiommu():
    """No IOMMU, vfio enable_unsafe_noiommu_mode=Y: e1000e and nvme bound to vfio-pci sit in
    vfio-noiommu groups (drivers/vfio/group.c names them so). allow_unsafe_interrupts=Y too:
    no parameter makes a noiommu group assignable to a VM."""
    f = x86_q35("x86-noiommu-mode", "q35 without an IOMMU, vfio enable_unsafe_noiommu_mode=Y: vfio-noiommu groups",
                "vfio.enable_unsafe_noiommu_mode=1 vfio_iommu_type1.allow_unsafe_interrupts=1", None, False,
                ["vfio-pci 0000:00:02.0: Adding to iommu group 0",
                 "vfio-pci 0000:00:02.0: Adding kernel taint for vfio-noiommu group on device"],
                allow_unsafe="Y", groups=False)
    f.write("sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n")
    for g, bdf in [(0, "0000:00:02.0"), (1, "0000:00:04.0")]:
        base = "sys/bus/pci/devices/" + bdf
        os.remove(os.path.join(f.dir, base, "driver"))
        f.link(base + "/driver", "../../../bus/pci/drivers/vfio-pci")
        f.link(base + "/iommu_group", "../../../kernel/iommu_groups/%d" % g)
        f.link("sys/kernel/iommu_groups/%d/devices/%s" % (g, bdf), "../../../../devices/pci0000:00/" + bdf)
        f.write("sys/kernel/iommu_groups/%d/name" % g, "vfio-noiommu\n")
        f.write("sys/kernel/iommu_groups/%d/type" % g, "unknown\n")  # no default domain


def x86_vtd_sriov():
    """VT-d with interrupt remapping, 4 KiB pages: an Intel 82576 PF with SR-IOV enabled and two
    of its VFs, each in its own IOMMU group (ACS), the VFs bound to igbvf."""
    f = Fixture("x86-vtd-sriov", "x86_64", 4096, X86_KERNEL,
                "q35 with VT-d interrupt remapping: an Intel 82576 PF (igb) with two SR-IOV VFs (igbvf)",
                "synthetic: q35, intel_iommu=on; echo 2 > sriov_numvfs on an 82576 (VF ids 0xFFFF in config, as hardware reads)")
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-%s root=/dev/vda1 ro intel_iommu=on\n" % X86_KERNEL)
    f.write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU\n")
    total, vf_base = 8, 0xF8000000
    pf_bdf = "0000:01:00.0"
    f.device("0000:00:00.0", host_bridge(), group=0)
    f.device(pf_bdf, igb_82576_pf(0xFB000000, vf_base, total, 2), group=1, chip="IR-PCI-MSI")
    base = "sys/bus/pci/devices/" + pf_bdf
    f.write(base + "/sriov_totalvfs", "%d\n" % total)
    f.write(base + "/sriov_numvfs", "2\n")
    f.write(base + "/sriov_offset", "128\n")
    f.write(base + "/sriov_stride", "2\n")
    f.write(base + "/sriov_vf_device", "10ca\n")
    for n in range(2):
        # VF n at routing ID 0x100 (the PF) + 0x80 (First VF Offset) + 2n (VF Stride): bus 1,
        # device 0x10, function 2n, where an 82576's VFs appear.
        bdf = "0000:01:10.%d" % (2 * n)
        f.device(bdf, igb_82576_vf(vf_base, total, n), group=2 + n, chip="IR-PCI-MSI")
        f.link(base + "/virtfn%d" % n, "../" + bdf)
        f.link("sys/bus/pci/devices/%s/physfn" % bdf, "../" + pf_bdf)
    f.interrupts([(0, "IR-IO-APIC", "2-edge", "timer")])
    f.write("sys/class/iommu/dmar0/intel-iommu/cap", "d2008c40660462\n")
    f.write("sys/class/iommu/dmar0/intel-iommu/ecap", "f050da\n")
    f.write("sys/class/iommu/dmar0/intel-iommu/version", "1:0\n")
    f.write("sys/firmware/acpi/tables/DMAR", dmar(0x01))
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")
    f.write("dmesg.txt", "".join("[    0.%06d] %s\n" % (i * 1000, l) for i, l in enumerate([
        "DMAR: IOMMU enabled", "DMAR-IR: Enabled IRQ remapping in x2apic mode",
        "igb 0000:01:00.0: 2 VFs allocated"])))


def ppc64_common(f):
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinux-6.1.0-26-powerpc64le root=/dev/sda2 ro\n")
    f.write("sys/module/vfio_iommu_spapr_tce/parameters/.keep", "")


# A host location code as a KVM host's firmware writes it for a slot (illustrative): QEMU copies
# it into the guest's ibm,loc-code for a function it passes through (spapr_phb_vfio_get_loc_code).
HOST_LOC = "UOPWR.A100029-Node0-Slot%d"
PSERIES_PHB = "pci@800000020000000"
# A PowerVM location code (unit type-model.serial, planar, card slot; illustrative).
POWERVM_LOC = "U78D2.001.WZS00AB-P1-C%d"


def pseries(name="ppc64-pseries", page=65536, kernel="6.1.0-26-powerpc64le", cpu="POWER9 (architected)",
            chip="XIVE-IRQ", description="pSeries POWER9 guest with 64 KiB pages: PAPR MSIs via RTAS",
            machine="synthetic: qemu-system-ppc64 -M pseries -cpu POWER9", kvm_nested=None, emulated=(),
            powervm=None):
    """A QEMU pseries KVM guest. Each function has a device-tree node under the PHB with its
    ibm,loc-code: `qemu_<type>:...` for the BDFs in `emulated` (QEMU's spapr_phb_get_loc_code),
    else the host's location code (a function KVM passes through). With `powervm` (a machine
    type-model) a PowerVM LPAR instead: root model/compatible `IBM,<type-model>`, no /hypervisor
    node, real location codes, no virtio function."""
    f = Fixture(name, "ppc64le", page, kernel, description, machine)
    ppc64_common(f)
    model = ("IBM,%s" % powervm) if powervm else "IBM pSeries (emulated by qemu)"
    f.write("proc/cpuinfo", "processor\t: 0\ncpu\t\t: %s, altivec supported\n\ntimebase\t: 512000000\nplatform\t: pSeries\nmodel\t\t: %s\nmachine\t\t: CHRP %s\nMMU\t\t: Radix\n" % (cpu, model, model))
    dt = "sys/firmware/devicetree/base/"
    f.write(dt + "compatible", (model if powervm else "qemu,pseries").encode() + b"\0")
    f.write(dt + "model", model.encode() + b"\0")
    f.write(dt + "device_type", b"chrp\0")
    if not powervm:
        f.write(dt + "hypervisor/compatible", b"linux,kvm\0")
    f.write(dt + "rtas/ibm,change-msi", struct.pack(">I", 0x2c))
    f.write(dt + "rtas/ibm,query-interrupt-source-number", struct.pack(">I", 0x2d))
    f.write(dt + PSERIES_PHB + "/device_type", b"pci\0")
    f.write(dt + PSERIES_PHB + "/compatible", b"IBM,Logical_PHB\0")
    f.write(dt + PSERIES_PHB + "/reg", struct.pack(">IIII", 0x08000000, 0x20000000, 0, 0))
    if kvm_nested is not None:
        f.write("sys/module/kvm_hv/parameters/nested", kvm_nested + "\n")
        f.write("sys/module/kvm/parameters/halt_poll_ns", "10000\n")
    functions = [
        ("0000:00:01.0", virtio_net(0x200080000000, 0x10000), "ethernet@1", "virtio-net-pci"),
        ("0000:00:02.0", e1000e(0x200080200000, 0x10040), "ethernet@2", "e1000e"),
        ("0000:00:04.0", nvme(0x200080400000), "mass-storage@4", "nvme")]
    for slot, (bdf, d, node, qemu_type) in enumerate(functions):
        if powervm and qemu_type.startswith("virtio"):
            continue
        rel = PSERIES_PHB + "/" + node
        dev = int(bdf[8:10], 16)
        f.write(dt + rel + "/reg", struct.pack(">IIIII", dev << 11, 0, 0, 0, 0))
        if powervm:
            loc = POWERVM_LOC % (slot + 1)
        else:
            loc = "qemu_%s:%s" % (qemu_type, bdf) if bdf in emulated else HOST_LOC % (slot + 1)
        f.write(dt + rel + "/ibm,loc-code", loc.encode() + b"\0")
        f.device(bdf, d, group=slot, chip=chip, of_node=rel)
    f.interrupts()


def powernv_common(f, power):
    """A PowerNV POWER<power> host under OPAL with an IODA3 PHB at pciex@600c3c0000000."""
    ppc64_common(f)
    f.write("proc/cpuinfo", "processor\t: 0\ncpu\t\t: POWER%d, altivec supported\n\ntimebase\t: 512000000\nplatform\t: PowerNV\nmodel\t\t: IBM PowerNV (emulated by qemu)\nmachine\t\t: PowerNV IBM PowerNV (emulated by qemu)\nfirmware\t: OPAL\nMMU\t\t: Radix\n" % power)
    dt = "sys/firmware/devicetree/base/"
    f.write(dt + "compatible", b"qemu,powernv%d\0ibm,powernv\0" % power)
    f.write(dt + "ibm,opal/compatible", b"ibm,opal-v3\0")
    f.write(dt + "pciex@600c3c0000000/compatible", b"ibm,power%d-pciex\0ibm,ioda3-phb\0" % power)
    f.write(dt + "pciex@600c3c0000000/ibm,opal-phbid", struct.pack(">II", 0, 0))


def powernv10():
    """PowerNV POWER10: a PHB5 (ibm,power10-pciex, ibm,ioda3-phb) driven by the IODA2 code."""
    f = Fixture("ppc64-powernv10", "ppc64le", 65536, "6.1.0-26-powerpc64le",
                "PowerNV POWER10 host with 64 KiB pages: a PHB5 (IODA3)",
                "synthetic: qemu-system-ppc64 -M powernv10 (skiboot PHB5 compatible)")
    powernv_common(f, 10)
    f.device("0000:01:00.0", nvme(0x600C000000000), group=0, chip="XIVE-IRQ",
             of_node="pciex@600c3c0000000/pci@0/mass-storage@0")
    f.device("0000:02:00.0", e1000e(0x600C000100000, 0x0), group=1, chip="XIVE-IRQ",
             of_node="pciex@600c3c0000000/pci@0/pci@0/ethernet@0")
    f.interrupts()


def powernv():
    f = Fixture("ppc64-powernv", "ppc64le", 65536, "6.1.0-26-powerpc64le",
                "PowerNV POWER9 host with 64 KiB pages: an IODA3 PHB and an IODA1 PHB",
                "synthetic: qemu-system-ppc64 -M powernv9 (second PHB model changed to test the unknown branch)")
    powernv_common(f, 9)
    dt = "sys/firmware/devicetree/base/"
    f.write(dt + "pciex@600c3c0100000/compatible", b"ibm,ioda-phb\0")
    f.write(dt + "pciex@600c3c0100000/ibm,opal-phbid", struct.pack(">II", 0, 1))
    f.device("0000:01:00.0", nvme(0x600C000000000), group=0, chip="XIVE-IRQ",
             of_node="pciex@600c3c0000000/pci@0/mass-storage@0")
    f.device("0000:02:00.0", e1000e(0x600C000100000, 0x0), group=1, chip="XIVE-IRQ",
             of_node="pciex@600c3c0000000/pci@0/pci@0/ethernet@0")
    f.device("0001:01:00.0", virtio_net(0x600C080000000, 0x0), group=2, chip="XIVE-IRQ")
    f.interrupts()


def arm64(name, page, msi):
    desc = {"its": "arm64 virt with GICv3 ITS and SMMUv3", "v2m": "arm64 virt with GICv2 + GICv2m, no ITS"}[msi]
    f = Fixture(name, "aarch64", page, "6.1.0-26-arm64", desc + (" (64 KiB pages)" if page == 65536 else ""),
                "synthetic: qemu-system-aarch64 -M virt,gic-version=%s,iommu=smmuv3" % ("3" if msi == "its" else "2"))
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-arm64 root=/dev/vda2 ro\n")
    f.write("proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 125.00\nCPU implementer\t: 0x41\n")
    dt = "sys/firmware/devicetree/base/"
    f.write(dt + "compatible", b"linux,dummy-virt\0")
    if msi == "its":
        f.write(dt + "intc@8000000/compatible", b"arm,gic-v3\0")
        f.write(dt + "intc@8000000/its@8080000/compatible", b"arm,gic-v3-its\0")
        f.write(dt + "intc@8000000/its@8080000/phandle", struct.pack(">I", 0x8006))
        f.write(dt + "intc@8000000/its@8080000/msi-controller", b"")
        f.write(dt + "pcie@10000000/msi-map", struct.pack(">IIII", 0, 0x8006, 0, 0x10000))
        chip = "ITS-MSI"
    else:
        f.write(dt + "intc@8000000/compatible", b"arm,cortex-a15-gic\0")
        f.write(dt + "intc@8000000/v2m@8020000/compatible", b"arm,gic-v2m-frame\0")
        f.write(dt + "intc@8000000/v2m@8020000/phandle", struct.pack(">I", 0x8002))
        f.write(dt + "pcie@10000000/msi-parent", struct.pack(">I", 0x8002))
        chip = "MSI"  # GICv2m's irq_chip name on 6.1: ambiguous, so the device tree decides
    f.write(dt + "pcie@10000000/compatible", b"pci-host-ecam-generic\0")
    f.write(dt + "smmuv3@9050000/compatible", b"arm,smmu-v3\0")
    f.device("0000:00:01.0", virtio_net(0x10000000 if page == 4096 else 0x10000000, 0x1000), group=0, chip=chip)
    f.device("0000:00:02.0", e1000e(0x10200000, 0x1040), group=1, chip=chip)
    f.device("0000:00:03.0", nvme(0x10400000), group=2, chip=chip)
    f.interrupts()
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")


def arm64_common(f, dt, compat):
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-arm64 root=/dev/nvme0n1p2 ro\n")
    f.write("proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 200.00\nCPU implementer\t: 0x41\n")
    f.write(dt + "compatible", compat)
    f.write(dt + "#address-cells", struct.pack(">I", 2))
    f.write(dt + "#size-cells", struct.pack(">I", 2))
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")


def unbound(d):
    """The device bound to vfio-pci and not opened: no MSI vectors allocated yet."""
    d = dict(d)
    d["driver"] = "vfio-pci"
    d["vectors"] = 0
    return d


def arm64_synquacer():
    """Socionext SynQuacer (Developerbox): GIC-500 with the pre-ITS, two DesignWare ECAM root
    complexes, each with its own linux,pci-domain, whose msi-map send every function to the ITS."""
    f = Fixture("arm64-synquacer", "aarch64", 4096, "6.1.0-26-arm64",
                "Socionext SynQuacer (Developerbox): GICv3 ITS behind the pre-ITS, which clears MSI isolation",
                "synthetic: device tree after arch/arm64/boot/dts/socionext/synquacer.dtsi (two PCIe RCs, pre-ITS window)")
    dt = "sys/firmware/devicetree/base/"
    arm64_common(f, dt, b"socionext,developer-box\0socionext,synquacer\0")
    its = "interrupt-controller@30000000/msi-controller@30020000/"
    f.write(dt + "interrupt-controller@30000000/compatible", b"arm,gic-v3\0")
    f.write(dt + its + "compatible", b"arm,gic-v3-its\0")
    f.write(dt + its + "reg", struct.pack(">IIII", 0, 0x30020000, 0, 0x20000))
    f.write(dt + its + "msi-controller", b"")
    f.write(dt + its + "#msi-cells", struct.pack(">I", 1))
    f.write(dt + its + "phandle", struct.pack(">I", 0x10))
    f.write(dt + its + "socionext,synquacer-pre-its", struct.pack(">II", 0x58000000, 0x200000))
    for i, (base, devid) in enumerate([(0x60000000, 0x0), (0x70000000, 0x10000)]):
        node = dt + "pcie@%x/" % base
        f.write(node + "compatible", b"socionext,synquacer-pcie-ecam\0snps,dw-pcie-ecam\0")
        f.write(node + "device_type", b"pci\0")
        f.write(node + "reg", struct.pack(">IIII", 0, base, 0, 0x7f00000))
        f.write(node + "bus-range", struct.pack(">II", 0x0, 0x7e))
        f.write(node + "linux,pci-domain", struct.pack(">I", i))
        f.write(node + "msi-map", struct.pack(">IIII", 0x0, 0x10, devid, 0x7f00))
    f.device("0000:01:00.0", e1000e(0x68000000, 0x1000), group=0, chip="ITS-MSI")
    f.device("0001:01:00.0", nvme(0x78000000), group=1, chip="ITS-MSI")
    f.interrupts()
    f.write("dmesg.txt", "".join("[    0.000000] %s\n" % l for l in [
        "GICv3: 256 SPIs implemented",
        "ITS [mem 0x30020000-0x3003ffff]",
        "GIC: enabling workaround for ITS: Socionext Synquacer pre-ITS",
        "ITS@0x0000000030020000: allocated 65536 Devices @8e0200000 (flat, esz 8, psz 64K, shr 1)",
    ]))


def ecam_bridge(f, node, base, buses=(0x00, 0xff)):
    """A generic ECAM host bridge node: 256 MiB of config space at `base`, serving `buses`."""
    f.write(node + "compatible", b"pci-host-ecam-generic\0")
    f.write(node + "device_type", b"pci\0")
    f.write(node + "reg", struct.pack(">IIII", base >> 32, base & 0xffffffff, 0, 0x10000000))
    f.write(node + "bus-range", struct.pack(">II", *buses))


def arm64_two_bridges():
    """Two generic ECAM host bridges without linux,pci-domain: their bus ranges tell them
    apart. The first maps its functions to a GICv3 ITS, the second to a GICv2m frame. Every
    function is bound to vfio-pci and not opened (no vectors), so the device tree decides."""
    f = Fixture("arm64-two-bridges", "aarch64", 4096, "6.1.0-26-arm64",
                "arm64 with two PCI host bridges: one msi-map to a GICv3 ITS, one msi-parent to a GICv2m frame",
                "synthetic: two pci-host-ecam-generic bridges, bus-range 0x00-0x7f and 0x80-0xff")
    dt = "sys/firmware/devicetree/base/"
    arm64_common(f, dt, b"linux,dummy-virt\0")
    f.write(dt + "intc@8000000/compatible", b"arm,gic-v3\0")
    f.write(dt + "intc@8000000/its@8080000/compatible", b"arm,gic-v3-its\0")
    f.write(dt + "intc@8000000/its@8080000/phandle", struct.pack(">I", 0x8006))
    f.write(dt + "intc@8000000/its@8080000/msi-controller", b"")
    f.write(dt + "v2m@8020000/compatible", b"arm,gic-v2m-frame\0")
    f.write(dt + "v2m@8020000/phandle", struct.pack(">I", 0x8002))
    f.write(dt + "v2m@8020000/msi-controller", b"")
    for base, buses in [(0x4010000000, (0x00, 0x7f)), (0x8010000000, (0x80, 0xff))]:
        ecam_bridge(f, dt + "pcie@%x/" % base, base, buses)
    f.write(dt + "pcie@4010000000/msi-map", struct.pack(">IIII", 0x0, 0x8006, 0x0, 0x8000))
    f.write(dt + "pcie@8010000000/msi-parent", struct.pack(">I", 0x8002))
    f.write(dt + "smmuv3@9050000/compatible", b"arm,smmu-v3\0")
    f.device("0000:01:00.0", unbound(e1000e(0x4020000000, 0x1000)), group=0)
    f.device("0000:02:00.0", unbound(nvme(0x4020100000)), group=1)
    f.device("0001:81:00.0", unbound(e1000e(0x8020000000, 0x2000)), group=2)
    f.device("0001:82:00.0", unbound(nvme(0x8020100000)), group=3)
    f.interrupts()
    f.write("dmesg.txt", "[    0.000000] GICv3: 256 SPIs implemented\n")


def arm64_gicv5():
    """A GICv5 host (Linux 6.17 on) as Documentation/devicetree/bindings/interrupt-controller/
    arm,gic-v5.yaml describes it: GIC > IRS > ITS (config frame) > translate frame (no
    compatible; msi-controller, #msi-cells = 1), which the host bridge's msi-map names. The NVMe
    has vectors (chip names ITS-v5-PCI-MSIX-<bdf>, the GICv5 ITS prefix); the e1000e is bound to
    vfio-pci and idle (no vectors): the device tree alone decides for it."""
    f = Fixture("arm64-gicv5", "aarch64", 4096, "6.17.0-1-arm64",
                "arm64 with a GICv5: IRS, ITS and its translate frame; one function with vectors, one idle on vfio-pci",
                "synthetic: device tree after bindings/interrupt-controller/arm,gic-v5.yaml (FVP-like GICv5)")
    dt = "sys/firmware/devicetree/base/"
    arm64_common(f, dt, b"arm,fvp-base-revc\0arm,vexpress\0")
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.17.0-1-arm64 root=/dev/vda2 ro\n")
    gic = dt + "interrupt-controller@2f000000/"
    irs = gic + "irs@2f1a0000/"
    its = irs + "its@2f120000/"
    frame = its + "msi-controller@2f130000/"
    f.write(gic + "compatible", b"arm,gic-v5\0")
    f.write(gic + "interrupt-controller", b"")
    f.write(irs + "compatible", b"arm,gic-v5-irs\0")
    f.write(irs + "reg-names", b"ns-config\0")
    f.write(its + "compatible", b"arm,gic-v5-its\0")
    f.write(its + "reg", struct.pack(">IIII", 0, 0x2f120000, 0, 0x10000))
    f.write(its + "reg-names", b"ns-config\0")
    f.write(frame + "reg", struct.pack(">IIII", 0, 0x2f130000, 0, 0x10000))
    f.write(frame + "reg-names", b"ns-translate\0")
    f.write(frame + "msi-controller", b"")
    f.write(frame + "#msi-cells", struct.pack(">I", 1))
    f.write(frame + "phandle", struct.pack(">I", 0x20))
    node = dt + "pcie@40000000/"
    ecam_bridge(f, node, 0x40000000)
    f.write(node + "msi-map", struct.pack(">IIII", 0x0, 0x20, 0x0, 0x10000))
    f.write(dt + "iommu@2b400000/compatible", b"arm,smmu-v3\0")
    f.device("0000:00:01.0", nvme(0x50000000), group=0, chip="ITS-v5-PCI-MSIX-{bdf}")
    f.device("0000:00:02.0", unbound(e1000e(0x50100000, 0x1000)), group=1)
    f.interrupts()
    f.write("dmesg.txt", "".join("[    0.000000] %s\n" % l for l in [
        "GICv5: GIC IRS0 probed",
        "GICv5 ITS: ITS its@2f120000 enabled using linear device table device_id_bits 16",
    ]))


def arm64_msi_map_mask():
    """An i.MX95-like host bridge: msi-map with msi-map-mask = <0x1ff> to a GICv3 ITS. The
    mask keeps the RIDs of bus 0 and bus 1 apart (0x000-0x1ff), so the root port (RID 0x000) and
    the NVMe behind it (RID 0x100) have DeviceIDs of their own: the mask is evidence, and no
    present function shares the NVMe's DeviceID."""
    f = Fixture("arm64-msi-map-mask", "aarch64", 4096, "6.12.0-1-arm64",
                "arm64 (i.MX95-like) with msi-map-mask 0x1ff to a GICv3 ITS: a root port and an NVMe, no DeviceID shared",
                "synthetic: one generic ECAM bridge, msi-map <0x0 &its 0x0 0x200>, msi-map-mask <0x1ff>")
    dt = "sys/firmware/devicetree/base/"
    arm64_common(f, dt, b"fsl,imx95-19x19-evk\0fsl,imx95\0")
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.12.0-1-arm64 root=/dev/mmcblk0p2 ro\n")
    f.write(dt + "interrupt-controller@48000000/compatible", b"arm,gic-v3\0")
    its = dt + "interrupt-controller@48000000/msi-controller@48040000/"
    f.write(its + "compatible", b"arm,gic-v3-its\0")
    f.write(its + "msi-controller", b"")
    f.write(its + "#msi-cells", struct.pack(">I", 1))
    f.write(its + "phandle", struct.pack(">I", 0x30))
    node = dt + "pcie@4c300000/"
    ecam_bridge(f, node, 0x4c300000)
    f.write(node + "msi-map", struct.pack(">IIII", 0x0, 0x30, 0x0, 0x200))
    f.write(node + "msi-map-mask", struct.pack(">I", 0x1ff))
    f.device("0000:00:00.0", root_port(0x60000000), group=0)
    f.device("0000:01:00.0", nvme(0x60100000), group=1, chip="ITS-PCI-MSIX-{bdf}")
    f.interrupts()
    f.write("dmesg.txt", "[    0.000000] GICv3: 960 SPIs implemented\n")


def acpi_table(sig, revision, body):
    """An ACPI table: the 36-byte header (QEMU's OEM fields) and body, checksummed."""
    b = bytearray(36) + body
    b[0:4] = sig
    struct.pack_into("<I", b, 4, len(b))
    b[8] = revision
    b[10:16] = b"BOCHS "
    b[16:24] = b"BXPC    "
    struct.pack_into("<I", b, 24, 1)
    b[28:32] = b"BXPC"
    struct.pack_into("<I", b, 32, 1)
    b[9] = (-sum(b)) & 0xFF
    return bytes(b)


def madt_arm64(cpus, its_ids):
    """MADT (ACPI 6.x 5.2.12) of a GICv3 host: local interrupt controller address and flags,
    one GICC (type 0xB, 80 bytes) per CPU, a GICD (0xC, 24 bytes, GIC version 3), a GICR
    discovery range (0xE, 16 bytes) and one GIC ITS (0xF, 20 bytes: GIC ITS ID @4, base @8) per
    ID."""
    body = bytearray(struct.pack("<II", 0, 0))
    for cpu in range(cpus):
        e = bytearray(80)
        e[0], e[1] = 0x0B, 80
        struct.pack_into("<III", e, 4, cpu, cpu, 1)  # CPU interface number, ACPI processor UID, enabled
        struct.pack_into("<I", e, 20, 23)  # performance interrupt GSIV
        struct.pack_into("<I", e, 56, 25)  # VGIC maintenance interrupt
        struct.pack_into("<Q", e, 68, cpu)  # MPIDR
        body += e
    gicd = bytearray(24)
    gicd[0], gicd[1] = 0x0C, 24
    struct.pack_into("<Q", gicd, 8, 0x08000000)
    gicd[20] = 3
    body += gicd
    body += struct.pack("<BBHQI", 0x0E, 16, 0, 0x080A0000, 0x00F60000)
    for i, its in enumerate(its_ids):
        body += struct.pack("<BBHIQI", 0x0F, 20, 0, its, 0x08080000 + 0x20000 * i, 0)
    return acpi_table(b"APIC", 4, body)


IORT_ITS_GROUP, IORT_ROOT_COMPLEX, IORT_SMMU_V3 = 0, 2, 4
IORT_SINGLE_MAPPING = 1


def iort_node(ty, revision, identifier, data, maps):
    """An IORT node (Arm DEN 0049; include/acpi/actbl2.h struct acpi_iort_node): type u8, length
    u16, revision u8, identifier u32, mapping count u32 @8, mapping offset u32 @12, data @16,
    then the ID mappings (20 bytes: input base, number of IDs minus one, output base, output
    reference, flags)."""
    moff = 16 + len(data) if maps else 0
    head = struct.pack("<BHBIII", ty, 16 + len(data) + 20 * len(maps), revision, identifier, len(maps), moff)
    return head + data + b"".join(struct.pack("<IIIII", *m) for m in maps)


def iort_server():
    """An IORT (revision 3) with one ITS group (ITS 0), an SMMUv3 and two root complexes.
    Offsets: header 48 bytes, ITS group @48 (24 bytes), SMMUv3 @72 (16 + 52 data + 2 mappings =
    108), root complex 0 @180 (16 + 24 data + 1 mapping = 60), root complex 1 @240 (80).
    - SMMUv3 (node revision 4, MSI-signalled: no GSIVs, so its DeviceID mapping index is
      valid): mapping 0 StreamIDs 0-0xffff 1:1 to the ITS; mapping 1, the index, the SMMU's
      own MSIs as DeviceID 0x10000 (single).
    - Segment 0: RIDs 0-0xffff 1:1 to the SMMUv3.
    - Segment 1: bus 0 (RIDs 0-0xff) straight to the ITS at 0x20000; bus 2 (0x200-0x2ff) to
      the SMMUv3 at 0x30200, where no mapping continues (its DeviceID index is skipped);
      bus 1 nowhere."""
    its, smmu = 48, 72
    nodes = [
        iort_node(IORT_ITS_GROUP, 1, 0, struct.pack("<II", 1, 0), []),
        # base, flags, reserved, VATOS, model, event/PRI/GERR/sync GSIV, proximity, DeviceID index
        iort_node(IORT_SMMU_V3, 4, 1, struct.pack("<QIIQIIIIIII", 0x09050000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
                  [(0x0, 0xFFFF, 0x0, its, 0), (0x0, 0x0, 0x10000, its, IORT_SINGLE_MAPPING)]),
        # memory access properties, ATS attribute, PCI segment, memory address size limit,
        # PASID capabilities, reserved, flags
        iort_node(IORT_ROOT_COMPLEX, 4, 2, struct.pack("<QIIBHBI", 0x0100000000000001, 0, 0, 64, 0, 0, 0),
                  [(0x0, 0xFFFF, 0x0, smmu, 0)]),
        iort_node(IORT_ROOT_COMPLEX, 4, 3, struct.pack("<QIIBHBI", 0x0100000000000001, 0, 1, 64, 0, 0, 0),
                  [(0x0000, 0xFF, 0x20000, its, 0), (0x0200, 0xFF, 0x30200, smmu, 0)]),
    ]
    at = 48
    for n in nodes:
        assert at in (48, 72, 180, 240), at
        at += len(n)
    return acpi_table(b"IORT", 3, bytearray(struct.pack("<III", len(nodes), 48, 0)) + b"".join(nodes))


def arm64_acpi():
    """An ACPI arm64 server (no device tree: Linux does not unflatten it under ACPI): MADT with
    GICC/GICD/GICR/ITS, IORT as iort_server(). Every function is bound to vfio-pci and not
    opened (no vectors), so the IORT decides: segment 0 through the SMMUv3 and segment 1 bus 0
    reach ITS 0 (isolated); segment 1 bus 1 (no mapping) and bus 2 (the SMMUv3 maps nothing
    there) reach no ITS (not isolated, refused)."""
    kernel = "6.12.117+deb13-arm64"  # type1 checks each group's devices (6.3 on), as the refusals assume
    f = Fixture("arm64-acpi-iort", "aarch64", 4096, kernel,
                "ACPI arm64 server: MADT GIC ITS, IORT with an SMMUv3 and two root complexes; some RIDs reach no ITS",
                "synthetic: ACPI tables after qemu-system-aarch64 -M virt,gic-version=3,iommu=smmuv3 with edk2 and acpi=force, a second PCI segment added")
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-%s root=/dev/nvme0n1p2 ro acpi=force\n" % kernel)
    f.write("proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n")
    f.write("sys/firmware/acpi/tables/APIC", madt_arm64(2, [0]))
    f.write("sys/firmware/acpi/tables/IORT", iort_server())
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")
    f.device("0000:00:01.0", unbound(e1000e(0x10000000, 0x1000)), group=0)
    f.device("0000:00:02.0", unbound(nvme(0x10100000)), group=1)
    f.device("0001:00:01.0", unbound(virtio_net(0x4010000000, 0x2000)), group=2)
    f.device("0001:01:00.0", unbound(nvme(0x4010200000)), group=3)
    f.device("0001:02:00.0", unbound(e1000e(0x4010400000, 0x3000)), group=4)
    f.interrupts()
    f.write("dmesg.txt", "".join("[    0.000000] %s\n" % l for l in [
        "ACPI: IORT 0x000000013FFF0000 000140 (v03 BOCHS  BXPC     00000001 BXPC 00000001)",
        "GICv3: 256 SPIs implemented",
        "ITS [mem 0x08080000-0x0809ffff]",
        "ITS@0x0000000008080000: allocated 8192 Devices @100200000 (indirect, esz 8, psz 64K, shr 1)",
    ]))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    ir_on = ["DMAR: IOMMU enabled", "DMAR-IR: Queued invalidation will be enabled to support x2apic and Intr-remapping.",
             "DMAR-IR: Enabled IRQ remapping in x2apic mode"]
    x86_q35("x86-vtd-ir", "q35 with VT-d interrupt remapping (x2apic mode)", "intel_iommu=on", "vtd", True, ir_on)
    x86_q35("x86-vtd-intremap-off", "q35 with VT-d, interrupt remapping disabled on the command line",
            "intel_iommu=on intremap=off", "vtd", False, ["DMAR: IOMMU enabled"])
    x86_q35("x86-vtd-nosid", "q35 with VT-d remapping but source-id verification off (intremap=nosid)",
            "intel_iommu=on intremap=nosid", "vtd", True, ir_on)
    x86_q35("x86-vtd-allow-unsafe", "q35 with VT-d, intremap=off and vfio_iommu_type1.allow_unsafe_interrupts=1",
            "intel_iommu=on intremap=off vfio_iommu_type1.allow_unsafe_interrupts=1", "vtd", False,
            ["DMAR: IOMMU enabled"], allow_unsafe="Y")
    x86_q35("x86-vtd-unprivileged", "q35 with VT-d remapping, config space read without privilege (64 bytes)",
            "intel_iommu=on", "vtd", True, ir_on, truncate=64)
    x86_q35("x86-amdvi", "q35 with AMD-Vi interrupt remapping", "amd_iommu=on", "amd", True,
            ["AMD-Vi: Interrupt remapping enabled", "AMD-Vi: X2APIC enabled"])
    x86_q35("x86-no-iommu", "q35 without an IOMMU", "quiet", None, False, ["Booting paravirtualized kernel on KVM"], allow_unsafe=None)
    x86_q35("x86-vtd-dma-off", "q35 with VT-d, DMA remapping off (intel_iommu=off), interrupt remapping on",
            "intel_iommu=off", None, True, ["DMAR: IOMMU disabled"] + ir_on[1:], allow_unsafe="N")
    x86_vtd_sriov()
    x86_iommufd_hosts()
    x86_noiommu()
    pseries(description="pSeries POWER9 KVM guest with 64 KiB pages: PAPR MSIs via RTAS; virtio-net emulated by QEMU, "
                        "e1000e and NVMe passed through",
            machine="synthetic: qemu-system-ppc64 -M pseries,accel=kvm -cpu POWER9 -device virtio-net-pci "
                    "-device vfio-pci (x2)", emulated=("0000:00:01.0",))
    pseries("ppc64-pseries-xics-4k", page=4096, kernel="6.1.0-4k-powerpc64le", cpu="POWER8 (architected)", chip="XICS",
            description="pSeries POWER8-compatible guest with a 4 KiB page kernel and the XICS interrupt controller",
            machine="synthetic: qemu-system-ppc64 -M pseries,ic-mode=xics -cpu POWER8 (kernel built with CONFIG_PPC_4K_PAGES)")
    pseries("ppc64-pseries-nested-kvm", description="pSeries POWER9 guest that is itself a KVM host (kvm_hv nested=Y, L1)",
            machine="synthetic: qemu-system-ppc64 -M pseries,cap-nested-hv=on -cpu POWER9; modprobe kvm_hv nested=1 in the guest",
            kvm_nested="Y")
    pseries("ppc64-pseries-powervm", description="PowerVM LPAR (POWER9): physical e1000e and NVMe with real location codes, no /hypervisor node",
            machine="synthetic: PowerVM LPAR on a 9009-42A, two physical adapters assigned", powervm="9009-42A")
    powernv()
    powernv10()
    arm64("arm64-its", 4096, "its")
    arm64("arm64-its-64k", 65536, "its")
    arm64("arm64-gicv2m", 4096, "v2m")
    arm64_synquacer()
    arm64_two_bridges()
    arm64_acpi()
    arm64_gicv5()
    arm64_msi_map_mask()
    print("wrote", ", ".join(sorted(os.listdir(OUT))))


if __name__ == "__main__":
    sys.exit(main())
