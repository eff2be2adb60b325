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
//! Tasks waiting in `get` are woken in the order they started waiting, one per item
//! put, and so are tasks waiting in `put` on a full queue, one per place freed. As in
//! asyncio, a woken task takes its item (fills its place) when it runs, and the item
//! stays in the queue until then, so [`qsize`](Queue::qsize), [`empty`](Queue::empty)
//! and [`full`](Queue::full) count it, and `get_nowait` succeeds whenever
//! `qsize() > 0` (`put_nowait` whenever `!full()`).
//!
//! So a task that calls `get` or `get_nowait` between a getter's wake-up and its
//! turn may take the item first ("barging"), and the woken getter, finding nothing,
//! waits again at the back of the line. This is CPython 3.13's behaviour, kept on
//! purpose: a program ported from asyncio hands the same items to the same tasks
//! (the `asyncq` example prints what its Python original prints). It is not strictly
//! first-come, first-served: a task that keeps taking items the moment they arrive
//! can delay the tasks that wait. Barging needs another task to call `get` between
//! a put and the woken getter's turn; when none does, getters are served strictly in
//! arrival order. The same holds for putters and free places.
//!
//! Items leave a [`Queue`] in the order they were put (a [`LifoQueue`] newest first,
//! a [`PriorityQueue`] smallest first), whoever takes them.
//!
//! # Cancellation
//!
//! Every future here may be dropped at any point without losing anything:
//! - a `get` dropped before it completes took no item; if it had been woken and an
//!   item is there, its wake-up passes to the next waiting getter;
//! - a `put` dropped before it completes did not put its item, which is dropped with
//!   the future; once it completes, the item is in the queue (there is no moment
//!   where an item is both accepted and still owned by the future); a woken `put`
//!   dropped passes its wake-up on to the next waiting putter if a place is free;
//! - a `join` dropped has no effect.
//!
//! A woken task that is neither polled nor dropped holds its wake-up: if nobody else
//! takes the item, the getters behind it wait for it to run.
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
