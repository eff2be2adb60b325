//! One run: start a server pinned to its CPU, check its response, warm it up with
//! wrk, then measure one wrk run and the server's CPU time over it, and tear the
//! server down.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::args::Options;
use crate::peers::Peer;
use crate::process;
use crate::procstat;
use crate::wrk;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The figures of one measured run.
pub(crate) struct Figures {
    /// Responses per second (wrk's).
    pub(crate) rps: f64,
    /// Median latency, µs (wrk's).
    pub(crate) p50: f64,
    /// 99th percentile latency, µs (wrk's).
    pub(crate) p99: f64,
    /// Server CPU time per response, µs: the growth of the server's
    /// `/proc/PID/task/*/schedstat` from just before wrk starts to just after it
    /// exits, over wrk's responses.
    pub(crate) server_cpu: f64,
    /// The share of that window the server was on a CPU (1.0 = its core saturated).
    pub(crate) server_busy: f64,
    /// Responses in the run.
    pub(crate) requests: u64,
    /// The server's response to a plain `GET /`, normalised (see `probe`).
    pub(crate) response: String,
}

/// Runs `peer` once with `conns` connections; `None` if its binary is missing.
pub(crate) fn run_once(
    peer: Peer,
    opts: &Options,
    wrk_path: &Path,
    conns: usize,
) -> io::Result<Option<Figures>> {
    let Some(mut cmd) = peer.command("127.0.0.1:0")? else {
        return Ok(None);
    };
    let mut server = process::start_server(
        peer.name(),
        &mut cmd,
        Some(&[opts.server_cpu]),
        START_TIMEOUT,
    )?;
    let response = crate::probe::get(server.addr)
        .map_err(|e| io::Error::other(format!("GET / before the load: {e}")))?;
    let url = format!("http://{}/", server.addr);
    let load = |secs| {
        wrk::run(
            wrk_path,
            &url,
            conns,
            opts.wrk_threads,
            secs,
            opts.client_cpu,
        )
    };
    if opts.warmup > 0 {
        load(opts.warmup)?;
        server.process.check_alive()?;
    }

    let pid = server.process.pid();
    let (start, cpu_start) = (Instant::now(), procstat::process_cpu_ns(pid)?);
    let report = load(opts.secs)?;
    let (end, cpu_end) = (Instant::now(), procstat::process_cpu_ns(pid)?);
    server.process.check_alive()?;
    drop(server);

    if let Some(errors) = report.errors {
        return Err(io::Error::other(format!("wrk: {errors}")));
    }
    if report.requests == 0 {
        return Err(io::Error::other("no response in the measured run"));
    }
    let cpu_ns = cpu_end.saturating_sub(cpu_start) as f64;
    Ok(Some(Figures {
        rps: report.rps,
        p50: report.p50,
        p99: report.p99,
        server_cpu: cpu_ns / 1e3 / report.requests as f64,
        server_busy: cpu_ns / 1e9 / (end - start).as_secs_f64(),
        requests: report.requests,
        response,
    }))
}
