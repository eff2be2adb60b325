//! Queues for tasks of one runtime, like asyncio's `Queue`, `PriorityQueue` and
//! `LifoQueue` (Python 3.13, shutdown included).
//!
//! | asyncio | ringloop::queue |
//! |---|---|
//! | `Queue(maxsize)`, `LifoQueue`, `PriorityQueue` | [`Queue::new(maxsize)`](Queue::new), [`LifoQueue`], [`PriorityQueue`] (0: unbounded) |
//! | `await q.put(x)`, `await q.get()` | [`q.put(x).await`](Queue::put) `-> Result<(), QueueShutDown<T>>`, [`q.get().await`](Queue::get) `-> Result<T, QueueShutDown>` |
//! | `q.put_nowait(x)` (`QueueFull`, `QueueShutDown`) | [`q.put_nowait(x)`](Queue::put_nowait) `-> Result<(), TryPutError<T>>`, the item given back |
//! | `q.get_nowait()` (`QueueEmpty`, `QueueShutDown`) | [`q.get_nowait()`](Queue::get_nowait) `-> Result<T, TryGetError>` |
//! | `q.task_done()` (`ValueError`), `await q.join()` | [`q.task_done()`](Queue::task_done) `-> Result<(), TaskDoneError>`, [`q.join().await`](Queue::join) |
//! | `qsize()`, `empty()`, `full()`, `maxsize` | the same names |
//! | `q.shutdown(immediate=False)` | [`q.shutdown(immediate)`](Queue::shutdown) |
//! | `while True: x = await q.get()` | [`q.stream()`](Queue::stream), a `futures_core::Stream` |
//!
//! Each type is a handle: clones share one queue. The queues are for the tasks of
//! one thread (`Rc` inside, so not `Send`). Items need not be `'static`: a queue
//! local to a function may pass borrowed data between the futures of a
//! [`gather!`](crate::gather).
//!
//! ```
//! use ringloop::queue::Queue;
//!
//! async fn worker(name: &'static str, q: Queue<u32>) -> Vec<(&'static str, u32)> {
//!     let mut done = Vec::new();
//!     while let Ok(job) = q.get().await {
//!         done.push((name, job));
//!         q.task_done().unwrap();
//!     }
//!     done
//! }
//!
//! ringloop::run(async {
//!     let q = Queue::new(0);
//!     let a = ringloop::spawn(worker("a", q.clone()));
//!     let b = ringloop::spawn(worker("b", q.clone()));
//!     for job in 0..6 {
//!         q.put(job).await.unwrap();
//!     }
//!     q.join().await;
//!     q.shutdown(false);
//!     let (a, b) = (a.await.unwrap(), b.await.unwrap());
//!     assert_eq!(a.len() + b.len(), 6);
//! });
//! ```
//!
//! # Fairness
//!
//! Tasks waiting in `get` are served in the order they started waiting, and so are
//! tasks waiting in `put` on a full queue. When an item arrives and a getter waits,
//! the item is *set aside* for that getter until it runs: a task calling `get` or
//! `get_nowait` in the meantime does not take it (it waits, or gets
//! [`TryGetError::Empty`]), and likewise a free place is set aside for a woken
//! putter. asyncio instead leaves the item up for grabs, and a woken getter that
//! finds the queue empty goes back to the end of the line, so a busy task can starve
//! it; that is the one place where these queues behave differently. The items set
//! aside stay in the queue until taken, so [`qsize`](Queue::qsize),
//! [`empty`](Queue::empty) and [`full`](Queue::full) count them, as asyncio's do.
//!
//! Items leave a [`Queue`] in the order they were put (a [`LifoQueue`] newest first,
//! a [`PriorityQueue`] smallest first): a woken getter takes whichever item is next
//! when it runs.
//!
//! # Cancellation
//!
//! Every future here may be dropped at any point without losing anything:
//! - a `get` dropped before it completes took no item; if it had been woken, the
//!   item stays in the queue and its wake-up passes to the next waiting getter;
//! - a `put` dropped before it completes did not put its item, which is dropped with
//!   the future; once it completes, the item is in the queue (there is no moment
//!   where an item is both accepted and still owned by the future);
//! - a `join` dropped has no effect.
//!
//! A woken getter or putter that is neither polled nor dropped keeps what was set
//! aside for it, as a task holding a lock keeps the lock.
//!
//! # Shutdown
//!
//! [`shutdown`](Queue::shutdown) follows Python 3.13: puts fail from then on, gets
//! drain the items left and then fail (`immediate = true` drops the items left at
//! once, marking each done for `join`), and every blocked putter and every getter
//! with nothing left for it wakes up and fails.

mod core;
mod error;
mod futures;
mod handles;
mod storage;

pub use error::{QueueEmpty, QueueFull, QueueShutDown, TaskDoneError, TryGetError, TryPutError};
pub use futures::{Get, Join, Put, QueueStream};
pub use handles::{LifoQueue, PriorityQueue, Queue};
