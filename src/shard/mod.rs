//! Thread-per-core: a program of *shards*, each a thread with its own runtime
//! (its own ring, ready queue and timer heap), that call one another by index.
//!
//! | what | how |
//! |---|---|
//! | start `n` shards, wait for their outputs | [`run_sharded`]`(n, \|shard\| async {..})`, or [`Shards`] for options ([`Placement`], names, drivers) |
//! | which shard am I | [`shard_id`], [`shard_count`] |
//! | run `f` on shard `i`, await its output | [`submit_to`]`(i, \|\| async {..}).await` |
//! | run `f` on every shard | [`invoke_on_all`]`(\|\| async {..}).await` |
//! | call in from any thread | [`ShardSet::handle`] → [`LoopHandle`] |
//! | serve TCP or Unix connections on every shard | [`start_server_sharded`], [`start_unix_server_sharded`] → [`ShardedServer`] ([`Distribution`]: `SO_REUSEPORT` or one acceptor) |
//! | each shard's metrics | [`metrics`]`(i).await`, [`all_metrics`]`().await`; from the starting thread, [`ShardSet::metrics`] |
//! | stop gracefully | [`ShardSet::request_stop`], [`request_stop`], [`stop_requested`] |
//! | share a queue, event or semaphore across shards | [`sync::threadsafe`](crate::sync::threadsafe) |
//!
//! Nothing is shared between shards unless the program shares it: a task stays on
//! the shard that spawned it, and a call to another shard is a message (a boxed
//! closure in that shard's inbox, `runtime/calls.rs`). Calls to one shard are
//! bounded ([`Shards::call_capacity`]): a caller waits when its target is behind.
//!
//! ```
//! // Two shards; each asks the other for its id, across threads.
//! let answers = ringloop::shard::run_sharded(2, |shard| async move {
//!     let other = (shard + 1) % ringloop::shard::shard_count();
//!     ringloop::shard::submit_to(other, || async { ringloop::shard::shard_id() })
//!         .await
//!         .unwrap()
//! });
//! assert_eq!(answers, [1, 0]);
//! ```

mod builder;
mod launch;
mod server;
mod stop;

use std::future::Future;
use std::sync::Arc;

pub use self::builder::{Placement, Shards};
pub use self::launch::{ShardSet, StopHandle};
pub use self::server::{
    start_server_sharded, start_unix_server_sharded, Balance, Distribution, ShardedServer,
    ShardedServerOptions,
};
pub(crate) use self::stop::on_stop;
pub use self::stop::{is_stop_requested, request_stop, stop_requested};
use crate::runtime::{context, CallError, LoopHandle, RemoteHandle};

/// Runs `main(shard)` on `n` shards (`0`: one per CPU the process may use), each
/// on its own thread with its own runtime, and returns their outputs in shard
/// order, like [`run`](crate::run) for a thread-per-core program. For options,
/// and to call into the shards from outside, use [`Shards`].
///
/// # Panics
///
/// If a shard cannot be set up (the error says which and why), or when a
/// shard's main future panics (after every shard has ended).
///
/// ```
/// let squares = ringloop::shard::run_sharded(3, |shard| async move { shard * shard });
/// assert_eq!(squares, [0, 1, 4]);
/// ```
#[track_caller]
pub fn run_sharded<F, Fut>(n: usize, main: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let results = match Shards::new(n).run(main) {
        Ok(results) => results,
        Err(e) => panic!("ringloop::shard::run_sharded could not start: {e}"),
    };
    let mut outputs = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(out) => outputs.push(out),
            Err(e) => failures.push(format!("shard {i}: {e}")),
        }
    }
    if !failures.is_empty() {
        panic!("ringloop::shard::run_sharded: {}", failures.join("; "));
    }
    outputs
}

/// This thread's shard index: `0..shard_count()` inside a sharded program, and
/// `0` in a plain runtime (a program of one shard).
///
/// ```
/// assert_eq!(ringloop::run(async { ringloop::shard::shard_id() }), 0);
/// ```
pub fn shard_id() -> usize {
    stop::with_context(|ctx| ctx.id).unwrap_or(0)
}

/// How many shards this program runs: `1` in a plain runtime.
///
/// ```
/// let counts = ringloop::shard::run_sharded(2, |_| async { ringloop::shard::shard_count() });
/// assert_eq!(counts, [2, 2]);
/// ```
pub fn shard_count() -> usize {
    stop::with_context(|ctx| ctx.handles.len()).unwrap_or(1)
}

/// Every shard's handle; in a plain runtime, its own.
#[track_caller]
fn handles() -> Arc<[LoopHandle]> {
    if let Some(handles) = stop::with_context(|ctx| ctx.handles.clone()) {
        return handles;
    }
    match context::with_core(|core| core.handle()) {
        Some(handle) => Arc::from([handle]),
        None => panic!("ringloop::shard: called outside of a ringloop runtime"),
    }
}

/// Shard `shard`'s handle.
///
/// # Panics
///
/// Outside a runtime, or if `shard` is not below [`shard_count`].
#[track_caller]
pub fn handle(shard: usize) -> LoopHandle {
    let handles = handles();
    match handles.get(shard) {
        Some(handle) => *handle,
        None => panic!(
            "ringloop::shard: shard {shard} does not exist (this program has {})",
            handles.len()
        ),
    }
}

/// Runs the future `f` builds as a task on shard `shard`, and returns a handle to
/// its output: [`LoopHandle::run_coroutine_threadsafe`] on [`handle`]`(shard)`.
/// Awaiting it waits for room on the target first when the target is behind
/// (back-pressure). Dropping it cancels the remote task.
///
/// # Panics
///
/// Outside a runtime, or if `shard` is not below [`shard_count`].
///
/// ```
/// let out = ringloop::shard::run_sharded(2, |shard| async move {
///     ringloop::shard::submit_to(1, move || async move { (shard, ringloop::shard::shard_id()) })
///         .await
///         .unwrap()
/// });
/// assert_eq!(out, [(0, 1), (1, 1)]);
/// ```
#[track_caller]
pub fn submit_to<F, Fut>(shard: usize, f: F) -> RemoteHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    handle(shard).run_coroutine_threadsafe(f)
}

/// Runs the future `f` builds on every shard (this one included) and returns
/// their outputs in shard order.
///
/// Cancel-safe in the sense of [`RemoteHandle`]: dropping the future cancels the
/// remote tasks that have not finished.
///
/// # Panics
///
/// Outside a runtime.
///
/// ```
/// let out = ringloop::shard::run_sharded(2, |shard| async move {
///     if shard == 0 {
///         ringloop::shard::invoke_on_all(|| async { ringloop::shard::shard_id() * 100 }).await
///     } else {
///         Vec::new()
///     }
/// });
/// assert_eq!(out[0], [Ok(0), Ok(100)]);
/// ```
pub async fn invoke_on_all<F, Fut>(f: F) -> Vec<Result<Fut::Output, CallError>>
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let calls: Vec<_> = handles()
        .iter()
        .map(|handle| handle.run_coroutine_threadsafe(f.clone()))
        .collect();
    let mut outputs = Vec::with_capacity(calls.len());
    for call in calls {
        outputs.push(call.await);
    }
    outputs
}

/// A snapshot of shard `shard`'s runtime counters
/// ([`RuntimeMetrics`](crate::metrics::RuntimeMetrics)), taken on that shard's
/// thread through the cross-shard call path ([`submit_to`]). In a plain
/// runtime, shard 0 is the runtime itself.
///
/// The call runs on that shard as a task, so the snapshot includes it: one more
/// of `tasks_spawned`, one of `tasks_alive`, its polls, and a remote call. A
/// monitor that asks every second adds that much per second; from the thread
/// that started the shards, [`ShardSet::metrics`] reads the counters in a
/// callback instead, which spawns nothing.
///
/// Cancel-safe: dropping the future cancels the call, which only reads counters.
///
/// # Panics
///
/// Outside a runtime, or if `shard` is not below [`shard_count`].
///
/// ```
/// let answers = ringloop::shard::run_sharded(2, |shard| async move {
///     // The other shard's counters, which count this call as a task there.
///     let other = ringloop::shard::metrics(1 - shard).await.unwrap();
///     (other.tasks_alive, other.remote_calls >= 1)
/// });
/// assert!(answers.iter().all(|&(alive, called)| alive >= 1 && called));
/// ```
#[track_caller]
pub fn metrics(
    shard: usize,
) -> impl Future<Output = Result<crate::metrics::RuntimeMetrics, CallError>> {
    submit_to(shard, || async { crate::metrics::current() })
}

/// A snapshot of every shard's runtime counters, in shard order (see
/// [`metrics`]).
///
/// Cancel-safe, like [`invoke_on_all`].
///
/// # Panics
///
/// Outside a runtime.
///
/// ```
/// let counts = ringloop::shard::run_sharded(2, |shard| async move {
///     if shard == 0 {
///         ringloop::shard::all_metrics().await.len()
///     } else {
///         0
///     }
/// });
/// assert_eq!(counts[0], 2);
/// ```
pub async fn all_metrics() -> Vec<Result<crate::metrics::RuntimeMetrics, CallError>> {
    invoke_on_all(|| async { crate::metrics::current() }).await
}
