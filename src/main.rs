//! The `msix-policy` command: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use msix_policy::policy::{GuestSelection, LayoutMode, Overrides, Rule, VmmInput};
use msix_policy::{apply, audit, diff, export, render, AuditOptions, AuditReport};

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

/// What `audit` prints.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum AuditFormat {
    /// A table for a person (the only format that falls back to the embedded demo fixture).
    Text,
    /// `msix-policy/audit/v1`.
    Json,
    /// `-device vfio-pci,...` properties per function (decided in QEMU's layout).
    Qemu,
    /// A Node Feature Discovery feature file.
    Nfd,
    /// A node_exporter textfile-collector file.
    Prometheus,
    /// With --baseline only: the diff as Markdown.
    Markdown,
}

/// What `explain` prints.
#[derive(Clone, Copy, ValueEnum)]
enum ExplainFormat {
    Text,
    /// `msix-policy/device/v1`.
    Json,
}

/// What `plan` prints.
#[derive(Clone, Copy, ValueEnum)]
enum PlanFormat {
    /// `msix-policy/layout/v1`.
    Json,
    Text,
}

/// What `rules` prints.
#[derive(Clone, Copy, ValueEnum)]
enum RulesFormat {
    Text,
    /// `msix-policy/rules/v1`.
    Json,
}

/// What `diff` prints.
#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    /// `msix-policy/diff/v1`.
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
}

/// What the fleet exports (nfd, prometheus) add.
#[derive(clap::Args)]
struct ExportArgs {
    /// nfd: the labels expire this many seconds after the audit (`# +expiry-time`), so a node
    /// whose job stopped running loses them instead of keeping stale ones.
    #[arg(long, value_name = "SECONDS")]
    expiry: Option<u64>,
    /// prometheus: leave out the per-function series (info, trapped and collateral bytes); the
    /// host's totals stay. For hosts with thousands of functions (SR-IOV VFs).
    #[arg(long)]
    no_device_series: bool,
    /// qemu: also print `-device` lines for functions assignable only with risk `unsafe`
    /// (allow_unsafe_interrupts on a host without MSI isolation). Off: they are comments.
    #[arg(long)]
    allow_unsafe: bool,
    /// Write the report to FILE atomically (a temporary file beside it, then a rename), so a
    /// collector never reads half a file; missing directories are created. Nothing is written
    /// when the audit fails.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Decide every PCI function of a host and print the table.
    Audit {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value = "text")]
        format: AuditFormat,
        #[command(flatten)]
        export: ExportArgs,
        /// Diff this baseline (an audit JSON file or a fixture) against the audit; exit like `diff`
        /// (--format text, json or markdown).
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
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
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
        format: PlanFormat,
    },
    /// List every rule id a decision can cite.
    Rules {
        #[arg(long, value_enum, default_value = "text")]
        format: RulesFormat,
    },
    /// Write the man pages (one per command) and shell completions (bash, zsh, fish) generated
    /// from these very arguments into DIR/man and DIR/completions (for packaging).
    #[command(hide = true)]
    Generate {
        /// The directory (dist/ in the source tree).
        dir: PathBuf,
    },
}

/// Man pages and completions from the argument definitions, so they never drift from the CLI.
fn generate(dir: &std::path::Path) -> Result<(), String> {
    use clap::CommandFactory;
    let write = |path: std::path::PathBuf, bytes: &[u8]| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    let cmd = Cli::command();
    let man = |c: clap::Command| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        clap_mangen::Man::new(c).render(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };
    write(dir.join("man/msix-policy.1"), &man(cmd.clone())?)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("msix-policy-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("msix-policy {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        write(dir.join(format!("man/{name}.1")), &man(page)?)?;
    }
    for (shell, file) in [
        (clap_complete::Shell::Bash, "msix-policy.bash"),
        (clap_complete::Shell::Zsh, "_msix-policy"),
        (clap_complete::Shell::Fish, "msix-policy.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "msix-policy", &mut out);
        write(dir.join("completions").join(file), &out)?;
    }
    Ok(())
}

/// Bad input: one line on stderr, exit status 2.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("msix-policy: {msg}");
    ExitCode::from(2)
}

fn options(c: &Common, layout_mode: LayoutMode) -> Result<AuditOptions, String> {
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
    let layout = msix_policy::policy::LayoutOptions { mode: layout_mode, ..Default::default() };
    Ok(AuditOptions { guest, overrides, layout, ..Default::default() })
}

/// What an audit covered: the host asked for, or (text for a person only) the embedded demo.
enum Audited {
    Host(AuditReport),
    Demo(AuditReport),
}

/// Audits --root, or `/` (MSIX_POLICY_ROOT changes it: a chroot, a mounted image). When that
/// default root shows no PCI functions, `demo_fallback` audits the embedded demo fixture instead;
/// without it (every machine format) that is an error: a fleet job must never publish another
/// host's facts, and an empty success would hide a missing /sys mount.
fn run_audit(c: &Common, opts: &AuditOptions, demo_fallback: bool) -> Result<Audited, String> {
    if let Some(root) = &c.root {
        return audit(root, opts).map(Audited::Host).map_err(|e| e.to_string());
    }
    let default = std::env::var_os("MSIX_POLICY_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let live = audit(&default, opts).map_err(|e| e.to_string())?;
    if !live.devices.is_empty() {
        return Ok(Audited::Host(live));
    }
    if !demo_fallback {
        return Err(format!(
            "{} shows no PCI functions (is /sys mounted?): nothing to report for this host; \
             machine formats never fall back to the demo fixture (audit one with --root)",
            render::one_line(&default.display().to_string())
        ));
    }
    msix_policy::demo::audit_demo(opts).map(Audited::Demo).map_err(|e| e.to_string())
}

/// A plan input from a file, or stdin for `-` or nothing: at most
/// [`MAX_INPUT_BYTES`](msix_policy::policy::MAX_INPUT_BYTES), every key known, its schema
/// this version's.
fn read_plan_input(path: Option<PathBuf>) -> Result<VmmInput, String> {
    let path = path.unwrap_or_else(|| PathBuf::from("-"));
    let name = if path.as_os_str() == "-" { "stdin".to_string() } else { path.display().to_string() };
    let text =
        msix_policy::input::read_bounded(&path, msix_policy::policy::MAX_INPUT_BYTES).map_err(|e| e.to_string())?;
    VmmInput::from_json(&text).map_err(|e| {
        format!("{name}: not a plan input: {e} (`msix-policy plan --device ADDR --root DIR --print-input` shows one)")
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

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map(|s| s + "\n").map_err(|e| e.to_string())
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    emit(&json_text(v)?)
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
    emit(&diff::render(d, format, colour).map_err(|e| e.to_string())?)?;
    Ok(ExitCode::from(d.exit_code()))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Audit { common: c, format, export: x, baseline } => {
            let mode = if format == AuditFormat::Qemu { LayoutMode::Qemu } else { LayoutMode::MsixPolicy };
            let opts = options(&c, mode)?;
            if let Some(b) = baseline {
                let format = match format {
                    AuditFormat::Text => DiffFormat::Text,
                    AuditFormat::Json => DiffFormat::Json,
                    AuditFormat::Markdown => DiffFormat::Markdown,
                    _ => return Err("audit --baseline prints a diff: --format text, json or markdown".into()),
                };
                // Without the fallback the report is always this host's.
                let (Audited::Host(report) | Audited::Demo(report)) = run_audit(&c, &opts, false)?;
                let old = diff::load_side(&b, &opts).map_err(|e| e.to_string())?;
                return print_diff(&diff::diff_reports(&old, &diff::AuditView::from(&report)), format);
            }
            // The demo's first line says it is not this host, in the report itself (also when
            // the report goes to --output).
            let (report, header) = match run_audit(&c, &opts, format == AuditFormat::Text)? {
                Audited::Host(r) => (r, String::new()),
                Audited::Demo(r) => {
                    let header = format!(
                        "# msix-policy: this host shows no PCI functions; below is {}, not this host (audit another with --root)\n",
                        r.root
                    );
                    (r, header)
                }
            };
            let exports = export::ExportOptions {
                now: std::time::SystemTime::now(),
                expiry: x.expiry.map(std::time::Duration::from_secs),
                device_series: !x.no_device_series,
            };
            let body = match format {
                AuditFormat::Text => render::text_report(&report),
                AuditFormat::Json => json_text(&render::json_report(&report))?,
                AuditFormat::Qemu => render::qemu_properties(&report, x.allow_unsafe),
                AuditFormat::Nfd => export::nfd(&report, &exports),
                AuditFormat::Prometheus => export::prometheus(&report, &exports),
                AuditFormat::Markdown => {
                    return Err("audit --format markdown needs --baseline (it prints a diff)".into())
                }
            };
            let text = header + &body;
            match &x.output {
                Some(path) => {
                    msix_policy::output::write_atomically(path, text.as_bytes()).map_err(|e| e.to_string())?
                }
                None => emit(&text)?,
            }
        }
        Command::Diff { old, new, format } => {
            let opts = AuditOptions::default();
            let old = diff::load_side(&old, &opts).map_err(|e| e.to_string())?;
            let new = diff::load_side(&new, &opts).map_err(|e| e.to_string())?;
            return print_diff(&diff::diff_reports(&old, &new), format);
        }
        Command::Explain { address, common: c, format } => {
            let opts = options(&c, LayoutMode::MsixPolicy)?;
            let report = match run_audit(&c, &opts, matches!(format, ExplainFormat::Text))? {
                Audited::Host(r) => r,
                Audited::Demo(r) => {
                    emit(&format!("# msix-policy: this host shows no PCI functions; explaining {}\n", r.root))?;
                    r
                }
            };
            let Some(d) = report.device(&address) else {
                let known: Vec<&str> = report.devices.iter().map(|d| d.address.as_str()).collect();
                return Err(format!("no PCI function {address} in {} (it has: {})", report.root, known.join(", ")));
            };
            match format {
                ExplainFormat::Text => emit(&render::text_explain(&report, d))?,
                ExplainFormat::Json => print_json(&render::json_device_alone(d))?,
            }
        }
        Command::Apply { address, dry_run, common: c } => {
            let opts = options(&c, LayoutMode::MsixPolicy)?;
            let root = c.root.clone().unwrap_or_else(|| PathBuf::from("/"));
            let report = audit(&root, &opts).map_err(|e| e.to_string())?;
            let d = report.device(&address).ok_or_else(|| format!("no PCI function {address} in {}", report.root))?;
            if dry_run {
                emit(&apply::dry_run(&report, d))?;
            } else {
                emit(&apply::live(&report, d, &opts).map_err(|e| e.to_string())?)?;
            }
        }
        Command::Record { dest, root, kind, description, machine, dmesg } => {
            use msix_policy::backends::{fixture, host, record, Root};
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
                record::RecordOptions { source: fixture::FixtureSource { kind, description, machine }, dmesg, vfio };
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
                PlanFormat::Json => print_json(&layout)?,
                PlanFormat::Text => emit(&render::text_layout(&layout))?,
            }
        }
        Command::Generate { dir } => generate(&dir)?,
        Command::Rules { format } => match format {
            RulesFormat::Json => print_json(&render::json_rules())?,
            RulesFormat::Text => {
                for r in Rule::ALL {
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
