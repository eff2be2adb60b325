//! One echo measurement: start the peer's server pinned to the server CPU, drive
//! it with echo_bench's closed-loop client (a thread of this process, on the
//! client CPU) through a warm-up and the measured window, and take the figures:
//! requests/s, latency p50/p99 (echo_bench's histogram), server CPU per request
//! from `/proc/PID/task/*/schedstat`, the client thread's busy share, and for
//! large messages MiB/s echoed and server CPU per MiB.
//!
//! The client checks every echoed byte (a `memcmp` against a pattern table, no
//! per-request fill), so with 1 MiB messages its busy share is printed: a client
//! near 100% would make the throughput the client's, not the server's.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::EchoCell;
use crate::client::{self, Shared};
use crate::peers::Peer;
use crate::process;
use crate::procstat;
use crate::worker::Metrics;

/// How long a server may take to print its address, and the client to connect.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A run fails when no request completes for this long.
const STALL: Duration = Duration::from_secs(5);

/// Runs `peer`'s server with `cell`'s load; its figures.
pub(crate) fn run(
    peer: Peer,
    cell: EchoCell,
    secs: Duration,
    warmup: Duration,
    server_cpu: usize,
) -> io::Result<Metrics> {
    let mut cmd = peer.echo_command("127.0.0.1:0").map_err(io::Error::other)?;
    let mut server =
        process::start_server(peer.name(), &mut cmd, Some(&[server_cpu]), START_TIMEOUT)?;
    let shared = Arc::new(Shared::new());
    let (addr, client_shared) = (server.addr, shared.clone());
    let handle = thread::Builder::new()
        .name("client".into())
        .spawn(move || client::run(addr, cell.conns, cell.size, &client_shared))?;
    // Stops and joins the client on every way out.
    struct Stop<'a>(&'a Shared);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.phase.store(client::STOP, Ordering::Relaxed);
        }
    }
    let stop = Stop(&shared);
    let outcome = (|| {
        let deadline = Instant::now() + START_TIMEOUT;
        while !shared.connected.load(Ordering::Acquire) {
            if handle.is_finished() || Instant::now() > deadline {
                return Err(io::Error::other("the client could not connect"));
            }
            thread::sleep(Duration::from_millis(1));
        }
        watch(warmup, &mut server.process, &shared, &handle)?;
        let pid = server.process.pid();
        let tid = shared.tid.load(Ordering::Relaxed);
        let (t0, n0) = (Instant::now(), shared.completed.load(Ordering::Relaxed));
        let (s0, c0) = (
            procstat::process_cpu_ns(pid)?,
            procstat::thread_cpu_ns(tid)?,
        );
        shared.phase.store(client::MEASURE, Ordering::Relaxed);
        watch(secs, &mut server.process, &shared, &handle)?;
        let (s1, c1) = (
            procstat::process_cpu_ns(pid)?,
            procstat::thread_cpu_ns(tid)?,
        );
        let (t1, n1) = (Instant::now(), shared.completed.load(Ordering::Relaxed));
        Ok(((t1 - t0).as_secs_f64(), n1 - n0, s1 - s0, c1 - c0))
    })();
    drop(stop);
    let hist = handle
        .join()
        .map_err(|_| io::Error::other("the client panicked"))?;
    // The client's own error says more than "the client stopped early".
    let ((window, requests, server_ns, client_ns), hist) = match (outcome, hist) {
        (Err(e), Err(client_e)) => return Err(io::Error::other(format!("{e}: {client_e}"))),
        (outcome, hist) => (outcome?, hist?),
    };
    server.process.check_alive()?;
    drop(server);
    if requests == 0 || hist.count() == 0 {
        return Err(io::Error::other("no request completed in the window"));
    }
    let mut m = Metrics::new();
    let reqs = requests as f64;
    m.insert("req_per_s".into(), reqs / window);
    m.insert("server_us_per_req".into(), server_ns as f64 / 1e3 / reqs);
    m.insert("p50_us".into(), hist.quantile(0.5) as f64 / 1e3);
    m.insert("p99_us".into(), hist.quantile(0.99) as f64 / 1e3);
    m.insert("server_busy".into(), server_ns as f64 / 1e9 / window);
    m.insert("client_busy".into(), client_ns as f64 / 1e9 / window);
    let mib = reqs * cell.size as f64 / (1 << 20) as f64;
    m.insert("mib_per_s".into(), mib / window);
    m.insert("server_us_per_mib".into(), server_ns as f64 / 1e3 / mib);
    Ok(m)
}

/// Waits `length`, failing early if the client or the server ends or the load
/// stalls.
fn watch(
    length: Duration,
    server: &mut process::Guarded,
    shared: &Shared,
    client: &thread::JoinHandle<io::Result<crate::histogram::Histogram>>,
) -> io::Result<()> {
    let end = Instant::now() + length;
    let mut last = shared.completed.load(Ordering::Relaxed);
    let mut progress = Instant::now();
    while Instant::now() < end {
        thread::sleep(Duration::from_millis(20).min(end.saturating_duration_since(Instant::now())));
        if client.is_finished() {
            return Err(io::Error::other("the client stopped early"));
        }
        server.check_alive()?;
        let now = shared.completed.load(Ordering::Relaxed);
        if now != last {
            (last, progress) = (now, Instant::now());
        } else if progress.elapsed() > STALL {
            return Err(io::Error::other(format!(
                "no request completed for {STALL:?}"
            )));
        }
    }
    Ok(())
}
