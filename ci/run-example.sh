#!/usr/bin/env bash
# Runs one example in release mode: ci/run-example.sh NAME [ARGS...]
# (for instance `ci/run-example.sh countasync`). Installs a Rust toolchain first
# when the machine has none (ci/toolchain.sh). The example runs in the caller's
# working directory, so relative paths in ARGS mean what they say.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ "$#" -lt 1 ]; then
    echo "usage: ci/run-example.sh NAME [ARGS...], where NAME is one of:" >&2
    for f in "$root"/examples/*.rs; do
        f="${f##*/}"
        echo "  ${f%.rs}"
    done >&2
    exit 2
fi
name="$1"
shift

# shellcheck source=ci/toolchain.sh
. "$root/ci/toolchain.sh"

exec cargo run --manifest-path "$root/Cargo.toml" --release --quiet --example "$name" -- "$@"
