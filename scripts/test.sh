#!/usr/bin/env bash
# Every check rvpp has, in one command: formatting, clippy, the release
# build of the programs, then the unit and end-to-end tests (cargo nextest)
# against those same release binaries.
#
# On a fresh Debian 12 machine run it as root: it first installs what is
# missing (a C linker, procps for `kill`, the end-to-end tests' peers —
# iproute2, iputils-ping, iperf3, traceroute, tshark, python3-scapy,
# ethtool, netsniff-ng, curl, wrk, nftables, dpdk-dev —, pkg-config, libclang-dev
# and clang for the DPDK driver, the Rust toolchain via rustup, rustfmt, clippy,
# cargo-nextest). When everything is present it installs nothing and does
# not touch apt.
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
# The peers of the end-to-end tests in network namespaces (tests/tests/e2e/ip_*,
# drivers/tests/*_e2e): the kernel's tools, iperf3, traceroute, tshark, and
# scapy under Debian's own python3 (tests/scapy/). Those tests need root;
# without root they skip (saying so), so a user lacking these is warned,
# not stopped.
peer_packages=()
type -P ip >/dev/null || peer_packages+=(iproute2)
type -P ping >/dev/null || peer_packages+=(iputils-ping)
type -P iperf3 >/dev/null || peer_packages+=(iperf3)
type -P traceroute >/dev/null || peer_packages+=(traceroute)
type -P tshark >/dev/null || peer_packages+=(tshark)
type -P ethtool >/dev/null || [ -x /usr/sbin/ethtool ] || peer_packages+=(ethtool)
type -P netsniff-ng >/dev/null || [ -x /usr/sbin/netsniff-ng ] || peer_packages+=(netsniff-ng)
# curl and wrk: the HTTP static server's clients (tests/tests/e2e/http_static.rs).
type -P curl >/dev/null || peer_packages+=(curl)
type -P wrk >/dev/null || peer_packages+=(wrk)
# nftables: the random loss of tests/tests/e2e/tcp_loss.rs.
type -P nft >/dev/null || [ -x /usr/sbin/nft ] || peer_packages+=(nftables)
# dpdk-testpmd and the net_memif PMD (the memif tests' peer); with
# pkg-config and libclang-dev (bindgen) and clang, also what rvpp's DPDK
# driver (cargo feature dpdk) builds against.
type -P dpdk-testpmd >/dev/null || peer_packages+=(dpdk-dev)
type -P pkg-config >/dev/null || peer_packages+=(pkg-config)
dpkg -s libclang-dev >/dev/null 2>&1 || peer_packages+=(libclang-dev)
type -P clang >/dev/null || peer_packages+=(clang)
/usr/bin/python3 -c 'import scapy.all' >/dev/null 2>&1 || peer_packages+=(python3-scapy)

if [ ${#peer_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt_packages+=("${peer_packages[@]}")
    else
        echo "not root: not installing ${peer_packages[*]}; the tests needing them skip" >&2
    fi
fi

if [ ${#apt_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${apt_packages[*]} (run as root, or install them)" >&2
        exit 1
    fi
    say "installing ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark's wireshark-common asks whether non-root users may capture.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
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

# The DPDK driver is built and tested whenever the system DPDK and libclang
# are there (they are once the packages above are in); its tests then must
# not skip (RVPP_REQUIRE_DPDK).
features=()
# drivers/dpdk-sys is a workspace member (the drivers' path dependency):
# without DPDK, --workspace leaves it out.
workspace=(--workspace)
if pkg-config --exists libdpdk 2>/dev/null && dpkg -s libclang-dev >/dev/null 2>&1; then
    features=(--features rvpp-drivers/dpdk)
    export RVPP_REQUIRE_DPDK=1
else
    echo "WARNING: no system DPDK or libclang-dev: building without the dpdk driver; its tests skip" >&2
    workspace+=(--exclude rvpp-dpdk-sys)
fi

say "cargo fmt --all -- --check"
cargo fmt --all -- --check || failed+=("cargo fmt")

say "cargo clippy ${workspace[*]} --all-targets ${features[*]} -- -D warnings"
cargo clippy "${workspace[@]}" --all-targets "${features[@]}" -- -D warnings || failed+=("cargo clippy")

# The README's first command, as a fresh machine runs it: pkg-config finds
# no DPDK, and a plain build must not need it.
say "PKG_CONFIG_LIBDIR=/nonexistent cargo build --release (the README's build, no DPDK)"
PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= cargo build --release || failed+=("plain cargo build without DPDK")

say "cargo build --release --bins ${features[*]}"
cargo build --release --bins "${features[@]}"

# The end-to-end tests run these binaries; --release shares this build.
export RVPP_BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/release"
say "cargo nextest run ${workspace[*]} --release --no-fail-fast ${features[*]}"
cargo nextest run "${workspace[@]}" --release --no-fail-fast "${features[@]}" || failed+=("cargo nextest")
scripts/fuzz.sh || failed+=("fuzz")

if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all checks and tests passed"
