//! The HTTP benchmark: hyper on ringloop (the `http_server` example, on io_uring
//! and on epoll) against hyper on a tokio current-thread runtime with the same
//! handler, under a real load generator, wrk.
//!
//! HTTP/1.1 plaintext `GET /` → `Hello, world!` with keep-alive: wrk keeps C
//! connections busy, one request in flight on each, for S seconds. Each server is
//! its own process pinned to one CPU (`--server-cpu`, default cpu1) and started by
//! the bench on `127.0.0.1:0` (it prints `listening on ADDR` first, which gives the
//! port); wrk is pinned to another (`--client-cpu`, default cpu0), with one thread
//! (`--wrk-threads`). On a 2-core machine client and server thus get one core each.
//! Every run:
//!
//! 1. starts the server and sends it one plain `GET /`: every server must send the
//!    same response (status, headers with `date`'s value aside, body), or the bench
//!    says so and fails;
//! 2. runs wrk for `--warmup` seconds (not counted);
//! 3. runs wrk for `--secs` seconds with `--latency` and takes its requests/s and
//!    p50/p99 latency; and the server's CPU time over that run, the growth of the sum
//!    of `/proc/PID/task/*/schedstat` (ns on a CPU, every thread, exact rather than
//!    tick-sampled like `stat`'s utime + stime), over wrk's responses: µs of server
//!    CPU per request, and the server's busy share of the run (100% = its core
//!    saturated; below that the client was the bottleneck);
//! 4. kills the server.
//!
//! With `--rounds N` every server runs N times, the servers interleaved (the order
//! rotates each round), and the table shows medians, the range of the CPU figure,
//! and the ratios against tokio as medians of the per-round ratios. Under the
//! tables it checks the issue's goals: server CPU per request at most tokio's, p99
//! no worse. A run that fails (a server dies, wrk reports socket errors or non-2xx
//! responses) is reported and makes the exit status 1; every process the bench
//! starts is killed and reaped when its run ends, and every wait has a time limit.
//!
//! The servers (`--servers`, default all three):
//!
//! - `ringloop`: the `http_server` example next to this binary, `--driver uring`
//!   (built with `--features hyper`; skipped with a message if missing);
//! - `ringloop-epoll`: the same binary with `--driver epoll`;
//! - `tokio`: `http_bench serve-tokio ADDR` (see `peers/tokio_hyper.rs`).
//!
//! wrk comes from Debian's `wrk` package; `ci/http-bench.sh` installs it if it is
//! missing, builds everything and runs this:
//!
//! ```sh
//! ci/http-bench.sh                        # 16 and 64 connections, 3 rounds of 5 s: ~2 min
//! ci/http-bench.sh --conns 64 --secs 2 --rounds 5
//! ```
//!
//! Options: `--conns LIST` (16,64), `--secs S` (5, whole seconds: wrk's `-d`),
//! `--warmup S` (1), `--rounds N` (3), `--servers LIST`, `--wrk-threads N` (1),
//! `--server-cpu N` (1), `--client-cpu N` (0), `--wrk PATH` (`wrk` on `PATH`).

// The echo benchmark's child-process and /proc helpers, shared as they are.
#[allow(dead_code)]
#[path = "../echo_bench/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "../echo_bench/procstat.rs"]
mod procstat;

mod args;
mod peers;
mod probe;
mod report;
mod run;
mod wrk;

use std::fs;
use std::io;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use args::{Options, USAGE};
use report::Row;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve-tokio") {
        let addr = args.get(2).map_or("127.0.0.1:8080", String::as_str);
        return match peers::tokio_hyper::serve(addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("serve-tokio: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match Options::parse(&args[1..]) {
        Ok(opts) => opts,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("http_bench: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&args, &opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("http_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of a file, trimmed, or `?`.
fn first_line(path: &str) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| "?".into())
}

/// The CPU model, from /proc/cpuinfo.
fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

/// The number of CPUs online (not only those this process may use).
fn online_cpus() -> i64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }
}

/// wrk's version, from the first words of `wrk -v` (`wrk 4.1.0 [epoll] ...`).
fn wrk_version(wrk: &Path) -> String {
    Command::new(wrk)
        .arg("-v")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let words: Vec<&str> = text.split_whitespace().take(3).collect();
            (!words.is_empty()).then(|| words.join(" "))
        })
        .unwrap_or_else(|| "?".into())
}

/// Runs the whole benchmark and prints the tables; `false` if any run failed or
/// the servers' responses differ.
fn bench(args: &[String], opts: &Options) -> io::Result<bool> {
    if !procstat::available() {
        return Err(io::Error::other(
            "/proc/PID/schedstat is missing (a kernel without CONFIG_SCHED_INFO)",
        ));
    }
    for cpu in [opts.server_cpu, opts.client_cpu] {
        if !process::cpu_allowed(cpu) {
            return Err(io::Error::other(format!(
                "cpu{cpu} is not available to this process; choose --server-cpu/--client-cpu"
            )));
        }
    }
    let wrk_path = match opts.wrk.clone().or_else(wrk::find) {
        Some(path) => path,
        None => {
            return Err(io::Error::other(
                "wrk is not installed: `apt-get install wrk`, or run ci/http-bench.sh, \
                 which installs it",
            ))
        }
    };
    // This process (which mostly waits) and wrk, which inherits it, stay off the
    // server's CPU; each server is re-pinned to its own CPU before exec.
    process::pin_current_thread(opts.client_cpu)?;

    let mut servers = Vec::new();
    for &peer in &opts.servers {
        if peer.command("127.0.0.1:0")?.is_some() {
            servers.push(peer);
        }
    }
    println!("# http_bench\n");
    println!("- command: `{}`", args.join(" "));
    println!(
        "- kernel: Linux {} {}",
        first_line("/proc/sys/kernel/osrelease"),
        first_line("/proc/sys/kernel/version")
    );
    println!(
        "- cpu: {} ({} online); each server on cpu{}, wrk ({}, {} thread(s)) on cpu{}",
        cpu_model(),
        online_cpus(),
        opts.server_cpu,
        wrk_version(&wrk_path),
        opts.wrk_threads,
        opts.client_cpu
    );
    if opts.server_cpu == opts.client_cpu {
        println!(
            "- NOTE: wrk shares cpu{} with the server: req/s and latency measure that \
             sharing, server CPU per request is the figure to compare",
            opts.client_cpu
        );
    }
    println!("- load average at start: {}", first_line("/proc/loadavg"));
    println!(
        "- HTTP/1.1 keep-alive GET /, {} s warm-up, {} s measured, {} round(s)",
        opts.warmup, opts.secs, opts.rounds
    );

    let mut failures = Vec::new();
    let mut responses: Vec<(&'static str, String)> = Vec::new();
    let mut tables = String::new();
    for &conns in &opts.conns {
        let mut rows: Vec<Row> = servers
            .iter()
            .map(|&peer| Row {
                peer,
                runs: Vec::new(),
            })
            .collect();
        for round in 0..opts.rounds {
            // Rotate the order each round so no server always runs first.
            for i in 0..rows.len() {
                let row = &mut rows[(i + round) % servers.len()];
                let label = format!(
                    "{conns} conns, round {}/{}, {}",
                    round + 1,
                    opts.rounds,
                    row.peer.name()
                );
                match run::run_once(row.peer, opts, &wrk_path, conns) {
                    Ok(Some(f)) => {
                        eprintln!(
                            "{label}: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs, server {:.2} µs/req \
                             ({:.0}% busy, {} requests)",
                            f.rps,
                            f.p50,
                            f.p99,
                            f.server_cpu,
                            f.server_busy * 100.0,
                            f.requests
                        );
                        if !responses.iter().any(|(name, _)| *name == row.peer.name()) {
                            responses.push((row.peer.name(), f.response.clone()));
                        }
                        row.runs.push((round, f));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("{label}: FAILED: {e}");
                        failures.push(format!("{label}: {e}"));
                    }
                }
            }
        }
        tables += &report::table(conns, &rows);
    }

    if let Some((_, reference)) = responses.first() {
        let names: Vec<&str> = responses.iter().map(|(name, _)| *name).collect();
        if responses.iter().all(|(_, r)| r == reference) {
            println!(
                "- the same response from {}:\n\n```\n{reference}\n```",
                names.join(", ")
            );
        } else {
            println!("- the servers' responses DIFFER:");
            for (name, response) in &responses {
                println!("\n{name}:\n```\n{response}\n```");
            }
            failures.push("the servers' responses differ".into());
        }
    }
    println!("{tables}");
    println!("- load average at the end: {}", first_line("/proc/loadavg"));
    if !failures.is_empty() {
        println!("\n{} failure(s):", failures.len());
        for failure in &failures {
            println!("- {failure}");
        }
    }
    Ok(failures.is_empty())
}
