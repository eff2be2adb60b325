//! Child processes: pinning to CPUs, a guard that kills and reaps a child on every
//! way out (return, error, panic), and starting a server up to its "Serving on
//! ADDR" line.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A CPU set holding `cpus`.
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        assert!(cpu < libc::CPU_SETSIZE as usize, "cpu {cpu} out of range");
        // SAFETY: CPU_SET only writes bit `cpu` of `set`; `cpu` is checked against
        // the set's size above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Pins the calling thread (and the threads and processes it creates afterwards) to
/// `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let set = cpu_set(&[cpu]);
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this process may run on `cpu`.
pub(crate) fn cpu_allowed(cpu: usize) -> bool {
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    // SAFETY: CPU_ISSET reads bit `cpu` of an initialised set; `cpu` is in range.
    rc == 0 && unsafe { libc::CPU_ISSET(cpu, &set) }
}

/// Makes `cmd`'s child (and every thread it starts) run on `cpus` only (set
/// between fork and exec).
pub(crate) fn pin_command(cmd: &mut Command, cpus: &[usize]) {
    let set = cpu_set(cpus);
    let hook = move || {
        // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the child.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: the hook runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes one raw syscall on a set built
    // before the fork, and allocates nothing.
    unsafe { cmd.pre_exec(hook) };
}

/// A child process that is killed (SIGKILL) and reaped when the guard is dropped,
/// unless it was already reaped.
pub(crate) struct Guarded {
    name: String,
    child: Child,
    reaped: bool,
}

impl Guarded {
    /// Spawns `cmd` under a guard; `name` is for messages.
    pub(crate) fn spawn(name: &str, cmd: &mut Command) -> io::Result<Self> {
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {name}: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            reaped: false,
        })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child itself (for its pipes).
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signal` to the child, unless it was reaped already.
    pub(crate) fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        if self.reaped {
            return Ok(());
        }
        // SAFETY: kill has no memory effects; the pid is our unreaped child's, so it
        // cannot have been recycled for another process.
        if unsafe { libc::kill(self.child.id() as libc::pid_t, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Waits up to `timeout` for the child to exit; its status, or `None` if it is
    /// still running.
    pub(crate) fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// An error if the child has exited.
    pub(crate) fn check_alive(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => {
                self.reaped = true;
                Err(io::Error::other(format!("{} exited: {status}", self.name)))
            }
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running server and the address it listens on.
pub(crate) struct Server {
    /// The server process.
    pub(crate) process: Guarded,
    /// Where it listens, from its first line of output.
    pub(crate) addr: SocketAddr,
}

/// The address in a server's first line, `Serving on 127.0.0.1:PORT`: its last word.
pub(crate) fn parse_serving_line(line: &str) -> Option<SocketAddr> {
    line.split_whitespace().last()?.parse().ok()
}

/// Starts the server `cmd` (pinned to `cpus` if given), with its output piped, and
/// waits up to `timeout` for its first line, which must name the bound address.
/// Later output lines are copied to stderr so a chatty server can never block on a
/// full pipe.
pub(crate) fn start_server(
    name: &str,
    cmd: &mut Command,
    cpus: Option<&[usize]>,
    timeout: Duration,
) -> io::Result<Server> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    if let Some(cpus) = cpus {
        pin_command(cmd, cpus);
    }
    let mut process = Guarded::spawn(name, cmd)?;
    let stdout = process.child_mut().stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    let prefix = name.to_owned();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        for line in lines.map_while(Result::ok) {
            eprintln!("[{prefix}] {line}");
        }
    });
    let first = match rx.recv_timeout(timeout) {
        Ok(Some(Ok(line))) => line,
        Ok(Some(Err(e))) => return Err(e),
        Ok(None) => {
            let _ = process.wait_timeout(Duration::from_millis(200));
            process.check_alive()?;
            return Err(io::Error::other(format!("{name} closed its output")));
        }
        Err(_) => {
            return Err(io::Error::other(format!(
                "{name} printed no address within {timeout:?}"
            )))
        }
    };
    let addr = parse_serving_line(&first).ok_or_else(|| {
        io::Error::other(format!("{name}'s first line {first:?} names no address"))
    })?;
    Ok(Server { process, addr })
}

#[cfg(test)]
mod tests {
    #[test]
    fn serving_line() {
        let addr = super::parse_serving_line("Serving on 127.0.0.1:40123").unwrap();
        assert_eq!(addr.port(), 40123);
        assert!(super::parse_serving_line("hello").is_none());
    }
}
