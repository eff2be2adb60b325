//! The bench's command line.

use std::path::PathBuf;

use crate::peers::Peer;

/// What to run, from the command line.
#[derive(Debug)]
pub(crate) struct Options {
    /// wrk's connection counts, one table each.
    pub(crate) conns: Vec<usize>,
    /// The measured wrk run of each server, whole seconds (wrk's `-d` takes no
    /// fractions).
    pub(crate) secs: u64,
    /// The wrk run before it on the same server, not counted; 0: none.
    pub(crate) warmup: u64,
    /// Rounds: every server runs once per round, the servers interleaved.
    pub(crate) rounds: usize,
    /// The servers, in order.
    pub(crate) servers: Vec<Peer>,
    /// wrk's threads (`-t`).
    pub(crate) wrk_threads: usize,
    /// The CPU each server is pinned to.
    pub(crate) server_cpu: usize,
    /// The CPU wrk (and this process) is pinned to.
    pub(crate) client_cpu: usize,
    /// wrk's path, if given; otherwise `wrk` on `PATH`.
    pub(crate) wrk: Option<PathBuf>,
}

/// The usage text.
pub(crate) const USAGE: &str = "\
usage: http_bench [--conns 16,64] [--secs 5] [--warmup 1] [--rounds 3]
                  [--servers ringloop,ringloop-epoll,tokio] [--wrk-threads 1]
                  [--server-cpu 1] [--client-cpu 0] [--wrk PATH]
       http_bench serve-tokio ADDR";

impl Options {
    /// Parses the arguments after the program name.
    pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            conns: vec![16, 64],
            secs: 5,
            warmup: 1,
            rounds: 3,
            servers: Peer::ALL.to_vec(),
            wrk_threads: 1,
            server_cpu: 1,
            client_cpu: 0,
            wrk: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let positive = |what: &str| {
                number(value)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("bad {what} {value:?} (a whole number above 0)"))
            };
            match flag.as_str() {
                "--conns" => o.conns = list(value, |s| number(s).filter(|&n| n > 0))?,
                "--secs" => o.secs = positive("--secs")? as u64,
                "--warmup" => {
                    o.warmup = number(value).ok_or("bad --warmup (whole seconds)")? as u64
                }
                "--rounds" => o.rounds = positive("--rounds")?,
                "--servers" => o.servers = list(value, Peer::from_name)?,
                "--wrk-threads" => o.wrk_threads = positive("--wrk-threads")?,
                "--server-cpu" => o.server_cpu = number(value).ok_or("bad --server-cpu")?,
                "--client-cpu" => o.client_cpu = number(value).ok_or("bad --client-cpu")?,
                "--wrk" => o.wrk = Some(PathBuf::from(value)),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if let Some(&c) = o.conns.iter().find(|&&c| c < o.wrk_threads) {
            return Err(format!(
                "--conns {c} is below --wrk-threads {} (wrk needs a connection per thread)",
                o.wrk_threads
            ));
        }
        Ok(o)
    }
}

/// A whole number.
fn number(s: &str) -> Option<usize> {
    s.trim().parse().ok()
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
            (o.conns, o.secs, o.warmup, o.rounds),
            (vec![16, 64], 5, 1, 3)
        );
        assert_eq!((o.server_cpu, o.client_cpu, o.wrk_threads), (1, 0, 1));
        assert_eq!(o.servers, Peer::ALL.to_vec());
        let o = parse("--conns 8 --servers tokio,ringloop --secs 1 --warmup 0 --rounds 1").unwrap();
        assert_eq!(o.conns, vec![8]);
        assert_eq!(o.servers, vec![Peer::Tokio, Peer::Ringloop]);
        assert_eq!((o.secs, o.warmup, o.rounds), (1, 0, 1));
        assert!(parse("--servers nginx").is_err());
        assert!(parse("--conns 0").is_err());
        assert!(parse("--secs 0.5").is_err());
        assert!(parse("--secs").is_err());
        assert!(parse("--conns 2 --wrk-threads 4").is_err());
    }
}
