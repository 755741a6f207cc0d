//! The synthetic fixtures under `fixtures/synthetic/` (`kind = "synthetic"`), written by
//! `cargo xtask synth-fixtures`.
//!
//! Each one stands in for a platform branch until a real recording replaces it. Device layouts
//! follow what QEMU's models present (virtio-net-pci modern, e1000e, nvme), so the decisions they
//! produce are the ones a real host of that kind would get.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// BAR index to (start, size, resource flags).
type Bars = BTreeMap<u8, (u64, u64, u64)>;

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

fn le64(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// Big-endian 32-bit cells, as a device tree property holds them.
fn be32(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// Writes `data` at `off` in `b`.
fn put(b: &mut [u8], off: usize, data: &[u8]) {
    b[off..off + data.len()].copy_from_slice(data);
}

/// The low 32 bits of a value the generator knows fits (addresses it places below 4 GiB, or the
/// low dword of a 64-bit one).
fn low32(v: u64) -> u32 {
    (v & 0xFFFF_FFFF) as u32
}

/// A config space image of 256 bytes. caps: (offset, capability bytes without the next
/// pointer), in the order of the capability list.
fn cfg(vendor: u16, device: u16, cls: u32, header: u8, caps: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    put(&mut b, 0, &le16(vendor));
    put(&mut b, 2, &le16(device));
    b[0x08] = 0x01; // revision
    b[0x09] = (cls & 0xFF) as u8;
    b[0x0A] = ((cls >> 8) & 0xFF) as u8;
    b[0x0B] = ((cls >> 16) & 0xFF) as u8;
    b[0x0E] = header;
    if let Some(&(first, _)) = caps.first() {
        put(&mut b, 0x06, &le16(0x0010));
        b[0x34] = first as u8;
        for (i, (off, body)) in caps.iter().enumerate() {
            let next = caps.get(i + 1).map_or(0, |c| c.0);
            b[*off] = body[0];
            b[off + 1] = next as u8;
            put(&mut b, off + 2, &body[1..]);
        }
    }
    b
}

fn msix(vectors: u16, tbir: u32, toff: u32, pbir: u32, poff: u32) -> Vec<u8> {
    [&[0x11][..], &le16(vectors - 1), &le32(toff | tbir), &le32(poff | pbir)].concat()
}

fn virtio_cap(cfg_type: u8, bar: u8, off: u32, length: u32, mult: Option<u32>) -> Vec<u8> {
    let len = if mult.is_some() { 20 } else { 16 };
    let mut body = [&[0x09, len, cfg_type, bar, 0, 0, 0][..], &le32(off), &le32(length)].concat();
    if let Some(m) = mult {
        body.extend_from_slice(&le32(m));
    }
    body
}

fn pm() -> Vec<u8> {
    vec![0x01, 0x03, 0x00, 0, 0, 0, 0]
}

/// PCIe capability v1: 20 bytes.
fn pcie() -> Vec<u8> {
    let mut v = vec![0x10, 0x01, 0x00];
    v.resize(20, 0);
    v
}

fn msi() -> Vec<u8> {
    let mut v = vec![0x05, 0x80, 0x00];
    v.resize(14, 0);
    v
}

/// The sysfs resource text (13 lines).
fn resource(bars: &Bars) -> String {
    let mut lines = Vec::new();
    for i in 0..13u8 {
        let (s, e, f) = match bars.get(&i) {
            Some(&(s, n, f)) => (s, s + n - 1, f),
            None => (0, 0, 0),
        };
        lines.push(format!("0x{s:016x} 0x{e:016x} 0x{f:016x}"));
    }
    lines.join("\n") + "\n"
}

const IORESOURCE_IO: u64 = 0x100;
const IORESOURCE_PREFETCH: u64 = 0x2000;
const IORESOURCE_MEM_64: u64 = 0x10_0000;

/// A memory BAR register's low dword: address, prefetch bit.
fn mem_bar_low(start: u64, flags: u64) -> u32 {
    low32(start & 0xFFFF_FFF0) | if flags & IORESOURCE_PREFETCH != 0 { 0x8 } else { 0 }
}

/// The BAR registers (config 0x10-0x27) of a type-0 header, as firmware programmed them from the
/// same resources sysfs shows: I/O bit, 64-bit type with its upper dword, prefetch.
fn with_bar_registers(config: &[u8], bars: &Bars) -> Vec<u8> {
    let mut b = config.to_vec();
    if b[0x0E] & 0x7F != 0 {
        return b;
    }
    for (&i, &(start, _size, flags)) in bars {
        if i > 5 {
            continue;
        }
        let at = 0x10 + 4 * usize::from(i);
        if flags & IORESOURCE_IO != 0 {
            put(&mut b, at, &le32(low32(start & !0x3) | 0x1));
            continue;
        }
        let low = mem_bar_low(start, flags);
        if flags & IORESOURCE_MEM_64 != 0 {
            put(&mut b, at, &le32(low | 0x4));
            put(&mut b, at + 4, &le32((start >> 32) as u32));
        } else {
            put(&mut b, at, &le32(low));
        }
    }
    b
}

const MEM32: u64 = 0x40200;
const MEM64: u64 = 0x14220C;
const MEM64_NP: u64 = 0x140204;
const IO: u64 = 0x40101;

/// A function: ids, driver, interrupt name, config image, resources, MSI-X vectors allocated.
#[derive(Clone)]
struct Dev {
    vendor: u16,
    device: u16,
    cls: u32,
    driver: Option<&'static str>,
    name: String,
    config: Vec<u8>,
    bars: Bars,
    vectors: u32,
    vf: bool,
}

fn bars(list: &[(u8, (u64, u64, u64))]) -> Bars {
    list.iter().copied().collect()
}

fn virtio_net(base: u64, io: u64) -> Dev {
    let caps = [
        (0x98, msix(3, 1, 0x0, 1, 0x800)),
        (0x84, [virtio_cap(5, 0, 0, 0, None), vec![0; 4]].concat()),
        (0x70, virtio_cap(2, 4, 0x3000, 0x1000, Some(4))),
        (0x60, virtio_cap(4, 4, 0x2000, 0x1000, None)),
        (0x50, virtio_cap(3, 4, 0x1000, 0x1000, None)),
        (0x40, virtio_cap(1, 4, 0x0, 0x1000, None)),
    ];
    Dev {
        vendor: 0x1AF4,
        device: 0x1041,
        cls: 0x020000,
        driver: Some("virtio-pci"),
        name: "virtio0".into(),
        config: cfg(0x1AF4, 0x1041, 0x020000, 0, &caps),
        bars: bars(&[(0, (io, 0x20, IO)), (1, (base, 0x1000, MEM32)), (4, (base + 0x100000, 0x4000, MEM64))]),
        vectors: 3,
        vf: false,
    }
}

fn e1000e(base: u64, io: u64) -> Dev {
    let caps = [(0xC8, pm()), (0xD0, msi()), (0xE0, pcie()), (0xA0, msix(5, 3, 0x0, 3, 0x2000))];
    Dev {
        vendor: 0x8086,
        device: 0x10D3,
        cls: 0x020000,
        driver: Some("e1000e"),
        name: "enp0s2".into(),
        config: cfg(0x8086, 0x10D3, 0x020000, 0, &caps),
        bars: bars(&[
            (0, (base, 0x20000, MEM32)),
            (1, (base + 0x20000, 0x20000, MEM32)),
            (2, (io, 0x20, IO)),
            (3, (base + 0x40000, 0x4000, MEM32)),
        ]),
        vectors: 5,
        vf: false,
    }
}

fn nvme(base: u64) -> Dev {
    let caps = [(0x40, pm()), (0x60, msix(65, 0, 0x2000, 0, 0x3000)), (0x80, pcie())];
    Dev {
        vendor: 0x1B36,
        device: 0x0010,
        cls: 0x010802,
        driver: Some("nvme"),
        name: "nvme0q".into(),
        config: cfg(0x1B36, 0x0010, 0x010802, 0, &caps),
        bars: bars(&[(0, (base, 0x4000, MEM64_NP))]),
        vectors: 3,
        vf: false,
    }
}

/// The SR-IOV extended capability (id 0x0010, version 1) without its header dword: 60 bytes.
/// vf_bars: the first VF's BARs (VF BARn registers at +0x24 + 4n).
fn sriov_cap(total_vfs: u16, num_vfs: u16, first_offset: u16, stride: u16, vf_device: u16, vf_bars: &Bars) -> Vec<u8> {
    let mut body = vec![0u8; 0x40 - 4];
    put(&mut body, 0x00, &le32(0)); // SR-IOV capabilities
    put(&mut body, 0x04, &le16(if num_vfs != 0 { 0x0009 } else { 0 })); // control: VF Enable, VF MSE
                                                                        // initial, total, num VFs, function dependency link, a pad byte
    put(&mut body, 0x0A, &[&le16(total_vfs)[..], &le16(total_vfs), &le16(num_vfs), &[0, 0]].concat());
    put(&mut body, 0x10, &[&le16(first_offset)[..], &le16(stride), &[0, 0], &le16(vf_device)].concat());
    put(&mut body, 0x18, &le32(0x553)); // supported page sizes: 4K 8K 64K 256K 1M 4M
    put(&mut body, 0x1C, &le32(0x1)); // system page size: 4 KiB
    for (&i, &(start, _size, flags)) in vf_bars {
        let at = 0x20 + 4 * usize::from(i);
        let low = mem_bar_low(start, flags);
        if flags & IORESOURCE_MEM_64 != 0 {
            put(&mut body, at, &le32(low | 0x4));
            put(&mut body, at + 4, &le32((start >> 32) as u32));
        } else {
            put(&mut body, at, &le32(low));
        }
    }
    body
}

/// config extended to 4 KiB with PCIe extended capabilities: (offset, id, version, body).
fn with_ext_caps(config: &[u8], caps: &[(usize, u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = config.to_vec();
    b.resize(4096, 0);
    for (i, (off, id, ver, body)) in caps.iter().enumerate() {
        let next = caps.get(i + 1).map_or(0, |c| c.0 as u32);
        put(&mut b, *off, &le32(id | (ver << 16) | (next << 20)));
        put(&mut b, off + 4, body);
    }
    b
}

/// Intel 82576 (8086:10c9, igb): BAR0 128 KiB registers, BAR2 I/O, BAR3 16 KiB MSI-X (10
/// vectors, table at 0, PBA at 0x2000); an SR-IOV capability at 0x160 whose VFs (8086:10ca) have
/// BAR0 16 KiB and BAR3 16 KiB (table at 0, PBA at 0x2000), each VF's BARs one after the other's
/// (VF offset 0x80, stride 2 on function numbers as the 82576 reports).
fn igb_82576_pf(base: u64, vf_base: u64, total_vfs: u16, num_vfs: u16) -> Dev {
    let caps = [(0x40, pm()), (0x50, msi()), (0x70, msix(10, 3, 0x0, 3, 0x2000)), (0xA0, pcie())];
    let total = u64::from(total_vfs);
    let vf_bars = bars(&[(0, (vf_base, 0x4000, MEM64_NP)), (3, (vf_base + 0x4000 * total, 0x4000, MEM64_NP))]);
    let config = with_ext_caps(
        &cfg(0x8086, 0x10C9, 0x020000, 0, &caps),
        &[
            (0x100, 0x0001, 1, vec![0; 0x40]), // AER
            (0x160, 0x0010, 1, sriov_cap(total_vfs, num_vfs, 0x80, 2, 0x10CA, &vf_bars)),
        ],
    );
    Dev {
        vendor: 0x8086,
        device: 0x10C9,
        cls: 0x020000,
        driver: Some("igb"),
        name: "enp1s0f0".into(),
        config,
        bars: bars(&[
            (0, (base, 0x20000, MEM32)),
            (2, (0xE000, 0x20, IO)),
            (3, (base + 0x20000, 0x4000, MEM32)),
            (7, (vf_base, 0x4000 * total, MEM64_NP)),
            (10, (vf_base + 0x4000 * total, 0x4000 * total, MEM64_NP)),
        ]),
        vectors: 10,
        vf: false,
    }
}

/// VF n of an 82576 (8086:10ca, igbvf): its config space reads Vendor and Device ID 0xFFFF
/// (SR-IOV 1.1, 3.4.1.1-2) and its BAR registers read 0 (3.4.1.11); its own MSI-X capability (3
/// vectors, table at BAR3 + 0, PBA at BAR3 + 0x2000). The kernel serves the ids from the PF's
/// SR-IOV capability as the vendor and device attributes.
fn igb_82576_vf(vf_base: u64, total_vfs: u64, n: u64) -> Dev {
    let caps = [(0x70, msix(3, 3, 0x0, 3, 0x2000)), (0xA0, pcie())];
    Dev {
        vendor: 0x8086,
        device: 0x10CA,
        cls: 0x020000,
        driver: Some("igbvf"),
        name: format!("enp1s16f{n}"),
        config: cfg(0xFFFF, 0xFFFF, 0x020000, 0, &caps),
        bars: bars(&[
            (0, (vf_base + 0x4000 * n, 0x4000, MEM64_NP)),
            (3, (vf_base + 0x4000 * (total_vfs + n), 0x4000, MEM64_NP)),
        ]),
        vectors: 3,
        vf: true,
    }
}

fn host_bridge() -> Dev {
    Dev {
        vendor: 0x8086,
        device: 0x29C0,
        cls: 0x060000,
        driver: None,
        name: String::new(),
        config: cfg(0x8086, 0x29C0, 0x060000, 0, &[]),
        bars: Bars::new(),
        vectors: 0,
        vf: false,
    }
}

fn root_port(base: u64) -> Dev {
    let caps = [(0x40, pcie()), (0x80, msi())];
    Dev {
        vendor: 0x1B36,
        device: 0x000C,
        cls: 0x060400,
        driver: Some("pcieport"),
        name: "PCIe PME".into(),
        config: cfg(0x1B36, 0x000C, 0x060400, 1, &caps),
        bars: bars(&[(0, (base, 0x1000, MEM32))]),
        vectors: 0,
        vf: false,
    }
}

/// The device bound to vfio-pci and not opened: no MSI vectors allocated yet.
fn unbound(mut d: Dev) -> Dev {
    d.driver = Some("vfio-pci");
    d.vectors = 0;
    d
}

/// How a function is attached: IOMMU group, interrupt chip name (`{bdf}` replaced), config
/// truncated to a length, device-tree node.
struct Attach<'a> {
    group: Option<u32>,
    chip: Option<&'a str>,
    truncate: Option<usize>,
    of_node: Option<&'a str>,
}

impl Default for Attach<'_> {
    fn default() -> Self {
        Attach { group: None, chip: Some("PCI-MSI"), truncate: None, of_node: None }
    }
}

fn group(g: u32) -> Attach<'static> {
    Attach { group: Some(g), ..Attach::default() }
}

fn group_chip(g: u32, chip: &str) -> Attach<'_> {
    Attach { group: Some(g), chip: Some(chip), ..Attach::default() }
}

/// One fixture directory being written.
struct Fixture {
    dir: PathBuf,
    irq: u32,
    /// /proc/interrupts rows: irq, chip, hardware irq, name.
    lines: Vec<(u32, String, String, String)>,
}

const DT: &str = "sys/firmware/devicetree/base/";

impl Fixture {
    fn new(
        out: &Path,
        name: &str,
        arch: &str,
        page: u32,
        kernel: &str,
        description: &str,
        machine: &str,
    ) -> io::Result<Self> {
        let dir = out.join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let f = Fixture { dir, irq: 24, lines: Vec::new() };
        f.write(
            "fixture.toml",
            format!(
                "# Generated by `cargo xtask synth-fixtures` (xtask/src/synth.rs): do not edit.\n\
                 [host]\narch = \"{arch}\"\npage_size = {page}\nkernel = \"{kernel}\"\n\n[source]\nkind = \"synthetic\"\n\
                 description = \"{description}\"\nmachine = \"{machine}\"\n"
            ),
        )?;
        f.write("proc/sys/kernel/osrelease", format!("{kernel}\n"))?;
        f.write("proc/version", format!("Linux version {kernel} (synthetic)\n"))?;
        Ok(f)
    }

    fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> io::Result<()> {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(p, data)
    }

    fn link(&self, rel: &str, target: &str) -> io::Result<()> {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink(target, p)
    }

    fn remove(&self, rel: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(rel))
    }

    fn device(&mut self, bdf: &str, d: &Dev, at: Attach<'_>) -> io::Result<()> {
        let base = format!("sys/bus/pci/devices/{bdf}");
        self.write(&format!("{base}/vendor"), format!("0x{:04x}\n", d.vendor))?;
        self.write(&format!("{base}/device"), format!("0x{:04x}\n", d.device))?;
        self.write(&format!("{base}/class"), format!("0x{:06x}\n", d.cls))?;
        // A VF has no INTx pin: its irq attribute reads 0.
        let irq = if d.vf {
            "0\n".to_string()
        } else {
            let slot = u32::from_str_radix(&bdf[bdf.len() - 4..bdf.len() - 2], 16).unwrap_or(0);
            format!("{}\n", 16 + slot % 8)
        };
        self.write(&format!("{base}/irq"), irq)?;
        self.write(&format!("{base}/subsystem_vendor"), format!("0x{:04x}\n", d.vendor))?;
        self.write(&format!("{base}/subsystem_device"), "0x0001\n")?;
        // A VF's BAR registers read 0 (its BARs are the PF's VF BARs); resource still lists them.
        let mut config = if d.vf { d.config.clone() } else { with_bar_registers(&d.config, &d.bars) };
        if let Some(n) = at.truncate {
            config.truncate(n);
        }
        self.write(&format!("{base}/config"), config)?;
        self.write(&format!("{base}/resource"), resource(&d.bars))?;
        if let Some(driver) = d.driver {
            self.link(&format!("{base}/driver"), &format!("../../../bus/pci/drivers/{driver}"))?;
        }
        if let Some(g) = at.group {
            self.link(&format!("{base}/iommu_group"), &format!("../../../kernel/iommu_groups/{g}"))?;
            self.link(
                &format!("sys/kernel/iommu_groups/{g}/devices/{bdf}"),
                &format!("../../../../devices/pci0000:00/{bdf}"),
            )?;
            self.write(&format!("sys/kernel/iommu_groups/{g}/type"), "DMA\n")?;
        }
        if let Some(node) = at.of_node {
            self.link(&format!("{base}/of_node"), &format!("../../../firmware/devicetree/base/{node}"))?;
        }
        for v in 0..d.vectors {
            let irq = self.irq;
            self.irq += 1;
            self.write(&format!("{base}/msi_irqs/{irq}"), "msix\n")?;
            if let Some(chip) = at.chip {
                self.lines.push((irq, chip.replace("{bdf}", bdf), format!("{v}-edge"), format!("{}-{v}", d.name)));
            }
        }
        Ok(())
    }

    fn interrupts(&self, extra: &[(u32, &str, &str, &str)]) -> io::Result<()> {
        let mut rows = vec!["           CPU0       CPU1".to_string()];
        let extra = extra.iter().map(|&(i, c, h, n)| (i, c, h, n));
        let own = self.lines.iter().map(|(i, c, h, n)| (*i, c.as_str(), h.as_str(), n.as_str()));
        for (irq, chip, hw, name) in extra.chain(own) {
            rows.push(format!("{irq:4}:{:11}{:11}  {chip} {hw}      {name}", 7, 0));
        }
        self.write("proc/interrupts", rows.join("\n") + "\n")
    }

    /// Rebinds `bdf` to vfio-pci.
    fn bind_vfio(&self, bdf: &str) -> io::Result<()> {
        let base = format!("sys/bus/pci/devices/{bdf}");
        self.remove(&format!("{base}/driver"))?;
        self.link(&format!("{base}/driver"), "../../../bus/pci/drivers/vfio-pci")
    }
}

/// dmesg lines stamped 0.000000, 0.001000, ...
fn dmesg_stepped(lines: &[&str]) -> String {
    lines.iter().enumerate().map(|(i, l)| format!("[    0.{:06}] {l}\n", i * 1000)).collect()
}

/// dmesg lines all stamped 0.000000.
fn dmesg_at_zero(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("[    0.000000] {l}\n")).collect()
}

fn dmar(flags: u8) -> Vec<u8> {
    let mut body = vec![0u8; 48];
    put(&mut body, 0, b"DMAR");
    put(&mut body, 4, &le32(48));
    body[8] = 1;
    put(&mut body, 10, b"BOCHS ");
    body[36] = 38; // host address width - 1
    body[37] = flags;
    body
}

const X86_KERNEL: &str = "6.1.0-26-amd64";
const X86_IOMMUFD_KERNEL: &str = "6.12.57-amd64";

#[derive(Clone, Copy, PartialEq)]
enum Iommu {
    None,
    Vtd,
    Amd,
}

/// A q35 host: what differs between the x86 fixtures.
struct Q35<'a> {
    name: &'a str,
    description: &'a str,
    cmdline: &'a str,
    iommu: Iommu,
    ir_chips: bool,
    dmesg: &'a [&'a str],
    allow_unsafe: Option<&'a str>,
    truncate: Option<usize>,
    kernel: &'a str,
    groups: Option<bool>,
}

impl Default for Q35<'_> {
    fn default() -> Self {
        Q35 {
            name: "",
            description: "",
            cmdline: "",
            iommu: Iommu::None,
            ir_chips: false,
            dmesg: &[],
            allow_unsafe: Some("N"),
            truncate: None,
            kernel: X86_KERNEL,
            groups: None,
        }
    }
}

fn x86_q35(out: &Path, q: Q35<'_>) -> io::Result<Fixture> {
    let kernel = q.kernel;
    let mut f =
        Fixture::new(out, q.name, "x86_64", 4096, kernel, q.description, &format!("synthetic q35: {}", q.cmdline))?;
    f.write("proc/cmdline", format!("BOOT_IMAGE=/boot/vmlinuz-{kernel} root=/dev/vda1 ro {}\n", q.cmdline))?;
    f.write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: QEMU Virtual CPU\n")?;
    let chip = if q.ir_chips { "IR-PCI-MSI" } else { "PCI-MSI" };
    let groups = q.groups.unwrap_or(q.iommu != Iommu::None);
    let g = |n: u32| if groups { Some(n) } else { None };
    let at = |n: u32, chip: Option<&'static str>| Attach { group: g(n), chip, truncate: q.truncate, of_node: None };
    f.device("0000:00:00.0", &host_bridge(), Attach { group: g(0), ..Attach::default() })?;
    f.device("0000:00:01.0", &virtio_net(0xFEA00000, 0xC000), at(1, Some(chip)))?;
    f.device("0000:00:02.0", &e1000e(0xFE800000, 0xC040), at(2, Some(chip)))?;
    f.device("0000:00:03.0", &root_port(0xFEB00000), at(3, None))?;
    f.device("0000:00:04.0", &nvme(0xFEC00000), at(4, Some(chip)))?;
    f.interrupts(&[(0, if q.ir_chips { "IR-IO-APIC" } else { "IO-APIC" }, "2-edge", "timer")])?;
    match q.iommu {
        Iommu::Vtd => {
            f.write("sys/class/iommu/dmar0/intel-iommu/cap", "12008c22260286\n")?;
            f.write("sys/class/iommu/dmar0/intel-iommu/ecap", "f0205a\n")?;
            f.write("sys/class/iommu/dmar0/intel-iommu/version", "1:0\n")?;
            f.write("sys/firmware/acpi/tables/DMAR", dmar(0x01))?;
        }
        Iommu::Amd => {
            f.write("sys/class/iommu/ivhd0/amd-iommu/cap", "190b0011\n")?;
            f.write("sys/class/iommu/ivhd0/amd-iommu/features", "a4\n")?;
        }
        Iommu::None => {}
    }
    if let Some(a) = q.allow_unsafe {
        f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", format!("{a}\n"))?;
        f.write("sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "65535\n")?;
    }
    f.write("dmesg.txt", dmesg_stepped(q.dmesg))?;
    Ok(f)
}

/// The VFIO device cdev as a 6.6+ kernel shows it for functions bound to vfio-pci.
fn vfio_cdev(f: &Fixture, bdfs: &[&str]) -> io::Result<()> {
    for (i, bdf) in bdfs.iter().enumerate() {
        f.write(&format!("sys/class/vfio-dev/vfio{i}/dev"), format!("511:{i}\n"))?;
        f.write(&format!("sys/bus/pci/devices/{bdf}/vfio-dev/vfio{i}/dev"), format!("511:{i}\n"))?;
        f.bind_vfio(bdf)?;
    }
    Ok(())
}

fn iommufd(f: &Fixture, allow_unsafe: &str) -> io::Result<()> {
    f.write("sys/module/iommufd/parameters/allow_unsafe_interrupts", format!("{allow_unsafe}\n"))
}

/// Kernels that offer iommufd and the VFIO cdev. Two without the type1 container
/// (CONFIG_IOMMUFD_VFIO_CONTAINER: /dev/vfio/vfio is iommufd's; no vfio_iommu_type1 module) with
/// interrupt remapping off, whose command line sets the type1 parameter that cannot take effect;
/// one with both backends and remapping on.
fn x86_iommufd_hosts(out: &Path) -> io::Result<()> {
    for (name, allow) in [("x86-iommufd-only", "N"), ("x86-iommufd-only-allow-unsafe", "Y")] {
        let description = format!(
            "q35 with VT-d, intremap=off, an iommufd-only kernel (no type1 container), iommufd \
             allow_unsafe_interrupts={allow}; vfio_iommu_type1.allow_unsafe_interrupts=1 on the command line has no \
             module to apply to"
        );
        let cmdline = format!(
            "intel_iommu=on intremap=off vfio_iommu_type1.allow_unsafe_interrupts=1 iommufd.allow_unsafe_interrupts={}",
            if allow == "Y" { "1" } else { "0" }
        );
        let f = x86_q35(
            out,
            Q35 {
                name,
                description: &description,
                cmdline: &cmdline,
                iommu: Iommu::Vtd,
                dmesg: &["DMAR: IOMMU enabled"],
                allow_unsafe: None,
                kernel: X86_IOMMUFD_KERNEL,
                ..Q35::default()
            },
        )?;
        iommufd(&f, allow)?;
        vfio_cdev(&f, &["0000:00:02.0", "0000:00:04.0"])?;
    }
    let f = x86_q35(
        out,
        Q35 {
            name: "x86-vtd-type1-and-iommufd",
            description: "q35 with VT-d interrupt remapping: both the type1 container and iommufd (VFIO cdev)",
            cmdline: "intel_iommu=on",
            iommu: Iommu::Vtd,
            ir_chips: true,
            dmesg: &["DMAR: IOMMU enabled", "DMAR-IR: Enabled IRQ remapping in x2apic mode"],
            kernel: X86_IOMMUFD_KERNEL,
            ..Q35::default()
        },
    )?;
    iommufd(&f, "N")?;
    vfio_cdev(&f, &["0000:00:02.0", "0000:00:04.0"])
}

/// No IOMMU, vfio enable_unsafe_noiommu_mode=Y: e1000e and nvme bound to vfio-pci sit in
/// vfio-noiommu groups (drivers/vfio/group.c names them so). allow_unsafe_interrupts=Y too: no
/// parameter makes a noiommu group assignable to a VM.
fn x86_noiommu(out: &Path) -> io::Result<()> {
    let f = x86_q35(
        out,
        Q35 {
            name: "x86-noiommu-mode",
            description: "q35 without an IOMMU, vfio enable_unsafe_noiommu_mode=Y: vfio-noiommu groups",
            cmdline: "vfio.enable_unsafe_noiommu_mode=1 vfio_iommu_type1.allow_unsafe_interrupts=1",
            dmesg: &[
                "vfio-pci 0000:00:02.0: Adding to iommu group 0",
                "vfio-pci 0000:00:02.0: Adding kernel taint for vfio-noiommu group on device",
            ],
            allow_unsafe: Some("Y"),
            groups: Some(false),
            ..Q35::default()
        },
    )?;
    f.write("sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n")?;
    for (g, bdf) in [(0, "0000:00:02.0"), (1, "0000:00:04.0")] {
        let base = format!("sys/bus/pci/devices/{bdf}");
        f.bind_vfio(bdf)?;
        f.link(&format!("{base}/iommu_group"), &format!("../../../kernel/iommu_groups/{g}"))?;
        f.link(
            &format!("sys/kernel/iommu_groups/{g}/devices/{bdf}"),
            &format!("../../../../devices/pci0000:00/{bdf}"),
        )?;
        f.write(&format!("sys/kernel/iommu_groups/{g}/name"), "vfio-noiommu\n")?;
        f.write(&format!("sys/kernel/iommu_groups/{g}/type"), "unknown\n")?; // no default domain
    }
    Ok(())
}

/// VT-d with interrupt remapping, 4 KiB pages: an Intel 82576 PF with SR-IOV enabled and two of
/// its VFs, each in its own IOMMU group (ACS), the VFs bound to igbvf.
fn x86_vtd_sriov(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "x86-vtd-sriov",
        "x86_64",
        4096,
        X86_KERNEL,
        "q35 with VT-d interrupt remapping: an Intel 82576 PF (igb) with two SR-IOV VFs (igbvf)",
        "synthetic: q35, intel_iommu=on; echo 2 > sriov_numvfs on an 82576 (VF ids 0xFFFF in config, as hardware reads)",
    )?;
    f.write("proc/cmdline", format!("BOOT_IMAGE=/boot/vmlinuz-{X86_KERNEL} root=/dev/vda1 ro intel_iommu=on\n"))?;
    f.write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU\n")?;
    let (total, vf_base) = (8u16, 0xF8000000u64);
    let pf_bdf = "0000:01:00.0";
    f.device("0000:00:00.0", &host_bridge(), group(0))?;
    f.device(pf_bdf, &igb_82576_pf(0xFB000000, vf_base, total, 2), group_chip(1, "IR-PCI-MSI"))?;
    let base = format!("sys/bus/pci/devices/{pf_bdf}");
    f.write(&format!("{base}/sriov_totalvfs"), format!("{total}\n"))?;
    f.write(&format!("{base}/sriov_numvfs"), "2\n")?;
    f.write(&format!("{base}/sriov_offset"), "128\n")?;
    f.write(&format!("{base}/sriov_stride"), "2\n")?;
    f.write(&format!("{base}/sriov_vf_device"), "10ca\n")?;
    for n in 0..2u32 {
        // VF n at routing ID 0x100 (the PF) + 0x80 (First VF Offset) + 2n (VF Stride): bus 1,
        // device 0x10, function 2n, where an 82576's VFs appear.
        let bdf = format!("0000:01:10.{}", 2 * n);
        f.device(&bdf, &igb_82576_vf(vf_base, u64::from(total), u64::from(n)), group_chip(2 + n, "IR-PCI-MSI"))?;
        f.link(&format!("{base}/virtfn{n}"), &format!("../{bdf}"))?;
        f.link(&format!("sys/bus/pci/devices/{bdf}/physfn"), &format!("../{pf_bdf}"))?;
    }
    f.interrupts(&[(0, "IR-IO-APIC", "2-edge", "timer")])?;
    f.write("sys/class/iommu/dmar0/intel-iommu/cap", "d2008c40660462\n")?;
    f.write("sys/class/iommu/dmar0/intel-iommu/ecap", "f050da\n")?;
    f.write("sys/class/iommu/dmar0/intel-iommu/version", "1:0\n")?;
    f.write("sys/firmware/acpi/tables/DMAR", dmar(0x01))?;
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")?;
    f.write(
        "dmesg.txt",
        dmesg_stepped(&[
            "DMAR: IOMMU enabled",
            "DMAR-IR: Enabled IRQ remapping in x2apic mode",
            "igb 0000:01:00.0: 2 VFs allocated",
        ]),
    )
}

fn ppc64_common(f: &Fixture) -> io::Result<()> {
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinux-6.1.0-26-powerpc64le root=/dev/sda2 ro\n")?;
    f.write("sys/module/vfio_iommu_spapr_tce/parameters/.keep", "")
}

/// A host location code as a KVM host's firmware writes it for a slot (illustrative): QEMU copies
/// it into the guest's ibm,loc-code for a function it passes through (spapr_phb_vfio_get_loc_code).
fn host_loc(slot: usize) -> String {
    format!("UOPWR.A100029-Node0-Slot{slot}")
}

const PSERIES_PHB: &str = "pci@800000020000000";

/// A PowerVM location code (unit type-model.serial, planar, card slot; illustrative).
fn powervm_loc(slot: usize) -> String {
    format!("U78D2.001.WZS00AB-P1-C{slot}")
}

/// What differs between the pSeries fixtures.
struct Pseries<'a> {
    name: &'a str,
    page: u32,
    kernel: &'a str,
    cpu: &'a str,
    chip: &'a str,
    description: &'a str,
    machine: &'a str,
    kvm_nested: Option<&'a str>,
    emulated: &'a [&'a str],
    powervm: Option<&'a str>,
}

impl Default for Pseries<'_> {
    fn default() -> Self {
        Pseries {
            name: "ppc64-pseries",
            page: 65536,
            kernel: "6.1.0-26-powerpc64le",
            cpu: "POWER9 (architected)",
            chip: "XIVE-IRQ",
            description: "pSeries POWER9 guest with 64 KiB pages: PAPR MSIs via RTAS",
            machine: "synthetic: qemu-system-ppc64 -M pseries -cpu POWER9",
            kvm_nested: None,
            emulated: &[],
            powervm: None,
        }
    }
}

/// A QEMU pseries KVM guest. Each function has a device-tree node under the PHB with its
/// ibm,loc-code: `qemu_<type>:...` for the BDFs in `emulated` (QEMU's spapr_phb_get_loc_code),
/// else the host's location code (a function KVM passes through). With `powervm` (a machine
/// type-model) a PowerVM LPAR instead: root model/compatible `IBM,<type-model>`, no /hypervisor
/// node, real location codes, no virtio function.
fn pseries(out: &Path, p: Pseries<'_>) -> io::Result<()> {
    let mut f = Fixture::new(out, p.name, "ppc64le", p.page, p.kernel, p.description, p.machine)?;
    ppc64_common(&f)?;
    let model = match p.powervm {
        Some(tm) => format!("IBM,{tm}"),
        None => "IBM pSeries (emulated by qemu)".into(),
    };
    f.write(
        "proc/cpuinfo",
        format!(
            "processor\t: 0\ncpu\t\t: {}, altivec supported\n\ntimebase\t: 512000000\nplatform\t: pSeries\nmodel\t\t: {model}\nmachine\t\t: CHRP {model}\nMMU\t\t: Radix\n",
            p.cpu
        ),
    )?;
    let compatible = if p.powervm.is_some() { model.as_str() } else { "qemu,pseries" };
    f.write(&format!("{DT}compatible"), format!("{compatible}\0"))?;
    f.write(&format!("{DT}model"), format!("{model}\0"))?;
    f.write(&format!("{DT}device_type"), "chrp\0")?;
    if p.powervm.is_none() {
        f.write(&format!("{DT}hypervisor/compatible"), "linux,kvm\0")?;
    }
    f.write(&format!("{DT}rtas/ibm,change-msi"), be32(&[0x2c]))?;
    f.write(&format!("{DT}rtas/ibm,query-interrupt-source-number"), be32(&[0x2d]))?;
    f.write(&format!("{DT}{PSERIES_PHB}/device_type"), "pci\0")?;
    f.write(&format!("{DT}{PSERIES_PHB}/compatible"), "IBM,Logical_PHB\0")?;
    f.write(&format!("{DT}{PSERIES_PHB}/reg"), be32(&[0x08000000, 0x20000000, 0, 0]))?;
    if let Some(nested) = p.kvm_nested {
        f.write("sys/module/kvm_hv/parameters/nested", format!("{nested}\n"))?;
        f.write("sys/module/kvm/parameters/halt_poll_ns", "10000\n")?;
    }
    let functions = [
        ("0000:00:01.0", virtio_net(0x200080000000, 0x10000), "ethernet@1", "virtio-net-pci"),
        ("0000:00:02.0", e1000e(0x200080200000, 0x10040), "ethernet@2", "e1000e"),
        ("0000:00:04.0", nvme(0x200080400000), "mass-storage@4", "nvme"),
    ];
    for (slot, (bdf, d, node, qemu_type)) in functions.iter().enumerate() {
        if p.powervm.is_some() && qemu_type.starts_with("virtio") {
            continue;
        }
        let rel = format!("{PSERIES_PHB}/{node}");
        let dev = u32::from_str_radix(&bdf[8..10], 16).unwrap_or(0);
        f.write(&format!("{DT}{rel}/reg"), be32(&[dev << 11, 0, 0, 0, 0]))?;
        let loc = if p.powervm.is_some() {
            powervm_loc(slot + 1)
        } else if p.emulated.contains(bdf) {
            format!("qemu_{qemu_type}:{bdf}")
        } else {
            host_loc(slot + 1)
        };
        f.write(&format!("{DT}{rel}/ibm,loc-code"), format!("{loc}\0"))?;
        let at = Attach { group: Some(slot as u32), chip: Some(p.chip), truncate: None, of_node: Some(&rel) };
        f.device(bdf, d, at)?;
    }
    f.interrupts(&[])
}

/// A PowerNV POWER<power> host under OPAL with an IODA3 PHB at pciex@600c3c0000000.
fn powernv_common(f: &Fixture, power: u32) -> io::Result<()> {
    ppc64_common(f)?;
    f.write(
        "proc/cpuinfo",
        format!(
            "processor\t: 0\ncpu\t\t: POWER{power}, altivec supported\n\ntimebase\t: 512000000\nplatform\t: PowerNV\nmodel\t\t: IBM PowerNV (emulated by qemu)\nmachine\t\t: PowerNV IBM PowerNV (emulated by qemu)\nfirmware\t: OPAL\nMMU\t\t: Radix\n"
        ),
    )?;
    f.write(&format!("{DT}compatible"), format!("qemu,powernv{power}\0ibm,powernv\0"))?;
    f.write(&format!("{DT}ibm,opal/compatible"), "ibm,opal-v3\0")?;
    f.write(&format!("{DT}pciex@600c3c0000000/compatible"), format!("ibm,power{power}-pciex\0ibm,ioda3-phb\0"))?;
    f.write(&format!("{DT}pciex@600c3c0000000/ibm,opal-phbid"), be32(&[0, 0]))
}

fn on_node(g: u32, node: &str) -> Attach<'_> {
    Attach { group: Some(g), chip: Some("XIVE-IRQ"), truncate: None, of_node: Some(node) }
}

/// PowerNV POWER10: a PHB5 (ibm,power10-pciex, ibm,ioda3-phb) driven by the IODA2 code.
fn powernv10(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "ppc64-powernv10",
        "ppc64le",
        65536,
        "6.1.0-26-powerpc64le",
        "PowerNV POWER10 host with 64 KiB pages: a PHB5 (IODA3)",
        "synthetic: qemu-system-ppc64 -M powernv10 (skiboot PHB5 compatible)",
    )?;
    powernv_common(&f, 10)?;
    f.device("0000:01:00.0", &nvme(0x600C000000000), on_node(0, "pciex@600c3c0000000/pci@0/mass-storage@0"))?;
    f.device("0000:02:00.0", &e1000e(0x600C000100000, 0x0), on_node(1, "pciex@600c3c0000000/pci@0/pci@0/ethernet@0"))?;
    f.interrupts(&[])
}

fn powernv(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "ppc64-powernv",
        "ppc64le",
        65536,
        "6.1.0-26-powerpc64le",
        "PowerNV POWER9 host with 64 KiB pages: an IODA3 PHB and an IODA1 PHB",
        "synthetic: qemu-system-ppc64 -M powernv9 (second PHB model changed to test the unknown branch)",
    )?;
    powernv_common(&f, 9)?;
    f.write(&format!("{DT}pciex@600c3c0100000/compatible"), "ibm,ioda-phb\0")?;
    f.write(&format!("{DT}pciex@600c3c0100000/ibm,opal-phbid"), be32(&[0, 1]))?;
    f.device("0000:01:00.0", &nvme(0x600C000000000), on_node(0, "pciex@600c3c0000000/pci@0/mass-storage@0"))?;
    f.device("0000:02:00.0", &e1000e(0x600C000100000, 0x0), on_node(1, "pciex@600c3c0000000/pci@0/pci@0/ethernet@0"))?;
    f.device("0001:01:00.0", &virtio_net(0x600C080000000, 0x0), group_chip(2, "XIVE-IRQ"))?;
    f.interrupts(&[])
}

#[derive(Clone, Copy, PartialEq)]
enum ArmMsi {
    Its,
    V2m,
}

fn arm64(out: &Path, name: &str, page: u32, msi: ArmMsi) -> io::Result<()> {
    let desc = match msi {
        ArmMsi::Its => "arm64 virt with GICv3 ITS and SMMUv3",
        ArmMsi::V2m => "arm64 virt with GICv2 + GICv2m, no ITS",
    };
    let description = format!("{desc}{}", if page == 65536 { " (64 KiB pages)" } else { "" });
    let machine = format!(
        "synthetic: qemu-system-aarch64 -M virt,gic-version={},iommu=smmuv3",
        if msi == ArmMsi::Its { "3" } else { "2" }
    );
    let mut f = Fixture::new(out, name, "aarch64", page, "6.1.0-26-arm64", &description, &machine)?;
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-arm64 root=/dev/vda2 ro\n")?;
    f.write("proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 125.00\nCPU implementer\t: 0x41\n")?;
    f.write(&format!("{DT}compatible"), "linux,dummy-virt\0")?;
    let chip = match msi {
        ArmMsi::Its => {
            f.write(&format!("{DT}intc@8000000/compatible"), "arm,gic-v3\0")?;
            f.write(&format!("{DT}intc@8000000/its@8080000/compatible"), "arm,gic-v3-its\0")?;
            f.write(&format!("{DT}intc@8000000/its@8080000/phandle"), be32(&[0x8006]))?;
            f.write(&format!("{DT}intc@8000000/its@8080000/msi-controller"), "")?;
            f.write(&format!("{DT}pcie@10000000/msi-map"), be32(&[0, 0x8006, 0, 0x10000]))?;
            "ITS-MSI"
        }
        ArmMsi::V2m => {
            f.write(&format!("{DT}intc@8000000/compatible"), "arm,cortex-a15-gic\0")?;
            f.write(&format!("{DT}intc@8000000/v2m@8020000/compatible"), "arm,gic-v2m-frame\0")?;
            f.write(&format!("{DT}intc@8000000/v2m@8020000/phandle"), be32(&[0x8002]))?;
            f.write(&format!("{DT}pcie@10000000/msi-parent"), be32(&[0x8002]))?;
            "MSI" // GICv2m's irq_chip name on 6.1: ambiguous, so the device tree decides
        }
    };
    f.write(&format!("{DT}pcie@10000000/compatible"), "pci-host-ecam-generic\0")?;
    f.write(&format!("{DT}smmuv3@9050000/compatible"), "arm,smmu-v3\0")?;
    f.device("0000:00:01.0", &virtio_net(0x10000000, 0x1000), group_chip(0, chip))?;
    f.device("0000:00:02.0", &e1000e(0x10200000, 0x1040), group_chip(1, chip))?;
    f.device("0000:00:03.0", &nvme(0x10400000), group_chip(2, chip))?;
    f.interrupts(&[])?;
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")
}

fn arm64_common(f: &Fixture, compat: &str) -> io::Result<()> {
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-arm64 root=/dev/nvme0n1p2 ro\n")?;
    f.write("proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 200.00\nCPU implementer\t: 0x41\n")?;
    f.write(&format!("{DT}compatible"), compat)?;
    f.write(&format!("{DT}#address-cells"), be32(&[2]))?;
    f.write(&format!("{DT}#size-cells"), be32(&[2]))?;
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")
}

/// Socionext SynQuacer (Developerbox): GIC-500 with the pre-ITS, two DesignWare ECAM root
/// complexes, each with its own linux,pci-domain, whose msi-map send every function to the ITS.
fn arm64_synquacer(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "arm64-synquacer",
        "aarch64",
        4096,
        "6.1.0-26-arm64",
        "Socionext SynQuacer (Developerbox): GICv3 ITS behind the pre-ITS, which clears MSI isolation",
        "synthetic: device tree after arch/arm64/boot/dts/socionext/synquacer.dtsi (two PCIe RCs, pre-ITS window)",
    )?;
    arm64_common(&f, "socionext,developer-box\0socionext,synquacer\0")?;
    let its = format!("{DT}interrupt-controller@30000000/msi-controller@30020000/");
    f.write(&format!("{DT}interrupt-controller@30000000/compatible"), "arm,gic-v3\0")?;
    f.write(&format!("{its}compatible"), "arm,gic-v3-its\0")?;
    f.write(&format!("{its}reg"), be32(&[0, 0x30020000, 0, 0x20000]))?;
    f.write(&format!("{its}msi-controller"), "")?;
    f.write(&format!("{its}#msi-cells"), be32(&[1]))?;
    f.write(&format!("{its}phandle"), be32(&[0x10]))?;
    f.write(&format!("{its}socionext,synquacer-pre-its"), be32(&[0x58000000, 0x200000]))?;
    for (i, (base, devid)) in [(0x60000000u32, 0x0u32), (0x70000000, 0x10000)].into_iter().enumerate() {
        let node = format!("{DT}pcie@{base:x}/");
        f.write(&format!("{node}compatible"), "socionext,synquacer-pcie-ecam\0snps,dw-pcie-ecam\0")?;
        f.write(&format!("{node}device_type"), "pci\0")?;
        f.write(&format!("{node}reg"), be32(&[0, base, 0, 0x7f00000]))?;
        f.write(&format!("{node}bus-range"), be32(&[0x0, 0x7e]))?;
        f.write(&format!("{node}linux,pci-domain"), be32(&[i as u32]))?;
        f.write(&format!("{node}msi-map"), be32(&[0x0, 0x10, devid, 0x7f00]))?;
    }
    f.device("0000:01:00.0", &e1000e(0x68000000, 0x1000), group_chip(0, "ITS-MSI"))?;
    f.device("0001:01:00.0", &nvme(0x78000000), group_chip(1, "ITS-MSI"))?;
    f.interrupts(&[])?;
    f.write(
        "dmesg.txt",
        dmesg_at_zero(&[
            "GICv3: 256 SPIs implemented",
            "ITS [mem 0x30020000-0x3003ffff]",
            "GIC: enabling workaround for ITS: Socionext Synquacer pre-ITS",
            "ITS@0x0000000030020000: allocated 65536 Devices @8e0200000 (flat, esz 8, psz 64K, shr 1)",
        ]),
    )
}

/// A generic ECAM host bridge node: 256 MiB of config space at `base`, serving `buses`.
fn ecam_bridge(f: &Fixture, node: &str, base: u64, buses: (u32, u32)) -> io::Result<()> {
    f.write(&format!("{node}compatible"), "pci-host-ecam-generic\0")?;
    f.write(&format!("{node}device_type"), "pci\0")?;
    f.write(&format!("{node}reg"), be32(&[(base >> 32) as u32, low32(base), 0, 0x10000000]))?;
    f.write(&format!("{node}bus-range"), be32(&[buses.0, buses.1]))
}

/// Two generic ECAM host bridges without linux,pci-domain: their bus ranges tell them apart. The
/// first maps its functions to a GICv3 ITS, the second to a GICv2m frame. Every function is bound
/// to vfio-pci and not opened (no vectors), so the device tree decides.
fn arm64_two_bridges(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "arm64-two-bridges",
        "aarch64",
        4096,
        "6.1.0-26-arm64",
        "arm64 with two PCI host bridges: one msi-map to a GICv3 ITS, one msi-parent to a GICv2m frame",
        "synthetic: two pci-host-ecam-generic bridges, bus-range 0x00-0x7f and 0x80-0xff",
    )?;
    arm64_common(&f, "linux,dummy-virt\0")?;
    f.write(&format!("{DT}intc@8000000/compatible"), "arm,gic-v3\0")?;
    f.write(&format!("{DT}intc@8000000/its@8080000/compatible"), "arm,gic-v3-its\0")?;
    f.write(&format!("{DT}intc@8000000/its@8080000/phandle"), be32(&[0x8006]))?;
    f.write(&format!("{DT}intc@8000000/its@8080000/msi-controller"), "")?;
    f.write(&format!("{DT}v2m@8020000/compatible"), "arm,gic-v2m-frame\0")?;
    f.write(&format!("{DT}v2m@8020000/phandle"), be32(&[0x8002]))?;
    f.write(&format!("{DT}v2m@8020000/msi-controller"), "")?;
    for (base, buses) in [(0x4010000000u64, (0x00, 0x7f)), (0x8010000000, (0x80, 0xff))] {
        ecam_bridge(&f, &format!("{DT}pcie@{base:x}/"), base, buses)?;
    }
    f.write(&format!("{DT}pcie@4010000000/msi-map"), be32(&[0x0, 0x8006, 0x0, 0x8000]))?;
    f.write(&format!("{DT}pcie@8010000000/msi-parent"), be32(&[0x8002]))?;
    f.write(&format!("{DT}smmuv3@9050000/compatible"), "arm,smmu-v3\0")?;
    f.device("0000:01:00.0", &unbound(e1000e(0x4020000000, 0x1000)), group(0))?;
    f.device("0000:02:00.0", &unbound(nvme(0x4020100000)), group(1))?;
    f.device("0001:81:00.0", &unbound(e1000e(0x8020000000, 0x2000)), group(2))?;
    f.device("0001:82:00.0", &unbound(nvme(0x8020100000)), group(3))?;
    f.interrupts(&[])?;
    f.write("dmesg.txt", "[    0.000000] GICv3: 256 SPIs implemented\n")
}

/// A GICv5 host (Linux 6.17 on) as Documentation/devicetree/bindings/interrupt-controller/
/// arm,gic-v5.yaml describes it: GIC > IRS > ITS (config frame) > translate frame (no compatible;
/// msi-controller, #msi-cells = 1), which the host bridge's msi-map names. The NVMe has vectors
/// (chip names ITS-v5-PCI-MSIX-<bdf>, the GICv5 ITS prefix); the e1000e is bound to vfio-pci and
/// idle (no vectors): the device tree alone decides for it.
fn arm64_gicv5(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "arm64-gicv5",
        "aarch64",
        4096,
        "6.17.0-1-arm64",
        "arm64 with a GICv5: IRS, ITS and its translate frame; one function with vectors, one idle on vfio-pci",
        "synthetic: device tree after bindings/interrupt-controller/arm,gic-v5.yaml (FVP-like GICv5)",
    )?;
    arm64_common(&f, "arm,fvp-base-revc\0arm,vexpress\0")?;
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.17.0-1-arm64 root=/dev/vda2 ro\n")?;
    let gic = format!("{DT}interrupt-controller@2f000000/");
    let irs = format!("{gic}irs@2f1a0000/");
    let its = format!("{irs}its@2f120000/");
    let frame = format!("{its}msi-controller@2f130000/");
    f.write(&format!("{gic}compatible"), "arm,gic-v5\0")?;
    f.write(&format!("{gic}interrupt-controller"), "")?;
    f.write(&format!("{irs}compatible"), "arm,gic-v5-irs\0")?;
    f.write(&format!("{irs}reg-names"), "ns-config\0")?;
    f.write(&format!("{its}compatible"), "arm,gic-v5-its\0")?;
    f.write(&format!("{its}reg"), be32(&[0, 0x2f120000, 0, 0x10000]))?;
    f.write(&format!("{its}reg-names"), "ns-config\0")?;
    f.write(&format!("{frame}reg"), be32(&[0, 0x2f130000, 0, 0x10000]))?;
    f.write(&format!("{frame}reg-names"), "ns-translate\0")?;
    f.write(&format!("{frame}msi-controller"), "")?;
    f.write(&format!("{frame}#msi-cells"), be32(&[1]))?;
    f.write(&format!("{frame}phandle"), be32(&[0x20]))?;
    let node = format!("{DT}pcie@40000000/");
    ecam_bridge(&f, &node, 0x40000000, (0x00, 0xff))?;
    f.write(&format!("{node}msi-map"), be32(&[0x0, 0x20, 0x0, 0x10000]))?;
    f.write(&format!("{DT}iommu@2b400000/compatible"), "arm,smmu-v3\0")?;
    f.device("0000:00:01.0", &nvme(0x50000000), group_chip(0, "ITS-v5-PCI-MSIX-{bdf}"))?;
    f.device("0000:00:02.0", &unbound(e1000e(0x50100000, 0x1000)), group(1))?;
    f.interrupts(&[])?;
    f.write(
        "dmesg.txt",
        dmesg_at_zero(&[
            "GICv5: GIC IRS0 probed",
            "GICv5 ITS: ITS its@2f120000 enabled using linear device table device_id_bits 16",
        ]),
    )
}

/// An i.MX95-like host bridge: msi-map with msi-map-mask = <0x1ff> to a GICv3 ITS. The mask keeps
/// the RIDs of bus 0 and bus 1 apart (0x000-0x1ff), so the root port (RID 0x000) and the NVMe
/// behind it (RID 0x100) have DeviceIDs of their own: the mask is evidence, and no present
/// function shares the NVMe's DeviceID.
fn arm64_msi_map_mask(out: &Path) -> io::Result<()> {
    let mut f = Fixture::new(
        out,
        "arm64-msi-map-mask",
        "aarch64",
        4096,
        "6.12.0-1-arm64",
        "arm64 (i.MX95-like) with msi-map-mask 0x1ff to a GICv3 ITS: a root port and an NVMe, no DeviceID shared",
        "synthetic: one generic ECAM bridge, msi-map <0x0 &its 0x0 0x200>, msi-map-mask <0x1ff>",
    )?;
    arm64_common(&f, "fsl,imx95-19x19-evk\0fsl,imx95\0")?;
    f.write("proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.12.0-1-arm64 root=/dev/mmcblk0p2 ro\n")?;
    f.write(&format!("{DT}interrupt-controller@48000000/compatible"), "arm,gic-v3\0")?;
    let its = format!("{DT}interrupt-controller@48000000/msi-controller@48040000/");
    f.write(&format!("{its}compatible"), "arm,gic-v3-its\0")?;
    f.write(&format!("{its}msi-controller"), "")?;
    f.write(&format!("{its}#msi-cells"), be32(&[1]))?;
    f.write(&format!("{its}phandle"), be32(&[0x30]))?;
    let node = format!("{DT}pcie@4c300000/");
    ecam_bridge(&f, &node, 0x4c300000, (0x00, 0xff))?;
    f.write(&format!("{node}msi-map"), be32(&[0x0, 0x30, 0x0, 0x200]))?;
    f.write(&format!("{node}msi-map-mask"), be32(&[0x1ff]))?;
    f.device("0000:00:00.0", &root_port(0x60000000), group(0))?;
    f.device("0000:01:00.0", &nvme(0x60100000), group_chip(1, "ITS-PCI-MSIX-{bdf}"))?;
    f.interrupts(&[])?;
    f.write("dmesg.txt", "[    0.000000] GICv3: 960 SPIs implemented\n")
}

/// An ACPI table: the 36-byte header (QEMU's OEM fields) and body, checksummed.
fn acpi_table(sig: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 36];
    b.extend_from_slice(body);
    put(&mut b, 0, sig);
    let len = b.len() as u32;
    put(&mut b, 4, &le32(len));
    b[8] = revision;
    put(&mut b, 10, b"BOCHS ");
    put(&mut b, 16, b"BXPC    ");
    put(&mut b, 24, &le32(1));
    put(&mut b, 28, b"BXPC");
    put(&mut b, 32, &le32(1));
    let sum = b.iter().fold(0u8, |s, &x| s.wrapping_add(x));
    b[9] = sum.wrapping_neg();
    b
}

/// MADT (ACPI 6.x 5.2.12) of a GICv3 host: local interrupt controller address and flags, one
/// GICC (type 0xB, 80 bytes) per CPU, a GICD (0xC, 24 bytes, GIC version 3), a GICR discovery
/// range (0xE, 16 bytes) and one GIC ITS (0xF, 20 bytes: GIC ITS ID @4, base @8) per ID.
fn madt_arm64(cpus: u32, its_ids: &[u32]) -> Vec<u8> {
    let mut body = [le32(0), le32(0)].concat();
    for cpu in 0..cpus {
        let mut e = vec![0u8; 80];
        e[0] = 0x0B;
        e[1] = 80;
        // CPU interface number, ACPI processor UID, enabled
        put(&mut e, 4, &[le32(cpu), le32(cpu), le32(1)].concat());
        put(&mut e, 20, &le32(23)); // performance interrupt GSIV
        put(&mut e, 56, &le32(25)); // VGIC maintenance interrupt
        put(&mut e, 68, &le64(u64::from(cpu))); // MPIDR
        body.extend_from_slice(&e);
    }
    let mut gicd = vec![0u8; 24];
    gicd[0] = 0x0C;
    gicd[1] = 24;
    put(&mut gicd, 8, &le64(0x08000000));
    gicd[20] = 3;
    body.extend_from_slice(&gicd);
    body.extend_from_slice(&[&[0x0E, 16][..], &le16(0), &le64(0x080A0000), &le32(0x00F60000)].concat());
    for (i, &its) in its_ids.iter().enumerate() {
        let base = 0x08080000 + 0x20000 * i as u64;
        body.extend_from_slice(&[&[0x0F, 20][..], &le16(0), &le32(its), &le64(base), &le32(0)].concat());
    }
    acpi_table(b"APIC", 4, &body)
}

const IORT_ITS_GROUP: u8 = 0;
const IORT_ROOT_COMPLEX: u8 = 2;
const IORT_SMMU_V3: u8 = 4;
const IORT_SINGLE_MAPPING: u32 = 1;

/// An IORT node (Arm DEN 0049; include/acpi/actbl2.h struct acpi_iort_node): type u8, length
/// u16, revision u8, identifier u32, mapping count u32 @8, mapping offset u32 @12, data @16, then
/// the ID mappings (20 bytes: input base, number of IDs minus one, output base, output
/// reference, flags).
fn iort_node(ty: u8, revision: u8, identifier: u32, data: &[u8], maps: &[[u32; 5]]) -> Vec<u8> {
    let moff = if maps.is_empty() { 0 } else { 16 + data.len() as u32 };
    let length = (16 + data.len() + 20 * maps.len()) as u16;
    let mut n =
        [&[ty][..], &le16(length), &[revision], &le32(identifier), &le32(maps.len() as u32), &le32(moff)].concat();
    n.extend_from_slice(data);
    for m in maps {
        n.extend(m.iter().flat_map(|v| v.to_le_bytes()));
    }
    n
}

/// A root complex node's data: memory access properties, ATS attribute, PCI segment, memory
/// address size limit, PASID capabilities, reserved, flags.
fn iort_root_complex_data(segment: u32) -> Vec<u8> {
    [&le64(0x0100000000000001)[..], &le32(0), &le32(segment), &[64], &le16(0), &[0], &le32(0)].concat()
}

/// An IORT (revision 3) with one ITS group (ITS 0), an SMMUv3 and two root complexes. Offsets:
/// header 48 bytes, ITS group @48 (24 bytes), SMMUv3 @72 (16 + 52 data + 2 mappings = 108), root
/// complex 0 @180 (16 + 24 data + 1 mapping = 60), root complex 1 @240 (80).
/// - SMMUv3 (node revision 4, MSI-signalled: no GSIVs, so its DeviceID mapping index is valid):
///   mapping 0 StreamIDs 0-0xffff 1:1 to the ITS; mapping 1, the index, the SMMU's own MSIs as
///   DeviceID 0x10000 (single).
/// - Segment 0: RIDs 0-0xffff 1:1 to the SMMUv3.
/// - Segment 1: bus 0 (RIDs 0-0xff) straight to the ITS at 0x20000; bus 2 (0x200-0x2ff) to the
///   SMMUv3 at 0x30200, where no mapping continues (its DeviceID index is skipped); bus 1
///   nowhere.
fn iort_server() -> Vec<u8> {
    let (its, smmu) = (48u32, 72u32);
    // base, flags, reserved, VATOS, model, event/PRI/GERR/sync GSIV, proximity, DeviceID index
    let smmu_data = [&le64(0x09050000)[..], &le32(0), &le32(0), &le64(0), &[le32(0); 6].concat(), &le32(1)].concat();
    let nodes = [
        iort_node(IORT_ITS_GROUP, 1, 0, &[le32(1), le32(0)].concat(), &[]),
        iort_node(
            IORT_SMMU_V3,
            4,
            1,
            &smmu_data,
            &[[0x0, 0xFFFF, 0x0, its, 0], [0x0, 0x0, 0x10000, its, IORT_SINGLE_MAPPING]],
        ),
        iort_node(IORT_ROOT_COMPLEX, 4, 2, &iort_root_complex_data(0), &[[0x0, 0xFFFF, 0x0, smmu, 0]]),
        iort_node(
            IORT_ROOT_COMPLEX,
            4,
            3,
            &iort_root_complex_data(1),
            &[[0x0000, 0xFF, 0x20000, its, 0], [0x0200, 0xFF, 0x30200, smmu, 0]],
        ),
    ];
    let mut body = [le32(nodes.len() as u32), le32(48), le32(0)].concat();
    for n in &nodes {
        body.extend_from_slice(n);
    }
    acpi_table(b"IORT", 3, &body)
}

/// An ACPI arm64 server (no device tree: Linux does not unflatten it under ACPI): MADT with
/// GICC/GICD/GICR/ITS, IORT as [`iort_server`]. Every function is bound to vfio-pci and not
/// opened (no vectors), so the IORT decides: segment 0 through the SMMUv3 and segment 1 bus 0
/// reach ITS 0 (isolated); segment 1 bus 1 (no mapping) and bus 2 (the SMMUv3 maps nothing there)
/// reach no ITS (not isolated, refused).
fn arm64_acpi(out: &Path) -> io::Result<()> {
    let kernel = "6.12.117+deb13-arm64"; // type1 checks each group's devices (6.3 on), as the refusals assume
    let mut f = Fixture::new(
        out,
        "arm64-acpi-iort",
        "aarch64",
        4096,
        kernel,
        "ACPI arm64 server: MADT GIC ITS, IORT with an SMMUv3 and two root complexes; some RIDs reach no ITS",
        "synthetic: ACPI tables after qemu-system-aarch64 -M virt,gic-version=3,iommu=smmuv3 with edk2 and acpi=force, a second PCI segment added",
    )?;
    f.write("proc/cmdline", format!("BOOT_IMAGE=/boot/vmlinuz-{kernel} root=/dev/nvme0n1p2 ro acpi=force\n"))?;
    f.write("proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n")?;
    f.write("sys/firmware/acpi/tables/APIC", madt_arm64(2, &[0]))?;
    f.write("sys/firmware/acpi/tables/IORT", iort_server())?;
    f.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")?;
    f.device("0000:00:01.0", &unbound(e1000e(0x10000000, 0x1000)), group(0))?;
    f.device("0000:00:02.0", &unbound(nvme(0x10100000)), group(1))?;
    f.device("0001:00:01.0", &unbound(virtio_net(0x4010000000, 0x2000)), group(2))?;
    f.device("0001:01:00.0", &unbound(nvme(0x4010200000)), group(3))?;
    f.device("0001:02:00.0", &unbound(e1000e(0x4010400000, 0x3000)), group(4))?;
    f.interrupts(&[])?;
    f.write(
        "dmesg.txt",
        dmesg_at_zero(&[
            "ACPI: IORT 0x000000013FFF0000 000140 (v03 BOCHS  BXPC     00000001 BXPC 00000001)",
            "GICv3: 256 SPIs implemented",
            "ITS [mem 0x08080000-0x0809ffff]",
            "ITS@0x0000000008080000: allocated 8192 Devices @100200000 (indirect, esz 8, psz 64K, shr 1)",
        ]),
    )
}

/// Writes every synthetic fixture under `out` (removed first), returning their names.
pub fn write_all(out: &Path) -> io::Result<Vec<String>> {
    if out.exists() {
        fs::remove_dir_all(out)?;
    }
    fs::create_dir_all(out)?;
    let ir_on = [
        "DMAR: IOMMU enabled",
        "DMAR-IR: Queued invalidation will be enabled to support x2apic and Intr-remapping.",
        "DMAR-IR: Enabled IRQ remapping in x2apic mode",
    ];
    let vtd = |name, description, cmdline, ir_chips, dmesg| Q35 {
        name,
        description,
        cmdline,
        iommu: Iommu::Vtd,
        ir_chips,
        dmesg,
        ..Q35::default()
    };
    x86_q35(out, vtd("x86-vtd-ir", "q35 with VT-d interrupt remapping (x2apic mode)", "intel_iommu=on", true, &ir_on))?;
    x86_q35(
        out,
        vtd(
            "x86-vtd-intremap-off",
            "q35 with VT-d, interrupt remapping disabled on the command line",
            "intel_iommu=on intremap=off",
            false,
            &["DMAR: IOMMU enabled"],
        ),
    )?;
    x86_q35(
        out,
        vtd(
            "x86-vtd-nosid",
            "q35 with VT-d remapping but source-id verification off (intremap=nosid)",
            "intel_iommu=on intremap=nosid",
            true,
            &ir_on,
        ),
    )?;
    x86_q35(
        out,
        Q35 {
            allow_unsafe: Some("Y"),
            ..vtd(
                "x86-vtd-allow-unsafe",
                "q35 with VT-d, intremap=off and vfio_iommu_type1.allow_unsafe_interrupts=1",
                "intel_iommu=on intremap=off vfio_iommu_type1.allow_unsafe_interrupts=1",
                false,
                &["DMAR: IOMMU enabled"],
            )
        },
    )?;
    x86_q35(
        out,
        Q35 {
            truncate: Some(64),
            ..vtd(
                "x86-vtd-unprivileged",
                "q35 with VT-d remapping, config space read without privilege (64 bytes)",
                "intel_iommu=on",
                true,
                &ir_on,
            )
        },
    )?;
    x86_q35(
        out,
        Q35 {
            name: "x86-amdvi",
            description: "q35 with AMD-Vi interrupt remapping",
            cmdline: "amd_iommu=on",
            iommu: Iommu::Amd,
            ir_chips: true,
            dmesg: &["AMD-Vi: Interrupt remapping enabled", "AMD-Vi: X2APIC enabled"],
            ..Q35::default()
        },
    )?;
    x86_q35(
        out,
        Q35 {
            name: "x86-no-iommu",
            description: "q35 without an IOMMU",
            cmdline: "quiet",
            dmesg: &["Booting paravirtualized kernel on KVM"],
            allow_unsafe: None,
            ..Q35::default()
        },
    )?;
    let dma_off = [&["DMAR: IOMMU disabled"][..], &ir_on[1..]].concat();
    x86_q35(
        out,
        Q35 {
            name: "x86-vtd-dma-off",
            description: "q35 with VT-d, DMA remapping off (intel_iommu=off), interrupt remapping on",
            cmdline: "intel_iommu=off",
            ir_chips: true,
            dmesg: &dma_off,
            ..Q35::default()
        },
    )?;
    x86_vtd_sriov(out)?;
    x86_iommufd_hosts(out)?;
    x86_noiommu(out)?;
    pseries(
        out,
        Pseries {
            description:
                "pSeries POWER9 KVM guest with 64 KiB pages: PAPR MSIs via RTAS; virtio-net emulated by QEMU, \
                          e1000e and NVMe passed through",
            machine: "synthetic: qemu-system-ppc64 -M pseries,accel=kvm -cpu POWER9 -device virtio-net-pci \
                      -device vfio-pci (x2)",
            emulated: &["0000:00:01.0"],
            ..Pseries::default()
        },
    )?;
    pseries(
        out,
        Pseries {
            name: "ppc64-pseries-xics-4k",
            page: 4096,
            kernel: "6.1.0-4k-powerpc64le",
            cpu: "POWER8 (architected)",
            chip: "XICS",
            description: "pSeries POWER8-compatible guest with a 4 KiB page kernel and the XICS interrupt controller",
            machine: "synthetic: qemu-system-ppc64 -M pseries,ic-mode=xics -cpu POWER8 (kernel built with CONFIG_PPC_4K_PAGES)",
            ..Pseries::default()
        },
    )?;
    pseries(
        out,
        Pseries {
            name: "ppc64-pseries-nested-kvm",
            description: "pSeries POWER9 guest that is itself a KVM host (kvm_hv nested=Y, L1)",
            machine: "synthetic: qemu-system-ppc64 -M pseries,cap-nested-hv=on -cpu POWER9; modprobe kvm_hv nested=1 in the guest",
            kvm_nested: Some("Y"),
            ..Pseries::default()
        },
    )?;
    pseries(
        out,
        Pseries {
            name: "ppc64-pseries-powervm",
            description:
                "PowerVM LPAR (POWER9): physical e1000e and NVMe with real location codes, no /hypervisor node",
            machine: "synthetic: PowerVM LPAR on a 9009-42A, two physical adapters assigned",
            powervm: Some("9009-42A"),
            ..Pseries::default()
        },
    )?;
    powernv(out)?;
    powernv10(out)?;
    arm64(out, "arm64-its", 4096, ArmMsi::Its)?;
    arm64(out, "arm64-its-64k", 65536, ArmMsi::Its)?;
    arm64(out, "arm64-gicv2m", 4096, ArmMsi::V2m)?;
    arm64_synquacer(out)?;
    arm64_two_bridges(out)?;
    arm64_acpi(out)?;
    arm64_gicv5(out)?;
    arm64_msi_map_mask(out)?;
    let mut names: Vec<String> =
        fs::read_dir(out)?.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(names)
}
