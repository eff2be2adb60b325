#!/usr/bin/env bash
# The project's test command: CI (.ci/run) and the README both run this.
#
# It installs what it needs (a Rust toolchain with clippy and rustfmt) when missing,
# then runs, in order: formatting, clippy, docs, unit/integration/doc tests, the
# examples (checking their output), and builds the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# --- toolchain -----------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        step "installing Rust (rustup, minimal profile)"
        if ! command -v curl >/dev/null 2>&1; then
            if command -v apt-get >/dev/null 2>&1; then
                sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
                $sudo apt-get update -qq && $sudo apt-get install -y -qq curl ca-certificates
            else
                echo "ci/test.sh: need curl (or cargo) to proceed" >&2; exit 1
            fi
        fi
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --component clippy,rustfmt
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
if command -v rustup >/dev/null 2>&1; then
    for component in clippy rustfmt; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
            step "installing the $component component"
            rustup component add "$component"
        fi
    done
fi

# --- checks ----------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

step "unit and integration tests"
cargo test --lib --tests --examples

step "doc tests"
cargo test --doc

step "examples"
ci/examples.sh

step "benchmarks build"
cargo bench --no-run --quiet

printf '\nci/test.sh: all checks passed\n'
