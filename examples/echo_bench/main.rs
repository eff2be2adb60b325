//! The echo benchmark: ringloop's `echo_server` against a tokio echo server written
//! the same way, a monoio one, and a bare io_uring loop with no runtime.
//!
//! A closed-loop load of C connections × M-byte messages for S seconds (after a
//! warm-up that is not counted) against each server in turn. Each server is its own
//! process pinned to its CPU(s) (`--server-cpus`, default cpu0, or the first N CPUs
//! with `--server-threads N`), started by the bench on `127.0.0.1:0` (it prints
//! `Serving on ADDR` first, which gives the port); the client is one thread of this
//! process pinned to one CPU (`--client-cpu`, default 1), the same raw-epoll client
//! for every server, and it checks every echoed byte. For each server and
//! connection count it prints:
//!
//! - requests per second, and the round-trip latency p50/p99/p99.9/max from a
//!   log-linear histogram (≤ 0.4% relative error);
//! - the server's CPU time per request: the growth over the window of the sum of
//!   `/proc/PID/task/*/schedstat` (ns on CPU, all threads), over the requests
//!   completed in it; the client thread's likewise, which shows whether the client
//!   and not the server is the bottleneck, as does each one's busy share of the
//!   window (100% = one core saturated; a server on N CPUs can reach N × 100%);
//! - with `--syscalls`, a separate traced run per server: the syscalls it makes per
//!   request, counted by `strace -c -f -p PID` over the window (and by `perf stat -e
//!   raw_syscalls:sys_enter` as a cross-check, where perf works);
//! - the server CPU and p99 ratios against tokio, monoio and the bare ring loop.
//!
//! The servers (`--servers`, default all five):
//!
//! - `ringloop`: the `echo_server` example next to this binary, `RINGLOOP_DRIVER=uring`;
//! - `ringloop-epoll`: the same binary with `RINGLOOP_DRIVER=epoll`;
//! - `tokio`: `echo_bench serve-tokio ADDR` (see `peers/tokio_server.rs`);
//! - `monoio`: `echo_bench serve-monoio ADDR` (see `peers/monoio_server.rs`;
//!   monoio 0.2.4, `FusionDriver`, which takes io_uring where the kernel has it and
//!   says which on stderr);
//! - `bare-uring`: `echo_bench serve-bare ADDR` (see `peers/bare_uring.rs`).
//!
//! ## Server threads
//!
//! `--server-threads N` (default 1) gives each server N threads:
//!
//! - ringloop: `echo_server ADDR --shards N`, N shards each with its own
//!   `SO_REUSEPORT` listener (the kernel spreads the connections; a connection
//!   stays on its shard); N = 1 runs `echo_server ADDR`, the single-threaded
//!   server, exactly as before;
//! - tokio: N = 1 is the current-thread runtime, as before; N > 1 a multi-thread
//!   runtime with N workers, one listener, the connection tasks spread by tokio's
//!   work-stealing scheduler (tokio's usual way to use N cores);
//! - monoio: N threads, each its own runtime and `SO_REUSEPORT` listener on the
//!   same port (thread-per-core, the same layout as ringloop's shards);
//! - bare-uring: one thread only, skipped (N/A) when N > 1.
//!
//! The server process is pinned to N CPUs (all its threads share the set; the
//! kernel places them), by default cpu0..cpu(N-1). On a 2-CPU machine with N = 2
//! the client thread shares cpu1 with a server thread (the bench says so in its
//! output): req/s and latency then measure that sharing as much as the server,
//! and server CPU per request is the figure to compare, between servers and
//! against N = 1 (how much a request costs on a sharded server: cross-core work on
//! the hot path would show there).
//!
//! A server whose binary is missing is skipped with a message. With `--repeat N`
//! every server runs N times, the servers interleaved, and the tables show medians
//! (with the range of the server CPU figure), which is what to trust on a noisy
//! machine. Every process the bench starts is killed and reaped when its run ends,
//! also on errors and panics, and every wait has a time limit.
//!
//! Run it, on an otherwise idle machine, with
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/echo_bench --conns 1,64 --secs 5 --syscalls
//! target/release/examples/echo_bench --conns 64 --secs 3 --repeat 3 --server-threads 2
//! ```
//!
//! Options: `--conns LIST` (1,64), `--size BYTES` (128), `--secs S` (5), `--warmup S`
//! (1), `--servers LIST`, `--syscalls`, `--repeat N` (1), `--server-threads N` (1),
//! `--server-cpus LIST` (the first N CPUs; `--server-cpu` is the same option),
//! `--client-cpu N` (1).
//!
//! One run of each on 2026-12-06 (kernel 6.18, the 2-core development VM, which
//! other sessions' builds share: load average 0.89 at the start, 1.48 between the
//! two commands, 1.78 at the end, mostly the bench's own threads),
//! `--conns 64 --secs 3 --repeat 3 --server-threads N --servers
//! ringloop,ringloop-epoll,tokio,monoio` with N = 1, then 2: server CPU
//! µs/request, medians of 3 (range):
//!
//! | server | N = 1 | N = 2 | N=2 / N=1 |
//! |---|--:|--:|--:|
//! | ringloop | 6.33 (6.30–7.78) | 7.53 (6.97–8.30) | 1.19 |
//! | ringloop-epoll | 8.37 (8.35–8.40) | 8.98 (8.85–9.05) | 1.07 |
//! | tokio | 7.35 (6.70–7.87) | 6.57 (6.53–6.59) | 0.89 |
//! | monoio | 7.90 (7.64–8.01) | 8.57 (8.48–9.08) | 1.08 |
//!
//! At N = 2, ringloop/tokio 1.14× and ringloop/monoio 0.89× (paired per round).
//! On this machine the N = 2 figure mostly measures the client sharing cpu1. In
//! separate runs reading each thread's schedstat: at N = 1 the server thread is saturated and barely sleeps (about 300 timeslices in
//! 2 s), so each `io_uring_enter` serves many connections; at N = 2 the shard that
//! shares its CPU with the client ran 36,000 timeslices in 2 s (the other 7,700),
//! sleeping and waking around the client, and made 0.19 `io_uring_enter` per
//! request against 0.03 (`--syscalls`), with no futex or other cross-thread call.
//! monoio's two threads, placed the same way, slept as often (21,000 timeslices
//! each). tokio's two workers share one listener and a work-stealing queue, so
//! whichever thread is awake serves any connection. Two earlier passes the same
//! day, with more load from other builds, spread more than 5% (ringloop N=2/N=1
//! 1.26 and 1.52): checking the 5% goal needs a third CPU for the client.

mod args;
mod client;
mod histogram;
mod peers;
mod perf;
mod process;
mod procstat;
mod report;
mod run;
mod strace;

use std::fs;
use std::io;
use std::process::ExitCode;

use args::{Options, USAGE};
use report::Row;
use run::Tracers;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let served = match args.get(1).map(String::as_str) {
        Some("serve-tokio") => Some(
            server_threads(&args)
                .and_then(|threads| peers::tokio_server::serve(server_addr(&args), threads)),
        ),
        Some("serve-monoio") => Some(
            server_threads(&args)
                .and_then(|threads| peers::monoio_server::serve(server_addr(&args), threads)),
        ),
        Some("serve-bare") => Some(peers::bare_uring::serve(server_addr(&args))),
        _ => None,
    };
    if let Some(result) = served {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", args[1]);
                ExitCode::FAILURE
            }
        };
    }
    let opts = match Options::parse(&args[1..]) {
        Ok(opts) => opts,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("echo_bench: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&args, &opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("echo_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A server subcommand's listen address (the argument after it).
fn server_addr(args: &[String]) -> &str {
    args.get(2).map_or("127.0.0.1:8888", String::as_str)
}

/// A server subcommand's `--threads N` (after its address), 1 without it.
fn server_threads(args: &[String]) -> io::Result<usize> {
    match args.iter().skip(3).position(|a| a == "--threads") {
        None => Ok(1),
        Some(i) => args
            .get(4 + i)
            .and_then(|n| n.parse().ok())
            .filter(|&n: &usize| n > 0)
            .ok_or_else(|| io::Error::other("--threads needs a positive number")),
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

/// The syscall counters for `--syscalls`, or `None` (with a message) without strace.
fn tracers() -> Option<Tracers> {
    let Some(strace) = strace::find_program("strace") else {
        println!("\nstrace is not installed: the syscalls/req column is skipped (apt-get install strace)");
        return None;
    };
    let perf = strace::find_program("perf").filter(|p| perf::works(p));
    if perf.is_none() {
        println!("perf cannot count raw_syscalls:sys_enter here: strace's count only");
    }
    Some(Tracers { strace, perf })
}

/// Runs the whole benchmark and prints the tables; `false` if any run failed.
fn bench(args: &[String], opts: &Options) -> io::Result<bool> {
    if !procstat::available() {
        return Err(io::Error::other(
            "/proc/PID/schedstat is missing (a kernel without CONFIG_SCHED_INFO)",
        ));
    }
    for &cpu in opts.server_cpus.iter().chain([&opts.client_cpu]) {
        if !process::cpu_allowed(cpu) {
            return Err(io::Error::other(format!(
                "cpu{cpu} is not available to this process; choose --server-cpus/--client-cpu"
            )));
        }
    }
    // The client thread (and everything started from here) inherits this; each
    // server is re-pinned to its own CPU before exec.
    process::pin_current_thread(opts.client_cpu)?;

    let mut servers = Vec::new();
    for &peer in &opts.servers {
        if peer.command("127.0.0.1:0", opts.server_threads)?.is_some() {
            servers.push(peer);
        }
    }
    println!("# echo_bench\n");
    println!("- command: `{}`", args.join(" "));
    println!(
        "- kernel: Linux {} {}",
        first_line("/proc/sys/kernel/osrelease"),
        first_line("/proc/sys/kernel/version")
    );
    let cpus: Vec<String> = opts.server_cpus.iter().map(|c| format!("cpu{c}")).collect();
    println!(
        "- cpu: {} ({} online); each server process on {}, client on cpu{}",
        cpu_model(),
        online_cpus(),
        cpus.join(","),
        opts.client_cpu
    );
    println!(
        "- server threads: {} (ringloop: `--shards {0}`, tokio: {}, monoio: {0} thread(s) with \
         SO_REUSEPORT listeners{})",
        opts.server_threads,
        if opts.server_threads == 1 {
            "current-thread runtime".to_owned()
        } else {
            format!("multi-thread runtime, {} workers", opts.server_threads)
        },
        if opts.server_threads > 1 {
            ", bare-uring N/A"
        } else {
            ""
        }
    );
    if opts.server_cpus.contains(&opts.client_cpu) {
        println!(
            "- NOTE: the client thread shares cpu{} with the server, so req/s and latency \
             are bounded by that sharing: server CPU per request is the figure to compare",
            opts.client_cpu
        );
    }
    if opts.server_cpus.len() < opts.server_threads {
        println!(
            "- NOTE: {} server thread(s) on {} CPU(s)",
            opts.server_threads,
            opts.server_cpus.len()
        );
    }
    println!("- load average at start: {}", first_line("/proc/loadavg"));
    println!(
        "- {}-byte messages, {:?} warm-up, {:?} measured, {} run(s) per server",
        opts.size, opts.warmup, opts.secs, opts.repeat
    );
    let tracers = if opts.syscalls { tracers() } else { None };

    let mut failures = Vec::new();
    for &conns in &opts.conns {
        let mut rows: Vec<Row> = servers
            .iter()
            .map(|&peer| Row {
                peer,
                runs: Vec::new(),
                syscalls: None,
            })
            .collect();
        for rep in 0..opts.repeat {
            // Rotate the order each round so no server always runs first.
            for i in 0..rows.len() {
                let row = &mut rows[(i + rep) % servers.len()];
                let label = format!(
                    "{conns} conns, run {}/{}, {}",
                    rep + 1,
                    opts.repeat,
                    row.peer.name()
                );
                match run::run_once(row.peer, opts, conns, None) {
                    Ok(Some(f)) => {
                        eprintln!(
                            "{label}: {:.0} req/s, p99 {:.1} µs, server {:.2} µs/req, client {:.2} µs/req",
                            f.rps, f.p99, f.server_cpu, f.client_cpu
                        );
                        row.runs.push(f);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("{label}: FAILED: {e}");
                        failures.push(format!("{label}: {e}"));
                    }
                }
            }
        }
        if let Some(tracers) = &tracers {
            for row in &mut rows {
                let label = format!("{conns} conns, traced, {}", row.peer.name());
                match run::run_once(row.peer, opts, conns, Some(tracers)) {
                    Ok(Some(f)) => {
                        let s = f.syscalls.expect("a traced run counts syscalls");
                        eprintln!(
                            "{label}: {:.3} syscalls/req (strace, {} thread(s) attached), {} requests",
                            s.strace, s.threads, f.requests
                        );
                        row.syscalls = Some(s);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("{label}: FAILED: {e}");
                        failures.push(format!("{label}: {e}"));
                    }
                }
            }
        }
        print!(
            "{}",
            report::table(
                conns,
                opts.size,
                opts.server_threads,
                &rows,
                tracers.is_some()
            )
        );
    }
    if !failures.is_empty() {
        println!("\n{} run(s) FAILED:", failures.len());
        for failure in &failures {
            println!("- {failure}");
        }
    }
    Ok(failures.is_empty())
}
