//! [`Child`]: a running process, its pipes, and waiting for its exit.
//!
//! Waiting goes through the child's pidfd (5.3): `IORING_OP_WAITID` on io_uring
//! where the probe has it (6.7), which waits and reaps in one operation; else a
//! `POLL_ADD` on the pidfd, readable once the child has exited, then
//! `waitid(P_PIDFD, WNOHANG)`; on epoll the pidfd's readiness, then the same
//! `waitid` (`driver/op/waitid.rs`). The wait op is kept inside the `Child`, like a
//! stream reader's receive: a `wait` whose future is dropped leaves it in flight,
//! and the next `wait` (or `try_wait`) picks up its result, so a status the kernel
//! already reaped is never lost.
//!
//! Without pidfds (a kernel before 5.3, or a seccomp profile that refuses
//! `pidfd_open`), `wait` polls `waitid(P_PID, WNOHANG)` on a timer that backs off
//! from 1 ms to 50 ms.
//!
//! A `Child` dropped before its exit was reaped goes to the process-wide reaper
//! (`reaper.rs`), after `SIGKILL` if `kill_on_drop` was set.

use std::cell::Cell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::reaper;
use crate::driver::fd::SharedFd;
use crate::driver::op::{Op, WaitChild, WaitVia};
use crate::driver::sys::{self, WaitTarget};
use crate::net::{StreamReader, StreamWriter};
use crate::signal::SignalKind;

/// What `Command::spawn` hands over.
pub(super) struct ChildParts {
    pub(super) pid: libc::pid_t,
    pub(super) pidfd: Option<SharedFd>,
    pub(super) stdin: Option<StreamWriter>,
    pub(super) stdout: Option<StreamReader>,
    pub(super) stderr: Option<StreamReader>,
}

/// How a wait is under way.
enum Waiting {
    /// The pidfd wait op, whether it reaps in the kernel (`WAITID`), and the
    /// runtime it runs on.
    Op(Op<WaitChild>, WaitVia, u64),
    /// No pidfd: the next poll of `waitid`, after this sleep.
    Timer(crate::time::Sleep, Duration),
}

/// A child process started by [`Command::spawn`](super::Command::spawn), like
/// asyncio's `Process` (and std's `Child`).
///
/// The piped standard streams are public fields, as in std: take them to use
/// them on their own ([`communicate`](Self::communicate) takes them too).
///
/// # Dropping
///
/// A `Child` dropped before its exit was reaped does not leave a zombie behind:
/// if [`kill_on_drop`](super::Command::kill_on_drop) was set, the process is sent
/// `SIGKILL`; either way it is handed to ringloop's reaper, one thread per process
/// (started at the first such drop, with every signal blocked) that waits on the
/// pidfds of dropped children with `epoll` and reaps each as it exits, whichever
/// runtime (or none) is running then, and for as long as the program runs. A child
/// that already exited is reaped on the spot, without the reaper.
///
/// ```
/// use ringloop::process::Command;
/// ringloop::run(async {
///     let mut child = Command::new("sleep").arg("10").spawn().unwrap();
///     assert_eq!(child.try_wait().unwrap(), None); // still running
///     child.kill().unwrap();
///     let status = child.wait().await.unwrap();
///     use std::os::unix::process::ExitStatusExt;
///     assert_eq!(status.signal(), Some(libc::SIGKILL));
///     assert_eq!(child.returncode(), Some(-9)); // as asyncio reports it
/// });
/// ```
pub struct Child {
    /// The writer of the child's stdin, when it was piped.
    pub stdin: Option<StreamWriter>,
    /// The reader of the child's stdout, when it was piped.
    pub stdout: Option<StreamReader>,
    /// The reader of the child's stderr, when it was piped.
    pub stderr: Option<StreamReader>,
    pid: libc::pid_t,
    pidfd: Option<SharedFd>,
    status: Option<ExitStatus>,
    waiting: Option<Waiting>,
    /// A status a cancelled `WAITID` op reaped (see `WaitChild`).
    sink: Rc<Cell<Option<i32>>>,
    kill_on_drop: bool,
}

/// Polls of `waitid` without a pidfd: from 1 ms, doubling up to 50 ms.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

fn is_ecanceled(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECANCELED)
}

impl Child {
    pub(super) fn new(parts: ChildParts, kill_on_drop: bool) -> Child {
        Child {
            stdin: parts.stdin,
            stdout: parts.stdout,
            stderr: parts.stderr,
            pid: parts.pid,
            pidfd: parts.pidfd,
            status: None,
            waiting: None,
            sink: Rc::default(),
            kill_on_drop,
        }
    }

    /// The process id (asyncio's `pid`). After the child was waited for, the
    /// number may belong to another process.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status, once [`wait`](Self::wait) or [`try_wait`](Self::try_wait)
    /// reaped the child.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// asyncio's `returncode`: the exit code, or `-N` when signal `N` killed the
    /// child; `None` until the child was reaped.
    pub fn returncode(&self) -> Option<i32> {
        let status = self.status?;
        status.code().or_else(|| status.signal().map(|s| -s))
    }

    /// The status, if known: reaped by this `Child`, or by a cancelled wait op.
    fn known_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.sink.take().map(ExitStatus::from_raw);
        }
        self.status
    }

    fn target(&self) -> WaitTarget<'_> {
        target_of(&self.pidfd, self.pid)
    }

    /// Sends `signal` to the child (asyncio's `send_signal`). Through the pidfd, so
    /// it can only ever reach this process, never a later one with the same
    /// number. A child that already exited is left alone: `Ok(())`.
    pub fn send_signal(&mut self, signal: SignalKind) -> io::Result<()> {
        if self.known_status().is_some() {
            return Ok(());
        }
        let sent = match &self.pidfd {
            Some(fd) => sys::pidfd_send_signal(fd.as_fd(), signal.as_raw()),
            // Without a pidfd only this `Child` reaps the process (there is no op
            // in the kernel that could), and it has not: the number is still its.
            None => sys::kill(self.pid, signal.as_raw()),
        };
        match sent {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// Kills the child with `SIGKILL` (std's and asyncio's `kill`); does not wait
    /// for it to exit: [`wait`](Self::wait) then gives the status. `Ok(())` if the
    /// child already exited.
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(SignalKind::from_raw(libc::SIGKILL))
    }

    /// Asks the child to stop with `SIGTERM` (asyncio's `terminate`).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(SignalKind::terminate())
    }

    /// The exit status if the child has exited (it is reaped then), else `None`;
    /// never waits. Needs no runtime.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.known_status() {
            return Ok(Some(status));
        }
        let mut reaping_op = false;
        if let Some(Waiting::Op(op, WaitVia::WaitId, _)) = &mut self.waiting {
            // The kernel op may reap the child itself: its result first.
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(op).poll(&mut cx) {
                Poll::Pending => reaping_op = true,
                Poll::Ready(result) => {
                    self.waiting = None;
                    match result {
                        Ok(Some(status)) => {
                            self.status = Some(status);
                            return Ok(Some(status));
                        }
                        Ok(None) => {}
                        Err(e) if is_ecanceled(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let status = match sys::waitid_now(self.target()) {
            Ok(status) => status.map(ExitStatus::from_raw),
            // The op reaped it, and its completion has not been read yet (its
            // runtime has not run since): the status comes with it.
            Err(e) if reaping_op && e.raw_os_error() == Some(libc::ECHILD) => None,
            Err(e) => return Err(e),
        };
        // If this reaped the child, the op in flight ends with ECHILD, which
        // nobody reads: the status is known first.
        self.status = status;
        Ok(status)
    }

    /// Waits for the child to exit and reaps it (asyncio's `wait`, std's `wait`).
    /// Closes the child's stdin first, if piped and still here, as std does: a
    /// child waiting for the end of its input would otherwise never exit. (What
    /// was written is still sent before the pipe closes.)
    ///
    /// Cancel-safe: the wait stays in flight inside the `Child`, and the next
    /// `wait` or `try_wait` gets its result.
    ///
    /// Beware of a child that writes much to a piped stdout or stderr nobody reads:
    /// it blocks once the pipe is full and never exits; use
    /// [`communicate`](Self::communicate).
    ///
    /// A program whose `SIGCHLD` disposition is "ignore" (maybe inherited) has
    /// its children reaped by the kernel: then `wait` fails with `ECHILD`, as
    /// std's does.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        loop {
            if let Some(status) = self.known_status() {
                return Poll::Ready(Ok(status));
            }
            if let Some(Waiting::Op(_, _, runtime)) = &self.waiting {
                if *runtime != crate::runtime::context::current_id() {
                    // Started on another runtime (gone, or not running now): wait
                    // here instead. Its op is cancelled; if it reaped the child
                    // meanwhile, the status is in the op's sink.
                    self.waiting = None;
                }
            }
            let waiting = match &mut self.waiting {
                Some(waiting) => waiting,
                None => {
                    let waiting = match &self.pidfd {
                        Some(pidfd) => {
                            let via = if crate::runtime::context::with_core(|c| {
                                c.driver.features().waitid()
                            })
                            .unwrap_or(false)
                            {
                                WaitVia::WaitId
                            } else {
                                WaitVia::Poll
                            };
                            let op = Op::new(WaitChild::new(pidfd.clone(), via, self.sink.clone()));
                            Waiting::Op(op, via, crate::runtime::context::current_id())
                        }
                        None => {
                            // Maybe it is done already; else check again soon.
                            if let Some(raw) = sys::waitid_now(self.target())? {
                                self.status = Some(ExitStatus::from_raw(raw));
                                continue;
                            }
                            Waiting::Timer(crate::sleep(POLL_FIRST), POLL_FIRST)
                        }
                    };
                    self.waiting.insert(waiting)
                }
            };
            match waiting {
                Waiting::Op(op, _, _) => {
                    let result = std::task::ready!(Pin::new(op).poll(cx));
                    self.waiting = None;
                    match result {
                        Ok(Some(status)) => self.status = Some(status),
                        // The pidfd woke early: wait again.
                        Ok(None) => {}
                        // Its runtime shut down under it: wait again, here.
                        Err(e) if is_ecanceled(&e) => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                Waiting::Timer(sleep, period) => {
                    std::task::ready!(Pin::new(&mut *sleep).poll(cx));
                    let next = (*period * 2).min(POLL_MAX);
                    match sys::waitid_now(target_of(&self.pidfd, self.pid)) {
                        Ok(Some(raw)) => {
                            self.waiting = None;
                            self.status = Some(ExitStatus::from_raw(raw));
                        }
                        Ok(None) => {
                            *period = next;
                            sleep.reset(std::time::Instant::now() + next);
                        }
                        Err(e) => {
                            self.waiting = None;
                            return Poll::Ready(Err(e));
                        }
                    }
                }
            }
        }
    }

    /// Sends `input` to the child's stdin and closes it, reads its stdout and
    /// stderr to their ends, all at once (so that a child that writes much before
    /// it reads, or fills both pipes, never deadlocks), then waits for it to exit
    /// (asyncio's `communicate`, std's `wait_with_output`). Streams that were not
    /// piped give empty output; `input` with no piped stdin is an error of kind
    /// `InvalidInput`. A child that exits without reading its input is fine (the
    /// broken pipe is ignored, as asyncio does).
    ///
    /// The pipes are taken out of the `Child` (its `stdin`, `stdout` and `stderr`
    /// are `None` afterwards).
    ///
    /// Not cancel-safe: a dropped call loses the output read so far and closes the
    /// pipes; the child itself is untouched (the `Child` still owns it: kill it,
    /// wait for it, or drop it, and [`kill_on_drop`](super::Command::kill_on_drop)
    /// decides).
    ///
    /// ```
    /// use ringloop::process::{Command, Stdio};
    /// ringloop::run(async {
    ///     let mut child = Command::new("sort")
    ///         .stdin(Stdio::piped())
    ///         .stdout(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let out = child.communicate(Some(b"pear\napple\n")).await.unwrap();
    ///     assert_eq!(out.stdout, b"apple\npear\n");
    ///     assert!(out.status.success());
    /// });
    /// ```
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<Output> {
        let stdin = self.stdin.take();
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        if stdin.is_none() && input.is_some_and(|i| !i.is_empty()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "communicate: input given, but the child's stdin is not piped",
            ));
        }
        let feed = async move {
            let Some(stdin) = stdin else {
                return Ok(());
            };
            let sent = async {
                if let Some(input) = input {
                    stdin.write(input)?;
                }
                stdin.write_eof()?;
                stdin.wait_closed().await
            }
            .await;
            match sent {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    Ok(())
                }
                other => other,
            }
        };
        let (fed, out, err) = crate::gather!(feed, read_all(stdout), read_all(stderr)).await;
        fed?;
        let (stdout, stderr) = (out?, err?);
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// [`communicate`](Self::communicate) with no input, consuming the child
    /// (std's `wait_with_output`).
    ///
    /// Not cancel-safe (see `communicate`); a dropped call drops the `Child`.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        self.communicate(None).await
    }
}

async fn read_all(reader: Option<StreamReader>) -> io::Result<Vec<u8>> {
    match reader {
        Some(mut reader) => reader.read_to_end().await,
        None => Ok(Vec::new()),
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.known_status().is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.kill();
        }
        // A wait in flight is cancelled (its op may still reap the child, in
        // which case the reaper below finds nothing to do).
        self.waiting = None;
        match sys::waitid_now(self.target()) {
            // Reaped now, or by the cancelled op.
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => {}
        }
        match self.pidfd.take() {
            Some(fd) => reaper::adopt_pidfd(fd, self.pid),
            None => reaper::adopt_pid(self.pid),
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .finish_non_exhaustive()
    }
}

/// What `waitid` looks at for a child: its pidfd, or without one its pid.
fn target_of(pidfd: &Option<SharedFd>, pid: libc::pid_t) -> WaitTarget<'_> {
    match pidfd {
        Some(fd) => WaitTarget::Pidfd(fd.as_fd()),
        None => WaitTarget::Pid(pid),
    }
}
