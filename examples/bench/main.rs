//! The comparison benchmark (issue 16): every workload against every peer in one
//! run, interleaved, and one markdown report with medians, spreads and ratios.
//! Run it with `ci/bench.sh` (which builds the examples in release first and
//! passes its arguments through; `--out FILE` also writes the report to FILE).
//!
//! ## Workloads (`--workloads echo,files,sched,cross`)
//!
//! - **echo** (`echo.rs`): each peer's echo server in its own process pinned to
//!   the server CPU (`--server-cpu`, 0), loaded by echo_bench's closed-loop
//!   raw-epoll client (one thread of this process, on `--client-cpu`, 1) with C
//!   connections × M-byte messages, every echoed byte checked. Cells
//!   (`--echo CONNSxSIZE,...`): 1, 64 and 256 connections × 128 B, 1 and 64 ×
//!   16 KiB, 1 and 8 × 1 MiB. Figures: requests/s, server CPU µs per request (the
//!   growth of `/proc/PID/task/*/schedstat` over the window ÷ the requests in it),
//!   latency p50/p99 (log-linear histogram, ≤ 0.4% error), the server's and the
//!   client's busy share of the window (100% = one core); for messages of 256 KiB
//!   and more, MiB/s echoed and server CPU µs per MiB instead of the per-request
//!   figures (the client's busy share shows whether it, not the server, bounds the
//!   throughput).
//! - **files** (`files.rs`): 4 KiB reads at random offsets (64 in flight) and
//!   1 MiB reads in file order (8 in flight) of a page-cached file
//!   (`--file-mib`, 512); reads/s, MiB/s, CPU µs per read.
//! - **sched** (`sched.rs`): the scheduler shapes of `benches/scheduler.rs`
//!   (spawn, yield, ping-pong, chained spawn), the same program on each runtime;
//!   wall ns per operation.
//! - **cross** (`cross.rs`): the cross-core call of `benches/shards.rs`, a round
//!   trip to a task on another thread; median and p99 µs.
//!
//! File reads, scheduler shapes and the cross-core call run in a child process
//! each (`bench worker ...`, `worker.rs`), pinned to the server CPU (tokio-mt's
//! scheduler shapes and the cross-core call: both CPUs), so no two runtimes share
//! a process.
//!
//! ## Peers (`--peers`)
//!
//! `ringloop` (io_uring, everything the probe found), `ringloop-5.10` (io_uring
//! masked to the 5.10 features), `ringloop-epoll`, `tokio` (current-thread
//! runtime), `tokio-mt` (multi-thread runtime: one worker for the echo server, on
//! the same one CPU as every server; two workers for the scheduler shapes and the
//! cross-core call; tokio's blocking pool for file reads), `monoio`
//! (`FusionDriver`), `compio`, `tokio-uring`, `bare-uring` (the `io-uring` crate,
//! no runtime) and `pread` (blocking reads in a loop). ringloop's echo server is
//! the `echo_server` example next to this binary; the others are subcommands of
//! this binary (`serve-tokio`, `serve-tokio-mt`, `serve-monoio`, `serve-compio`,
//! `serve-tokio-uring`, `serve-bare`; `peers/`, the first three and the bare loop
//! shared with echo_bench). Where a peer cannot run a workload its row says N/A
//! and why. The report names each crate's version (from `Cargo.lock`), the kernel
//! and ringloop's probe.
//!
//! ## Rounds and ratios
//!
//! `--rounds` (3) rounds; each visits every peer of every cell once, the peers'
//! order rotating from round to round, so slow drift on a shared machine hurts
//! every peer alike. A cell's echo or file window is `--secs` (2) after
//! `--warmup` (0.5); scheduler and cross-core windows are half of those. Each
//! table shows per peer the median over the rounds, the min–max spread of the
//! main figures, and "ringloop ÷ peer": ringloop's median over the peer's (for a
//! time or CPU figure below 1 means ringloop is cheaper; for a throughput figure
//! above 1 means ringloop is faster). The report ends with the goals of issue 16,
//! each as such a ratio, with its bound and met / NOT met.
//!
//! `--quick` is 1 round of 0.5 s windows on a 128 MiB file (about a minute); the
//! default run takes about 15 minutes on a 2-core machine. The report goes to
//! stdout, progress to stderr. Every child has a time limit and is killed and
//! reaped on every way out.

mod aligned;
mod args;
mod cross;
mod echo;
mod files;
mod peers;
mod report;
mod sched;
mod versions;
mod worker;

// echo_bench's client and its helpers, shared (not copied).
#[allow(dead_code)]
#[path = "../echo_bench/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../echo_bench/histogram.rs"]
mod histogram;
#[allow(dead_code)]
#[path = "../echo_bench/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "../echo_bench/procstat.rs"]
mod procstat;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use args::{size_label, EchoCell, Options, USAGE};
use peers::Peer;
use report::Results;

/// Large buffers start on a page for every peer alike (see `aligned.rs`).
#[global_allocator]
static ALLOC: aligned::PageAligned = aligned::PageAligned;

/// A workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    /// Echo servers under a closed-loop client.
    Echo,
    /// File reads.
    Files,
    /// Scheduler shapes.
    Sched,
    /// The cross-core call.
    Cross,
}

impl Workload {
    /// Every workload, in the report's order.
    pub(crate) const ALL: [Workload; 4] = [
        Workload::Echo,
        Workload::Files,
        Workload::Sched,
        Workload::Cross,
    ];

    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Files => "files",
            Workload::Sched => "sched",
            Workload::Cross => "cross",
        }
    }

    /// The workload called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// One cell: a workload with its parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell {
    /// Echo with these connections and message size.
    Echo(EchoCell),
    /// File reads in this mode.
    File(&'static str),
    /// A scheduler shape.
    Sched(&'static str),
    /// The cross-core round trip.
    Cross,
}

impl Cell {
    /// The cell's workload.
    pub(crate) fn workload(&self) -> Workload {
        match self {
            Cell::Echo(_) => Workload::Echo,
            Cell::File(_) => Workload::Files,
            Cell::Sched(_) => Workload::Sched,
            Cell::Cross => Workload::Cross,
        }
    }

    /// A key for the results.
    pub(crate) fn key(&self) -> String {
        match self {
            Cell::Echo(c) => format!("echo {}x{}", c.conns, c.size),
            Cell::File(m) => format!("files {m}"),
            Cell::Sched(s) => format!("sched {s}"),
            Cell::Cross => "cross".into(),
        }
    }

    /// The table's title.
    pub(crate) fn title(&self) -> String {
        match self {
            Cell::Echo(c) => format!(
                "echo: {} connection{} × {} messages",
                c.conns,
                if c.conns == 1 { "" } else { "s" },
                size_label(c.size)
            ),
            Cell::File(m) => match *m {
                "random-4k" => "file reads: 4 KiB at random offsets, 64 in flight".into(),
                _ => "file reads: 1 MiB in file order, 8 in flight".into(),
            },
            Cell::Sched(s) => format!("scheduler: {s}"),
            Cell::Cross => "cross-core call: round trip".into(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let addr = || args.get(2).map_or("127.0.0.1:0", String::as_str);
    let sub = match args.get(1).map(String::as_str) {
        Some("serve-tokio") => Some(peers::tokio_server::serve(addr(), 1)),
        Some("serve-tokio-mt") => Some(peers::tokio_server::serve_multi(addr(), 1)),
        Some("serve-monoio") => Some(peers::monoio_server::serve(addr(), 1)),
        Some("serve-compio") => Some(peers::compio_peer::serve(addr())),
        Some("serve-tokio-uring") => Some(peers::tokio_uring_peer::serve(addr())),
        Some("serve-bare") => Some(peers::bare_uring::serve(addr())),
        Some("worker") => Some(worker::main(&args[2..])),
        _ => None,
    };
    if let Some(result) = sub {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench {}: {e}", args[1]);
                ExitCode::FAILURE
            }
        };
    }
    let opts = match Options::parse(&args[1..]) {
        Ok(opts) => opts,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("bench: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&args, &opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of a file, trimmed, or `?`.
fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| "?".into())
}

/// What ringloop's probe finds on the default driver here.
fn probe() -> String {
    match ringloop::Runtime::builder()
        .driver(ringloop::Driver::IoUring)
        .build()
    {
        Ok(rt) => format!("{:?}", rt.block_on(async { ringloop::features() })),
        Err(e) => format!("io_uring unavailable: {e}"),
    }
}

/// The cells of the run, in order.
fn cells(opts: &Options) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &w in &opts.workloads {
        match w {
            Workload::Echo => cells.extend(opts.echo.iter().map(|&c| Cell::Echo(c))),
            Workload::Files => cells.extend(files::MODES.map(Cell::File)),
            Workload::Sched => cells.extend(sched::SHAPES.map(Cell::Sched)),
            Workload::Cross => cells.push(Cell::Cross),
        }
    }
    cells
}

/// Runs everything and prints the report; `false` if any measurement failed.
fn bench(args: &[String], opts: &Options) -> io::Result<bool> {
    if !procstat::available() {
        return Err(io::Error::other(
            "/proc/PID/schedstat is missing (a kernel without CONFIG_SCHED_INFO)",
        ));
    }
    for cpu in [opts.server_cpu, opts.client_cpu] {
        if !process::cpu_allowed(cpu) {
            return Err(io::Error::other(format!(
                "cpu{cpu} is not available; choose --server-cpu/--client-cpu"
            )));
        }
    }
    let started = Instant::now();
    let load_start = first_line("/proc/loadavg");
    let features = probe();
    // This thread (the echo client's parent) and its children run on the client
    // CPU unless re-pinned; servers and workers are re-pinned before exec.
    process::pin_current_thread(opts.client_cpu)?;
    let cells = cells(opts);

    let file: Option<PathBuf> = if opts.workloads.contains(&Workload::Files) {
        let path = std::env::temp_dir().join(format!("ringloop-bench-{}.dat", opts.file_mib));
        eprintln!(
            "writing and caching {} ({} MiB)",
            path.display(),
            opts.file_mib
        );
        files::make_file(&path, opts.file_mib)?;
        Some(path)
    } else {
        None
    };

    let mut results = Results::default();
    let total: usize = cells
        .iter()
        .map(|c| {
            opts.peers
                .iter()
                .filter(|p| p.supports(c.workload()).is_ok())
                .count()
        })
        .sum::<usize>()
        * opts.rounds;
    let mut done = 0;
    for round in 0..opts.rounds {
        for cell in &cells {
            let peers: Vec<Peer> = opts
                .peers
                .iter()
                .copied()
                .filter(|p| p.supports(cell.workload()).is_ok())
                .collect();
            for i in 0..peers.len() {
                let peer = peers[(i + round) % peers.len()];
                done += 1;
                let label = format!(
                    "[{done}/{total}, {:.0}s] round {}/{}, {}, {}",
                    started.elapsed().as_secs_f64(),
                    round + 1,
                    opts.rounds,
                    cell.key(),
                    peer.name()
                );
                let (secs, warmup) = match cell {
                    Cell::Sched(_) | Cell::Cross => (opts.secs / 2, opts.warmup / 2),
                    _ => (opts.secs, opts.warmup),
                };
                let both = [opts.server_cpu, opts.client_cpu];
                let outcome = match cell {
                    Cell::Echo(c) => echo::run(peer, *c, secs, warmup, opts.server_cpu),
                    _ => {
                        let (param, cpus): (&str, &[usize]) = match cell {
                            Cell::File(m) => (m, &both[..1]),
                            Cell::Sched(s) if peer == Peer::TokioMt => (s, &both),
                            Cell::Sched(s) => (s, &both[..1]),
                            _ => ("round-trip", &[]),
                        };
                        worker::run(&worker::Job {
                            workload: cell.workload(),
                            peer,
                            param,
                            secs,
                            warmup,
                            file: file.as_deref(),
                            cpus,
                        })
                    }
                };
                let key = (cell.key(), peer.name());
                match outcome {
                    Ok(m) => {
                        let shown: Vec<String> =
                            m.iter().map(|(k, v)| format!("{k}={v:.3}")).collect();
                        eprintln!("{label}: {}", shown.join(" "));
                        results.runs.entry(key).or_default().push(m);
                    }
                    Err(e) => {
                        eprintln!("{label}: FAILED: {e}");
                        results.failed.entry(key).or_default().push(e.to_string());
                    }
                }
            }
        }
    }

    println!("# ringloop comparison benchmark\n");
    println!("- command: `{}`", args.join(" "));
    println!(
        "- kernel: Linux {} {}",
        first_line("/proc/sys/kernel/osrelease"),
        first_line("/proc/sys/kernel/version")
    );
    println!(
        "- cpu: {} ({} online); servers and workers on cpu{}, the echo client on cpu{}",
        cpu_model(),
        // SAFETY: sysconf has no memory effects.
        unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) },
        opts.server_cpu,
        opts.client_cpu
    );
    println!("- versions: {}", versions::line());
    println!("- ringloop's probe (io_uring): {features}");
    println!(
        "- {} round(s); echo and file windows {:?} after {:?} of warm-up, scheduler and \
         cross-core windows half that; took {:.0} s",
        opts.rounds,
        opts.secs,
        opts.warmup,
        started.elapsed().as_secs_f64()
    );
    println!(
        "- load average at start: {load_start}; at end: {}",
        first_line("/proc/loadavg")
    );
    println!(
        "\nEach table: medians over the rounds, (min–max) where shown; \"ringloop ÷ peer\" \
         is ringloop's median over the peer's."
    );
    let mut last = None;
    for cell in &cells {
        if last != Some(cell.workload()) {
            last = Some(cell.workload());
            println!(
                "\n## {}",
                match cell.workload() {
                    Workload::Echo => "Echo",
                    Workload::Files => "File reads",
                    Workload::Sched => "Scheduler shapes",
                    Workload::Cross => "Cross-core call",
                }
            );
        }
        print!("{}", report::table(cell, &opts.peers, &results));
    }
    print!("{}", report::goals(&cells, &results));
    let failures: usize = results.failed.values().map(Vec::len).sum();
    if failures > 0 {
        println!("\n{failures} measurement(s) FAILED:");
        for ((cell, peer), errs) in &results.failed {
            for e in errs {
                println!("- {cell}, {peer}: {e}");
            }
        }
    }
    Ok(failures == 0)
}

/// The CPU model, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}
