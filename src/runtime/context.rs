//! The thread-local "current runtime": set while `block_on` runs, so that `spawn`,
//! `sleep` and operations find their runtime, and so that a waker can tell whether it
//! is being woken on its own runtime's thread.

use std::cell::RefCell;
use std::rc::Rc;

use super::Core;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Runs `f` with the current runtime, if this thread is running one. Returns `None`
/// outside a runtime (and while the thread's locals are being destroyed).
pub(crate) fn with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| current.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// The current runtime, if any.
pub(crate) fn current_core() -> Option<Rc<Core>> {
    with_core(Rc::clone)
}

/// Whether this thread is inside `block_on`.
pub(crate) fn is_running() -> bool {
    with_core(|_| ()).is_some()
}

/// Marks `core` as this thread's running runtime until the guard is dropped.
pub(crate) struct EnterGuard {
    _private: (),
}

/// Enters `core`.
///
/// # Panics
///
/// If this thread already runs a runtime: a runtime cannot block on itself, and
/// blocking one runtime inside another would stall the outer one. asyncio raises
/// `RuntimeError` in the same case.
pub(crate) fn enter(core: Rc<Core>) -> EnterGuard {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if current.is_some() {
            drop(current);
            panic!(
                "ringloop: cannot start a runtime from within a running runtime \
                 (run/block_on called inside an async task or callback); \
                 spawn the future with ringloop::spawn or .await it instead"
            );
        }
        *current = Some(core);
    });
    EnterGuard { _private: () }
}

/// Enters `core` unless this thread already runs a runtime (used by shutdown, which
/// may run inside another runtime when a `Runtime` is dropped there).
pub(crate) fn try_enter(core: Rc<Core>) -> Option<EnterGuard> {
    CURRENT
        .try_with(|current| {
            let mut current = current.try_borrow_mut().ok()?;
            if current.is_some() {
                return None;
            }
            *current = Some(core);
            Some(EnterGuard { _private: () })
        })
        .ok()
        .flatten()
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let core = CURRENT.try_with(|current| current.borrow_mut().take());
        // Dropped outside the borrow, in case this is the last reference.
        drop(core);
    }
}
