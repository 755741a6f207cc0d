//! kvm-lab: run every MSI-X layout of a VFIO device under KVM and count the exits.
//!
//! ```text
//! kvm-lab run [--iterations N] [--json FILE] [--ipa-bits N] [--watchdog SECS] [--msi] [DDDD:BB:DD.F ...]
//!                                                                 # default: every vfio-pci device
//! kvm-lab simulate --input PLAN_INPUT.json [--iterations N]       # the same runs on the simulated vCPU
//! ```
//! Exit status 0 when every check of every layout passed, 1 when one failed, 2 on bad input or a
//! setup error (with a one-line message).

use std::process::ExitCode;

use msix_kvm_lab::account::LayoutRun;
use msix_kvm_lab::layouts;
use msix_kvm_lab::report::{render, run_layout};
use msix_kvm_lab::sim::{MemDevice, SimMachine};
use msix_policy_engine::VmmInput;
use msix_policy_engine::{RegionOffsets, VfioPciOffsets};

struct Args {
    cmd: String,
    iterations: u64,
    json: Option<String>,
    input: Option<String>,
    devices: Vec<String>,
    ipa_bits: u8,
    watchdog: u32,
    msi: bool,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().ok_or("usage: kvm-lab run|simulate [options]")?;
    let mut a = Args {
        cmd,
        iterations: 1000,
        json: None,
        input: None,
        devices: Vec::new(),
        ipa_bits: 0,
        watchdog: 120,
        msi: false,
    };
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match x.as_str() {
            "--iterations" => {
                a.iterations = val("--iterations")?.parse().map_err(|_| "--iterations takes a number")?;
            }
            "--json" => a.json = Some(val("--json")?),
            "--msi" => a.msi = true,
            "--ipa-bits" => a.ipa_bits = val("--ipa-bits")?.parse().map_err(|_| "--ipa-bits takes a number")?,
            "--watchdog" => a.watchdog = val("--watchdog")?.parse().map_err(|_| "--watchdog takes seconds")?,
            "--input" => a.input = Some(val("--input")?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => a.devices.push(s.into()),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let result = parse().and_then(|a| match a.cmd.as_str() {
        "simulate" => simulate(&a),
        "run" => live::run(&a),
        other => Err(format!("unknown command {other}: run or simulate")),
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kvm-lab: {e}");
            ExitCode::from(2)
        }
    }
}

fn finish(device: &str, runs: Vec<LayoutRun>, all: &mut Vec<serde_json::Value>) -> bool {
    print!("{}", render(device, &runs));
    let ok = runs.iter().all(LayoutRun::ok);
    all.push(serde_json::json!({ "device": device, "layouts": runs }));
    ok
}

fn write_json(path: Option<&String>, all: &[serde_json::Value]) -> Result<(), String> {
    if let Some(p) = path {
        let text = serde_json::to_string_pretty(all).map_err(|e| e.to_string())?;
        std::fs::write(p, text + "\n").map_err(|e| format!("{p}: {e}"))?;
    }
    Ok(())
}

/// Every layout of a plan input on the simulated vCPU and a memory device.
fn simulate(a: &Args) -> Result<bool, String> {
    let path = a.input.as_ref().ok_or("simulate needs --input PLAN_INPUT.json")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let input = VmmInput::from_json(&text).map_err(|e| format!("{path}: {e}"))?;
    let hot = input.facts().map_err(|e| e.to_string())?.device.hot_windows;
    let dev = MemDevice::default();
    let offsets = |bar: u8| VfioPciOffsets.region_offset(bar);
    let none = || None;
    let mut runs = Vec::new();
    for n in layouts::all(&input).map_err(|e| e.to_string())? {
        runs.push(
            run_layout(&mut SimMachine::default(), &n, &hot, a.iterations, &dev, &offsets, &none)
                .map_err(|e| e.to_string())?,
        );
    }
    let mut all = Vec::new();
    let ok = finish(input.address.as_deref().unwrap_or("plan input (simulated)"), runs, &mut all);
    write_json(a.json.as_ref(), &all)?;
    Ok(ok)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod live {
    use std::io;

    use msix_backends::root::Root;
    use msix_kvm_lab::dispatch::DeviceIo;
    use msix_kvm_lab::kvm::{arm_watchdog, install_watchdog, KvmMachine, SlotSource};
    use msix_kvm_lab::script::TABLE_ENTRIES;
    use msix_policy_engine::{IsolationAttestation, MsixFacts, VfioBackend, VmmInput};
    use msix_vfio::region::fd_offset;
    use msix_vfio::source::CONFIG_REGION;
    use msix_vfio::{open_device, KernelVfio, Mapping, OpenDevice};

    use super::{finish, layouts, run_layout, write_json, Args};

    struct Dev<'a>(&'a OpenDevice<'a, KernelVfio>);

    impl DeviceIo for Dev<'_> {
        fn read(&self, offset: u64, data: &mut [u8]) -> io::Result<()> {
            let b = self.0.read_at(offset, data.len())?;
            data.copy_from_slice(&b);
            Ok(())
        }
        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.0.write_at(offset, data)
        }
    }

    impl SlotSource for Dev<'_> {
        fn map(&self, offset: u64, len: u64) -> io::Result<Mapping> {
            self.0.mmap_at(offset, len)
        }
    }

    fn vfio_devices() -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/sys/bus/pci/drivers/vfio-pci")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(':'))
            .collect();
        v.sort();
        v
    }

    fn group_of(bdf: &str) -> Result<u32, String> {
        let link = std::fs::read_link(format!("/sys/bus/pci/devices/{bdf}/iommu_group"))
            .map_err(|e| format!("{bdf}: no IOMMU group ({e})"))?;
        link.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{bdf}: unreadable iommu_group link {}", link.display()))
    }

    pub fn run(a: &Args) -> Result<bool, String> {
        let devices = if a.devices.is_empty() { vfio_devices() } else { a.devices.clone() };
        if devices.is_empty() {
            return Err("no device bound to vfio-pci (name one: kvm-lab run DDDD:BB:DD.F)".into());
        }
        let root = Root::open("/").map_err(|e| format!("cannot open /: {e}"))?;
        let sys = KernelVfio::new();
        let page = rustix::param::page_size() as u64;
        let allow_unsafe = std::fs::read_to_string("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")
            .is_ok_and(|s| s.trim() == "Y");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        println!(
            "host: {} kernel {}, {} KiB pages, /dev/kvm KVM_GET_API_VERSION {}",
            std::env::consts::ARCH,
            release.trim(),
            page / 1024,
            msix_kvm_lab::kvm::api_version().map_or_else(|e| format!("unavailable ({e})"), |v| v.to_string())
        );
        let mut ok = true;
        let mut all = Vec::new();
        for bdf in &devices {
            let dev = open_device(&sys, &root, bdf, Some(group_of(bdf)?)).map_err(|e| e.to_string())?;
            let infos = dev.bar_regions().map_err(|e| e.to_string())?;
            let config_info = dev.region_info(CONFIG_REGION).map_err(|e| e.to_string())?;
            let config = dev.read_region(&config_info, 0, 256).map_err(|e| format!("{bdf}: config: {e}"))?;
            let regions = infos.clone();
            let iso = IsolationAttestation::KernelAccepted {
                backend: VfioBackend::Type1,
                allow_unsafe_interrupts: allow_unsafe,
            };
            let input = VmmInput::new(config, regions, page, iso).address(bdf.clone());
            let input = match msix_policy_engine::running_arch() {
                Some(arch) => input.arch(arch),
                None => input,
            };
            let f = input.facts().map_err(|e| format!("{bdf}: {e}"))?;
            let named = layouts::all(&input).map_err(|e| format!("{bdf}: {e}"))?;
            let io = Dev(&dev);
            let offsets =
                |bar: u8| infos.iter().find(|r| r.index == u32::from(bar)).map_or(u64::from(bar) << 40, fd_offset);
            // The device's own table, read through a VFIO mmap of its page (pread of the table is
            // refused by vfio-pci: it reads as all ones whatever the table holds).
            let cap = match &f.device.msix {
                MsixFacts::Present { capability } => Some(*capability),
                _ => None,
            };
            let table = || {
                let c = cap?;
                let off = u64::from(c.table_offset);
                let start = off / page * page;
                let len = (off - start + u64::from(TABLE_ENTRIES) * 16).div_ceil(page) * page;
                let m = dev.mmap_at(offsets(c.table_bir) + start, len).ok()?;
                // The table offset is 4-byte aligned (the low 3 bits of the register hold the
                // BIR); the mapping checks the bounds and unmaps when dropped.
                let first = usize::try_from(off - start).ok()?;
                (0..usize::from(TABLE_ENTRIES) * 4)
                    .map(|i| m.read_u32(first + 4 * i).map(u32::to_le_bytes))
                    .collect::<Option<Vec<_>>>()
                    .map(|words| words.concat())
            };
            let mut machine = KvmMachine::new(&io)
                .map_err(|e| format!("/dev/kvm: {e}"))?
                .with_ipa_bits(a.ipa_bits)
                .map_err(|e| e.to_string())?;
            install_watchdog().map_err(|e| format!("SIGALRM handler: {e}"))?;
            let mut runs = Vec::new();
            for n in &named {
                arm_watchdog(a.watchdog);
                let r = run_layout(&mut machine, n, &f.device.hot_windows, a.iterations, &io, &offsets, &table);
                arm_watchdog(0);
                runs.push(r.map_err(|e| format!("{bdf}: {e}"))?);
            }
            ok &= finish(bdf, runs, &mut all);
            if a.msi {
                drop(machine);
                let mut gic = KvmMachine::new(&io)
                    .map_err(|e| format!("/dev/kvm: {e}"))?
                    .with_ipa_bits(a.ipa_bits)
                    .map_err(|e| e.to_string())?
                    .with_gic();
                for n in named.iter().filter(|n| n.name == "msix-policy" || n.name == "qemu") {
                    let r = gic.run_msi(n, &io, &offsets, a.watchdog).map_err(|e| e.to_string())?;
                    let entry = r.entry.map_or("none".into(), |(addr, data, masked)| {
                        format!("address {addr:#x} data {data:#x}{}", if masked { " masked" } else { "" })
                    });
                    println!(
                        "msi {bdf} under {}: [{}] MSI-X entry 0 caught by the table emulation ({entry}, {} setup exits); KVM_SIGNAL_MSI returned {}; {}",
                        r.layout,
                        if r.ok { "ok" } else { "FAIL" },
                        r.setup_exits,
                        r.signal.map_or("-".into(), |s| s.to_string()),
                        r.note
                    );
                    ok &= r.ok;
                    if let Some(last) = all.last_mut() {
                        last.as_object_mut().map(|o| o.entry("msi").or_insert_with(|| serde_json::json!([])));
                        if let Some(list) = last.get_mut("msi").and_then(|m| m.as_array_mut()) {
                            list.push(serde_json::to_value(&r).map_err(|e| e.to_string())?);
                        }
                    }
                }
            }
        }
        write_json(a.json.as_ref(), &all)?;
        Ok(ok)
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod live {
    pub fn run(_: &super::Args) -> Result<bool, String> {
        Err("kvm-ioctls builds on x86_64 and aarch64 only: use `kvm-lab simulate` here".into())
    }
}
