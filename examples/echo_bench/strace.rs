//! Counting a server's syscalls with `strace -c -f -p PID`, as the issue asks.
//!
//! With `-f`, `-p PID` attaches every thread of the process, not only the thread
//! whose id is PID (strace(1): "-p PID -f will attach all threads of process PID"),
//! and follows threads created later. strace 6 reports that on stderr as
//! `Process PID attached with N threads` (older ones print one `Process TID
//! attached` per thread); [`Strace::attach`] waits for that report and fails unless
//! it covers every thread in `/proc/PID/task`. SIGINT makes strace detach and write
//! its `-c` summary to the `-o` file, whose `total` line gives the count.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::Guarded;
use crate::procstat;

/// The syscalls counted in a window: the total and the busiest calls.
pub(crate) struct SyscallCounts {
    /// All syscalls, from the summary's `total` line.
    pub(crate) total: u64,
    /// `(syscall, calls)`, most calls first.
    pub(crate) by_call: Vec<(String, u64)>,
}

/// The path of `program` on `$PATH`, if it is there.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// An `strace -c` attached to a server.
pub(crate) struct Strace {
    process: Guarded,
    out: PathBuf,
    /// How many threads strace reported attached (all of the server's).
    pub(crate) threads: usize,
}

/// How many threads one line of strace's stderr says it attached.
fn attached_threads(line: &str) -> usize {
    let Some(rest) = line.split(" attached").nth(1) else {
        return 0;
    };
    if !line.contains("Process ") {
        return 0;
    }
    // "Process 11059 attached with 4 threads", or "Process 11059 attached".
    rest.trim()
        .strip_prefix("with ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

impl Strace {
    /// Attaches `strace -c -f` (the binary `strace`) to every thread of `pid`, and
    /// waits up to `timeout` until strace reports them all attached.
    pub(crate) fn attach(strace: &Path, pid: u32, timeout: Duration) -> io::Result<Strace> {
        let threads = procstat::thread_ids(pid)?.len();
        let out = std::env::temp_dir().join(format!("echo_bench-strace-{pid}.txt"));
        let _ = fs::remove_file(&out);
        let mut cmd = Command::new(strace);
        cmd.args(["-c", "-f", "-p", &pid.to_string(), "-o"])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = Guarded::spawn("strace", &mut cmd)?;
        let stderr = process.child_mut().stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let n = attached_threads(&line);
                if n > 0 {
                    let _ = tx.send(n);
                } else if !line.contains(" detached") {
                    eprintln!("[strace] {line}");
                }
            }
        });
        let deadline = Instant::now() + timeout;
        let mut attached = 0;
        while attached < threads {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(n) => attached += n,
                Err(_) => {
                    process.check_alive()?;
                    return Err(io::Error::other(format!(
                        "strace attached {attached} of the server's {threads} threads"
                    )));
                }
            }
        }
        Ok(Strace {
            process,
            out,
            threads: attached,
        })
    }

    /// Detaches strace (SIGINT) and reads its summary.
    pub(crate) fn finish(mut self) -> io::Result<SyscallCounts> {
        self.process.signal(libc::SIGINT)?;
        if self
            .process
            .wait_timeout(Duration::from_secs(10))?
            .is_none()
        {
            return Err(io::Error::other("strace did not exit after SIGINT"));
        }
        let text = fs::read_to_string(&self.out)?;
        let _ = fs::remove_file(&self.out);
        parse_summary(&text)
            .ok_or_else(|| io::Error::other(format!("no total line in strace's summary:\n{text}")))
    }
}

/// Parses an `strace -c` summary:
///
/// ```text
/// % time     seconds  usecs/call     calls    errors syscall
/// ------ ----------- ----------- --------- --------- ----------------
///  93.27    0.113951          42      2675           clock_nanosleep
///   2.04    0.002495          14       175        40 futex
/// ------ ----------- ----------- --------- --------- ----------------
/// 100.00    0.122170          22      5525        40 total
/// ```
///
/// The calls are the fourth column; the errors column may be empty.
pub(crate) fn parse_summary(text: &str) -> Option<SyscallCounts> {
    let mut by_call = Vec::new();
    let mut total = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
            continue;
        }
        let Ok(calls) = fields[3].parse::<u64>() else {
            continue;
        };
        let name = fields[fields.len() - 1];
        if name == "total" {
            total = Some(calls);
        } else {
            by_call.push((name.to_owned(), calls));
        }
    }
    by_call.sort_by_key(|&(_, calls)| std::cmp::Reverse(calls));
    Some(SyscallCounts {
        total: total?,
        by_call,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 93.27    0.113951          42      2675           clock_nanosleep
  4.69    0.005724           2      2675           getppid
  2.04    0.002495          14       175        40 futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.122170          22      5525        40 total
";
        let counts = super::parse_summary(text).unwrap();
        assert_eq!(counts.total, 5525);
        assert_eq!(counts.by_call[2], ("futex".to_owned(), 175));
        assert!(super::parse_summary("nothing").is_none());
    }

    #[test]
    fn attach_lines() {
        use super::attached_threads as a;
        assert_eq!(a("strace: Process 11059 attached with 4 threads"), 4);
        assert_eq!(a("strace: Process 11059 attached"), 1);
        assert_eq!(a("strace: Process 11059 detached"), 0);
    }
}
