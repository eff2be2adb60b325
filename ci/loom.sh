#!/usr/bin/env bash
# Runs the loom models of the cross-thread protocols (src/loom/): the park/unpark
# handshake and the remote-wake queue of src/runtime/inbox.rs, the task reference
# count of src/task/refcount.rs, the per-child wakers of src/task/wake_list.rs,
# the call gate of src/runtime/calls.rs and the call record of
# src/runtime/remote.rs.
# Built with `--cfg ringloop_loom`, that code uses loom's atomics and lock, and loom runs
# each model under every interleaving with at most LOOM_MAX_PREEMPTIONS
# preemptions (3 here; the lost wake-up the park model exists for needs 2).
# .ci/run runs this after ci/test.sh; it also runs on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/toolchain.sh
. ci/toolchain.sh

# A cfg of ringloop's own, not the usual `loom`: RUSTFLAGS reach every crate of
# the build, and some dev-dependencies (compio's synchrony) do not compile with
# `--cfg loom`. A target directory of its own: the flag rebuilds every crate, and
# sharing the default one would throw away the normal build each time.
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
export RUSTFLAGS="--cfg ringloop_loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"

step "loom models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
cargo test --release --lib loom::
