#!/usr/bin/env bash
# Every check rvpp has, in one command: formatting, clippy, the release
# build of the programs, then the unit and end-to-end tests (cargo nextest)
# against those same release binaries.
#
# On a fresh Debian 12 machine run it as root: it first installs what is
# missing (a C linker, procps for `kill`, the Rust toolchain via rustup,
# rustfmt, clippy, cargo-nextest). When everything is present it installs
# nothing and does not touch apt.
#
# fmt and clippy findings do not stop the run: the build and the tests still
# run, and the script exits non-zero at the end if any step failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }

# --- what the build and the tests need --------------------------------------

apt_packages=()
type -P cc >/dev/null || apt_packages+=(gcc libc6-dev)
type -P kill >/dev/null || apt_packages+=(procps)
if ! type -P cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    type -P curl >/dev/null || apt_packages+=(curl ca-certificates)
fi

if [ ${#apt_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${apt_packages[*]} (run as root, or install them)" >&2
        exit 1
    fi
    say "installing ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
fi

if ! type -P cargo >/dev/null; then
    if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
        say "installing the Rust toolchain (rustup)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --component rustfmt,clippy
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    say "adding rustfmt and clippy"
    rustup component add rustfmt clippy
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    say "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

# --- checks, build, tests ------------------------------------------------

failed=()

say "cargo fmt --all -- --check"
cargo fmt --all -- --check || failed+=("cargo fmt")

say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || failed+=("cargo clippy")

say "cargo build --release --bins"
cargo build --release --bins

# The end-to-end tests run these binaries; --release shares this build.
export RVPP_BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/release"
say "cargo nextest run --workspace --release --no-fail-fast"
cargo nextest run --workspace --release --no-fail-fast || failed+=("cargo nextest")

if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all checks and tests passed"
