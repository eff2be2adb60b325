//! Calls on processes and threads: pidfds, `waitid`, `kill`, thread ids, and the
//! hook a child runs before `exec`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::owned;
use super::signal::{thread_sigmask, MaskHow, SigSet};

/// `pidfd_open(2)` (5.3): a close-on-exec descriptor that refers to process `pid`
/// itself, never to a later process that reuses the number.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, 0))?;
    // SAFETY: the system call just returned this descriptor.
    Ok(unsafe { owned(fd as libc::c_int) })
}

/// `pidfd_send_signal(2)`: signals exactly the process `pidfd` refers to (`ESRCH`
/// once it has exited).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    syscall!(syscall(
        libc::SYS_pidfd_send_signal,
        pidfd.as_raw_fd(),
        signal,
        std::ptr::null::<libc::siginfo_t>(),
        0
    ))
    .map(drop)
}

/// `kill(2)`.
pub(crate) fn kill(pid: libc::pid_t, signal: i32) -> io::Result<()> {
    syscall!(kill(pid, signal)).map(drop)
}

/// `getpid(2)`. Async-signal-safe.
pub(crate) fn getpid() -> libc::pid_t {
    // Cannot fail.
    syscall!(getpid()).unwrap_or(0)
}

/// The calling thread's id (`gettid(2)`). Async-signal-safe.
pub(crate) fn gettid() -> libc::pid_t {
    syscall!(syscall(libc::SYS_gettid)).map_or(0, |tid| tid as libc::pid_t)
}

/// `tgkill(2)`: sends `signal` to thread `tid` of process `pid`. Async-signal-safe.
pub(crate) fn tgkill(pid: libc::pid_t, tid: libc::pid_t, signal: i32) -> io::Result<()> {
    syscall!(syscall(libc::SYS_tgkill, pid, tid, signal)).map(drop)
}

/// Which children `waitid` looks at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitTarget<'a> {
    /// The process a pidfd refers to (`P_PIDFD`, 5.4).
    Pidfd(BorrowedFd<'a>),
    /// A process id (`P_PID`), for when pidfds are unavailable.
    Pid(libc::pid_t),
}

/// A zeroed `siginfo_t`, for `waitid` (and `IORING_OP_WAITID`) to fill in.
pub(crate) fn siginfo_zeroed() -> libc::siginfo_t {
    // SAFETY: `siginfo_t` is plain data (integers and a union of integers), for
    // which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

/// The wait status (as `waitpid` reports it, for `ExitStatus::from_raw`) that a
/// `siginfo_t` filled in by `waitid(WEXITED)` describes; `None` when it describes
/// no child (`WNOHANG` and nothing exited: `si_pid == 0`).
pub(crate) fn wait_status(info: &libc::siginfo_t) -> Option<i32> {
    // SAFETY: `waitid` filled in the `sigchld` member of the union (or left it all
    // zero), which is what these accessors read.
    let pid = unsafe { info.si_pid() };
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    if pid == 0 {
        return None;
    }
    Some(match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        // Only WEXITED was asked for; anything else is reported as an exit with
        // the status the kernel gave.
        _ => (status & 0xff) << 8,
    })
}

/// `waitid(WEXITED | WNOHANG)`: reaps the child if it has exited and returns its
/// wait status; `None` while it runs.
pub(crate) fn waitid_now(target: WaitTarget<'_>) -> io::Result<Option<i32>> {
    let (idtype, id) = match target {
        WaitTarget::Pidfd(fd) => (libc::P_PIDFD, fd.as_raw_fd() as libc::id_t),
        WaitTarget::Pid(pid) => (libc::P_PID, pid as libc::id_t),
    };
    let mut info = siginfo_zeroed();
    loop {
        match syscall!(waitid(idtype, id, &mut info, libc::WEXITED | libc::WNOHANG)) {
            Ok(_) => return Ok(wait_status(&info)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Makes every later spawn of `command` unblock, in the child before `exec`, the
/// signals whose bits `unblock` holds at that moment (the parent sets them just
/// before each spawn; see `driver/signal.rs` for why).
///
/// This makes std spawn with `fork` + `exec` rather than `posix_spawn`, so the
/// process module registers it only once a spawn needs it.
pub(crate) fn unblock_before_exec(
    command: &mut std::process::Command,
    unblock: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::os::unix::process::CommandExt;
    let hook = move || -> io::Result<()> {
        let bits = unblock.load(std::sync::atomic::Ordering::Relaxed);
        if bits != 0 {
            // Built on the stack with sigemptyset/sigaddset, then sigprocmask:
            // all async-signal-safe; nothing here allocates.
            let mut set = SigSet::empty();
            for s in 1..=64 {
                if bits & (1 << (s - 1)) != 0 {
                    set.add(s);
                }
            }
            thread_sigmask(MaskHow::Unblock, &set)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the child between `fork` and `exec`, where only
    // async-signal-safe calls are allowed: it reads an atomic and calls
    // sigemptyset, sigaddset and sigprocmask, without allocating (an error is an
    // `io::Error` from errno, which does not allocate) and without taking locks.
    unsafe { command.pre_exec(hook) };
}
