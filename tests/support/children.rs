//! Child-process checks shared by the subprocess tests.

/// Whether `pid` was reaped: `waitid` on it says it is no child of ours (it only
/// looks: `WNOWAIT`).
pub(crate) fn reaped(pid: u32) -> bool {
    // SAFETY: a zeroed siginfo_t is valid; WNOHANG|WNOWAIT only looks.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}
