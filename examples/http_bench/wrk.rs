//! The load generator: wrk (Debian's `wrk` package), one process per run, pinned to
//! the client CPU, and its `--latency` report parsed.
//!
//! wrk is an open-source HTTP benchmarking tool: each of its threads keeps its
//! connections busy with keep-alive GETs, one in flight per connection, for `-d`
//! seconds, and records every response's latency in an HdrHistogram (`--latency`
//! prints its 50/75/90/99th percentiles).

use std::env;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{self, Guarded};

/// What wrk reported for one run.
#[derive(Debug, PartialEq)]
pub(crate) struct Report {
    /// Responses completed in the run.
    pub(crate) requests: u64,
    /// The run's length as wrk measured it, seconds.
    pub(crate) secs: f64,
    /// Responses per second (wrk's `Requests/sec`).
    pub(crate) rps: f64,
    /// Median latency, µs.
    pub(crate) p50: f64,
    /// 99th percentile latency, µs.
    pub(crate) p99: f64,
    /// What went wrong, if anything: socket errors, or responses that were not 2xx
    /// or 3xx.
    pub(crate) errors: Option<String>,
}

/// `wrk` on `PATH`, if there is one.
pub(crate) fn find() -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join("wrk"))
        .find(|path| path.is_file())
}

/// One wrk run against `url` with `conns` connections over `threads` threads for
/// `secs` seconds, pinned to `cpu`; its report. It must exit within a few seconds
/// of its run (it is killed otherwise).
pub(crate) fn run(
    wrk: &Path,
    url: &str,
    conns: usize,
    threads: usize,
    secs: u64,
    cpu: usize,
) -> std::io::Result<Report> {
    let mut cmd = Command::new(wrk);
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    process::pin_command(&mut cmd, &[cpu]);
    let mut wrk_process = Guarded::spawn("wrk", &mut cmd)?;
    let limit = Duration::from_secs(secs + 10);
    let status = wrk_process.wait_timeout(limit)?.ok_or_else(|| {
        std::io::Error::other(format!("wrk did not finish within {limit:?} of its start"))
    })?;
    // wrk's report is a few hundred bytes: it fit in the pipes, read them now.
    let child = wrk_process.child_mut();
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err)?;
    }
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "wrk exited with {status}: {}{}",
            err.trim(),
            out.trim()
        )));
    }
    parse(&out).ok_or_else(|| std::io::Error::other(format!("unexpected wrk output:\n{out}{err}")))
}

/// A wrk duration such as `96.38us`, `1.23ms` or `2.00s`, in µs.
fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(value * scale)
}

/// The figures of wrk's `--latency` report, or `None` if a line is missing.
pub(crate) fn parse(out: &str) -> Option<Report> {
    let mut p50 = None;
    let mut p99 = None;
    let mut requests = None;
    let mut rps = None;
    let mut errors = Vec::new();
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => p50 = micros(value),
            ["99%", value] => p99 = micros(value),
            // "165432 requests in 5.00s, 20.03MB read"
            [n, "requests", "in", secs, ..] => {
                let secs = micros(secs.trim_end_matches(','))? / 1e6;
                requests = Some((n.parse::<u64>().ok()?, secs));
            }
            ["Requests/sec:", value] => rps = value.parse::<f64>().ok(),
            _ if line.starts_with("Socket errors:") || line.starts_with("Non-2xx") => {
                errors.push(line.to_owned())
            }
            _ => {}
        }
    }
    let (requests, secs) = requests?;
    Some(Report {
        requests,
        secs,
        rps: rps?,
        p50: p50?,
        p99: p99?,
        errors: (!errors.is_empty()).then(|| errors.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    /// wrk 4.1.0's output, as Debian's package prints it.
    const SAMPLE: &str = "\
Running 5s test @ http://127.0.0.1:40000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.05us  101.20us   5.31ms   91.07%
    Req/Sec   104.61k     2.10k  107.94k    80.00%
  Latency Distribution
     50%  598.00us
     75%  631.00us
     90%  680.00us
     99%    1.02ms
  520601 requests in 5.00s, 43.69MB read
Requests/sec: 104114.31
Transfer/sec:      8.74MB
";

    #[test]
    fn parses_a_report() {
        let r = super::parse(SAMPLE).unwrap();
        assert_eq!(r.requests, 520_601);
        assert_eq!(r.secs, 5.0);
        assert_eq!(r.rps, 104_114.31);
        assert_eq!(r.p50, 598.0);
        assert_eq!(r.p99, 1020.0);
        assert_eq!(r.errors, None);
    }

    #[test]
    fn errors_and_missing_lines() {
        let with_errors = SAMPLE.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec",
        );
        let r = super::parse(&with_errors).unwrap();
        assert_eq!(
            r.errors.as_deref(),
            Some("Socket errors: connect 0, read 3, write 0, timeout 0")
        );
        assert!(super::parse(&SAMPLE.replace("     99%    1.02ms\n", "")).is_none());
        assert!(super::parse("").is_none());
        assert_eq!(super::micros("2.00s"), Some(2e6));
        assert_eq!(super::micros("12"), None);
    }
}
