//! Signals: sets and masks, dispositions, the signalfd, and taking a pending
//! signal.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::owned;

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub(crate) struct SigSet(libc::sigset_t);

impl SigSet {
    /// The empty set.
    pub(crate) fn empty() -> SigSet {
        // SAFETY: `sigset_t` is a plain bit array; `sigemptyset` initialises it below.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // Cannot fail for a valid pointer.
        let _ = syscall!(sigemptyset(&mut set));
        SigSet(set)
    }

    /// Every signal but those the C library keeps for itself.
    pub(crate) fn full() -> SigSet {
        let mut set = SigSet::empty();
        // glibc's sigfillset leaves out its internal signals (thread cancellation,
        // setxid), which must never be blocked.
        let _ = syscall!(sigfillset(&mut set.0));
        set
    }

    pub(crate) fn add(&mut self, signal: i32) {
        // EINVAL only for a number out of range, which callers have checked.
        let _ = syscall!(sigaddset(&mut self.0, signal));
    }

    pub(crate) fn remove(&mut self, signal: i32) {
        let _ = syscall!(sigdelset(&mut self.0, signal));
    }

    pub(crate) fn contains(&self, signal: i32) -> bool {
        matches!(syscall!(sigismember(&self.0, signal)), Ok(1))
    }

    /// Whether any signal is in the set.
    pub(crate) fn contains_any(&self) -> bool {
        (1..=libc::SIGRTMAX()).any(|s| self.contains(s))
    }

    pub(crate) fn of(signal: i32) -> SigSet {
        let mut set = SigSet::empty();
        set.add(signal);
        set
    }
}

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<i32> = (1..=libc::SIGRTMAX())
            .filter(|&s| self.contains(s))
            .collect();
        f.debug_tuple("SigSet").field(&members).finish()
    }
}

/// How [`thread_sigmask`] changes the mask.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MaskHow {
    Block,
    Unblock,
    Set,
}

/// Changes the calling thread's signal mask; returns the previous one.
///
/// `sigprocmask` is per thread on Linux (it is `rt_sigprocmask` on the calling
/// thread, exactly as `pthread_sigmask`), and glibc's version reports errors
/// through `errno`, as `syscall!` expects.
pub(crate) fn thread_sigmask(how: MaskHow, set: &SigSet) -> io::Result<SigSet> {
    let how = match how {
        MaskHow::Block => libc::SIG_BLOCK,
        MaskHow::Unblock => libc::SIG_UNBLOCK,
        MaskHow::Set => libc::SIG_SETMASK,
    };
    let mut old = SigSet::empty();
    syscall!(sigprocmask(how, &set.0, &mut old.0))?;
    Ok(old)
}

/// The calling thread's signal mask.
#[cfg(test)]
pub(crate) fn current_sigmask() -> SigSet {
    let mut old = SigSet::empty();
    let _ = syscall!(sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut old.0));
    old
}

/// Signals pending for the calling thread or the process (`sigpending(2)`).
pub(crate) fn sigpending() -> SigSet {
    let mut set = SigSet::empty();
    let _ = syscall!(sigpending(&mut set.0));
    set
}

/// Takes one pending signal of `set` without waiting (`sigtimedwait` with a zero
/// timeout); `None` when none is pending.
pub(crate) fn take_pending_signal(set: &SigSet) -> Option<i32> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match syscall!(sigtimedwait(&set.0, std::ptr::null_mut(), &zero)) {
            Ok(signal) => return Some(signal),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

/// Creates a non-blocking, close-on-exec signalfd for `mask`, or (`fd` given)
/// changes the mask of an existing one.
pub(crate) fn signalfd(fd: Option<BorrowedFd<'_>>, mask: &SigSet) -> io::Result<Option<OwnedFd>> {
    match fd {
        Some(fd) => syscall!(signalfd(fd.as_raw_fd(), &mask.0, 0)).map(|_| None),
        None => {
            let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
            let fd = syscall!(signalfd(-1, &mask.0, flags))?;
            // SAFETY: `signalfd` just returned this descriptor.
            Ok(Some(unsafe { owned(fd) }))
        }
    }
}

/// A signal's disposition as `sigaction` reports it (opaque: only given back to
/// [`restore_sigaction`]), and whether it is the default or ignore.
#[derive(Clone, Copy)]
pub(crate) struct SavedAction(libc::sigaction);

impl SavedAction {
    /// `SIG_DFL`.
    pub(crate) fn is_default(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_DFL
    }

    /// `SIG_IGN`.
    pub(crate) fn is_ignore(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_IGN
    }

    /// Whether it runs `handler`.
    pub(crate) fn runs(&self, handler: SignalHandler) -> bool {
        self.0.sa_sigaction == handler as usize
    }
}

impl std::fmt::Debug for SavedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedAction")
            .field("handler", &self.0.sa_sigaction)
            .field("flags", &self.0.sa_flags)
            .finish()
    }
}

/// A `SA_SIGINFO` signal handler.
pub(crate) type SignalHandler = extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void);

/// The current disposition of `signal`.
pub(crate) fn get_sigaction(signal: i32) -> io::Result<SavedAction> {
    // SAFETY: plain data, filled in by the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    syscall!(sigaction(signal, std::ptr::null(), &mut old))?;
    Ok(SavedAction(old))
}

/// Installs `handler` for `signal` (`SA_SIGINFO | SA_RESTART | SA_ONSTACK`, nothing
/// blocked while it runs); returns the previous disposition.
///
/// # Safety
///
/// `handler` must be async-signal-safe: it may run on any thread, between any two
/// instructions, and may only make async-signal-safe calls (it must save and
/// restore `errno` if it changes it).
pub(crate) unsafe fn install_handler(
    signal: i32,
    handler: SignalHandler,
) -> io::Result<SavedAction> {
    // SAFETY: plain data; every field is set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    let _ = syscall!(sigemptyset(&mut action.sa_mask));
    // SAFETY: plain data, filled in by the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    syscall!(sigaction(signal, &action, &mut old))?;
    Ok(SavedAction(old))
}

/// Puts back a disposition that [`get_sigaction`] or [`install_handler`] returned.
pub(crate) fn restore_sigaction(signal: i32, saved: &SavedAction) -> io::Result<()> {
    syscall!(sigaction(signal, &saved.0, std::ptr::null_mut())).map(drop)
}

/// Sets the disposition of `signal` to `SIG_DFL` (tests restore defaults with it).
#[cfg(test)]
pub(crate) fn set_default_action(signal: i32) -> io::Result<()> {
    // SAFETY: plain data; the handler field is SIG_DFL.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    syscall!(sigaction(signal, &action, std::ptr::null_mut())).map(drop)
}

/// Signals (1..=64) as bits, `1 << (n - 1)`: what a child unblocks before `exec`.
pub(crate) fn signal_bits(set: &SigSet) -> u64 {
    (1..=64)
        .filter(|&s| s <= libc::SIGRTMAX() && set.contains(s))
        .fold(0, |bits, s| bits | 1 << (s - 1))
}
