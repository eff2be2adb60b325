#!/usr/bin/env python3
"""Compares the scheduler, sync and echo benchmarks of two git revisions.

Run through ci/bench-compare.sh (see its header for the usage). Standard library
only. Each revision gets a detached worktree (removed at exit) and its own
CARGO_TARGET_DIR under the cache, keyed by commit, so a second run of the same
revisions builds nothing. Each round runs every benchmark (one criterion id, or
one echo server at one connection count) on both builds back to back, alternating
which goes first, and the table shows each side's median over the rounds.
"""

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOLERANCE = 0.03
BUSY_LOAD = 1.5
# ringloop's rows only: the criterion filter is a substring of the benchmark id,
# and every ringloop id is GROUP/ringloop or GROUP/ringloop-epoll (the tokio rows
# are GROUP/tokio).
CRITERION_FILTER = "ringloop"
CRITERION_SUITES = ("scheduler", "sync")
ECHO_SERVERS = "ringloop,ringloop-epoll"
ECHO_CONNS = "1,64"

SETTINGS = {
    # Default rounds; criterion's --warm-up-time and --measurement-time; echo_bench's
    # --warmup and --secs (all in seconds).
    "default": {"rounds": 5, "warm": "1", "measure": "2", "echo_warm": "1", "echo_secs": "3"},
    "quick": {"rounds": 3, "warm": "0.5", "measure": "1", "echo_warm": "0.5", "echo_secs": "2"},
}
# Generous limits, so a wedged run cannot hold the machine.
BUILD_TIMEOUT = 3600
CRITERION_TIMEOUT = 900
ECHO_TIMEOUT = 300

UNITS_NS = {"ps": 1e-3, "ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}
TIME_LINE = re.compile(r"time:\s+\[\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*\]")
ECHO_LINE = re.compile(
    r"^(\d+) conns, run \d+/\d+, (\S+): ([\d.]+) req/s, .*?server ([\d.]+) µs/req"
)


def log(msg):
    print(f"bench-compare: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    log(msg)
    sys.exit(1)


def git(repo, *args, check=True):
    out = subprocess.run(
        ["git", "-C", repo, *args], capture_output=True, text=True, check=False
    )
    if check and out.returncode != 0:
        fail(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def run_child(cmd, timeout, cwd=None, env=None, stdout=True, stderr=True):
    """Runs `cmd` in its own process group, capturing stdout/stderr where asked
    (else they pass through); on timeout or interruption the whole group is killed
    (echo_bench's server child included). Returns (status, stdout, stderr); a
    timeout is status None."""
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=pipe if stdout else None,
        stderr=pipe if stderr else None,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out or "", err or ""
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        return None, out or "", err or ""
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise


def kill_group(proc):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class Build:
    """One revision: its worktree, target dir and binaries."""

    def __init__(self, repo, cache, sha):
        self.repo = repo
        self.sha = sha
        self.short = sha[:12]
        # Stable paths (the same commit always builds in the same place, with its
        # files' mtimes set to the commit time), so cargo finds a previous build
        # of the commit fresh and rebuilds nothing.
        self.src = os.path.join(cache, "src", self.short)
        self.target = os.path.join(cache, "target", self.short)
        self.benches = {}
        self.echo_bench = None
        self.added = False

    def checkout(self):
        self.remove_worktree()
        git(self.repo, "worktree", "add", "--detach", "--quiet", self.src, self.sha)
        self.added = True
        stamp = int(git(self.repo, "show", "-s", "--format=%ct", self.sha))
        for root, _dirs, files in os.walk(self.src):
            if root == self.src and ".git" in files:
                files.remove(".git")
            for name in files:
                os.utime(os.path.join(root, name), (stamp, stamp), follow_symlinks=False)

    def remove_worktree(self):
        if os.path.exists(self.src):
            git(self.repo, "worktree", "remove", "--force", self.src, check=False)
            if os.path.exists(self.src):
                shutil.rmtree(self.src)
        git(self.repo, "worktree", "prune", check=False)
        self.added = False

    def build(self):
        # Never seed a new target dir from another commit's: with the mtimes set
        # to the commit time, cargo (whose artifact names and fingerprints do not
        # depend on the worktree's path) would take the other commit's ringloop
        # artifacts for fresh.
        env = dict(os.environ, CARGO_TARGET_DIR=self.target)
        cmd = ["cargo", "bench", "--no-run", "--message-format=json-render-diagnostics"]
        for suite in CRITERION_SUITES:
            cmd += ["--bench", suite]
        log(f"{self.short}: {' '.join(cmd)}")
        # JSON on stdout (captured), cargo's progress and diagnostics on stderr.
        status, out, _ = run_child(cmd, BUILD_TIMEOUT, cwd=self.src, env=env, stderr=False)
        if status != 0:
            fail(f"{self.short}: cargo bench --no-run failed (status {status})")
        for line in out.splitlines():
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                target = msg.get("target", {})
                if msg.get("reason") == "compiler-artifact" and "bench" in target.get("kind", []):
                    if msg.get("executable"):
                        self.benches[target["name"]] = msg["executable"]
        missing = [s for s in CRITERION_SUITES if s not in self.benches]
        if missing:
            fail(f"{self.short}: no bench executable for {', '.join(missing)}")

        cmd = ["cargo", "build", "--release", "--examples"]
        log(f"{self.short}: {' '.join(cmd)}")
        status, _, _ = run_child(
            cmd, BUILD_TIMEOUT, cwd=self.src, env=env, stdout=False, stderr=False
        )
        if status != 0:
            fail(f"{self.short}: cargo build --release --examples failed (status {status})")
        examples = os.path.join(self.target, "release", "examples")
        for name in ("echo_bench", "echo_server"):
            if not os.access(os.path.join(examples, name), os.X_OK):
                fail(f"{self.short}: {examples}/{name} was not built")
        # echo_bench runs the echo_server next to itself: this build's.
        self.echo_bench = os.path.join(examples, "echo_bench")


def parse_criterion(output):
    """{benchmark id: point estimate in ns} from criterion's pretty output."""
    found = {}
    previous = ""
    for line in output.splitlines():
        m = TIME_LINE.search(line)
        if m:
            name = line[: line.index("time:")].strip() or previous
            value, unit = m.group(3), m.group(4)
            if unit in UNITS_NS:
                found[name] = float(value) * UNITS_NS[unit]
        elif line.strip():
            previous = line.strip()
    return found


def parse_echo(stderr):
    """{row name: value} from echo_bench's per-run lines on stderr."""
    found = {}
    for line in stderr.splitlines():
        m = ECHO_LINE.match(line.strip())
        if m:
            conns, server, rps, cpu = m.groups()
            conn = "conn" if conns == "1" else "conns"
            found[f"echo {conns} {conn}/{server} req/s"] = float(rps)
            found[f"echo {conns} {conn}/{server} server CPU/req"] = float(cpu) * 1e3
    return found


class Side:
    """One column: a build and what it measured in each round."""

    def __init__(self, label, rev, build):
        self.label = label
        self.rev = rev
        self.build = build
        self.values = {}  # row -> {round: value}; a failed run leaves its round out

    def record(self, rnd, row, value):
        self.values.setdefault(row, {})[rnd] = value
        if row not in ROW_ORDER:
            ROW_ORDER.append(row)

    def median(self, row):
        vals = list(self.values.get(row, {}).values())
        return statistics.median(vals) if vals else None

    def best(self, row):
        vals = list(self.values.get(row, {}).values())
        if not vals:
            return None
        return max(vals) if higher_is_better(row) else min(vals)


# Every row in the order first measured (the jobs' order).
ROW_ORDER = []


def higher_is_better(row):
    return row.endswith("req/s")


def describe(job):
    suite, what = job
    return f"{suite} {what}" if isinstance(what, str) else "{} {} conns {}".format(suite, *what)


def criterion_ids(builds, suite):
    """ringloop's benchmark ids of `suite`, in the order the first build lists them
    (ids only one build has are kept too: the other's column shows them missing)."""
    ids = []
    for build in builds:
        status, out, err = run_child(
            [build.benches[suite], "--bench", "--list", CRITERION_FILTER],
            CRITERION_TIMEOUT, cwd=build.src,
        )
        if status != 0:
            fail(f"{build.short}: {suite} --list failed: {err.strip()}")
        for line in out.splitlines():
            if line.endswith(": benchmark") and line[: -len(": benchmark")] not in ids:
                ids.append(line[: -len(": benchmark")])
    return ids


def jobs(builds):
    """The units a round interleaves: one criterion benchmark id, or one echo
    server at one connection count. Small units keep each base/head pair of runs
    a few seconds apart, so a change in the machine's load hits both."""
    out = []
    for suite in CRITERION_SUITES:
        out += [(suite, bench_id) for bench_id in criterion_ids(builds, suite)]
    for conns in ECHO_CONNS.split(","):
        out += [("echo", (conns, server)) for server in ECHO_SERVERS.split(",")]
    return out


def run_job(job, side, rnd, cfg, scratch, failures):
    """Runs one job on one side for round `rnd`, recording its rows; returns the
    command."""
    suite, what = job
    build = side.build
    if suite in CRITERION_SUITES:
        # A fresh criterion home per run, and --discard-baseline: neither build
        # ever sees the other's (or an earlier run's) saved estimates.
        home = tempfile.mkdtemp(prefix=f"crit-{side.label}-", dir=scratch)
        env = dict(os.environ, CRITERION_HOME=home)
        cmd = [
            build.benches[suite], "--bench", "--noplot", "--discard-baseline",
            "--color", "never", "--warm-up-time", cfg["warm"],
            "--measurement-time", cfg["measure"], "--exact", what,
        ]
        status, out, err = run_child(cmd, CRITERION_TIMEOUT, cwd=build.src, env=env)
        shutil.rmtree(home, ignore_errors=True)
        rows = {f"{suite}: {k}": v for k, v in parse_criterion(out).items()}
    else:
        conns, server = what
        cmd = [
            build.echo_bench, "--servers", server, "--conns", conns,
            "--secs", cfg["echo_secs"], "--warmup", cfg["echo_warm"],
        ]
        status, out, err = run_child(cmd, ECHO_TIMEOUT, cwd=build.src)
        rows = parse_echo(err)
    if status != 0 or not rows:
        why = "timed out" if status is None else f"exit status {status}"
        failures.append(f"round {rnd + 1}, {side.label}, {describe(job)}: {why}; last output: "
                        + " | ".join((out + err).strip().splitlines()[-3:]))
    for row, value in rows.items():
        side.record(rnd, row, value)
    return " ".join(shlex.quote(c) for c in cmd)


def fmt_value(row, value, scale):
    if value is None:
        return "–"
    if row.endswith("req/s"):
        return f"{value:,.0f} req/s"
    unit, div = scale
    return f"{value / div:,.{3 if value / div < 10 else 1}f} {unit}"


def scale_for(row, base):
    if row.endswith("req/s") or base is None:
        return ("", 1.0)
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if base >= div:
            return (unit, div)
    return ("ns", 1.0)


def report(base, head, rounds, cfg, commands, loads, failures, clock, same):
    """Prints the markdown report to stdout."""
    quote = " ".join(shlex.quote(a) for a in ["ci/bench-compare.sh", *sys.argv[1:]])
    print("## Benchmark comparison (ci/bench-compare.sh)\n")
    print(f"- command: `{quote}`")
    print(f"- base: `{base.build.sha}` ({base.rev})")
    print(f"- head: `{head.build.sha}` ({head.rev})")
    if same:
        print("- base and head are the same commit: one build runs in both columns "
              "(an A/A run: the ratios show the noise floor)")
    print(f"- rounds: {rounds}; a round runs each benchmark (one criterion id, or one echo "
          "server at one connection count) on both builds back to back, alternating which "
          "goes first; the columns are medians over the rounds")
    print(f"- criterion: `--warm-up-time {cfg['warm']} --measurement-time {cfg['measure']}`, "
          f"ringloop's ids only (filter `{CRITERION_FILTER}`, tokio rows skipped); times are "
          "criterion's point estimate (the middle of `time: [a b c]`) per operation, "
          "per batch for timers")
    print(f"- echo_bench: servers {ECHO_SERVERS}, conns {ECHO_CONNS}, "
          f"{cfg['echo_warm']} s warm-up, {cfg['echo_secs']} s measured; server CPU per "
          "request from schedstat")
    for suite, cmd in commands.items():
        print(f"- {suite}, e.g. (base build, first job): `{cmd}`")
    ones = [float(x[0]) for x in loads]
    print(f"- load average (1/5/15 min) at start: {' '.join(loads[0])}; "
          f"at end: {' '.join(loads[-1])}; 1-min range over the rounds: "
          f"{min(ones):.2f}–{max(ones):.2f}")
    print(f"- wall time: {(time.monotonic() - clock['start']) / 60:.1f} min, of which builds "
          f"{(clock['bench'] - clock['start']) / 60:.1f} min")
    if max(ones) > BUSY_LOAD:
        print(f"- **noise warning**: the load average exceeded {BUSY_LOAD} on this "
              f"{os.cpu_count()}-core machine during the run: other work shared the "
              "cores, so differences of a few percent may be noise; rerun when it is "
              "idle or with more rounds, and compare with an A/A run (BASE = HEAD)")
    print()
    print("| benchmark | base median | head median | head/base | per-round head/base "
          f"(min–max) | best round head/base | ±{TOLERANCE:.0%} |")
    print("|---|--:|--:|--:|--:|--:|---|")
    outside = 0
    for row in ROW_ORDER:
        b, h = base.median(row), head.median(row)
        scale = scale_for(row, b if b is not None else h)
        ratio = h / b if b and h is not None else None
        pairs = [
            hv / base.values[row][rnd]
            for rnd, hv in head.values.get(row, {}).items()
            if base.values.get(row, {}).get(rnd)
        ]
        spread = f"{min(pairs):.3f}–{max(pairs):.3f}" if pairs else "–"
        bb, hb = base.best(row), head.best(row)
        best = f"{hb / bb:.3f}" if bb and hb is not None else "–"
        if ratio is None:
            mark = "missing"
        elif abs(ratio - 1) > TOLERANCE:
            outside += 1
            worse = ratio < 1 if higher_is_better(row) else ratio > 1
            mark = "**outside: head worse**" if worse else "**outside: head better**"
        else:
            mark = "ok"
        label = row.replace(": ", " ", 1)
        print(f"| {label} | {fmt_value(row, b, scale)} | {fmt_value(row, h, scale)} | "
              f"{'–' if ratio is None else f'{ratio:.3f}'} | {spread} | {best} | {mark} |")
    print()
    print(f"{outside} of {len(ROW_ORDER)} rows outside ±{TOLERANCE:.0%} (times and CPU per "
          "request: lower is better; req/s: higher is better). \"best round\" compares "
          "each side's best value over the rounds, which other load on the machine "
          "disturbs least.")
    if failures:
        print("\nFailed runs (missing from their round):")
        for f in failures:
            print(f"- {f}")


def main():
    parser = argparse.ArgumentParser(
        prog="ci/bench-compare.sh",
        description="Compare the scheduler, sync and echo benchmarks of two revisions.",
    )
    parser.add_argument("base", metavar="BASE", help="the revision before the change")
    parser.add_argument("head", metavar="HEAD", help="the revision after it")
    parser.add_argument("rounds", metavar="ROUNDS", nargs="?", type=int,
                        help="rounds (default 5, or 3 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="shorter criterion and echo windows, 3 rounds by default")
    parser.add_argument("--cache", default=os.environ.get(
        "BENCH_COMPARE_CACHE",
        os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                     "ringloop-bench-compare")),
        help="where the builds are kept (env BENCH_COMPARE_CACHE; "
             "default ~/.cache/ringloop-bench-compare)")
    opts = parser.parse_args()
    cfg = SETTINGS["quick" if opts.quick else "default"]
    rounds = opts.rounds if opts.rounds is not None else cfg["rounds"]
    if rounds < 1:
        fail("ROUNDS must be at least 1")

    clock = {"start": time.monotonic()}
    loads = [loadavg()]
    here = os.path.dirname(os.path.abspath(__file__))
    repo = git(here, "rev-parse", "--show-toplevel")
    shas = []
    for rev in (opts.base, opts.head):
        sha = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if not sha:
            fail(f"{rev!r} is not a commit in {repo}")
        shas.append(sha)
    same = shas[0] == shas[1]

    cache = os.path.abspath(opts.cache)
    os.makedirs(os.path.join(cache, "src"), exist_ok=True)
    os.makedirs(os.path.join(cache, "target"), exist_ok=True)
    lock = open(os.path.join(cache, "lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fail(f"another bench-compare is running (it holds {cache}/lock)")

    # SIGTERM/SIGHUP unwind like Ctrl-C, so the worktrees are removed.
    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    builds = {}
    for sha in shas:
        builds.setdefault(sha, Build(repo, cache, sha))
    scratch = tempfile.mkdtemp(prefix="bench-compare-")
    try:
        for build in builds.values():
            build.checkout()
            build.build()
        base = Side("base", opts.base, builds[shas[0]])
        head = Side("head", opts.head, builds[shas[1]])
        clock["bench"] = time.monotonic()
        failures, commands = [], {}
        units = jobs(list(builds.values()))
        for rnd in range(rounds):
            for n, job in enumerate(units):
                # Alternate which build goes first from one job to the next, and
                # start each round with the build that went second in the last.
                order = (base, head) if (rnd + n) % 2 == 0 else (head, base)
                for side in order:
                    log(f"round {rnd + 1}/{rounds}: {describe(job)} on {side.label} "
                        f"({side.build.short}), load {' '.join(loadavg())}")
                    cmd = run_job(job, side, rnd, cfg, scratch, failures)
                    if side is base:
                        commands.setdefault(job[0], cmd)
            loads.append(loadavg())
        report(base, head, rounds, cfg, commands, loads, failures, clock, same)
        return 1 if failures else 0
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}); removing the worktrees")
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for build in builds.values():
            if build.added:
                build.remove_worktree()


if __name__ == "__main__":
    sys.exit(main())
