#!/usr/bin/env bash
# Runs the core's tests under valgrind's memcheck: invalid reads and writes, uses of
# uninitialised memory, double frees, and leaks (definite or possible) fail the run.
# Only the epoll driver: valgrind does not understand io_uring (the kernel writes
# into memory shared through the rings behind its back), so the integration tests
# run their tests named `epoll` (the epoll variant of a `matrix_test!`, and every
# `any_driver_test!`, which runs on epoll alone; tests/support/mod.rs), and the
# library's unit tests run without `driver::tests`, the ones that need io_uring. Those binaries
# cover the task cell, the wakers (remote ones included), the runtime and its
# shutdown, timers, sync primitives, queues and the combinators.
# ci/valgrind.supp lists the suppressions, each with its reason. .ci/run runs this
# after ci/test.sh; it also runs on its own (installing valgrind if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/toolchain.sh
. ci/toolchain.sh

if ! command -v valgrind >/dev/null 2>&1; then
    step "installing valgrind (Debian)"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
fi

tests=(
    tasks wakers runtime shutdown fairness panics pinning smoke
    sync queue queue_cancel queue_shutdown
    time timeout interval callbacks
    combinators combinators_cancel combinators_gather combinators_task_group gather
    to_thread
    sync_threadsafe shard_calls
)

# Left out: tests whose assertions are about wall-clock time, which valgrind (20 to
# 50 times slower) breaks; they fail on timing, not memory, and still run everywhere
# else (ci/test.sh). tests/timer_churn.rs as a whole (100,000 timer operations
# within 5 s; 3,000 sleeps that must register within 300 ms, four tries with the
# margin doubled), and these, which rely on one sleep ending before another a few
# milliseconds longer:
skips=(
    --skip dropping_wait_cancels_its_tasks_and_into_handles_does_not # combinators
    --skip gather_cancels_its_tasks_when_dropped_or_timed_out        # combinators_cancel
    --skip as_completed_over_join_handles                            # combinators_gather
    # 10,000 calls through a capacity of 64 (fine, but minutes under valgrind)
    --skip ten_thousand_calls_to_a_slow_target_stay_within_its_capacity # shard_calls
)

step "building the test binaries (debug)"
args=(--lib)
for t in "${tests[@]}"; do
    args+=(--test "$t")
done
# Cargo names each binary on stderr: "Executable tests/tasks.rs (target/debug/deps/tasks-…)".
# (Captured, then printed: `tee /dev/stderr` would reopen the log file that stderr
# may be redirected to, truncating everything written to it before.)
built="$(cargo test --no-run "${args[@]}" 2>&1)"
printf '%s\n' "$built" >&2
executable() {
    printf '%s\n' "$built" | sed -n "s|^ *Executable $1 (\(.*\))\$|\1|p" | head -n 1
}

failed=()
retried=()
# run NAME EXE ARGS...: the binary under memcheck. Exit status 1 is valgrind's:
# memory errors, which fail the job. 101 is the test harness's: a test failed, which
# under valgrind's slowness is most often a timing assertion, so the binary runs
# once more and fails the job only if a test fails again.
run() {
    local name="$1" exe="$2" status
    shift 2
    if [ -z "$exe" ]; then
        echo "ci/valgrind.sh: no test binary for $name" >&2
        exit 1
    fi
    step "valgrind: $name $*"
    status=0
    memcheck "$exe" "$@" || status=$?
    if [ "$status" -eq 101 ]; then
        step "valgrind: $name $* (again: a test failed)"
        status=0
        memcheck "$exe" "$@" || status=$?
        [ "$status" -eq 0 ] && retried+=("$name")
    fi
    if [ "$status" -ne 0 ]; then
        failed+=("$name (exit status $status)")
    fi
}

memcheck() {
    local exe="$1"
    shift
    valgrind --quiet --error-exitcode=1 --leak-check=full \
        --suppressions=ci/valgrind.supp "$exe" --test-threads=2 "$@"
}

run lib "$(executable 'unittests src/lib.rs')" --skip driver::tests
for t in "${tests[@]}"; do
    run "$t" "$(executable "tests/$t.rs")" epoll "${skips[@]}"
done

if [ "${#retried[@]}" -ne 0 ]; then
    printf '\nci/valgrind.sh: a test failed once, then passed, in: %s\n' "${retried[*]}"
fi
if [ "${#failed[@]}" -ne 0 ]; then
    printf '\nci/valgrind.sh: failed under valgrind: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nci/valgrind.sh: %d test binaries clean under valgrind\n' "$((${#tests[@]} + 1))"
