//! Measurements in a child process: the parent's side (start `bench worker ...`
//! pinned to its CPUs, wait with a time limit, parse its `RESULT` line) and the
//! child's (run one measurement, print its figures).
//!
//! Each file-read, scheduler and cross-core measurement runs in a fresh process,
//! so no two runtimes share a process's state (thread-locals, allocator caches,
//! blocking pools, rings) and a crash or hang costs one cell, not the run.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::peers::Peer;
use crate::process::{self, Guarded};
use crate::Workload;

/// Named figures of one measurement (`reads_per_s`, `ns_per_op`, ...).
pub(crate) type Metrics = BTreeMap<String, f64>;

/// Time a worker may take beyond its warm-up and window (runtime start-up, the
/// blocking pools' shutdown) before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// What a worker is asked to measure.
pub(crate) struct Job<'a> {
    /// The workload.
    pub(crate) workload: Workload,
    /// The peer.
    pub(crate) peer: Peer,
    /// The cell within the workload (`random-4k`, `spawn`, ...).
    pub(crate) param: &'a str,
    /// The measured window.
    pub(crate) secs: Duration,
    /// The warm-up before it.
    pub(crate) warmup: Duration,
    /// The file, for file reads.
    pub(crate) file: Option<&'a Path>,
    /// The CPUs the worker process is pinned to (none: not pinned, it pins its
    /// own threads).
    pub(crate) cpus: &'a [usize],
}

/// Runs `job` in a child process and returns its figures.
pub(crate) fn run(job: &Job<'_>) -> io::Result<Metrics> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .arg(job.workload.name())
        .arg(job.peer.name())
        .arg(job.param)
        .arg(job.secs.as_secs_f64().to_string())
        .arg(job.warmup.as_secs_f64().to_string())
        .arg(job.file.map_or_else(PathBuf::new, Path::to_path_buf))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    job.peer.ringloop_env(&mut cmd);
    if !job.cpus.is_empty() {
        process::pin_command(&mut cmd, job.cpus);
    }
    let name = format!(
        "worker {} {} {}",
        job.workload.name(),
        job.peer.name(),
        job.param
    );
    let mut child = Guarded::spawn(&name, &mut cmd)?;
    let stdout = child.child_mut().stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut result = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match line.strip_prefix("RESULT ") {
                Some(rest) => result = Some(rest.to_owned()),
                None => eprintln!("[worker] {line}"),
            }
        }
        let _ = tx.send(result);
    });
    let limit = job.secs + job.warmup + GRACE;
    let deadline = Instant::now() + limit;
    let status = child.wait_timeout(limit)?;
    let Some(status) = status else {
        return Err(io::Error::other(format!(
            "{name}: no result within {limit:?}"
        )));
    };
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    let line = rx.recv_timeout(left).ok().flatten();
    if !status.success() {
        return Err(io::Error::other(format!("{name} exited: {status}")));
    }
    let line = line.ok_or_else(|| io::Error::other(format!("{name} printed no RESULT line")))?;
    parse(&line).ok_or_else(|| io::Error::other(format!("{name}: bad RESULT line {line:?}")))
}

/// `key=value key=value` into figures.
fn parse(line: &str) -> Option<Metrics> {
    line.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The child's side: `bench worker WORKLOAD PEER PARAM SECS WARMUP FILE`. Prints
/// `RESULT key=value ...` on success.
pub(crate) fn main(args: &[String]) -> io::Result<()> {
    let bad = || io::Error::other("usage: bench worker WORKLOAD PEER PARAM SECS WARMUP FILE");
    let [workload, peer, param, secs, warmup, file] = args else {
        return Err(bad());
    };
    let workload = Workload::from_name(workload).ok_or_else(bad)?;
    let peer = Peer::from_name(peer).ok_or_else(bad)?;
    let secs = Duration::from_secs_f64(secs.parse().map_err(|_| bad())?);
    let warmup = Duration::from_secs_f64(warmup.parse().map_err(|_| bad())?);
    let metrics = match workload {
        Workload::Files => crate::files::work(peer, param, Path::new(file), secs, warmup)?,
        Workload::Sched => crate::sched::work(peer, param, secs, warmup)?,
        Workload::Cross => crate::cross::work(peer, secs, warmup)?,
        Workload::Echo => return Err(io::Error::other("echo runs servers, not workers")),
    };
    let line: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
    Ok(())
}

/// This process's CPU time so far (all threads, also those that ended), ns.
pub(crate) fn cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage for the call to write.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A reading of the clock and this process's CPU time at the start of a window.
pub(crate) struct Mark {
    at: Instant,
    cpu: u64,
}

impl Mark {
    /// Now.
    pub(crate) fn now() -> Self {
        Self {
            at: Instant::now(),
            cpu: cpu_ns(),
        }
    }

    /// The wall seconds and CPU seconds since the mark.
    pub(crate) fn elapsed(&self) -> (f64, f64) {
        let cpu = cpu_ns().saturating_sub(self.cpu) as f64 / 1e9;
        (self.at.elapsed().as_secs_f64(), cpu)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn result_line() {
        let m = super::parse("a=1.5 b=2").unwrap();
        assert_eq!(m["a"], 1.5);
        assert_eq!(m["b"], 2.0);
        assert!(super::parse("a=x").is_none());
    }
}
