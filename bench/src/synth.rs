//! A generator of synthetic but realistic host trees with many functions, SR-IOV style: a few
//! physical functions and many virtual functions of a few layouts, on an x86 VT-d host.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

/// A function layout: ids, class, BARs (index, size, 64-bit), MSI-X (vectors, BIR, table, PBA).
struct Layout {
    vendor: u16,
    device: u16,
    class: u32,
    bars: &'static [(u8, u64, bool)],
    msix: (u16, u8, u32, u8, u32),
    driver: &'static str,
}

const LAYOUTS: &[Layout] = &[
    // A 100G NIC virtual function: BAR0 1 MiB, table and PBA in it.
    Layout {
        vendor: 0x15b3,
        device: 0x101e,
        class: 0x020000,
        bars: &[(0, 0x10_0000, true)],
        msix: (64, 0, 0x2000, 0, 0x3000),
        driver: "mlx5_core",
    },
    // An Intel 700-series virtual function: BAR0 64 KiB registers, BAR3 16 KiB MSI-X.
    Layout {
        vendor: 0x8086,
        device: 0x154c,
        class: 0x020000,
        bars: &[(0, 0x1_0000, true), (3, 0x4000, true)],
        msix: (5, 3, 0, 3, 0x2000),
        driver: "iavf",
    },
    // An NVMe virtual function: BAR0 16 KiB, doorbells at 0x1000, table at 0x2000.
    Layout {
        vendor: 0x144d,
        device: 0xa824,
        class: 0x010802,
        bars: &[(0, 0x4000, true)],
        msix: (33, 0, 0x2000, 0, 0x3000),
        driver: "nvme",
    },
];

fn config(l: &Layout) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    b[0..2].copy_from_slice(&l.vendor.to_le_bytes());
    b[2..4].copy_from_slice(&l.device.to_le_bytes());
    b[6] = 0x10;
    b[9] = (l.class & 0xff) as u8;
    b[10] = ((l.class >> 8) & 0xff) as u8;
    b[11] = (l.class >> 16) as u8;
    b[0x34] = 0x40;
    // PCIe capability at 0x40, MSI-X at 0x70.
    b[0x40] = 0x10;
    b[0x41] = 0x70;
    b[0x42] = 0x02;
    let (n, tb, to, pb, po) = l.msix;
    b[0x70] = 0x11;
    b[0x72..0x74].copy_from_slice(&(n - 1).to_le_bytes());
    b[0x74..0x78].copy_from_slice(&(to | u32::from(tb)).to_le_bytes());
    b[0x78..0x7c].copy_from_slice(&(po | u32::from(pb)).to_le_bytes());
    b
}

fn resource(l: &Layout, base: u64) -> String {
    let mut lines = vec!["0x0000000000000000 0x0000000000000000 0x0000000000000000".to_string(); 13];
    let mut at = base;
    for &(i, size, is64) in l.bars {
        let flags: u64 = if is64 { 0x0014_220c } else { 0x0004_0200 };
        lines[usize::from(i)] = format!("0x{at:016x} 0x{:016x} 0x{flags:016x}", at + size - 1);
        at += size.max(0x1_0000);
    }
    lines.join("\n") + "\n"
}

/// Writes `data` to `dir/rel`, making the directories on the way.
pub(crate) fn write_in(dir: &Path, rel: &str, data: &[u8]) -> io::Result<()> {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap_or(dir))?;
    fs::write(p, data)
}

/// Makes `dir/rel` a symlink to `target`, making the directories on the way.
pub(crate) fn link_in(dir: &Path, rel: &str, target: &str) -> io::Result<()> {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap_or(dir))?;
    symlink(target, p)
}

/// Writes a host with `n` functions under `dir` (which must not exist yet).
pub fn write_host(dir: &Path, n: usize) -> io::Result<()> {
    let w = |rel: &str, data: &[u8]| write_in(dir, rel, data);
    w("fixture.toml", format!("[host]\narch = \"x86_64\"\npage_size = 4096\nkernel = \"6.1.0-26-amd64\"\n\n[source]\nkind = \"synthetic\"\ndescription = \"{n} SR-IOV style functions\"\nmachine = \"msix-policy-bench synth\"\n").as_bytes())?;
    w("proc/cmdline", b"BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro intel_iommu=on\n")?;
    w("sys/class/iommu/dmar0/intel-iommu/ecap", b"f0205a\n")?;
    w("sys/class/iommu/dmar0/intel-iommu/cap", b"12008c22260286\n")?;
    w("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", b"N\n")?;
    let mut interrupts = String::from("           CPU0       CPU1\n");
    let mut irq = 40;
    for i in 0..n {
        let l = &LAYOUTS[i % LAYOUTS.len()];
        let addr = format!("0000:{:02x}:{:02x}.{}", 1 + i / 256, (i / 8) % 32, i % 8);
        let d = format!("sys/bus/pci/devices/{addr}");
        w(&format!("{d}/config"), &config(l))?;
        w(&format!("{d}/resource"), resource(l, 0x40_0000_0000 + (i as u64) * 0x40_0000).as_bytes())?;
        w(&format!("{d}/vendor"), format!("0x{:04x}\n", l.vendor).as_bytes())?;
        w(&format!("{d}/device"), format!("0x{:04x}\n", l.device).as_bytes())?;
        w(&format!("{d}/class"), format!("0x{:06x}\n", l.class).as_bytes())?;
        w(&format!("{d}/irq"), b"0\n")?;
        w(&format!("{d}/subsystem_vendor"), format!("0x{:04x}\n", l.vendor).as_bytes())?;
        w(&format!("{d}/subsystem_device"), b"0x0001\n")?;
        for _ in 0..2 {
            w(&format!("{d}/msi_irqs/{irq}"), b"msix\n")?;
            interrupts
                .push_str(&format!(" {irq}:          1          0  IR-PCI-MSIX-{addr}    0-edge      {}\n", l.driver));
            irq += 1;
        }
        symlink(format!("../../../bus/pci/drivers/{}", l.driver), dir.join(&d).join("driver"))?;
        symlink(format!("../../../kernel/iommu_groups/{}", 10 + i), dir.join(&d).join("iommu_group"))?;
    }
    w("proc/interrupts", interrupts.as_bytes())?;
    w("dmesg.txt", b"[    0.300000] DMAR-IR: Enabled IRQ remapping in x2apic mode\n")
}
