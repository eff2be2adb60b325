//! The echo servers under comparison, and how to start each one.

pub(crate) mod bare_uring;
pub(crate) mod monoio_server;
pub(crate) mod tokio_server;

use std::io;
use std::path::PathBuf;
use std::process::Command;

/// One of the servers the bench can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// ringloop's `echo_server` example on the io_uring driver.
    Ringloop,
    /// The same binary on ringloop's epoll driver.
    RingloopEpoll,
    /// A tokio echo server written the same way (`serve-tokio`).
    Tokio,
    /// A monoio echo server, a thread per `SO_REUSEPORT` listener (`serve-monoio`).
    Monoio,
    /// A bare io_uring loop with no runtime, the yardstick (`serve-bare`); one
    /// thread only.
    BareUring,
}

impl Peer {
    /// Every server, in the default order.
    pub(crate) const ALL: [Peer; 5] = [
        Peer::Ringloop,
        Peer::RingloopEpoll,
        Peer::Tokio,
        Peer::Monoio,
        Peer::BareUring,
    ];

    /// The server's name on the command line and in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Ringloop => "ringloop",
            Peer::RingloopEpoll => "ringloop-epoll",
            Peer::Tokio => "tokio",
            Peer::Monoio => "monoio",
            Peer::BareUring => "bare-uring",
        }
    }

    /// The server called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The command that starts this server listening on `addr` with `threads`
    /// threads, or `Ok(None)` with a message when it cannot run: its binary is
    /// missing (ringloop's `echo_server` example must be built next to this one), or
    /// it has one thread only (the bare loop) and `threads` > 1.
    pub(crate) fn command(self, addr: &str, threads: usize) -> io::Result<Option<Command>> {
        let exe = std::env::current_exe()?;
        let cmd = match self {
            Peer::Ringloop | Peer::RingloopEpoll => {
                let server = echo_server_path(&exe);
                if !server.is_file() {
                    eprintln!(
                        "skipping {}: {} not found (build it with `cargo build --release --examples`)",
                        self.name(),
                        server.display()
                    );
                    return Ok(None);
                }
                let driver = if self == Peer::Ringloop {
                    "uring"
                } else {
                    "epoll"
                };
                let mut cmd = Command::new(server);
                cmd.arg(addr).env("RINGLOOP_DRIVER", driver);
                // One thread: the single-threaded server, exactly as before.
                if threads > 1 {
                    cmd.arg("--shards").arg(threads.to_string());
                }
                cmd
            }
            Peer::BareUring if threads > 1 => {
                eprintln!("skipping bare-uring: it has one thread only (N/A with --server-threads {threads})");
                return Ok(None);
            }
            Peer::Tokio | Peer::Monoio | Peer::BareUring => {
                let sub = match self {
                    Peer::Tokio => "serve-tokio",
                    Peer::Monoio => "serve-monoio",
                    _ => "serve-bare",
                };
                let mut cmd = Command::new(exe);
                cmd.arg(sub).arg(addr);
                if self != Peer::BareUring {
                    cmd.arg("--threads").arg(threads.to_string());
                }
                cmd
            }
        };
        Ok(Some(cmd))
    }
}

/// ringloop's `echo_server` example, next to the bench binary `exe`.
fn echo_server_path(exe: &std::path::Path) -> PathBuf {
    exe.with_file_name("echo_server")
}
