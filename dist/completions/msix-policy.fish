# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_msix_policy_global_optspecs
    string join \n h/help V/version
end

function __fish_msix_policy_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_msix_policy_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_msix_policy_using_subcommand
    set -l cmd (__fish_msix_policy_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c msix-policy -n "__fish_msix_policy_needs_command" -s h -l help -d 'Print help'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -s V -l version -d 'Print version'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "audit" -d 'Decide every PCI function of a host and print the table'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "diff" -d 'Compare two audits (fixture or root directories, or audit JSON files); exit 1 if anything became less safe'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "explain" -d 'Show the facts, plan and reasons behind one function\'s decision'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "apply" -d 'Decide one function, open it through VFIO, probe its regions, map the plan, report, release'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "record" -d 'Record a host (default `/`) into a new fixture directory, to the FIXTURES.md contract'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "plan" -d 'Lay out one device from a VMM\'s facts: plan input JSON (a file, or stdin) to a guest BAR layout'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "rules" -d 'List every rule id a decision can cite'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "generate" -d 'Write the man pages (one per command) and shell completions (bash, zsh, fish) generated from these very arguments into DIR/man and DIR/completions (for packaging)'
complete -c msix-policy -n "__fish_msix_policy_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l root -d 'Root directory to read: `/` (this host) or a recorded fixture' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l guest -d 'How the guest programs MSI-X; `auto` derives it from the host (POWER => paravirtual)' -r -f -a "auto\t''
paravirtual\t''
direct\t''"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l policy -d 'Operator overrides (TOML) that may only make decisions safer' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l format -r -f -a "text\t'A table for a person (the only format that falls back to the embedded demo fixture)'
json\t'`msix-policy/audit/v1`'
qemu\t'`-device vfio-pci,...` properties per function (decided in QEMU\'s layout)'
nfd\t'A Node Feature Discovery feature file'
prometheus\t'A node_exporter textfile-collector file'
markdown\t'With --baseline only: the diff as Markdown'"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l expiry -d 'nfd: the labels expire this many seconds after the audit (`# +expiry-time`), so a node whose job stopped running loses them instead of keeping stale ones' -r
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l output -d 'Write the report to FILE atomically (a temporary file beside it, then a rename), so a collector never reads half a file; missing directories are created. Nothing is written when the audit fails' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l baseline -d 'Diff this baseline (an audit JSON file or a fixture) against the audit; exit like `diff` (--format text, json or markdown)' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l no-device-series -d 'prometheus: leave out the per-function series (info, trapped and collateral bytes); the host\'s totals stay. For hosts with thousands of functions (SR-IOV VFs)'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -l allow-unsafe -d 'qemu: also print `-device` lines for functions assignable only with risk `unsafe` (allow_unsafe_interrupts on a host without MSI isolation). Off: they are comments'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand diff" -l format -r -f -a "text\t''
json\t'`msix-policy/diff/v1`'
markdown\t''"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand explain" -l root -d 'Root directory to read: `/` (this host) or a recorded fixture' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand explain" -l guest -d 'How the guest programs MSI-X; `auto` derives it from the host (POWER => paravirtual)' -r -f -a "auto\t''
paravirtual\t''
direct\t''"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand explain" -l policy -d 'Operator overrides (TOML) that may only make decisions safer' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand explain" -l format -r -f -a "text\t''
json\t'`msix-policy/device/v1`'"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand explain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand apply" -l root -d 'Root directory to read: `/` (this host) or a recorded fixture' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand apply" -l guest -d 'How the guest programs MSI-X; `auto` derives it from the host (POWER => paravirtual)' -r -f -a "auto\t''
paravirtual\t''
direct\t''"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand apply" -l policy -d 'Operator overrides (TOML) that may only make decisions safer' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand apply" -l dry-run -d 'Print the plan without touching any device (works on fixtures)'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand apply" -s h -l help -d 'Print help'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand record" -l root -d 'What to record: `/` or another root' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand record" -l kind -d '[source] kind: qemu | hardware | synthetic' -r
complete -c msix-policy -n "__fish_msix_policy_using_subcommand record" -l description -d '[source] description' -r
complete -c msix-policy -n "__fish_msix_policy_using_subcommand record" -l machine -d '[source] machine: how it was produced' -r
complete -c msix-policy -n "__fish_msix_policy_using_subcommand record" -l dmesg -d 'A kernel log file to store as dmesg.txt (default: /dev/kmsg when recording `/`)' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand record" -s h -l help -d 'Print help'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand plan" -l device -d 'Instead of reading an input, build it from an audit of --root for this function (its recorded config bytes, its BARs as VFIO regions, the audited isolation)' -r
complete -c msix-policy -n "__fish_msix_policy_using_subcommand plan" -l root -d 'The root for --device: `/` or a recorded fixture' -r -F
complete -c msix-policy -n "__fish_msix_policy_using_subcommand plan" -l mode -d 'Whose guest BAR layout to follow (replaces the input\'s `mode`)' -r -f -a "msix-policy\t''
qemu\t''
cloud-hypervisor\t''"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand plan" -l format -r -f -a "json\t'`msix-policy/layout/v1`'
text\t''"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand plan" -l print-input -d 'Print the plan input (JSON) instead of the layout'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand rules" -l format -r -f -a "text\t''
json\t'`msix-policy/rules/v1`'"
complete -c msix-policy -n "__fish_msix_policy_using_subcommand rules" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand generate" -s h -l help -d 'Print help'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "audit" -d 'Decide every PCI function of a host and print the table'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "diff" -d 'Compare two audits (fixture or root directories, or audit JSON files); exit 1 if anything became less safe'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "explain" -d 'Show the facts, plan and reasons behind one function\'s decision'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "apply" -d 'Decide one function, open it through VFIO, probe its regions, map the plan, report, release'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "record" -d 'Record a host (default `/`) into a new fixture directory, to the FIXTURES.md contract'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "plan" -d 'Lay out one device from a VMM\'s facts: plan input JSON (a file, or stdin) to a guest BAR layout'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "rules" -d 'List every rule id a decision can cite'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "generate" -d 'Write the man pages (one per command) and shell completions (bash, zsh, fish) generated from these very arguments into DIR/man and DIR/completions (for packaging)'
complete -c msix-policy -n "__fish_msix_policy_using_subcommand help; and not __fish_seen_subcommand_from audit diff explain apply record plan rules generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
