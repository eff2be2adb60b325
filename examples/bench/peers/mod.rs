//! The peers under comparison: their names, what each can run (and why not, where
//! it cannot), and how a child process is set up for each.

pub(crate) mod compio_peer;
pub(crate) mod tokio_uring_peer;

// The echo servers of the echo benchmark, shared with it (not copied).
#[allow(dead_code)]
#[path = "../../echo_bench/peers/bare_uring.rs"]
pub(crate) mod bare_uring;
#[allow(dead_code)]
#[path = "../../echo_bench/peers/monoio_server.rs"]
pub(crate) mod monoio_server;
#[allow(dead_code)]
#[path = "../../echo_bench/peers/tokio_server.rs"]
pub(crate) mod tokio_server;

use std::process::Command;

use crate::Workload;

/// One of the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// ringloop on its io_uring driver, every feature the probe found.
    Ringloop,
    /// ringloop on io_uring with the 5.10 feature mask (`RINGLOOP_KERNEL_COMPAT=5.10`).
    Ringloop510,
    /// ringloop on its epoll driver (`RINGLOOP_DRIVER=epoll`).
    RingloopEpoll,
    /// tokio's current-thread runtime.
    Tokio,
    /// tokio's multi-thread runtime.
    TokioMt,
    /// monoio (`FusionDriver`: io_uring where the kernel has it).
    Monoio,
    /// compio (io_uring driver).
    Compio,
    /// tokio-uring.
    TokioUring,
    /// A loop written directly on the `io-uring` crate, no runtime.
    BareUring,
    /// Blocking `pread` in a loop (files), the reference for file reads.
    Pread,
}

impl Peer {
    /// Every peer, in the report's order.
    pub(crate) const ALL: [Peer; 10] = [
        Peer::Ringloop,
        Peer::Ringloop510,
        Peer::RingloopEpoll,
        Peer::Tokio,
        Peer::TokioMt,
        Peer::Monoio,
        Peer::Compio,
        Peer::TokioUring,
        Peer::BareUring,
        Peer::Pread,
    ];

    /// The peer's name on the command line and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Ringloop => "ringloop",
            Peer::Ringloop510 => "ringloop-5.10",
            Peer::RingloopEpoll => "ringloop-epoll",
            Peer::Tokio => "tokio",
            Peer::TokioMt => "tokio-mt",
            Peer::Monoio => "monoio",
            Peer::Compio => "compio",
            Peer::TokioUring => "tokio-uring",
            Peer::BareUring => "bare-uring",
            Peer::Pread => "pread",
        }
    }

    /// The peer called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether this is one of ringloop's drivers.
    pub(crate) fn is_ringloop(self) -> bool {
        matches!(
            self,
            Peer::Ringloop | Peer::Ringloop510 | Peer::RingloopEpoll
        )
    }

    /// `Ok` if the peer runs `workload`, else why not (one line, for the report).
    pub(crate) fn supports(self, workload: Workload) -> Result<(), &'static str> {
        use Peer::*;
        use Workload::*;
        match (self, workload) {
            (Pread, Echo) => Err("a file-read yardstick; the echo yardstick is bare-uring"),
            (Pread, Sched) => Err("no tasks: a plain loop has no scheduler"),
            (Pread | BareUring, Cross) => Err("no runtime to call into"),
            (BareUring, Sched) => Err("no tasks: a bare ring has no scheduler"),
            (Monoio, Cross) => Err("monoio has no way to spawn onto or call into another thread's runtime"),
            (Compio, Cross) => Err("compio 0.19 has no way to spawn onto another thread's runtime (its dispatcher is a separate crate)"),
            (TokioUring, Cross) => Err("tokio-uring's runtime exposes no handle to spawn onto from another thread"),
            _ => Ok(()),
        }
    }

    /// Sets the environment that picks ringloop's driver for this peer.
    pub(crate) fn ringloop_env(self, cmd: &mut Command) {
        match self {
            Peer::Ringloop => {
                cmd.env("RINGLOOP_DRIVER", "uring")
                    .env_remove("RINGLOOP_KERNEL_COMPAT");
            }
            Peer::Ringloop510 => {
                cmd.env("RINGLOOP_DRIVER", "uring")
                    .env("RINGLOOP_KERNEL_COMPAT", "5.10");
            }
            Peer::RingloopEpoll => {
                cmd.env("RINGLOOP_DRIVER", "epoll")
                    .env_remove("RINGLOOP_KERNEL_COMPAT");
            }
            _ => {}
        }
    }

    /// The command that starts this peer's echo server on `addr` (printing
    /// `Serving on ADDR` first); `Err` with why it cannot.
    pub(crate) fn echo_command(self, addr: &str) -> Result<Command, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let cmd = if self.is_ringloop() {
            let server = exe.with_file_name("echo_server");
            if !server.is_file() {
                return Err(format!(
                    "{} not found (build it with `cargo build --release --examples`)",
                    server.display()
                ));
            }
            let mut cmd = Command::new(server);
            cmd.arg(addr);
            self.ringloop_env(&mut cmd);
            cmd
        } else {
            let sub = match self {
                Peer::Tokio => "serve-tokio",
                Peer::TokioMt => "serve-tokio-mt",
                Peer::Monoio => "serve-monoio",
                Peer::Compio => "serve-compio",
                Peer::TokioUring => "serve-tokio-uring",
                Peer::BareUring => "serve-bare",
                _ => return Err("no echo server".into()),
            };
            let mut cmd = Command::new(exe);
            cmd.arg(sub).arg(addr);
            cmd
        };
        Ok(cmd)
    }
}
