#!/usr/bin/env bash
# Runs the whole workspace test suite for ppc64le and aarch64 under qemu-user, installing what it
# needs (rustup targets, Debian cross linkers and qemu-user) idempotently.
#   scripts/cross-test.sh                      # both targets
#   scripts/cross-test.sh aarch64-unknown-linux-gnu
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(powerpc64le-unknown-linux-gnu aarch64-unknown-linux-gnu)

declare -A gnu=([powerpc64le-unknown-linux-gnu]=powerpc64le-linux-gnu [aarch64-unknown-linux-gnu]=aarch64-linux-gnu)
declare -A deb=([powerpc64le-unknown-linux-gnu]=ppc64el [aarch64-unknown-linux-gnu]=arm64)
declare -A qemu=([powerpc64le-unknown-linux-gnu]=qemu-ppc64le [aarch64-unknown-linux-gnu]=qemu-aarch64)

pkgs=(qemu-user)
for t in "${targets[@]}"; do
    pkgs+=("gcc-${gnu[$t]}" "libc6-dev-${deb[$t]}-cross")
done
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup target add "${targets[@]}" >/dev/null 2>&1

for t in "${targets[@]}"; do
    env_t=$(echo "$t" | tr 'a-z-' 'A-Z_')
    runner="${qemu[$t]} -L /usr/${gnu[$t]}"
    export "CARGO_TARGET_${env_t}_LINKER=${gnu[$t]}-gcc"
    export "CARGO_TARGET_${env_t}_RUNNER=$runner"
    # Tests that start the CLI binary start it through the same emulator.
    export MSIX_POLICY_TEST_RUNNER="$runner"
    # The C ABI test builds its C program with the target's cross compiler.
    export MSIX_POLICY_TEST_CC="${gnu[$t]}-gcc"
    # The C ABI test links the C program against the static library: build it for the target
    # first (a cross test run builds the crate's rlib for its tests, not always its staticlib).
    cargo build -p msix-policy-capi --target "$t"
    echo "== cargo test --workspace --target $t (under ${qemu[$t]})"
    cargo test --workspace --target "$t"
done
