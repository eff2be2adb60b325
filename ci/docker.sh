#!/usr/bin/env bash
# The whole test suite inside a Docker container under Docker's default seccomp
# profile, which since Docker 25 refuses io_uring (io_uring_setup fails with
# EPERM): ringloop must fall back to epoll there, and the test binaries must pass,
# their io_uring tests reported skipped (one line per binary). Prints one table
# row like ci/kernels.sh. Exit status 1 if any test failed.
#
#   ci/docker.sh
#
# No registry is needed: the image is an empty one imported here, and the host's
# /usr and /etc are mounted into it read-only (the test binaries and the tools
# they start come from the host). This checkout and the target directory are
# mounted read-write at the same paths; /tmp is the container's own (overlayfs,
# as in most container CI).
#
# The profile: the daemon's own default when it is Docker 25 or later; for an
# older daemon (Debian 12's docker.io is 20.10, whose default still allows
# io_uring), ci/seccomp-docker-default.json, the default profile of Docker 28.2.2
# (moby's profiles/seccomp/default.json at v28.2.2, unchanged), so the container
# gets what a current Docker gives it.
#
# What it needs it installs: docker.io from Debian when no daemon answers (then it
# starts dockerd, logging to $RINGLOOP_DOCKER_WORK/dockerd.log, and leaves it
# running).
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
work=${RINGLOOP_DOCKER_WORK:-/var/tmp/ringloop-docker}
image=ringloop-hostusr
mkdir -p "$work"

say() { printf '[docker] %s\n' "$*" >&2; }

# --- a daemon -------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null; then
        say "installing docker.io"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    fi
    say "starting dockerd (log: $work/dockerd.log)"
    nohup dockerd >"$work/dockerd.log" 2>&1 &
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
fi
docker info >/dev/null 2>&1 || { say "no Docker daemon answers (see $work/dockerd.log)"; exit 1; }

# --- the image: nothing but the directories the host's /usr and /etc go into ----------
if ! docker image inspect "$image" >/dev/null 2>&1; then
    say "importing the empty image $image"
    root=$(mktemp -d)
    mkdir -p "$root"/{usr,etc,tmp,proc,sys,dev,run}
    chmod 1777 "$root/tmp"
    for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
    tar -C "$root" -c . | docker import - "$image" >/dev/null
    rm -rf "$root"
fi

# --- the profile -----------------------------------------------------------------------
server=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo 0)
if [ "${server%%.*}" -ge 25 ] 2>/dev/null; then
    security=()
    profile="Docker $server's own default"
    label="Docker $server, its default profile"
else
    security=(--security-opt "seccomp=$checkout/ci/seccomp-docker-default.json")
    profile="Docker 28.2.2's default (ci/seccomp-docker-default.json; the daemon is $server)"
    label="Docker $server, Docker 28.2.2's default profile"
fi

# --- the run ----------------------------------------------------------------------------
say "building the test binaries"
ci/vm-tests.sh build >&2
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
mounts=(-v /usr:/usr:ro -v /etc:/etc:ro -v "$checkout:$checkout")
case $target in "$checkout"/*) ;; *) mounts+=(-v "$target:$target") ;; esac
ls -1 "$work"/run-*.log 2>/dev/null | head -n -19 | xargs -r rm -f # the last 20 logs kept
log=$work/run-$(date +%Y%m%d-%H%M%S).log
say "running them under $profile; log: $log"
t0=$SECONDS
status=0
# The tests talk over loopback only: no network.
docker run --rm --network none "${security[@]}" "${mounts[@]}" \
    -e HOME=/tmp -e PATH=/usr/local/bin:/usr/bin:/bin -e CARGO_TARGET_DIR="$target" \
    -w "$checkout" "$image" \
    /bin/bash -c 'grep "^Seccomp:" /proc/self/status; echo "/tmp: $(stat -f -c %T /tmp)"; ci/vm-tests.sh run' \
    >"$log" 2>&1 || status=$?
grep -E '^(Seccomp|/tmp):' "$log" | sed 's/^/[docker] container: /' >&2
say "done after $((SECONDS - t0)) s (exit $status)"

printf '\n| where | passed | failed | io_uring skipped in | failing |\n|---|---|---|---|---|\n'
ci/vm-tests.sh summary "$log" "$label"
exit "$status"
