#!/usr/bin/env bash
# The comparison benchmark (examples/bench/, issue 16): every workload (echo, file
# reads, scheduler shapes, the cross-core call) against every peer (ringloop on each
# driver, tokio current-thread and multi-thread, monoio, compio, tokio-uring, a bare
# io_uring loop, a pread loop) in one run, interleaved, as one markdown report with
# medians, spreads, ratios and the goals. Builds the bench and ringloop's
# `echo_server` example in release, then runs the bench with the arguments given:
#
#   ci/bench.sh                          # the full run: ~15 minutes on 2 cores
#   ci/bench.sh --quick                  # 1 round of 0.5 s windows: about a minute
#   ci/bench.sh --out report.md          # also writes the report to report.md
#   ci/bench.sh --workloads echo --peers ringloop,tokio,bare-uring --rounds 5
#
# The report goes to stdout (and to the --out file), progress to stderr; see
# `bench --help` and the header of examples/bench/main.rs for the options.
set -euo pipefail
cd "$(dirname "$0")/.."

out=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out)
            [ $# -ge 2 ] || { echo "ci/bench.sh: --out needs a file" >&2; exit 2; }
            out="$2"
            shift 2
            ;;
        --out=*)
            out="${1#--out=}"
            shift
            ;;
        *)
            args+=("$1")
            shift
            ;;
    esac
done

# shellcheck source=ci/toolchain.sh
. ci/toolchain.sh

step "cargo build --release --example bench --example echo_server" >&2
cargo build --release --quiet --example bench --example echo_server >&2
bench="${CARGO_TARGET_DIR:-target}/release/examples/bench"
if [ -n "$out" ]; then
    "$bench" "${args[@]+"${args[@]}"}" | tee "$out"
    exit "${PIPESTATUS[0]}"
fi
exec "$bench" "${args[@]+"${args[@]}"}"
