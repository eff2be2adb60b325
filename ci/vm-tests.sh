#!/usr/bin/env bash
# The test binaries, built once and run somewhere else: on another kernel in a VM
# (ci/kernels.sh) or in a container (ci/docker.sh), where there is no cargo.
#
#   ci/vm-tests.sh build            builds every test binary (lib and tests/), lists them
#   ci/vm-tests.sh run              runs each listed binary, no cargo needed
#   ci/vm-tests.sh summary LOG NAME one table row from the output of `run` in LOG
#
# The list is $CARGO_TARGET_DIR/vm-tests.list (target/ by default). `run` prints
# `==> BINARY` before each binary's output and `<== BINARY exit N` after it, which
# `summary` reads. Environment for `run`: RINGLOOP_TEST_THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
list=$target/vm-tests.list

case "${1:-}" in
build)
    # shellcheck source=ci/toolchain.sh
    . ci/toolchain.sh
    command -v jq >/dev/null || { echo "ci/vm-tests.sh: jq is needed (apt-get install jq)" >&2; exit 1; }
    mkdir -p "$target"
    # Every binary with tests: the library's unit tests and each file of tests/,
    # whatever exists now (no names written here), with the features ci/test.sh
    # tests with (the compat tests need theirs).
    # shellcheck source=ci/features.sh
    . ci/features.sh
    cargo test --no-run --lib --tests --features "$TEST_FEATURES" --message-format=json \
        | jq -r 'select(.reason == "compiler-artifact" and .profile.test == true) | .executable' \
        | grep -v '^null$' >"$list"
    printf 'ci/vm-tests.sh: %s test binaries listed in %s\n' "$(wc -l <"$list")" "$list"
    ;;
run)
    printf 'kernel %s\n' "$(uname -r)"
    failed=0
    while read -r bin; do
        printf '\n==> %s\n' "$bin"
        status=0
        "$bin" --test-threads="${RINGLOOP_TEST_THREADS:-2}" 2>&1 || status=$?
        printf '<== %s exit %s\n' "$bin" "$status"
        [ "$status" -eq 0 ] || failed=1
    done <"$list"
    exit "$failed"
    ;;
summary)
    # One markdown row: | NAME | passed | failed | io_uring skipped in | failing |
    log=$2 name=$3
    awk -v name="$name" '
        function short(path) { sub(/.*\//, "", path); sub(/-[0-9a-f]+$/, "", path); return path }
        /^==> / { bin = short($2); results = 0; next }
        /^test result: / { passed += $4; failed += $6; results++; next }
        /^test .* \.\.\. FAILED$/ { names = names (names ? ", " : "") bin "::" $2; next }
        /^SKIPPED: io_uring/ { skipping++; next }
        /^SKIPPED: / { others++; next }
        /^<== / {
            # A binary that ended without its result line crashed (or was killed).
            if ($4 != 0 && results == 0) {
                failed++
                names = names (names ? ", " : "") bin " (exit " $4 ", no result)"
            }
            next
        }
        END {
            if (names == "") names = "-"
            # Other skips (a test that found no room on the disk, say) show too.
            if (others) names = names " (and " others " other test(s) SKIPPED: see the log)"
            printf "| %s | %d | %d | %s | %s |\n", name, passed, failed,
                (skipping ? skipping " binaries" : "-"), names
        }' "$log"
    ;;
*)
    echo "usage: $0 build | run | summary LOG NAME" >&2
    exit 2
    ;;
esac
