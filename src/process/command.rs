//! [`Command`]: std's `Command`, with a spawn that gives an asynchronous [`Child`].

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::child::{Child, ChildParts};
use crate::driver::fd::SharedFd;
use crate::driver::sys;
use crate::net::streams;

/// A process builder, mirroring [`std::process::Command`]: program, arguments,
/// environment, working directory and standard streams are set the same way (the
/// builder wraps a std `Command`, see [`as_std_mut`](Self::as_std_mut) for
/// everything else, such as `uid` or `process_group`). [`spawn`](Self::spawn)
/// starts the process and gives a [`Child`] whose piped streams are a
/// [`StreamWriter`](crate::net::StreamWriter) (stdin) and
/// [`StreamReader`](crate::net::StreamReader)s (stdout, stderr), like asyncio's
/// `Process`.
///
/// ```
/// use ringloop::process::{Command, Stdio};
/// ringloop::run(async {
///     let output = Command::new("sh")
///         .arg("-c")
///         .arg("echo \"hello $WHO\"; echo oops >&2; exit 3")
///         .env("WHO", "world")
///         .output()
///         .await
///         .unwrap();
///     assert_eq!(output.stdout, b"hello world\n");
///     assert_eq!(output.stderr, b"oops\n");
///     assert_eq!(output.status.code(), Some(3));
///
///     // Or piece by piece: write to its stdin, read its stdout.
///     let mut child = Command::new("tr")
///         .arg("a-z")
///         .arg("A-Z")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()
///         .unwrap();
///     let stdin = child.stdin.take().unwrap();
///     stdin.write(b"shout\n").unwrap();
///     drop(stdin); // flushed, then closed: tr sees the end of its input
///     let line = child.stdout.as_mut().unwrap().readline().await.unwrap();
///     assert_eq!(line, b"SHOUT\n");
///     assert!(child.wait().await.unwrap().success());
/// });
/// ```
pub struct Command {
    std: std::process::Command,
    /// Signals the next child must unblock before `exec`, once a spawn needed
    /// the hook (see `spawn`).
    unblock: Option<Arc<AtomicU64>>,
    kill_on_drop: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` when it has no `/`), with
    /// no arguments, the parent's environment and working directory, and the
    /// parent's standard streams (for [`spawn`](Self::spawn) and
    /// [`status`](Self::status); [`output`](Self::output) pipes stdout and stderr).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds after).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input: [`Stdio::piped()`] (then [`Child::stdin`] is a
    /// [`StreamWriter`](crate::net::StreamWriter)), [`Stdio::inherit()`],
    /// [`Stdio::null()`], or a file or descriptor of the parent.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's standard output ([`Stdio::piped()`]: [`Child::stdout`] is a
    /// [`StreamReader`](crate::net::StreamReader)).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's standard error ([`Stdio::piped()`]: [`Child::stderr`] is a
    /// [`StreamReader`](crate::net::StreamReader)).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether a [`Child`] dropped before its exit was reaped kills the process
    /// (`SIGKILL`) first. Default `false`: the process goes on running, and is
    /// still reaped when it exits (see [`Child`]).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The program.
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The arguments, without the program.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The environment changes (`None`: removed).
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.std.get_envs()
    }

    /// The working directory, if set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.std.get_current_dir()
    }

    /// Whether [`kill_on_drop`](Self::kill_on_drop) is set.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// The std `Command` inside.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std `Command` inside, for what this type does not mirror (such as
    /// `std::os::unix::process::CommandExt::process_group`).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the process (asyncio's `create_subprocess_exec`).
    ///
    /// Synchronous, as `fork`/`exec` are: it returns once the program runs (or
    /// failed to start: a program that does not exist is an error of kind
    /// [`NotFound`](io::ErrorKind::NotFound)). Needs no runtime; the child's pipes
    /// and [`wait`](Child::wait) need one to be used.
    ///
    /// ```
    /// let err = ringloop::process::Command::new("/no/such/program").spawn().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        // The child inherits this thread's signal mask; what ringloop blocked
        // here (listened signals, SIGPIPE during a pipe write) must not stay
        // blocked in it. std's `Command` does not reset the mask, so a hook does,
        // in the child, once it is needed (it makes std fork instead of
        // posix_spawn).
        let ours = sys::signal_bits(&crate::driver::signal::blocked_by_ringloop());
        if ours != 0 && self.unblock.is_none() {
            let unblock = Arc::new(AtomicU64::new(0));
            sys::unblock_before_exec(&mut self.std, unblock.clone());
            self.unblock = Some(unblock);
        }
        if let Some(unblock) = &self.unblock {
            unblock.store(ours, Ordering::Relaxed);
        }
        let mut child = self.std.spawn()?;
        match parts(&mut child) {
            Ok(parts) => Ok(Child::new(parts, self.kill_on_drop)),
            Err(e) => {
                // Nothing tracks it yet: do not leave it running, nor a zombie.
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Runs the command to its end and returns its status, with the standard
    /// streams inherited unless set (std's `status`).
    ///
    /// Not cancel-safe: a dropped call drops the [`Child`] (see
    /// [`kill_on_drop`](Self::kill_on_drop)).
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        child.wait().await
    }

    /// Runs the command to its end and collects its output (std's `output`,
    /// asyncio's `communicate()` after `create_subprocess_exec`): stdout and
    /// stderr are piped and stdin is null unless set.
    ///
    /// Not cancel-safe: a dropped call loses the output read so far and drops the
    /// [`Child`] (see [`kill_on_drop`](Self::kill_on_drop)).
    pub async fn output(&mut self) -> io::Result<Output> {
        let defaults = (!self.stdin_set, !self.stdout_set, !self.stderr_set);
        if defaults.0 {
            self.std.stdin(Stdio::null());
        }
        if defaults.1 {
            self.std.stdout(Stdio::piped());
        }
        if defaults.2 {
            self.std.stderr(Stdio::piped());
        }
        let spawned = self.spawn();
        // Back to what a plain `spawn` uses for streams that were not set.
        if defaults.0 {
            self.std.stdin(Stdio::inherit());
        }
        if defaults.1 {
            self.std.stdout(Stdio::inherit());
        }
        if defaults.2 {
            self.std.stderr(Stdio::inherit());
        }
        spawned?.communicate(None).await
    }
}

/// Takes over what std's `spawn` gave: the pid (and a pidfd for it), and the
/// parent's ends of the pipes, made non-blocking (std creates them close-on-exec).
fn parts(child: &mut std::process::Child) -> io::Result<ChildParts> {
    let pid = child.id() as libc::pid_t;
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => Some(SharedFd::new(fd)),
        // No pidfds here (before 5.3, or a seccomp profile that refuses them):
        // the child is waited for by polling instead (see `child.rs`).
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EPERM | libc::EACCES)
            ) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let stdin = child
        .stdin
        .take()
        .map(OwnedFd::from)
        .map(nonblocking)
        .transpose()?;
    let stdout = child
        .stdout
        .take()
        .map(OwnedFd::from)
        .map(nonblocking)
        .transpose()?;
    let stderr = child
        .stderr
        .take()
        .map(OwnedFd::from)
        .map(nonblocking)
        .transpose()?;
    Ok(ChildParts {
        pid,
        pidfd,
        stdin: stdin.map(streams::pipe_writer),
        stdout: stdout.map(streams::pipe_reader),
        stderr: stderr.map(streams::pipe_reader),
    })
}

fn nonblocking(fd: OwnedFd) -> io::Result<SharedFd> {
    sys::set_nonblocking(fd.as_fd())?;
    Ok(SharedFd::new(fd))
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            unblock: None,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}
