//! Subprocesses, like asyncio's (and std's): [`Command`] builds one, [`Child`] is
//! one running, with its piped standard streams as a
//! [`StreamWriter`](crate::net::StreamWriter) (stdin) and
//! [`StreamReader`](crate::net::StreamReader)s (stdout, stderr).
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `create_subprocess_exec(prog, *args, stdout=PIPE)` | [`create_subprocess_exec`]`(prog, args).stdout(Stdio::piped()).spawn()?` |
//! | `create_subprocess_shell(cmd, ...)` | [`create_subprocess_shell`]`(cmd)...spawn()?` |
//! | `await proc.communicate(input)` | [`Child::communicate`]`(Some(input)).await?` → [`Output`] |
//! | `await proc.wait()`, `proc.returncode` | [`Child::wait`]`().await?`, [`Child::returncode`]`()` |
//! | `proc.kill()`, `terminate()`, `send_signal(s)`, `pid` | [`Child::kill`], [`Child::terminate`], [`Child::send_signal`], [`Child::id`] |
//! | `proc.stdin.write(..)`, `await proc.stdout.readline()` | `child.stdin` / `child.stdout`: the streams' own methods |
//!
//! A child is waited for through its pidfd (`IORING_OP_WAITID` on 6.7+, else a
//! poll of the pidfd), never through `SIGCHLD`, so programs may listen for
//! `SIGCHLD` themselves ([`signal::signal`](crate::signal::signal)). A [`Child`]
//! dropped before it was reaped is still reaped (no zombies; see [`Child`]).
//!
//! Writing to the stdin of a child that closed it (or exited) is an error of kind
//! [`BrokenPipe`](std::io::ErrorKind::BrokenPipe): it never kills the process with
//! `SIGPIPE`, whatever the program's `SIGPIPE` disposition (ringloop blocks
//! `SIGPIPE` on the writing thread while a pipe write is in flight and takes the
//! signal back, instead of changing the disposition for the whole process).
//!
//! ```
//! use ringloop::process::{create_subprocess_shell, Stdio};
//! ringloop::run(async {
//!     let mut child = create_subprocess_shell("echo out; echo err >&2")
//!         .stdout(Stdio::piped())
//!         .stderr(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let output = child.communicate(None).await.unwrap();
//!     assert_eq!((&output.stdout[..], &output.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
//!     assert_eq!(child.returncode(), Some(0));
//! });
//! ```

mod child;
mod command;
mod reaper;

use std::ffi::OsStr;

pub use child::Child;
pub use command::Command;
pub use std::process::{ExitStatus, Output, Stdio};

/// A [`Command`] for `program` with `args` (asyncio's `create_subprocess_exec`,
/// before its keyword arguments: set the streams, then [`spawn`](Command::spawn)).
///
/// ```
/// ringloop::run(async {
///     let status = ringloop::process::create_subprocess_exec("true", [] as [&str; 0])
///         .status()
///         .await
///         .unwrap();
///     assert!(status.success());
/// });
/// ```
pub fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    command
}

/// A [`Command`] that runs `cmd` with the shell, `/bin/sh -c cmd` (asyncio's
/// `create_subprocess_shell`). The shell interprets `cmd`: quote what comes from
/// untrusted input.
///
/// ```
/// ringloop::run(async {
///     let out = ringloop::process::create_subprocess_shell("echo $((6 * 7))")
///         .output()
///         .await
///         .unwrap();
///     assert_eq!(out.stdout, b"42\n");
/// });
/// ```
pub fn create_subprocess_shell(cmd: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(cmd);
    command
}
