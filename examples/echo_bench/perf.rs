//! A cross-check of strace's count: `perf stat -e raw_syscalls:sys_enter -p PID`,
//! counted in the kernel (no ptrace stops). `-p` opens a counter on every thread
//! listed in `/proc/PID/task`, so a thread strace missed would show up here. Used
//! only where perf can open that tracepoint.
//!
//! The figure is rough: perf says nothing when its counters open, so its count is
//! divided by the requests from before perf starts to after it exits, a bracket
//! wider than the count by perf's start-up time (it reads a few percent low; more
//! on a loaded machine). perf 6.1's `--control` enable/disable, which would make
//! the window exact, reported `<not counted>` with `-p` when tried here.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::process::Guarded;

/// The event counted.
const EVENT: &str = "raw_syscalls:sys_enter";

/// Whether `perf` can count the syscall tracepoint here (it needs tracefs and a
/// permissive `perf_event_paranoid`, and a perf that matches the kernel).
pub(crate) fn works(perf: &Path) -> bool {
    Command::new(perf)
        .args(["stat", "-x,", "-e", EVENT, "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map(|out| out.status.success() && parse(&String::from_utf8_lossy(&out.stderr)).is_some())
        .unwrap_or(false)
}

/// A `perf stat` counting a server's syscalls.
pub(crate) struct PerfStat {
    process: Guarded,
    out: PathBuf,
}

impl PerfStat {
    /// Starts counting the syscalls of every thread of `pid`.
    pub(crate) fn attach(perf: &Path, pid: u32) -> io::Result<PerfStat> {
        let out = std::env::temp_dir().join(format!("echo_bench-perf-{pid}.txt"));
        let _ = fs::remove_file(&out);
        let mut cmd = Command::new(perf);
        cmd.args(["stat", "-x,", "-e", EVENT, "-p", &pid.to_string(), "-o"])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut process = Guarded::spawn("perf", &mut cmd)?;
        // perf prints nothing when its counters are open; they open in a few ms.
        thread::sleep(Duration::from_millis(200));
        process.check_alive()?;
        Ok(PerfStat { process, out })
    }

    /// Stops perf (SIGINT) and reads the count.
    pub(crate) fn finish(mut self) -> io::Result<u64> {
        self.process.signal(libc::SIGINT)?;
        if self
            .process
            .wait_timeout(Duration::from_secs(10))?
            .is_none()
        {
            return Err(io::Error::other("perf did not exit after SIGINT"));
        }
        let text = fs::read_to_string(&self.out)?;
        let _ = fs::remove_file(&self.out);
        parse(&text).ok_or_else(|| io::Error::other(format!("no count in perf's output:\n{text}")))
    }
}

/// The count in `perf stat -x,` output: the first field of the event's line, e.g.
/// `5465,,raw_syscalls:sys_enter,31097187,100.00,,`.
fn parse(text: &str) -> Option<u64> {
    text.lines()
        .find(|line| line.contains(EVENT))?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn count_line() {
        let text = "# started on Thu\n\n5465,,raw_syscalls:sys_enter,31097187,100.00,,\n";
        assert_eq!(super::parse(text), Some(5465));
        assert_eq!(
            super::parse("<not counted>,,raw_syscalls:sys_enter,0,0,,"),
            None
        );
    }
}
