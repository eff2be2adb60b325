//! Memory bounds of waits on sockets, measured with a counting global allocator,
//! each test alone in a child process: 100,000 `accept()`s dropped before any
//! connection came (a server's accept loop under `wait_for`) leave nothing behind,
//! on every accept path (the multishot accept of io_uring 5.19+, single-shot
//! accepts on the 5.10 mask, `accept4` on epoll), and the listener still accepts.

mod support;

use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};
use support::alloc::Counting;
use support::{in_child, within};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How much the heap may grow over the dropped waits, once a first batch has
/// sized the runtime's tables (before the fix: about 800 bytes for each of them).
const HEAP_BOUND: usize = 256 * 1024;

/// `n` accepts, each in a task of its own (as a server's handlers are: each has
/// its own waker), given up after 1 µs without a connection.
async fn dropped_accepts(listener: &Rc<TcpListener>, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let listener = listener.clone();
            ringloop::spawn(async move {
                ringloop::wait_for(Duration::from_micros(1), listener.accept())
                    .await
                    .is_err()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap(), "an accept finished without a client");
    }
}

matrix_test! {
    fn a_hundred_thousand_dropped_accepts_leave_nothing_behind(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        const ACCEPTS: usize = 100_000;
        const BATCH: usize = 1_000;
        mode.run(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = listener.local_addr().unwrap();
            // Warm up: the accept path's first use (arming the multishot accept).
            let (client, accepted) = within("warm-up", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            drop((client.unwrap(), accepted.unwrap()));
            // A batch's worth of task, timer and waiter slots, then the baseline.
            dropped_accepts(&listener, BATCH).await;
            let base = support::alloc::current();
            for round in 1..ACCEPTS / BATCH {
                dropped_accepts(&listener, BATCH).await;
                // Checked as it goes: before the fix, each batch kept its tasks
                // (and each accept took a linear scan of all the others' wakers).
                let grown = support::alloc::current().saturating_sub(base);
                assert!(
                    grown < HEAP_BOUND,
                    "{} dropped accepts grew the heap by {grown} bytes",
                    round * BATCH
                );
            }
            let grown = support::alloc::current().saturating_sub(base);
            println!(
                "measured: heap grew {grown} bytes over {} dropped accepts",
                ACCEPTS - BATCH
            );
            // The listener still works, and takes the next connection.
            let (client, accepted) = within("after", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
        });
    }
}
