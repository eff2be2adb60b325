//! Serving until the process is asked to stop, by `SIGINT` (Ctrl-C) or `SIGTERM`
//! (`kill`, systemd, `docker stop`), with [`ringloop::signal`].
//!
//! A server that stops this way closes its listeners and returns from
//! `ringloop::run`, which drops the runtime: every operation is finished and the
//! ring is closed before the process exits, so the port is free at once for the
//! next server. Killed by a signal it does not handle, the process would exit with
//! its io_uring ring still open, and the kernel tears a ring down in the background
//! after the process is gone: until then the ring's pending accept keeps the
//! listening socket, and a server restarted at once on the same address may fail
//! with `EADDRINUSE` (for 10-20 ms).
//!
//! Include it from an example with
//! `#[path = "support/shutdown.rs"] mod shutdown;`.

#![allow(dead_code)]

use std::future::poll_fn;
use std::io;
use std::task::Poll;

use ringloop::signal::{signal, Signal, SignalKind};

/// Listens for `SIGINT` and `SIGTERM` from its creation on.
pub(crate) struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts listening. Call it before the server announces itself, so that a
    /// signal sent as soon as the server is up is taken, not fatal.
    pub(crate) fn listen() -> io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the first of the two; returns its name.
    pub(crate) async fn wait(mut self) -> &'static str {
        poll_fn(|cx| {
            if self.interrupt.poll_recv(cx).is_ready() {
                Poll::Ready("SIGINT")
            } else if self.terminate.poll_recv(cx).is_ready() {
                Poll::Ready("SIGTERM")
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
