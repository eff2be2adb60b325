//! # ringloop
//!
//! An async runtime for Linux built on io_uring, with the API Python's asyncio made
//! familiar: [`run`], [`spawn`] (`create_task`), [`sleep`], [`gather!`],
//! [`wait_for`], callbacks ([`call_soon`], [`call_later`], [`call_at`]).
//!
//! ringloop is a *proactor*: work is handed to the kernel as submission entries, and
//! a task waiting for it is parked until the kernel's completion wakes it. Each
//! thread runs its own loop with its own ring, ready queue and timer heap; tasks never
//! leave their thread, so their futures need not be `Send`. Where io_uring is
//! unavailable (old kernels, containers that block it) the same API runs on epoll.
//!
//! ## Tutorial
//!
//! [`run`] starts a loop on the current thread and runs a future to completion, like
//! `asyncio.run(main())`:
//!
//! ```
//! use std::time::Duration;
//!
//! async fn count(name: &str) -> String {
//!     ringloop::sleep(Duration::from_millis(10)).await;
//!     format!("{name} done")
//! }
//!
//! ringloop::run(async {
//!     // Futures run concurrently inside `gather!`, results in argument order.
//!     let (a, b) = ringloop::gather!(count("a"), count("b")).await;
//!     assert_eq!((a.as_str(), b.as_str()), ("a done", "b done"));
//!
//!     // A task runs on its own, like asyncio.create_task; its handle awaits it.
//!     let task = ringloop::spawn(async { 6 * 7 });
//!     assert_eq!(task.await, Ok(42));
//!
//!     // Bound the time a future may take.
//!     let slow = ringloop::sleep(Duration::from_secs(60));
//!     assert!(ringloop::wait_for(Duration::from_millis(5), slow).await.is_err());
//! });
//! ```
//!
//! A program can instead put `#[ringloop::main]` on `async fn main()`
//! (cargo feature `macros`, on by default), which runs its body the way `run`
//! would, with options for the runtime (`driver = "epoll"`, `kernel_compat =
//! "5.10"`, `entries = N`); `#[ringloop::test]` does the same for an
//! `async fn` test:
//!
//! ```
//! # #[cfg(feature = "macros")]
//! #[ringloop::main]
//! async fn main() {
//!     let task = ringloop::spawn(async { 6 * 7 });
//!     assert_eq!(task.await, Ok(42));
//! }
//! # #[cfg(not(feature = "macros"))]
//! # fn main() {}
//! ```
//!
//! Networking is in [`net`], in asyncio's shape:
//!
//! ```
//! use ringloop::net::{open_connection, start_server};
//! ringloop::run(async {
//!     let server = start_server(
//!         |mut reader, writer| async move {
//!             // Echo each line back, until the client closes the connection.
//!             while let Ok(line) = reader.readline().await {
//!                 if line.is_empty() || writer.write(&line).is_err() {
//!                     break;
//!                 }
//!             }
//!         },
//!         "127.0.0.1:0",
//!     )
//!     .await
//!     .unwrap();
//!     let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
//!     writer.write(b"hello\n").unwrap();
//!     writer.drain().await.unwrap();
//!     assert_eq!(reader.readline().await.unwrap(), b"hello\n");
//! });
//! ```
//!
//! Files are in [`fs`], in `std::fs`'s shape with owned buffers:
//!
//! ```
//! # ringloop::run(async {
//! let path = std::env::temp_dir().join(format!("ringloop-doc-lib-{}", std::process::id()));
//! ringloop::fs::write(&path, b"0123456789").await?;
//! let file = ringloop::fs::File::open(&path).await?;
//! let (n, buf) = file.read_at(Vec::with_capacity(4), 3).await;
//! assert_eq!((n?, buf.as_slice()), (4, &b"3456"[..]));
//! ringloop::fs::remove_file(&path).await?;
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```
//!
//! Dropping a future cancels it; a task is cancelled with [`JoinHandle::cancel`], or
//! by dropping an `.await` of its handle (asyncio cancels a task whose `await` is
//! cancelled); dropping an unawaited handle only detaches the task.
//! Cancellation never loses the kernel's view of memory: an operation whose future is
//! dropped keeps its buffer until the kernel reports it is done.
//!
//! ## asyncio → ringloop
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `asyncio.run(main())` | [`run`]`(main())` |
//! | `asyncio.create_task(coro)` | [`spawn`]`(fut)` → [`JoinHandle`] |
//! | `await task`, `task.cancel()` | `handle.await`, [`handle.cancel()`](JoinHandle::cancel) |
//! | cancelling `await task` (or a `gather`/`wait_for` of tasks) cancels the task | dropping a `handle.await` ([`JoinFuture`]), or a combinator given handles, cancels the task; `&mut handle` and [`shield_handle`] do not |
//! | `asyncio.sleep(s)`, `asyncio.sleep(0)` | [`sleep`]`(dur)`, [`yield_now`]`()` |
//! | `asyncio.gather(a, b)` / `gather(*aws)` | [`gather!`]`(a, b)` / [`gather_all`]`(iter)` |
//! | `asyncio.wait_for(aw, t)`, `asyncio.timeout(t)` | [`wait_for`]`(dur, fut)`, [`timeout`] |
//! | `asyncio.wait(aws, return_when=...)` | [`wait`]`(handles, ReturnWhen::.., timeout)` |
//! | `asyncio.as_completed(aws, timeout=t)` | [`as_completed`]`(iter)` (a `Stream`), [`.with_timeout(dur)`](AsCompleted::with_timeout) |
//! | `asyncio.shield(aw)` | [`shield`]`(fut)`, [`shield_handle`]`(handle)` |
//! | `gather(..., return_exceptions=False)` | [`try_gather!`]`(a, b)`, [`try_gather_all`]`(iter)` |
//! | `asyncio.TaskGroup()` | [`TaskGroup`] |
//! | `tg.create_task(coro, name=n)`, `task.cancel()` on a member | [`TaskGroup::spawn_named`], [`GroupTask::cancel`] |
//! | `asyncio.to_thread(f)`, `loop.run_in_executor(None, f)` | [`to_thread`]`(f)` |
//! | `asyncio.open_connection`, `asyncio.start_server` | [`net::open_connection`], [`net::start_server`] |
//! | `StreamReader`, `StreamWriter` | [`net::StreamReader`], [`net::StreamWriter`] |
//! | sockets (`loop.sock_*`) | [`net::TcpListener`], [`net::TcpStream`], [`net::UdpSocket`], [`net::UnixListener`], [`net::UnixStream`] |
//! | files (`open()` in an executor, aiofiles) | [`fs::File`], [`fs::OpenOptions`] |
//! | `os.stat`, `os.remove`, `os.rename`, `os.mkdir` | [`fs::metadata`], [`fs::remove_file`], [`fs::rename`], [`fs::create_dir`] |
//! | `loop.call_soon/call_later/call_at` | [`call_soon`], [`call_later`], [`call_at`] |
//! | `loop.time()` | [`time::now`] |
//! | `current_task()`, `all_tasks()` | [`current_task`], [`all_tasks`] (`run`'s future is the main task, `Task-1`) |
//! | `asyncio.Lock/Event/Condition/Semaphore/Barrier` | [`sync`] |
//! | `loop.create_future()` | [`sync::Promise`] |
//! | `asyncio.Queue`, `LifoQueue`, `PriorityQueue` | [`queue::Queue`], [`queue::LifoQueue`], [`queue::PriorityQueue`] |
//! | `asyncio.create_subprocess_exec`, `create_subprocess_shell` | [`process::create_subprocess_exec`], [`process::create_subprocess_shell`] → [`process::Command`] |
//! | `Process` (`communicate`, `wait`, `kill`, `returncode`) | [`process::Child`] |
//! | `loop.add_signal_handler(sig, cb)` | [`signal::signal`]`(kind)` (a `Stream`), [`signal::ctrl_c`] |
//! | `get_running_loop()`, `loop.call_soon_threadsafe(cb)` | [`loop_handle`]`()` → [`LoopHandle::call_soon_threadsafe`] |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` | [`LoopHandle::run_coroutine_threadsafe`] → [`RemoteHandle`] |
//! | `queue.Queue`, `threading.Event` between loops and threads | [`sync::threadsafe`] |
//!
//! ## Thread-per-core
//!
//! A [`Runtime`] runs on one thread, and a task stays there. To use more cores, run
//! one runtime per core as *shards* ([`shard`]) and let them call each other by
//! index; calls are messages, bounded per target, and the futures they start need
//! not be `Send`:
//!
//! ```
//! use ringloop::shard;
//! let totals = shard::run_sharded(2, |me| async move {
//!     // Each shard keeps its own state; the others ask for it.
//!     let local = std::rc::Rc::new(me * 100);
//!     let other = (me + 1) % shard::shard_count();
//!     let theirs = shard::submit_to(other, || async { shard::shard_id() * 100 }).await.unwrap();
//!     *local + theirs
//! });
//! assert_eq!(totals, [100, 100]);
//! ```
//!
//! ## Drivers
//!
//! [`Driver::Auto`] (the default) uses io_uring and falls back to epoll when
//! io_uring cannot be set up; [`driver_kind`] says which one runs and [`features`]
//! what the probe found. `RINGLOOP_DRIVER=auto|uring|epoll` and
//! `RINGLOOP_KERNEL_COMPAT=5.10` choose when the [`Builder`] does not.
//!
//! ## Metrics
//!
//! [`Runtime::metrics`] and [`metrics::current`] give a [`RuntimeMetrics`]
//! snapshot (tasks, polls, busy and parked time, ops in flight by opcode,
//! submissions per `io_uring_enter`, ...); [`Builder::slow_poll_threshold`]
//! reports polls that hold the loop, like asyncio's debug mode; see [`metrics`].

#![warn(missing_docs)]

pub mod buf;
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub mod compat;
mod driver;
pub mod fs;
mod loom;
pub mod metrics;
pub mod net;
pub mod process;
pub mod queue;
mod runtime;
pub mod shard;
pub mod signal;
pub mod sync;
pub mod task;
pub mod time;
mod wait_list;

/// Fault injection for tests (cargo feature `fault-injection`, off by default):
/// operations fail with the errors the kernel gives them, or move fewer bytes,
/// at a seeded rate, so that tests can check that no byte is lost or duplicated
/// and that every error reaches its caller. Per thread; also set by the
/// environment (`RINGLOOP_FAULT_SEED`, `RINGLOOP_FAULT_RATE` per mille).
///
/// ```
/// ringloop::fault::set(7, 200); // a fault in one op of five, seed 7
/// ringloop::run(async {
///     let path = std::env::temp_dir().join(format!("ringloop-doc-fault-{}", std::process::id()));
///     std::fs::write(&path, vec![1u8; 4096]).unwrap();
///     let file = ringloop::fs::File::open(&path).await;
///     if let Ok(file) = file {
///         // Short reads are retried; injected errors come back as errors.
///         let (res, buf) = file.read_exact_at(Vec::with_capacity(4096), 0).await;
///         assert!(res.is_err() || buf == vec![1u8; 4096]);
///     }
///     std::fs::remove_file(&path).unwrap();
/// });
/// ringloop::fault::clear();
/// ```
#[cfg(feature = "fault-injection")]
pub mod fault {
    pub use crate::driver::fault::{clear, fail_next_send, set, stats, Stats};
}

/// `#[ringloop::main]`: runs `async fn main()` on a runtime with the options given
/// (`driver`, `kernel_compat`, `entries`, `crate`). Cargo feature `macros`, on by
/// default.
#[cfg(feature = "macros")]
#[doc(inline)]
pub use ringloop_macros::main;
/// `#[ringloop::test]`: an `async fn` test on a fresh runtime, with the options of
/// [`main`](macro@main). Cargo feature `macros`, on by default.
#[cfg(feature = "macros")]
#[doc(inline)]
pub use ringloop_macros::test;

pub use driver::features::{DriverKind, Features, KernelCompat};
pub use metrics::RuntimeMetrics;
#[doc(hidden)]
pub use runtime::msg_ring_wake_counts;
pub use runtime::{
    all_tasks, current_task, driver_kind, features, loop_handle, run, spawn, Builder, CallError,
    CallSlot, Driver, LoopHandle, RemoteHandle, Runtime,
};
pub use sync::{CancelledError, InvalidStateError};
#[doc(hidden)]
pub use task::combinators::poll_try_gather_slot;
pub use task::combinators::{
    as_completed, shield, shield_handle, try_gather_all, wait, AsCompleted, AsCompletedTimeout,
    FailureCause, GroupTask, ReturnWhen, Shield, TaskFailure, TaskGroup, TaskGroupError,
    TaskGroupHandle, TryGatherAll, Wait,
};
pub use task::to_thread;
pub use task::{
    gather_all, yield_now, JoinError, JoinFuture, JoinHandle, TaskId, TaskInfo, TaskState,
};
pub use time::{
    call_at, call_later, call_soon, sleep, timeout, wait_for, CallbackHandle, TimeoutError,
};
