//! A wait dropped before its event leaves nothing behind: 100,000 waits, each in a
//! task of its own and given up by `wait_for` after 20 µs, grow the heap by a
//! small constant, whatever they wait on. Measured with a counting global
//! allocator, each test alone in a child process (on every driver, but the sync
//! primitives' and queues', which never reach the driver's I/O: on one):
//!
//! * `Server::wait_closed` on a server that stays open (`serve_forever` shares its
//!   wait, and dropping it closes the server);
//! * `StreamWriter::drain` and `wait_closed` on a writer that stays paused (its
//!   peer never reads);
//! * every primitive of `ringloop::sync` and the queues, which share one wait-list
//!   type with the two above.
//!
//! A waiter that stays listed keeps its task's waker, and so the finished task's
//! cell: a few hundred bytes per dropped wait.

mod support;

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::UnixStream;
use support::alloc::Counting;
use support::in_child;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Waits dropped per test.
const WAITS: usize = 100_000;

/// Waits running at once (each in its own task).
const BATCH: usize = 1_000;

/// How long each wait lasts before `wait_for` drops it.
const GIVE_UP: Duration = Duration::from_micros(20);

/// How much the heap may grow over all the waits of one kind: a small constant
/// (a leak of even 8 bytes a wait would be 800 KB).
const GROWTH_BOUND: usize = 128 * 1024;

/// Runs `BATCH` waits made by `make` at once, each in a task of its own, and
/// drops each after `GIVE_UP`; every one must time out.
async fn one_batch<F, Fut>(make: &F)
where
    F: Fn() -> Fut,
    Fut: Future + 'static,
{
    let tasks: Vec<_> = (0..BATCH)
        .map(|_| {
            let wait = make();
            ringloop::spawn(async move { ringloop::wait_for(GIVE_UP, wait).await.is_err() })
        })
        .collect();
    for timed_out in ringloop::gather_all(tasks).await {
        assert_eq!(
            timed_out,
            Ok(true),
            "a wait finished: the test proves nothing"
        );
    }
}

/// Drops `WAITS` waits made by `make` (after a first batch that sizes the
/// runtime's own tables) and checks how much the heap grew.
async fn dropped_waits<F, Fut>(what: &str, make: F)
where
    F: Fn() -> Fut,
    Fut: Future + 'static,
{
    one_batch(&make).await;
    let base = support::alloc::current();
    for _ in 0..WAITS / BATCH {
        one_batch(&make).await;
    }
    let grown = support::alloc::current().saturating_sub(base);
    println!(
        "measured: {what}: {grown} B over {WAITS} dropped waits ({:.1} B each)",
        grown as f64 / WAITS as f64
    );
    assert!(
        grown <= GROWTH_BOUND,
        "{what}: the heap grew by {grown} B over {WAITS} dropped waits"
    );
}

matrix_test! {
    fn server_wait_closed(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        mode.run(async {
            let server = ringloop::net::start_server(
                |_reader, _writer| async {},
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let server = Rc::new(server);
            let s = server.clone();
            dropped_waits("Server::wait_closed", move || {
                let s = s.clone();
                async move { s.wait_closed().await }
            })
            .await;
            assert!(server.is_serving());
        });
    }
}

/// A writer paused above its high-water mark: its peer never reads. Returns the
/// peer too (keep it alive).
fn paused_writer() -> (Rc<ringloop::net::StreamWriter>, UnixStream) {
    let (a, peer) = UnixStream::pair().unwrap();
    let (_reader, writer) = a.into_streams();
    writer.write(&vec![7u8; 4 * 1024 * 1024]).unwrap();
    (Rc::new(writer), peer)
}

matrix_test! {
    fn writer_drain_and_wait_closed(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        mode.run(async {
            let (writer, _peer) = paused_writer();
            // Let the flusher fill the socket's buffer.
            ringloop::sleep(Duration::from_millis(10)).await;
            let w = writer.clone();
            dropped_waits("StreamWriter::drain", move || {
                let w = w.clone();
                async move { w.drain().await }
            })
            .await;
            let w = writer.clone();
            dropped_waits("StreamWriter::wait_closed", move || {
                let w = w.clone();
                async move { w.wait_closed().await }
            })
            .await;
            assert!(writer.buffered() > ringloop::net::DEFAULT_HIGH_WATER);
            writer.abort();
        });
    }
}

any_driver_test! {
    fn sync_primitives_and_queues(mode) {
        use ringloop::queue::Queue;
        use ringloop::sync::{Barrier, Condition, Event, Lock, Promise, Semaphore};
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        mode.run(async {
            let event = Event::new();
            dropped_waits("Event::wait", || {
                let event = event.clone();
                async move { event.wait().await }
            })
            .await;
            let lock = Lock::new();
            let _held = lock.try_lock().unwrap();
            dropped_waits("Lock::lock", || {
                let lock = lock.clone();
                async move {
                    let _ = lock.lock().await;
                }
            })
            .await;
            let sem = Semaphore::new(0);
            dropped_waits("Semaphore::acquire", || {
                let sem = sem.clone();
                async move {
                    let _ = sem.acquire().await;
                }
            })
            .await;
            let cond = Condition::new();
            dropped_waits("Condition::wait", || {
                let cond = cond.clone();
                async move {
                    let guard = cond.lock().await;
                    drop(cond.wait(guard).await);
                }
            })
            .await;
            let barrier = Barrier::new(usize::MAX);
            dropped_waits("Barrier::wait", || {
                let barrier = barrier.clone();
                async move {
                    let _ = barrier.wait().await;
                }
            })
            .await;
            let promise = Promise::<()>::new();
            dropped_waits("Promise::wait", || {
                let promise = promise.clone();
                async move {
                    let _ = promise.wait().await;
                }
            })
            .await;
            let empty = Queue::<u8>::new(1);
            dropped_waits("Queue::get", || {
                let q = empty.clone();
                async move {
                    let _ = q.get().await;
                }
            })
            .await;
            let full = Queue::<u8>::new(1);
            full.put_nowait(1).unwrap();
            dropped_waits("Queue::put", || {
                let q = full.clone();
                async move {
                    let _ = q.put(2).await;
                }
            })
            .await;
            dropped_waits("Queue::join", || {
                let q = full.clone();
                async move { q.join().await }
            })
            .await;
        });
    }
}
