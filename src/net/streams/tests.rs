//! White-box tests of the streams: orders of events the scheduler alone would not
//! produce on demand.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::net::{ReadUntilError, TcpStream};
use crate::runtime::context;
use crate::{Driver, KernelCompat, Runtime};

/// A connected pair whose first end resets the connection when dropped.
fn resetting_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let resetting = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    nix::sys::socket::setsockopt(&resetting, nix::sys::socket::sockopt::Linger, &linger).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    (resetting, accepted)
}

/// One driver turn, the wakers it produced thrown away: no task runs.
fn turn_without_tasks() {
    context::with_core(|core| {
        let mut woken = Vec::new();
        core.driver
            .io()
            .turn(Some(Duration::from_millis(10)), &mut woken)
            .unwrap();
    });
}

/// The writer's send meets the reset and the reader's receive sees the end in the
/// same turn, and the reader runs before the writer's task has looked at its
/// send: the reader still reports the reset (it takes the send's result in).
#[test]
fn a_send_that_met_a_reset_is_seen_before_the_end_is_called_clean() {
    if crate::driver::tests::uring_refused() {
        return; // an io_uring-only race; the skip is reported on standard error
    }
    for compat in [KernelCompat::Native, KernelCompat::V5_10] {
        let rt = Runtime::builder()
            .driver(Driver::IoUring)
            .kernel_compat(compat)
            .build()
            .unwrap();
        rt.block_on(async {
            let (resetting, accepted) = resetting_pair();
            let (mut reader, writer) = TcpStream::from_std(accepted).unwrap().into_streams();
            // The writer's task runs once and parks: a write then queues its send
            // at once, with the parked task's waker.
            writer.write(b"hello").unwrap();
            while writer.buffered() > 0 {
                crate::sleep(Duration::from_millis(1)).await;
            }
            let mut cx = Context::from_waker(Waker::noop());
            {
                // The receive in flight, waiting in the kernel.
                let line = pin!(reader.readline());
                assert!(line.poll(&mut cx).is_pending());
            }
            turn_without_tasks();
            drop(resetting);
            // Queued now, submitted by the next turn, completed by the kernel.
            writer.write(b"x").unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let result = loop {
                turn_without_tasks();
                let line = pin!(reader.readline());
                if let Poll::Ready(result) = line.poll(&mut cx) {
                    break result;
                }
                assert!(Instant::now() < deadline, "{compat:?}: the end never came");
            };
            match result {
                Err(ReadUntilError::Incomplete(e)) => {
                    let error = e.error.expect("the reset, not a clean end");
                    assert!(
                        matches!(error.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE)),
                        "{compat:?}: {error}"
                    );
                }
                other => panic!("{compat:?}: {other:?}"),
            }
        });
    }
}
