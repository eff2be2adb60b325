#!/usr/bin/env bash
# The whole test suite on real Linux kernels: Debian's 5.10 and 6.1, booted in a
# VM with virtme-ng (the host's / shared read-only, this checkout read-write),
# each running every test binary that ci/vm-tests.sh lists. Prints one table:
# kernel, passed, failed, the failing tests. Exit status 1 if any test failed.
#
#   ci/kernels.sh [KERNEL...]      KERNEL: 5.10 | 6.1 (default: both), or the
#                                  path of a vmlinuz (modules in ../lib/modules/)
#
# What it needs it installs: qemu-system-x86, kmod, udev, busybox-static, jq, file
# and python3-venv from Debian, virtme-ng from PyPI in a venv. The kernels are
# Debian's packages, fetched with `apt-get download` through private apt lists
# (the host's sources are left alone) and unpacked, never installed.
#
# Environment:
#   RINGLOOP_KERNELS_WORK  work files: venv, apt lists, kernels, logs
#                          (/var/tmp/ringloop-kernels)
#   VM_ACCEL               auto | kvm | tcg. auto: KVM when /dev/kvm is usable and
#                          a hardware KVM module (kvm_intel, kvm_amd) is loaded;
#                          TCG otherwise (a nested /dev/kvm such as kvm_pvm cannot
#                          boot these guests)
#   VM_PARALLEL            1: boot the kernels at once; 0: one after the other
#                          (default: 1 under TCG, where on 2 cores it is faster)
#   VM_CPUS (2), VM_MEM (6G), VM_TIMEOUT (seconds per kernel, 2400)
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
work=${RINGLOOP_KERNELS_WORK:-/var/tmp/ringloop-kernels}
VM_CPUS=${VM_CPUS:-2}
VM_MEM=${VM_MEM:-6G}
VM_TIMEOUT=${VM_TIMEOUT:-2400}
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1)
mkdir -p "$work"

say() { printf '[kernels] %s\n' "$*" >&2; }

# --- host tools ---------------------------------------------------------------------
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
apt_install() {
    say "installing $*"
    $sudo apt-get update -qq
    # udev's maintainer scripts must not start a daemon on this machine: a
    # policy-rc.d that says no, for the install only (unless one exists already).
    local policy=/usr/sbin/policy-rc.d ours=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && ours=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    [ -z "$ours" ] || $sudo rm -f "$policy"
}
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v depmod >/dev/null || missing+=(kmod)            # virtme runs depmod on the modules
command -v busybox >/dev/null || missing+=(busybox-static) # the initramfs of a modular kernel
command -v jq >/dev/null || missing+=(jq)                  # ci/vm-tests.sh build
command -v file >/dev/null || missing+=(file)              # virtme reads the image's version
# virtme-ng-init starts udevd for /dev/virtio-ports/*: without it the guest's output
# and exit status never reach the host.
[ -x /lib/systemd/systemd-udevd ] || [ -x /usr/lib/systemd/systemd-udevd ] || missing+=(udev)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# Debian's archive keys (an Ubuntu host lacks them)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

venv=$work/venv
if [ ! -x "$venv/bin/vng" ]; then
    say "installing virtme-ng into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q virtme-ng
fi
export PATH=$venv/bin:$PATH # vng starts virtme-run from PATH

# --- kernels --------------------------------------------------------------------------
# apt_opts SUITE: apt options for Debian SUITE's lists alone, kept under $work/apt
# (refreshed once a day), so nothing of the host's apt configuration changes.
apt_opts() {
    local dir=$work/apt/$1
    opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
    if [ ! -f "$dir/updated" ] || [ -n "$(find "$dir/updated" -mmin +1440)" ]; then
        mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
        local key=/usr/share/keyrings/debian-archive-keyring.gpg
        printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' "$key" "$1" "$key" "$1-updates" >"$dir/sources.list"
        printf 'deb [signed-by=%s] http://deb.debian.org/debian-security %s-security main\n' "$key" "$1" >>"$dir/sources.list"
        apt-get -qq "${opts[@]}" update >&2
        touch "$dir/updated"
    fi
}

# debian_kernel SUITE ABI: the vmlinuz of linux-image-ABI-unsigned from SUITE,
# downloaded and unpacked once under $work/k/ABI. When the archive no longer has
# that ABI (a security update replaced it), the suite's current one is taken.
debian_kernel() {
    local suite=$1 abi=$2
    if [ ! -f "$work/k/$abi/boot/vmlinuz-$abi" ]; then
        apt_opts "$suite"
        if ! apt-cache "${opts[@]}" show "linux-image-$abi-unsigned" >/dev/null 2>&1; then
            local newest
            newest=$(apt-cache "${opts[@]}" depends linux-image-amd64 |
                sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)\(-unsigned\)\?$/\1/p' | head -1)
            say "$suite no longer has linux-image-$abi-unsigned; taking $newest"
            abi=$newest
        fi
        if [ ! -f "$work/k/$abi/boot/vmlinuz-$abi" ]; then
            say "downloading linux-image-$abi-unsigned ($suite)"
            mkdir -p "$work/debs" "$work/k/$abi"
            (cd "$work/debs" && apt-get -qq "${opts[@]}" download "linux-image-$abi-unsigned" >/dev/null)
            dpkg-deb -x "$(ls -t "$work/debs/linux-image-$abi-unsigned_"*.deb | head -1)" "$work/k/$abi"
        fi
    fi
    echo "$work/k/$abi/boot/vmlinuz-$abi"
}

vmlinuz_of() {
    case $1 in
    5.10) debian_kernel bullseye 5.10.0-46-amd64 ;;
    6.1) debian_kernel bookworm 6.1.0-57-amd64 ;;
    /*) echo "$1" ;;
    *) say "unknown kernel $1 (5.10, 6.1 or /path/to/vmlinuz)"; exit 2 ;;
    esac
}

# --- acceleration ---------------------------------------------------------------------
accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
    accel=tcg
    if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
        accel=kvm
    fi
fi
accel_opts=()
[ "$accel" = kvm ] || accel_opts=(--disable-kvm)
# Under emulation everything takes about 7 times longer: the tests' fixed
# deadlines scale by this (tests/support: scaled).
if [ "$accel" = kvm ]; then scale=2; else scale=10; fi
parallel=${VM_PARALLEL:-$([ "$accel" = tcg ] && echo 1 || echo 0)}

# --- build ----------------------------------------------------------------------------
say "building the test binaries"
ci/vm-tests.sh build >&2
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
nofile=$(ulimit -n)

# --- one kernel -----------------------------------------------------------------------
# boot NAME VMLINUZ RUN_DIR: runs ci/vm-tests.sh run in the guest; its output goes
# to RUN_DIR/guest.log, its exit status to RUN_DIR/rc.
boot() {
    local name=$1 vmlinuz=$2 dir=$3
    mkdir -p "$dir"
    rm -f "$dir/rc" "$dir/guest.log"
    # The guest's first lines undo what virtme does differently from a normal system.
    cat >"$dir/guest.sh" <<EOF
#!/bin/bash
exec </dev/null >"$dir/guest.log" 2>&1
# virtme links /dev/stdout and /dev/stderr to its own virtio ports: a child that
# opens /dev/stderr by name (tee /dev/stderr) would write to the host. Back to fds.
for i in 0:stdin 1:stdout 2:stderr; do ln -sfn "/proc/self/fd/\${i%%:*}" "/dev/\${i#*:}"; done
# The kernel's default of 1024 descriptors is too few (500 clients at once...).
ulimit -n $nofile
# virtme's /tmp is an overlayfs; the tests' files go to a tmpfs of their own,
# as large as the guest's memory allows less 1.25 GiB: fs_copy's tests, two at
# once, each write a 1 GiB file and its 1 GiB copy (a default tmpfs, half the
# memory, runs out).
mkdir -p /run/ringloop-tmp
mem_kb=\$(awk '/^MemTotal/ {print \$2}' /proc/meminfo)
mount -t tmpfs -o size=\$((mem_kb - 1310720))k,mode=1777 ringloop-tmp /run/ringloop-tmp
export TMPDIR=/run/ringloop-tmp
export RINGLOOP_TEST_TIME_SCALE=$scale
cd "$checkout"
echo "guest: \$(uname -r), \$(nproc) CPUs, nofile \$(ulimit -n), memlock \$(ulimit -l) KiB, TMPDIR \$TMPDIR (\$(df -h --output=avail \$TMPDIR | tail -1 | tr -d ' ') free), time scale $scale"
start=\$(date +%s)
ci/vm-tests.sh run
rc=\$?
echo "guest: exit \$rc after \$((\$(date +%s) - start)) s"
echo \$rc >"$dir/rc"
EOF
    chmod +x "$dir/guest.sh"
    local shares=(--rwdir "$checkout" --rwdir "$dir")
    case $target in "$checkout"/*) ;; *) shares+=(--rwdir "$target") ;; esac
    say "booting $name ($accel, $VM_CPUS CPUs, $VM_MEM); log: $dir/guest.log"
    local t0=$SECONDS
    # vng's output goes through a pipe: QEMU reopens /proc/self/fd/1 (O_TRUNC) for
    # each of its output channels, which clobber each other in a regular file.
    (cd "$work" && timeout "$VM_TIMEOUT" vng "${accel_opts[@]}" --run "$vmlinuz" --user root \
        --cpus "$VM_CPUS" --memory "$VM_MEM" "${shares[@]}" -- "$dir/guest.sh" 2>&1 | cat >"$dir/vng.log") || true
    echo $((SECONDS - t0)) >"$dir/seconds"
    say "$name done after $((SECONDS - t0)) s (exit $(cat "$dir/rc" 2>/dev/null || echo none))"
}

stamp=$(date +%Y%m%d-%H%M%S)
# The logs of the last 20 runs are kept (each kernel's run is a directory).
ls -1d "$work"/runs/*/ 2>/dev/null | head -n -40 | xargs -r rm -rf
names=() dirs=() pids=()
for k in "${kernels[@]}"; do
    vmlinuz=$(vmlinuz_of "$k")
    name=$(basename "$vmlinuz" | sed 's/^vmlinuz-//')
    dir=$work/runs/$stamp-$name
    names+=("$name") dirs+=("$dir")
    if [ "$parallel" = 1 ]; then
        boot "$name" "$vmlinuz" "$dir" &
        pids+=($!)
    else
        boot "$name" "$vmlinuz" "$dir"
    fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

# --- the table ----------------------------------------------------------------------
status=0
printf '\n| kernel | passed | failed | io_uring skipped in | failing |\n|---|---|---|---|---|\n'
for i in "${!names[@]}"; do
    dir=${dirs[$i]}
    if [ -s "$dir/guest.log" ]; then
        ci/vm-tests.sh summary "$dir/guest.log" "${names[$i]}"
    else
        printf '| %s | 0 | 0 | - | the guest printed nothing (see %s/vng.log) |\n' "${names[$i]}" "$dir"
    fi
    if [ ! -s "$dir/rc" ]; then
        status=1
        say "${names[$i]}: no exit status from the guest (a timeout, or it did not boot); $dir/vng.log ends:"
        tail -n 15 "$dir/vng.log" | cut -c1-300 >&2
    elif [ "$(cat "$dir/rc")" != 0 ]; then
        status=1
    fi
done
printf '(%s, %s; logs in %s/runs/%s-*)\n' "$accel" "$([ "$parallel" = 1 ] && echo "in parallel" || echo "in sequence")" "$work" "$stamp"
exit "$status"
