//! One run: start a server, drive it with the client through the warm-up and the
//! measured window, take the figures, and tear everything down.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::args::Options;
use crate::client::{self, Shared};
use crate::histogram::Histogram;
use crate::peers::Peer;
use crate::perf::PerfStat;
use crate::process::{self, Server};
use crate::procstat;
use crate::strace::Strace;

/// How long a server may take to print its address, and the client to connect.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A run fails when no request completes for this long (a healthy server answers
/// within milliseconds; a stalled one would make the window's figures meaningless).
const STALL: Duration = Duration::from_secs(1);
/// How often the steering thread checks on the run.
const TICK: Duration = Duration::from_millis(20);

/// The syscall counters to attach for the measured window.
pub(crate) struct Tracers {
    /// The strace binary.
    pub(crate) strace: PathBuf,
    /// The perf binary, where it can count syscalls.
    pub(crate) perf: Option<PathBuf>,
}

/// The syscalls a server made per request in one window.
pub(crate) struct SyscallFigures {
    /// Counted by strace.
    pub(crate) strace: f64,
    /// Counted by perf, if it ran.
    pub(crate) perf: Option<f64>,
    /// The server threads strace attached (checked against `/proc/PID/task`).
    pub(crate) threads: usize,
    /// The busiest syscalls per request (strace), most first.
    pub(crate) top: Vec<(String, f64)>,
}

/// The figures of one run.
pub(crate) struct Figures {
    /// Requests completed per second in the window.
    pub(crate) rps: f64,
    /// Latency quantiles and maximum, microseconds.
    pub(crate) p50: f64,
    /// 99th percentile latency, µs.
    pub(crate) p99: f64,
    /// 99.9th percentile latency, µs.
    pub(crate) p999: f64,
    /// Largest latency, µs.
    pub(crate) max: f64,
    /// Server CPU time per request, µs (all its threads).
    pub(crate) server_cpu: f64,
    /// Client CPU time per request, µs (the client thread).
    pub(crate) client_cpu: f64,
    /// The share of the window the server was on a CPU (1.0 = one core saturated).
    pub(crate) server_busy: f64,
    /// The share of the window the client thread was on a CPU.
    pub(crate) client_busy: f64,
    /// Requests in the window.
    pub(crate) requests: u64,
    /// Syscalls per request, on a traced run.
    pub(crate) syscalls: Option<SyscallFigures>,
}

/// The client thread, stopped and joined when dropped.
struct ClientThread {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<io::Result<Histogram>>>,
}

impl ClientThread {
    /// The client's outcome if it has ended (always an error before `STOP`).
    fn ended(&mut self) -> Option<io::Result<Histogram>> {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            return Some(self.join());
        }
        None
    }

    /// Stops the client and returns its histogram.
    fn join(&mut self) -> io::Result<Histogram> {
        self.shared.phase.store(client::STOP, Ordering::Relaxed);
        match self.handle.take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the client thread panicked"))),
            None => Err(io::Error::other("the client was joined already")),
        }
    }
}

impl Drop for ClientThread {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.join();
        }
    }
}

/// A reading at one end of the window.
struct Snapshot {
    at: Instant,
    completed: u64,
    server_ns: u64,
    client_ns: u64,
}

/// Takes a reading.
fn snapshot(server: &Server, shared: &Shared) -> io::Result<Snapshot> {
    Ok(Snapshot {
        at: Instant::now(),
        completed: shared.completed.load(Ordering::Relaxed),
        server_ns: procstat::process_cpu_ns(server.process.pid())?,
        client_ns: procstat::thread_cpu_ns(shared.tid.load(Ordering::Relaxed))?,
    })
}

/// Waits `length`, failing early if the client or the server dies or the load
/// stalls.
fn watch(length: Duration, server: &mut Server, client: &mut ClientThread) -> io::Result<()> {
    let end = Instant::now() + length;
    let mut last = client.shared.completed.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while Instant::now() < end {
        thread::sleep(TICK.min(end.saturating_duration_since(Instant::now())));
        if let Some(outcome) = client.ended() {
            outcome?;
            return Err(io::Error::other("the client stopped early"));
        }
        server.process.check_alive()?;
        let now = client.shared.completed.load(Ordering::Relaxed);
        if now != last {
            (last, last_progress) = (now, Instant::now());
        } else if last_progress.elapsed() > STALL {
            return Err(io::Error::other(format!(
                "no request completed for {STALL:?}"
            )));
        }
    }
    Ok(())
}

/// Runs `peer` once with `conns` connections; `None` if its binary is missing.
/// With `tracers`, the window is traced and the figures include syscalls (the
/// tracing slows the server, so the other figures of such a run are not reported).
pub(crate) fn run_once(
    peer: Peer,
    opts: &Options,
    conns: usize,
    tracers: Option<&Tracers>,
) -> io::Result<Option<Figures>> {
    let Some(mut cmd) = peer.command("127.0.0.1:0", opts.server_threads)? else {
        return Ok(None);
    };
    let mut server = process::start_server(
        peer.name(),
        &mut cmd,
        Some(&opts.server_cpus),
        START_TIMEOUT,
    )?;
    let shared = Arc::new(Shared::new());
    let (addr, size, client_shared) = (server.addr, opts.size, shared.clone());
    let handle = thread::Builder::new()
        .name("client".into())
        .spawn(move || client::run(addr, conns, size, &client_shared))?;
    let mut client = ClientThread {
        shared,
        handle: Some(handle),
    };

    let deadline = Instant::now() + START_TIMEOUT;
    while !client.shared.connected.load(Ordering::Acquire) {
        if let Some(outcome) = client.ended() {
            outcome?;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("the client could not connect in time"));
        }
        thread::sleep(Duration::from_millis(1));
    }
    watch(opts.warmup, &mut server, &mut client)?;

    // The syscall counters. Each count is divided by the requests completed while it
    // counted: strace's from its report of every thread attached to just before
    // its SIGINT; perf's (which reports nothing when its counters open) from
    // before it starts to after it exits, a bracket a few ms wider than its count.
    let pid = server.process.pid();
    let completed = |client: &ClientThread| client.shared.completed.load(Ordering::Relaxed);
    let traced = match tracers {
        Some(t) => {
            let perf_from = completed(&client);
            let perf = t
                .perf
                .as_deref()
                .map(|p| PerfStat::attach(p, pid))
                .transpose()?;
            let strace = Strace::attach(&t.strace, pid, START_TIMEOUT)?;
            Some((strace, completed(&client), perf, perf_from))
        }
        None => None,
    };
    let start = snapshot(&server, &client.shared)?;
    client
        .shared
        .phase
        .store(client::MEASURE, Ordering::Relaxed);
    watch(opts.secs, &mut server, &mut client)?;
    let end = snapshot(&server, &client.shared)?;
    let syscalls = match traced {
        Some((strace, strace_from, perf, perf_from)) => {
            let strace_requests = completed(&client) - strace_from;
            let threads = strace.threads;
            let counts = strace.finish()?;
            let perf = match perf {
                Some(p) => Some((p.finish()?, completed(&client) - perf_from)),
                None => None,
            };
            let n = strace_requests.max(1) as f64;
            Some(SyscallFigures {
                strace: counts.total as f64 / n,
                threads,
                perf: perf.map(|(calls, requests)| calls as f64 / requests.max(1) as f64),
                top: counts
                    .by_call
                    .into_iter()
                    .take(4)
                    .map(|(name, calls)| (name, calls as f64 / n))
                    .collect(),
            })
        }
        None => None,
    };
    let hist = client.join()?;
    server.process.check_alive()?;
    drop(server);

    let requests = end.completed - start.completed;
    if requests == 0 || hist.count() == 0 {
        return Err(io::Error::other("no request completed in the window"));
    }
    let per_req = |ns: u64| ns as f64 / 1e3 / requests as f64;
    let us = |ns: u64| ns as f64 / 1e3;
    let window = (end.at - start.at).as_secs_f64();
    let busy = |ns: u64| ns as f64 / 1e9 / window;
    Ok(Some(Figures {
        rps: requests as f64 / window,
        server_busy: busy(end.server_ns - start.server_ns),
        client_busy: busy(end.client_ns - start.client_ns),
        p50: us(hist.quantile(0.5)),
        p99: us(hist.quantile(0.99)),
        p999: us(hist.quantile(0.999)),
        max: us(hist.max()),
        server_cpu: per_req(end.server_ns - start.server_ns),
        client_cpu: per_req(end.client_ns - start.client_ns),
        requests,
        syscalls,
    }))
}
