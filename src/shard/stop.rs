//! The shard a thread runs, and the graceful stop of a sharded program.
//!
//! Each shard's thread keeps its [`ShardContext`] in a thread-local while its
//! runtime runs: its index, every shard's [`LoopHandle`], and the program's
//! [`StopState`]. A stop ([`StopState::request`], at most once per program) sends
//! every shard a call that marks it stopping, wakes its [`stop_requested`] waiters
//! and runs its stop hooks (sharded servers register one that stops accepting).
//! The last shard whose main future ends requests the stop too: until then every
//! shard keeps running (serving calls, running its tasks), so a shard that is
//! done never refuses the calls of one that is not.
//! The stop calls bypass the call gate: one per shard, so bounded anyway, and a
//! stop must get through to a shard whose queue is full.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};

use crate::runtime::LoopHandle;
use crate::sync::Event;

/// What every shard of one program shares.
pub(crate) struct StopState {
    requested: AtomicBool,
    /// Shards whose main future has not ended yet; the last to end requests the
    /// stop, so that every shard serves calls until all mains are done.
    mains: AtomicUsize,
    /// Every shard's handle, once all have started.
    handles: OnceLock<Arc<[LoopHandle]>>,
}

impl StopState {
    pub(crate) fn new(shards: usize) -> Arc<StopState> {
        Arc::new(StopState {
            requested: AtomicBool::new(false),
            mains: AtomicUsize::new(shards),
            handles: OnceLock::new(),
        })
    }

    pub(crate) fn set_handles(&self, handles: Arc<[LoopHandle]>) {
        let _ = self.handles.set(handles);
        if self.requested.load(SeqCst) {
            // Requested before the shards were known: deliver it now.
            self.deliver();
        }
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(SeqCst)
    }

    /// Requests the stop; a second request is a no-op. Returns whether this was
    /// the first.
    pub(crate) fn request(&self) -> bool {
        if self.requested.swap(true, SeqCst) {
            return false;
        }
        self.deliver();
        true
    }

    /// A shard's main future ended (returned, panicked or was cancelled); the
    /// last one ends the program.
    pub(crate) fn main_ended(&self) {
        if self.mains.fetch_sub(1, SeqCst) == 1 {
            self.request();
        }
    }

    fn deliver(&self) {
        let Some(handles) = self.handles.get() else {
            return;
        };
        for handle in handles.iter() {
            // A shard that has stopped already needs no telling.
            let _ = handle.push(Box::new(|| {
                CONTEXT.with(|ctx| {
                    if let Some(ctx) = ctx.borrow().as_ref() {
                        ctx.local.begin_stop();
                    }
                });
            }));
        }
    }
}

/// The shard-local side of a stop.
pub(crate) struct LocalStop {
    stopping: Event,
    hooks: RefCell<Vec<Box<dyn FnOnce()>>>,
}

impl LocalStop {
    fn begin_stop(&self) {
        if self.stopping.is_set() {
            return;
        }
        self.stopping.set();
        let hooks = std::mem::take(&mut *self.hooks.borrow_mut());
        for hook in hooks {
            hook();
        }
    }

    pub(crate) fn stopping(&self) -> &Event {
        &self.stopping
    }
}

/// A shard thread's view of its program.
pub(crate) struct ShardContext {
    pub(crate) id: usize,
    pub(crate) handles: Arc<[LoopHandle]>,
    pub(crate) stop: Arc<StopState>,
    pub(crate) local: Rc<LocalStop>,
}

thread_local! {
    static CONTEXT: RefCell<Option<ShardContext>> = const { RefCell::new(None) };
}

/// Makes this thread shard `id` of a program until the guard drops.
pub(crate) fn enter(id: usize, handles: Arc<[LoopHandle]>, stop: Arc<StopState>) -> ContextGuard {
    let local = Rc::new(LocalStop {
        stopping: Event::new(),
        hooks: RefCell::new(Vec::new()),
    });
    CONTEXT.with(|ctx| {
        *ctx.borrow_mut() = Some(ShardContext {
            id,
            handles,
            stop,
            local,
        })
    });
    ContextGuard(())
}

/// Leaves the shard context (see [`enter`]).
pub(crate) struct ContextGuard(());

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|ctx| ctx.borrow_mut().take());
    }
}

/// Runs `f` with this thread's shard context, if it runs a shard.
pub(crate) fn with_context<R>(f: impl FnOnce(&ShardContext) -> R) -> Option<R> {
    CONTEXT
        .try_with(|ctx| ctx.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// Registers `hook` to run on this shard when a stop is requested (at once if
/// one was); a no-op outside a sharded program. Sharded servers stop accepting
/// this way.
pub(crate) fn on_stop(hook: impl FnOnce() + 'static) {
    let local = with_context(|ctx| ctx.local.clone());
    if let Some(local) = local {
        if local.stopping.is_set() {
            hook();
        } else {
            local.hooks.borrow_mut().push(Box::new(hook));
        }
    }
}

/// Asks every shard of this sharded program to stop gracefully (see
/// [`ShardSet::request_stop`](super::ShardSet::request_stop)); a no-op outside
/// one, and when a stop was requested already.
///
/// ```
/// let results = ringloop::shard::Shards::new(2).run(|shard| async move {
///     if shard == 0 {
///         ringloop::shard::request_stop();
///     }
///     // Every shard waits for the stop, then returns.
///     ringloop::shard::stop_requested().await;
///     shard
/// });
/// let results: Vec<usize> = results.unwrap().into_iter().map(Result::unwrap).collect();
/// assert_eq!(results, [0, 1]);
/// ```
pub fn request_stop() {
    if let Some(stop) = with_context(|ctx| ctx.stop.clone()) {
        stop.request();
    }
}

/// Waits until a stop of this sharded program is requested (at once if it was),
/// and never outside a sharded program. Cancel-safe: it only waits.
///
/// ```
/// ringloop::shard::run_sharded(1, |_| async {
///     ringloop::shard::request_stop();
///     ringloop::shard::stop_requested().await;
/// });
/// ```
pub async fn stop_requested() {
    match with_context(|ctx| ctx.local.clone()) {
        Some(local) => local.stopping().wait().await,
        None => std::future::pending().await,
    }
}

/// Whether a stop of this sharded program was requested (`false` outside one).
pub fn is_stop_requested() -> bool {
    with_context(|ctx| ctx.stop.is_requested()).unwrap_or(false)
}
