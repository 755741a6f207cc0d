//! The `msix-policy` command: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use msix_policy::policy::{rules, GuestSelection, LayoutMode, Overrides, VmmInput};
use msix_policy::{apply, audit, diff, export, render, AuditOptions, AuditReport};

/// Bundled fixture audited when `/` shows no PCI functions and no --root was given.
const BUNDLED_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/qemu/x86-q35-vtd-ir");

#[derive(Parser)]
#[command(
    name = "msix-policy",
    version,
    about = "Decide, explain and apply how a VMM exposes the MSI-X table of a VFIO-assigned PCI function"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Guest {
    Auto,
    Paravirtual,
    Direct,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
    /// `-device vfio-pci,...` properties per function (audit only; decides in QEMU's layout).
    Qemu,
    /// `audit --baseline` only.
    Markdown,
    /// `audit` only: a Node Feature Discovery feature file.
    Nfd,
    /// `audit` only: a node_exporter textfile-collector file.
    Prometheus,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    MsixPolicy,
    Qemu,
    CloudHypervisor,
}

#[derive(clap::Args)]
struct Common {
    /// Root directory to read: `/` (this host) or a recorded fixture.
    #[arg(long)]
    root: Option<PathBuf>,
    /// How the guest programs MSI-X; `auto` derives it from the host (POWER => paravirtual).
    #[arg(long, value_enum, default_value = "auto")]
    guest: Guest,
    /// Operator overrides (TOML) that may only make decisions safer.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Subcommand)]
enum Command {
    /// Decide every PCI function of a host and print the table.
    Audit {
        #[command(flatten)]
        common: Common,
        /// Diff this baseline (an audit JSON file or a fixture) against the audit; exit like `diff`.
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
    /// Compare two audits (fixture or root directories, or audit JSON files); exit 1 if anything became less safe.
    Diff {
        /// The before side: a fixture or root directory, or an audit JSON file (`-` for stdin).
        old: PathBuf,
        /// The after side, the same kinds.
        new: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
    /// Show the facts, plan and reasons behind one function's decision.
    Explain {
        /// The function's address, DDDD:BB:DD.F.
        address: String,
        #[command(flatten)]
        common: Common,
    },
    /// Decide one function, open it through VFIO, probe its regions, map the plan, report, release.
    Apply {
        /// The function's address, DDDD:BB:DD.F.
        address: String,
        /// Print the plan without touching any device (works on fixtures).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Record a host (default `/`) into a new fixture directory, to the FIXTURES.md contract.
    Record {
        /// The new fixture directory.
        dest: PathBuf,
        /// What to record: `/` or another root.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// [source] kind: qemu | hardware | synthetic.
        #[arg(long, default_value = "hardware")]
        kind: String,
        /// [source] description.
        #[arg(long, default_value = "")]
        description: String,
        /// [source] machine: how it was produced.
        #[arg(long, default_value = "")]
        machine: String,
        /// A kernel log file to store as dmesg.txt (default: /dev/kmsg when recording `/`).
        #[arg(long)]
        dmesg: Option<PathBuf>,
    },
    /// Lay out one device from a VMM's facts: plan input JSON (a file, or stdin) to a guest BAR layout.
    Plan {
        /// The plan input (`msix-policy/plan-input/v1`); `-` or nothing reads stdin.
        input: Option<PathBuf>,
        /// Instead of reading an input, build it from an audit of --root for this function
        /// (its recorded config bytes, its BARs as VFIO regions, the audited isolation).
        #[arg(long, conflicts_with = "input")]
        device: Option<String>,
        /// The root for --device: `/` or a recorded fixture.
        #[arg(long, requires = "device")]
        root: Option<PathBuf>,
        /// Whose guest BAR layout to follow (replaces the input's `mode`).
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        /// Print the plan input (JSON) instead of the layout.
        #[arg(long)]
        print_input: bool,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// List every rule id a decision can cite.
    Rules {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Bad input: one line on stderr, exit status 2.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("msix-policy: {msg}");
    ExitCode::from(2)
}

fn options(c: &Common) -> Result<AuditOptions, String> {
    let guest = match c.guest {
        Guest::Auto => GuestSelection::Auto,
        Guest::Paravirtual => GuestSelection::Paravirtual,
        Guest::Direct => GuestSelection::DirectTableWrites,
    };
    let overrides = match &c.policy {
        None => Overrides::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Overrides::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
    };
    let mut layout = msix_policy::policy::LayoutOptions::default();
    if c.format == Format::Qemu {
        layout.mode = msix_policy::policy::LayoutMode::Qemu;
    }
    Ok(AuditOptions { guest, overrides, layout, ..Default::default() })
}

/// Audits --root, or `/`; when `/` has no PCI functions to show, the bundled fixture.
fn run_audit(c: &Common, opts: &AuditOptions) -> Result<AuditReport, String> {
    if let Some(root) = &c.root {
        return audit(root, opts).map_err(|e| e.to_string());
    }
    // MSIX_POLICY_ROOT changes the default root (a chroot, a mounted image); `/` otherwise.
    let default = std::env::var_os("MSIX_POLICY_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let live = audit(&default, opts).map_err(|e| e.to_string())?;
    if !live.devices.is_empty() {
        return Ok(live);
    }
    eprintln!(
        "msix-policy: {} shows no PCI functions; auditing the bundled fixture {BUNDLED_FIXTURE} (choose with --root)",
        default.display()
    );
    audit(BUNDLED_FIXTURE, opts).map_err(|e| e.to_string())
}

/// A plan input from a file, or stdin for `-` or nothing.
fn read_plan_input(path: Option<PathBuf>) -> Result<VmmInput, String> {
    let (name, text) = match path.filter(|p| p.as_os_str() != "-") {
        Some(p) => (p.display().to_string(), std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(|e| format!("stdin: {e}"))?;
            ("stdin".to_string(), t)
        }
    };
    serde_json::from_str(&text).map_err(|e| {
        format!("{name}: not a plan input ({e}); `msix-policy plan --device ADDR --print-input` shows one")
    })
}

/// The plan input an audit of `root` implies for one function.
fn plan_input_from_audit(root: Option<PathBuf>, address: &str) -> Result<VmmInput, String> {
    let root = root.unwrap_or_else(|| PathBuf::from("/"));
    let opened = msix_policy::backends::Root::open(&root).map_err(|e| format!("cannot open root {e}"))?;
    let report =
        msix_policy::audit_root(&opened, &AuditOptions::default(), Some(address)).map_err(|e| e.to_string())?;
    let d = report.devices.first().ok_or_else(|| format!("no PCI function {address} in {}", root.display()))?;
    msix_policy::vmm_input(&opened, &report, d).ok_or_else(|| format!("{address}: its config cannot be read"))
}

/// Writes to stdout. A reader that went away (`| head`) ends the command quietly, not with a panic.
fn emit(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r.map_err(|e| format!("stdout: {e}")),
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    emit(&format!("{s}\n"))?;
    Ok(())
}

/// Prints a diff; exit status 1 when something became less safe.
fn print_diff(d: &diff::DiffReport, format: DiffFormat) -> Result<ExitCode, String> {
    use std::io::IsTerminal;
    let format = match format {
        DiffFormat::Text => diff::Format::Text,
        DiffFormat::Json => diff::Format::Json,
        DiffFormat::Markdown => diff::Format::Markdown,
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    emit(&diff::render(d, format, colour)?)?;
    Ok(ExitCode::from(d.exit_code()))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Audit { common: c, baseline } => {
            let opts = options(&c)?;
            let report = run_audit(&c, &opts)?;
            if let Some(b) = baseline {
                let old = diff::load_side(&b, &opts).map_err(|e| e.to_string())?;
                let format = match c.format {
                    Format::Text => DiffFormat::Text,
                    Format::Json => DiffFormat::Json,
                    Format::Markdown => DiffFormat::Markdown,
                    _ => return Err("audit --baseline prints a diff: --format text, json or markdown".into()),
                };
                return print_diff(&diff::diff_reports(&old, &diff::AuditView::from(&report)), format);
            }
            match c.format {
                Format::Text => emit(&render::text_report(&report))?,
                Format::Json => print_json(&render::json_report(&report))?,
                Format::Qemu => emit(&render::qemu_properties(&report))?,
                Format::Nfd => emit(&export::nfd(&report))?,
                Format::Prometheus => emit(&export::prometheus(&report))?,
                Format::Markdown => return Err("--format markdown is for diff and audit --baseline".into()),
            }
        }
        Command::Diff { old, new, format } => {
            let opts = AuditOptions::default();
            let old = diff::load_side(&old, &opts).map_err(|e| e.to_string())?;
            let new = diff::load_side(&new, &opts).map_err(|e| e.to_string())?;
            return print_diff(&diff::diff_reports(&old, &new), format);
        }
        Command::Explain { address, common: c } => {
            let opts = options(&c)?;
            let report = run_audit(&c, &opts)?;
            let Some(d) = report.device(&address) else {
                let known: Vec<&str> = report.devices.iter().map(|d| d.address.as_str()).collect();
                return Err(format!("no PCI function {address} in {} (it has: {})", report.root, known.join(", ")));
            };
            match c.format {
                Format::Text => emit(&render::text_explain(&report, d))?,
                Format::Json => print_json(&render::json_device_alone(d))?,
                _ => return Err("explain prints as --format text or json".into()),
            }
        }
        Command::Apply { address, dry_run, common: c } => {
            let opts = options(&c)?;
            let root = c.root.clone().unwrap_or_else(|| PathBuf::from("/"));
            let report = audit(&root, &opts).map_err(|e| e.to_string())?;
            let d = report.device(&address).ok_or_else(|| format!("no PCI function {address} in {}", report.root))?;
            if dry_run {
                emit(&apply::dry_run(&report, d))?;
            } else {
                emit(&apply::live(&report, d, &opts)?)?;
            }
        }
        Command::Record { dest, root, kind, description, machine, dmesg } => {
            use msix_policy::backends::{host, record, Root};
            if !["qemu", "hardware", "synthetic"].contains(&kind.as_str()) {
                return Err(format!("--kind {kind}: expected qemu, hardware or synthetic"));
            }
            let src = Root::open(&root).map_err(|e| format!("cannot open root {e}"))?;
            let identity = host::identify(&src).map_err(|e| e.to_string())?;
            let dmesg = match dmesg {
                Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?),
                None => None,
            };
            let vfio = if src.is_live() { msix_policy::apply::probe_for_record(&src) } else { None };
            let opts =
                record::RecordOptions { source: host::FixtureSource { kind, description, machine }, dmesg, vfio };
            let s = record::record(&src, &identity, &dest, &opts).map_err(|e| e.to_string())?;
            emit(&format!(
                "recorded {} PCI functions into {}: {} files, {} links ({} unreadable entries skipped)\n",
                s.functions,
                dest.display(),
                s.files,
                s.links,
                s.skipped
            ))?;
        }
        Command::Plan { input, device, root, mode, print_input, format } => {
            let mut input = match device {
                Some(address) => plan_input_from_audit(root, &address)?,
                None => read_plan_input(input)?,
            };
            if let Some(m) = mode {
                input.mode = match m {
                    Mode::MsixPolicy => LayoutMode::MsixPolicy,
                    Mode::Qemu => LayoutMode::Qemu,
                    Mode::CloudHypervisor => LayoutMode::CloudHypervisor,
                };
            }
            if print_input {
                print_json(&input)?;
                return Ok(ExitCode::SUCCESS);
            }
            let layout = msix_policy::policy::plan_layout(&input).map_err(|e| e.to_string())?;
            match format {
                Format::Json => print_json(&layout)?,
                Format::Text => emit(&render::text_layout(&layout))?,
                _ => return Err("plan prints as --format text or json".into()),
            }
        }
        Command::Rules { format } => match format {
            Format::Json => print_json(&render::json_rules())?,
            Format::Markdown | Format::Nfd | Format::Prometheus | Format::Qemu => {
                return Err("rules prints as --format text or json".into())
            }
            Format::Text => {
                for r in rules::ALL {
                    emit(&format!("{}\n    {}\n    reference: {}\n", r.id, r.summary, r.reference))?;
                }
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}
