#!/usr/bin/env bash
# The project's test command: CI (.ci/run) and the README both run this.
#
# It installs what it needs (a Rust toolchain with clippy and rustfmt, through
# ci/toolchain.sh) when missing, then runs, in order: formatting, clippy, docs,
# unit/integration/doc tests, the examples (checking their output), and builds the
# benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# shellcheck source=ci/toolchain.sh
. ci/toolchain.sh

# --- checks ----------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

# shellcheck source=ci/features.sh
. ci/features.sh

step "cargo clippy --workspace --all-targets -- -D warnings (default features, then --features $TEST_FEATURES)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features "$TEST_FEATURES" -- -D warnings

# Each feature must build on its own (an optional dependency's `cfg` left out
# somewhere shows only then), and with none.
step "each feature alone: cargo check --lib --no-default-features [--features F]"
cargo check --quiet -p ringloop --lib --no-default-features
for feature in $ALL_FEATURES; do
    printf '  --features %s\n' "$feature"
    cargo check --quiet -p ringloop --lib --no-default-features --features "$feature"
done

step "cargo doc --features $TEST_FEATURES (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet --features "$TEST_FEATURES"

# --workspace: ringloop and ringloop-macros (whose tests/ui.rs compiles the UI
# tests' files with trybuild, ringloop once for all of them). Every feature but
# the fault injector is on, so the compat tests (tests/compat_*.rs) run too.
step "unit and integration tests (--features $TEST_FEATURES)"
cargo test --workspace --lib --tests --examples --features "$TEST_FEATURES"

step "doc tests (--features $TEST_FEATURES)"
cargo test --workspace --doc --features "$TEST_FEATURES"

# --- fault injection and soak (tests/faults.rs, tests/soak.rs) ---------------------
step "fault injection: tests/faults.rs, several seeds on every driver"
cargo clippy --all-targets --features fault-injection -- -D warnings
cargo test --features fault-injection --test faults

step "soak: tests/soak.rs (60 s; RINGLOOP_SOAK_SECS for longer)"
cargo test --test soak -- --ignored

step "examples"
ci/examples.sh

step "benchmarks build"
cargo bench --no-run --quiet

printf '\nci/test.sh: all checks passed\n'
