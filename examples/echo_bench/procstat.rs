//! CPU time from `/proc`: the first field of `schedstat` is the nanoseconds a task
//! has spent on a CPU, exact (not tick-sampled like `stat`'s utime/stime).

use std::fs;
use std::io;

/// The CPU time, in nanoseconds, of one `schedstat` file's text.
fn parse_schedstat(text: &str) -> io::Result<u64> {
    text.split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected schedstat line {text:?}")))
}

/// The CPU time of every thread of process `pid` together: the sum over
/// `/proc/PID/task/*/schedstat`. A thread that exits between two readings takes its
/// time with it; the servers' threads live through the measured window.
pub(crate) fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("schedstat");
        match fs::read_to_string(&path) {
            Ok(text) => total += parse_schedstat(&text)?,
            // The thread exited after the directory was listed: its entry is gone
            // (ENOENT), or still listed while the thread is being reaped, which
            // reading reports as ESRCH.
            Err(e) if thread_gone(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Whether reading a thread's `/proc` file failed because the thread has exited.
fn thread_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// The CPU time of one thread `tid` of this process.
pub(crate) fn thread_cpu_ns(tid: i32) -> io::Result<u64> {
    parse_schedstat(&fs::read_to_string(format!(
        "/proc/self/task/{tid}/schedstat"
    ))?)
}

/// The ids of the threads of process `pid`.
pub(crate) fn thread_ids(pid: u32) -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        if let Some(id) = entry?.file_name().to_str().and_then(|s| s.parse().ok()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Whether this kernel exposes `schedstat` (CONFIG_SCHED_INFO).
pub(crate) fn available() -> bool {
    fs::metadata("/proc/self/schedstat").is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_first_field() {
        assert_eq!(super::parse_schedstat("968777 0 1\n").unwrap(), 968_777);
        assert!(super::parse_schedstat("").is_err());
        assert!(super::process_cpu_ns(std::process::id()).unwrap() > 0);
    }

    /// Threads that exit while the sum is taken are skipped, not an error: the
    /// failure CI saw (ESRCH from a thread being reaped while the other tests of
    /// this binary ran).
    #[test]
    fn exiting_threads_are_skipped() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::spawn(|| {}).join().unwrap();
                }
            })
        };
        for _ in 0..2000 {
            super::process_cpu_ns(std::process::id()).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
        assert!(super::thread_gone(&std::io::Error::from_raw_os_error(
            libc::ESRCH
        )));
        assert!(!super::thread_gone(&std::io::Error::from_raw_os_error(
            libc::EACCES
        )));
    }
}
