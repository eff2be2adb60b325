#!/usr/bin/env bash
# Runs the test binaries on another kernel (the kernel-5-10 job of
# .github/workflows/ci.yml boots one with virtme-ng).
#
#   ci/vm-tests.sh build   on the host: builds the test binaries, lists them
#   ci/vm-tests.sh run     in the VM: runs each listed binary, no cargo needed
set -euo pipefail
cd "$(dirname "$0")/.."
list=target/vm-tests.list

case "${1:-}" in
build)
    cargo test --no-run --lib --tests --message-format=json \
        | jq -r 'select(.reason == "compiler-artifact" and .profile.test == true) | .executable' \
        | grep -v '^null$' >"$list"
    printf 'test binaries:\n'
    cat "$list"
    ;;
run)
    printf 'kernel %s\n' "$(uname -r)"
    failed=0
    while read -r bin; do
        printf '\n==> %s\n' "$bin"
        # Auto must pick io_uring on 5.10; the matrix inside the tests adds epoll and
        # the 5.10 mask.
        "$bin" --test-threads=2 || failed=1
    done <"$list"
    exit "$failed"
    ;;
*)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
