//! The servers under test and how to start each one.

pub(crate) mod tokio_hyper;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A server the bench can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// ringloop's `http_server` example on the io_uring driver.
    Ringloop,
    /// The same binary on the epoll driver.
    RingloopEpoll,
    /// hyper on a tokio current-thread runtime (`peers/tokio_hyper.rs`).
    Tokio,
}

impl Peer {
    /// Every server, in the default order.
    pub(crate) const ALL: [Peer; 3] = [Peer::Ringloop, Peer::RingloopEpoll, Peer::Tokio];

    /// The name on the command line and in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Ringloop => "ringloop",
            Peer::RingloopEpoll => "ringloop-epoll",
            Peer::Tokio => "tokio",
        }
    }

    /// The server called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The command that starts this server listening on `addr`, or `Ok(None)` with a
    /// message when its binary is missing (ringloop's `http_server` example must be
    /// built next to this one, with its features).
    pub(crate) fn command(self, addr: &str) -> io::Result<Option<Command>> {
        let exe = std::env::current_exe()?;
        let cmd = match self {
            Peer::Ringloop | Peer::RingloopEpoll => {
                let server = http_server_path(&exe);
                if !server.is_file() {
                    eprintln!(
                        "skipping {}: {} not found (build it with `cargo build --release \
                         --example http_server --features hyper`)",
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
                cmd.args(["--addr", addr, "--driver", driver]);
                cmd
            }
            Peer::Tokio => {
                let mut cmd = Command::new(exe);
                cmd.arg("serve-tokio").arg(addr);
                cmd
            }
        };
        Ok(Some(cmd))
    }
}

/// ringloop's `http_server` example, next to the bench binary `exe`.
fn http_server_path(exe: &Path) -> PathBuf {
    exe.with_file_name("http_server")
}
