//! The thread-local "current runtime": set while `block_on` runs, so that `spawn`
//! and `sleep` find their runtime, and so that a waker can tell whether it is being
//! woken on its own runtime's thread. Entering a runtime also makes its driver the
//! driver's current one (`driver::Handle::set_current`), which operations use.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::Core;
use crate::driver::Handle;
use crate::time::Timers;

struct Current {
    /// Id of the running runtime (0: none), for a quick "is this my runtime" check.
    id: Cell<u64>,
    core: RefCell<Option<Rc<Core>>>,
}

thread_local! {
    static CURRENT: Current = const {
        Current {
            id: Cell::new(0),
            core: RefCell::new(None),
        }
    };
}

/// Runs `f` with the current runtime, if this thread is running one. Returns `None`
/// outside a runtime (and while the thread's locals are being destroyed).
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| current.core.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// Runs `f` with the current runtime if it is the runtime with id `runtime`.
#[inline]
pub(crate) fn with_core_of<R>(runtime: u64, f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            if current.id.get() != runtime {
                return None;
            }
            current.core.borrow().as_ref().map(f)
        })
        .ok()
        .flatten()
}

/// Whether this thread is inside `block_on`.
pub(crate) fn is_running() -> bool {
    with_core(|_| ()).is_some()
}

/// The id of the runtime this thread is running (0: none). Cheaper than
/// [`with_core`] for "is this still my runtime" checks.
pub(crate) fn current_id() -> u64 {
    CURRENT.try_with(|current| current.id.get()).unwrap_or(0)
}

/// Marks `core` as this thread's running runtime until the guard is dropped, then
/// restores the runtime that was current before (if any).
pub(crate) struct EnterGuard {
    previous: Option<Rc<Core>>,
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
        let mut slot = current.core.borrow_mut();
        if slot.is_some() {
            drop(slot);
            panic!(
                "ringloop: cannot start a runtime from within a running runtime \
                 (run/block_on called inside an async task or callback); \
                 spawn the future with ringloop::spawn or .await it instead"
            );
        }
        current.id.set(core.id());
        Handle::set_current(Some(core.driver.clone()));
        Timers::set_current(Some(core.timers.clone()));
        *slot = Some(core);
    });
    EnterGuard { previous: None }
}

/// Makes `core` current for its shutdown, even inside another runtime (a `Runtime`
/// dropped in a task of another one): the destructors it runs must spawn, sleep and
/// submit on the runtime being shut down, not on the outer one. The outer runtime
/// is current again when the guard drops.
///
/// Returns `None` only while the thread's locals are being destroyed.
pub(crate) fn enter_for_shutdown(core: Rc<Core>) -> Option<EnterGuard> {
    CURRENT
        .try_with(|current| {
            let mut slot = current.core.try_borrow_mut().ok()?;
            current.id.set(core.id());
            Handle::set_current(Some(core.driver.clone()));
            Timers::set_current(Some(core.timers.clone()));
            let previous = slot.replace(core);
            Some(EnterGuard { previous })
        })
        .ok()
        .flatten()
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // The driver's and the timers' thread-locals are restored even when this
        // one is already gone (a runtime dropped from another thread-local's
        // destructor), so they never keep the left runtime's current.
        let driver = Handle::set_current(previous.as_ref().map(|core| core.driver.clone()));
        let timers = Timers::set_current(previous.as_ref().map(|core| core.timers.clone()));
        let left = CURRENT.try_with(|current| {
            current
                .id
                .set(previous.as_ref().map_or(0, |core| core.id()));
            std::mem::replace(&mut *current.core.borrow_mut(), previous)
        });
        // Dropped outside the borrows, in case one is the last reference.
        drop((left, driver, timers));
    }
}
