//! The command line of the comparison benchmark.

use std::time::Duration;

use crate::peers::Peer;
use crate::Workload;

/// One echo cell: connections × message bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EchoCell {
    /// Connections, each one message in flight.
    pub(crate) conns: usize,
    /// Message size in bytes.
    pub(crate) size: usize,
}

/// What to run.
#[derive(Debug)]
pub(crate) struct Options {
    /// The workloads, in order.
    pub(crate) workloads: Vec<Workload>,
    /// The peers to run (each where it can).
    pub(crate) peers: Vec<Peer>,
    /// Rounds: each visits every peer of every cell once.
    pub(crate) rounds: usize,
    /// The measured window of an echo or file-read cell (scheduler and cross-core
    /// cells take half of it).
    pub(crate) secs: Duration,
    /// The warm-up before each window.
    pub(crate) warmup: Duration,
    /// The echo cells.
    pub(crate) echo: Vec<EchoCell>,
    /// The size of the file the file reads use, MiB.
    pub(crate) file_mib: u64,
    /// The CPU of the server / worker process.
    pub(crate) server_cpu: usize,
    /// The CPU of the echo client (and of this process).
    pub(crate) client_cpu: usize,
}

/// The usage text.
pub(crate) const USAGE: &str = "\
usage: bench [--quick] [--workloads echo,files,sched,cross] [--peers NAME,...]
             [--rounds 3] [--secs 2] [--warmup 0.5]
             [--echo 1x128,64x128,256x128,1x16K,64x16K,1x1M,8x1M]
             [--file-mib 512] [--server-cpu 0] [--client-cpu 1]
peers: ringloop ringloop-5.10 ringloop-epoll tokio tokio-mt monoio compio
       tokio-uring bare-uring pread
--quick: 1 round, --secs 0.5, --warmup 0.2, --file-mib 128 (later options win)";

/// The default echo cells.
const DEFAULT_ECHO: &str = "1x128,64x128,256x128,1x16K,64x16K,1x1M,8x1M";

impl Options {
    /// Parses the arguments after the program name; `Err("")` for `--help`.
    pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            workloads: Workload::ALL.to_vec(),
            peers: Peer::ALL.to_vec(),
            rounds: 3,
            secs: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            echo: echo_cells(DEFAULT_ECHO).expect("the default cells parse"),
            file_mib: 512,
            server_cpu: 0,
            client_cpu: 1,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "-h" | "--help" => return Err(String::new()),
                "--quick" => {
                    o.rounds = 1;
                    o.secs = Duration::from_millis(500);
                    o.warmup = Duration::from_millis(200);
                    o.file_mib = 128;
                    continue;
                }
                _ => {}
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--workloads" => o.workloads = list(value, Workload::from_name)?,
                "--peers" => o.peers = list(value, Peer::from_name)?,
                "--rounds" => o.rounds = number(value).filter(|&n| n > 0).ok_or("bad --rounds")?,
                "--secs" => o.secs = seconds(value).ok_or("bad --secs")?,
                "--warmup" => o.warmup = seconds(value).ok_or("bad --warmup")?,
                "--echo" => o.echo = echo_cells(value)?,
                "--file-mib" => {
                    o.file_mib = number(value)
                        .filter(|&n| n >= 8)
                        .ok_or("bad --file-mib (8 or more)")?
                        as u64
                }
                "--server-cpu" => o.server_cpu = number(value).ok_or("bad --server-cpu")?,
                "--client-cpu" => o.client_cpu = number(value).ok_or("bad --client-cpu")?,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if o.secs.is_zero() {
            return Err("--secs must be positive".into());
        }
        Ok(o)
    }
}

/// A size with an optional K or M suffix (KiB, MiB).
pub(crate) fn size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1024),
        'M' | 'm' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .map(|n| n * unit)
        .filter(|&n| n > 0)
}

/// A size as the report writes it: 128 B, 16 KiB, 1 MiB.
pub(crate) fn size_label(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// `CONNSxSIZE,...`.
fn echo_cells(s: &str) -> Result<Vec<EchoCell>, String> {
    list(s, |cell| {
        let (conns, size_s) = cell.split_once('x')?;
        Some(EchoCell {
            conns: number(conns).filter(|&n| n > 0)?,
            size: size(size_s)?,
        })
    })
}

/// A whole number.
fn number(s: &str) -> Option<usize> {
    s.trim().parse().ok()
}

/// Seconds, possibly fractional.
fn seconds(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// A comma-separated list, each item parsed by `item`.
fn list<T>(s: &str, item: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    let items: Option<Vec<T>> = s.split(',').map(|part| item(part.trim())).collect();
    match items {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("bad list {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cells() {
        assert_eq!(size("128"), Some(128));
        assert_eq!(size("16K"), Some(16384));
        assert_eq!(size("1M"), Some(1 << 20));
        assert_eq!(size("0"), None);
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(16384), "16 KiB");
        assert_eq!(size_label(128), "128 B");
        let cells = echo_cells("1x128,8x1M").unwrap();
        assert_eq!(
            cells[1],
            EchoCell {
                conns: 8,
                size: 1 << 20
            }
        );
        assert!(echo_cells("1x").is_err());
    }

    #[test]
    fn quick_then_secs() {
        let args: Vec<String> = ["--quick", "--secs", "0.3", "--peers", "ringloop,tokio"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = Options::parse(&args).unwrap();
        assert_eq!(o.rounds, 1);
        assert_eq!(o.secs, Duration::from_millis(300));
        assert_eq!(o.peers, vec![Peer::Ringloop, Peer::Tokio]);
    }
}
