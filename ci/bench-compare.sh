#!/usr/bin/env bash
# Compares the scheduler, sync and echo benchmarks of two git revisions, for
# "performance must not move backwards" checks:
#
#   ci/bench-compare.sh BASE HEAD [ROUNDS] [--quick] [--cache DIR]
#
# BASE and HEAD are git revisions (commits, branches, tags): uncommitted changes
# are not measured. Each revision is checked out into a detached worktree (removed at exit) and built
# with its own CARGO_TARGET_DIR under the cache (~/.cache/ringloop-bench-compare,
# or $BENCH_COMPARE_CACHE), kept by commit so a re-run builds nothing:
# `cargo bench --no-run --bench scheduler --bench sync` and
# `cargo build --release --examples`. Then ROUNDS rounds (default 5; 3 with
# --quick, which also shortens every window) run each benchmark on both builds
# back to back, alternating which goes first (from one benchmark to the next and
# from one round to the next), so each pair of runs is seconds apart:
#
# - each of ringloop's criterion ids in the scheduler and sync benches (the
#   tokio rows are skipped), `<bench-exe> --bench --noplot --exact ID
#   --warm-up-time 1 --measurement-time 2`, each run with a fresh CRITERION_HOME
#   and --discard-baseline, so no build compares against saved estimates of the
#   other;
# - each build's echo_bench (which runs the echo_server built next to it) on the
#   ringloop and ringloop-epoll servers at 1 and 64 connections, --secs 3:
#   requests/s and server CPU per request.
#
# It prints one markdown table: per benchmark the median over the rounds of each
# build, head/base, the range of the per-round ratios, and whether head/base is
# outside ±3%; with the revisions, the round count and the load average at start
# and end (and a noise warning above 1.5). Progress goes to stderr. A default run
# takes about 18 minutes on a 2-core machine after the builds (--quick: about 6;
# a commit built for the first time adds 3-8 minutes).
# Exits 1 if any run failed (its rows are reported missing for that round).
set -euo pipefail
exec python3 "$(dirname "$0")/bench_compare.py" "$@"
