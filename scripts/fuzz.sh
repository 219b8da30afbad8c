#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ briefly: builds them all once, then
# runs each for FUZZ_SECONDS (20 by default) from its corpus (fuzz/corpus,
# kept between runs, not committed) and its committed seeds (fuzz/seeds).
# Exits non-zero if any target crashed, naming the input that did it
# (fuzz/artifacts/<target>/crash-*); replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <artifact>
#
# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them. Built without AddressSanitizer (-s none): the nodes
# and parsers are safe Rust, bounds and overflow checks stay on (debug
# assertions), and the buffer arena's memory is one mapping ASan does not
# track, so the sanitizer would only cost a sixth of the speed.
# Installs cargo-fuzz, and a C++ compiler for libFuzzer, when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }

seconds=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

if ! type -P c++ >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "fuzz: libFuzzer needs a C++ compiler (g++); run as root or install it" >&2
        exit 1
    fi
    say "installing g++"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends g++
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list)

say "cargo fuzz build -s none"
cargo fuzz build -s none

crashed=()
for t in $targets; do
    say "fuzz $t for ${seconds}s"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    before=$(find "fuzz/artifacts/$t" -type f | sort)
    args=(-max_total_time="$seconds" -print_final_stats=1)
    [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="fuzz/dicts/$t.dict")
    corpora=("fuzz/corpus/$t")
    [ -d "fuzz/seeds/$t" ] && corpora+=("fuzz/seeds/$t")
    log="fuzz/artifacts/$t/last-run.log"
    if cargo fuzz run -s none "$t" "${corpora[@]}" -- "${args[@]}" >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$log" || tail -n 3 "$log"
    else
        tail -n 40 "$log"
        new=$(comm -13 <(echo "$before") <(find "fuzz/artifacts/$t" -type f ! -name last-run.log | sort))
        echo "fuzz: $t crashed; input: ${new:-(none saved, see $log)}" >&2
        crashed+=("$t")
    fi
done

if [ ${#crashed[@]} -gt 0 ]; then
    say "fuzz FAILED: ${crashed[*]}"
    exit 1
fi
say "fuzz: no crash in $(echo $targets | wc -w) targets"
