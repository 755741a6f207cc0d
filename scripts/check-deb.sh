#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine and checks it as an operator and a C
# developer would: the binary, its man page, the export service's own commands (systemd does not
# run here: its ExecStart lines run as written), and a C program built with pkg-config against the
# installed header and library. Installs what it needs (cargo-deb, man-db, pkg-config, gcc).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in man-db pkg-config gcc libc6-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb

cargo build --release --quiet -p msix-policy -p msix-policy-capi
deb=$(cargo deb --no-build --quiet 2>/dev/null | tail -n 1)
[ -f "$deb" ] || deb=$(ls -t target/debian/msix-policy_*.deb | head -n 1)
echo "== $deb"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/msix-policy ./usr/share/man/man1/msix-policy.1.gz ./usr/share/man/man1/msix-policy-audit.1.gz \
    ./usr/share/bash-completion/completions/msix-policy ./usr/lib/systemd/system/msix-policy-export.service \
    ./usr/lib/systemd/system/msix-policy-export.timer ./usr/include/msix_policy.h \
    ./usr/lib/pkgconfig/msix-policy.pc ./usr/lib/libmsix_policy_c.so ./usr/lib/libmsix_policy_c.a; do
    grep -q " $f\$" <<<"$contents" || { echo "missing from the package: $f"; exit 1; }
done

dpkg -i "$deb" >/dev/null
msix-policy --version
man -w msix-policy
man -w msix-policy-audit

# The service's commands as systemd would run them (its Environment= defaults, overridden as
# /etc/default/msix-policy would), on this host or, with no PCI functions to show, on a recorded one.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MSIX_POLICY_PROMETHEUS_FILE="$work/textfile/msix-policy.prom"
export MSIX_POLICY_NFD_FILE="$work/features.d/msix-policy"
export MSIX_POLICY_NFD_EXPIRY=7200
unit=/usr/lib/systemd/system/msix-policy-export.service
extra=()
if ! msix-policy audit --format json >/dev/null 2>&1; then
    extra=(--root "$PWD/fixtures/qemu/x86-q35-vtd-ir")
    echo "this host shows no PCI functions: the service's commands run on ${extra[1]}"
fi
grep '^ExecStart=' "$unit" | sed 's/^ExecStart=//' | while read -r line; do
    eval "cmd=($line)"
    echo "+ ${cmd[*]} ${extra[*]}"
    "${cmd[@]}" "${extra[@]}"
done
grep -q '^msix_policy_last_success_timestamp_seconds ' "$MSIX_POLICY_PROMETHEUS_FILE"
grep -q '^# +expiry-time=' "$MSIX_POLICY_NFD_FILE"
grep -q '^msix-policy.io/isolation=' "$MSIX_POLICY_NFD_FILE"
[ "$(ls -A "$work/textfile" | wc -l)" = 1 ] && [ "$(ls -A "$work/features.d" | wc -l)" = 1 ]
echo "service commands wrote $MSIX_POLICY_PROMETHEUS_FILE and $MSIX_POLICY_NFD_FILE"

# A C program against the installed header and library, found by pkg-config.
cc -std=c99 -Wall -Werror /usr/share/doc/msix-policy/examples/msix_policy_demo.c \
    $(pkg-config --cflags --libs msix-policy) -o "$work/demo"
"$work/demo" audit "$PWD/fixtures/qemu/x86-q35-vtd-ir" | grep -q '"schema":"msix-policy/audit/v1"' \
    || "$work/demo" audit "$PWD/fixtures/qemu/x86-q35-vtd-ir" | grep -q '"schema": *"msix-policy/audit/v1"'
echo "a C program built with pkg-config --cflags --libs msix-policy ran against the installed library"
echo "1 passed, 0 failed"
