#!/usr/bin/env bash
# The HTTP benchmark (examples/http_bench/): hyper on ringloop (io_uring and epoll)
# against hyper on a tokio current-thread runtime, loaded by wrk. Installs wrk from
# the distribution's packages when it is missing, builds the bench and ringloop's
# `http_server` example (release, `--features hyper`), and runs the bench with the
# arguments given, for instance
#
#   ci/http-bench.sh                                  # the default: ~2 minutes
#   ci/http-bench.sh --conns 64 --secs 2 --rounds 5
#   ci/http-bench.sh --install-only                   # wrk only, no build or run
#
# The bench pins each server to cpu1 and wrk to cpu0 (on a 2-core machine, one core
# each); see `http_bench --help` for the options.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ci/http-bench.sh: wrk is missing and there is no apt-get to install it" >&2
        exit 1
    fi
    printf '\n==> installing wrk (apt-get)\n'
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
if [ "${1:-}" = "--install-only" ]; then
    exit 0
fi

# shellcheck source=ci/toolchain.sh
. ci/toolchain.sh

step "cargo build --release --example http_bench --example http_server --features hyper"
cargo build --release --quiet --example http_bench --example http_server --features hyper
exec "${CARGO_TARGET_DIR:-target}/release/examples/http_bench" "$@"
