//! The bench's command line.

use std::time::Duration;

use crate::peers::Peer;

/// What to run, from the command line.
#[derive(Debug)]
pub(crate) struct Options {
    /// Connection counts, one table each.
    pub(crate) conns: Vec<usize>,
    /// Message size in bytes.
    pub(crate) size: usize,
    /// The measured window of each run.
    pub(crate) secs: Duration,
    /// The warm-up before it.
    pub(crate) warmup: Duration,
    /// The servers, in order.
    pub(crate) servers: Vec<Peer>,
    /// Whether to run the strace (and perf) pass.
    pub(crate) syscalls: bool,
    /// Runs per server and connection count; the table shows medians.
    pub(crate) repeat: usize,
    /// Threads (shards, workers) per server.
    pub(crate) server_threads: usize,
    /// The CPUs each server process is pinned to (all its threads share the set);
    /// by default the first `server_threads` CPUs, 0, 1, ...
    pub(crate) server_cpus: Vec<usize>,
    /// The CPU the client is pinned to.
    pub(crate) client_cpu: usize,
}

/// The usage text.
pub(crate) const USAGE: &str = "\
usage: echo_bench [--conns 1,64] [--size 128] [--secs 5] [--warmup 1]
                  [--servers ringloop,ringloop-epoll,tokio,monoio,bare-uring]
                  [--syscalls] [--repeat 1] [--server-threads 1]
                  [--server-cpus 0[,1...]] [--client-cpu 1]
       echo_bench serve-tokio ADDR [--threads N] | serve-monoio ADDR [--threads N]
                | serve-bare ADDR";

impl Options {
    /// Parses the arguments after the program name.
    pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            conns: vec![1, 64],
            size: 128,
            secs: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            servers: Peer::ALL.to_vec(),
            syscalls: false,
            repeat: 1,
            server_threads: 1,
            server_cpus: Vec::new(),
            client_cpu: 1,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--syscalls" {
                o.syscalls = true;
                continue;
            }
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--conns" => o.conns = list(value, |s| number(s).filter(|&n| n > 0))?,
                "--size" => o.size = number(value).filter(|&n| n > 0).ok_or("bad --size")?,
                "--secs" => o.secs = seconds(value).ok_or("bad --secs")?,
                "--warmup" => o.warmup = seconds(value).ok_or("bad --warmup")?,
                "--servers" => o.servers = list(value, Peer::from_name)?,
                "--repeat" => o.repeat = number(value).filter(|&n| n > 0).ok_or("bad --repeat")?,
                "--server-threads" => {
                    o.server_threads = number(value)
                        .filter(|&n| n > 0)
                        .ok_or("bad --server-threads")?
                }
                "--server-cpu" | "--server-cpus" => {
                    o.server_cpus = list(value, number).map_err(|e| format!("{flag}: {e}"))?
                }
                "--client-cpu" => o.client_cpu = number(value).ok_or("bad --client-cpu")?,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if o.secs.is_zero() {
            return Err("--secs must be positive".into());
        }
        if o.server_cpus.is_empty() {
            o.server_cpus = (0..o.server_threads).collect();
        }
        Ok(o)
    }
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
    use super::Options;
    use crate::peers::Peer;

    fn parse(args: &str) -> Result<Options, String> {
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        Options::parse(&args)
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse("").unwrap();
        assert_eq!(
            (o.conns, o.size, o.repeat, o.syscalls),
            (vec![1, 64], 128, 1, false)
        );
        let o = parse("--conns 8 --servers tokio,bare-uring --secs 0.5 --syscalls").unwrap();
        assert_eq!(o.conns, vec![8]);
        assert_eq!(o.servers, vec![Peer::Tokio, Peer::BareUring]);
        assert_eq!(o.secs.as_millis(), 500);
        assert!(o.syscalls);
        assert!(parse("--servers nginx").is_err());
        assert!(parse("--conns 0").is_err());
        assert!(parse("--size").is_err());
    }

    #[test]
    fn server_threads_and_cpus() {
        let o = parse("").unwrap();
        assert_eq!(
            (o.server_threads, o.server_cpus, o.client_cpu),
            (1, vec![0], 1)
        );
        let o = parse("--server-threads 2").unwrap();
        assert_eq!((o.server_threads, o.server_cpus), (2, vec![0, 1]));
        let o = parse("--server-threads 2 --server-cpus 2,3").unwrap();
        assert_eq!(o.server_cpus, vec![2, 3]);
        let o = parse("--server-cpu 1").unwrap();
        assert_eq!(o.server_cpus, vec![1]);
        assert!(parse("--server-threads 0").is_err());
        assert!(parse("--server-cpus 0,x").is_err());
        assert_eq!(
            parse("--servers monoio").unwrap().servers,
            vec![Peer::Monoio]
        );
    }
}
