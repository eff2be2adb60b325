//! [`SharedFd`]: a descriptor that stays open while any operation uses it, with the
//! driver's state for it (`stash.rs`).

use std::cell::{Cell, RefCell, RefMut};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

use super::nowait::NowaitHint;
use super::stash::FdState;
use super::uring::fixed::FdFixed;

/// A reference-counted descriptor. Every operation on a descriptor holds a clone, so
/// closing the owning object while an operation is queued or in the kernel cannot
/// close the descriptor under it, nor let its number be reused by another open
/// before the queued entry reaches the kernel.
///
/// The descriptor closes when the last clone goes: through an io_uring `CLOSE` entry
/// when an io_uring runtime is running on this thread (no system call of its own),
/// with `close(2)` otherwise. A listening socket closes at once, its multishot
/// accept cancelled first, so that its address is free when the drop returns.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<FdInner>,
}

/// A [`SharedFd`] that does not keep the descriptor open (held by multishot ops,
/// which must not keep their listener alive).
#[derive(Clone)]
pub(crate) struct WeakFd {
    inner: Weak<FdInner>,
}

struct FdInner {
    /// Owned: closed in `Drop`; -1 once taken back by [`SharedFd::try_into_owned`].
    fd: Cell<RawFd>,
    state: RefCell<FdState>,
    /// Whether positional reads try `RWF_NOWAIT` first (`nowait.rs`).
    nowait: NowaitHint,
    /// Its slot in a ring's table of registered files, if any (`uring/fixed.rs`).
    fixed: FdFixed,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd {
            inner: Rc::new(FdInner {
                fd: Cell::new(fd.into_raw_fd()),
                state: RefCell::new(FdState::default()),
                nowait: NowaitHint::default(),
                fixed: FdFixed::default(),
            }),
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.get()
    }

    /// The descriptor back, to close it explicitly (`File::close`), if this is the
    /// only clone: no op holds it, not even one whose future was dropped while the
    /// kernel still has it. A descriptor with a multishot op armed is never given
    /// back (its op must be cancelled first, which only the release path does).
    pub(crate) fn try_into_owned(self) -> Result<OwnedFd, SharedFd> {
        if Rc::strong_count(&self.inner) != 1 || Rc::weak_count(&self.inner) != 0 {
            return Err(self);
        }
        if self.inner.state.borrow().multishot.is_some() {
            return Err(self);
        }
        // No op holds the descriptor: its registered slot, if any, goes first,
        // so that the table does not keep the file open after the caller's close.
        self.inner.fixed.release();
        let fd = self.inner.fd.replace(-1);
        // SAFETY: `fd` was owned by this (sole) `FdInner`, which no longer closes it
        // (-1 above), so ownership passes to the new `OwnedFd` alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        super::forget_fd(fd.as_fd());
        Ok(fd)
    }

    /// What reads on this descriptor learnt about the `RWF_NOWAIT` fast path.
    pub(crate) fn nowait(&self) -> &NowaitHint {
        &self.inner.nowait
    }

    /// Its slot in a ring's table of registered files (`uring/fixed.rs`).
    pub(crate) fn fixed(&self) -> &FdFixed {
        &self.inner.fixed
    }

    /// The driver's state for this descriptor.
    pub(crate) fn state(&self) -> RefMut<'_, FdState> {
        self.inner.state.borrow_mut()
    }

    /// The driver's state, unless it is borrowed right now (for destructors, which
    /// must not panic).
    pub(crate) fn try_state(&self) -> Result<RefMut<'_, FdState>, std::cell::BorrowMutError> {
        self.inner.state.try_borrow_mut()
    }

    /// Nothing of a cancelled op is stashed or due for the descriptor (see
    /// `FdState::is_settled`); `false` while its state is borrowed.
    pub(crate) fn is_settled(&self) -> bool {
        self.try_state().is_ok_and(|state| state.is_settled())
    }

    /// Whether `other` is a clone of this same descriptor.
    pub(crate) fn same(&self, other: &SharedFd) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn downgrade(&self) -> WeakFd {
        WeakFd {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// A standard-library socket type looking at this descriptor without owning it,
    /// for socket options and addresses (`set_nodelay`, `peer_addr`, ...).
    pub(crate) fn view<T: FromRawFd + IntoRawFd>(&self) -> FdView<'_, T> {
        FdView {
            // SAFETY: the descriptor is open for as long as the view borrows `self`,
            // and `ManuallyDrop` makes sure the view never closes it; a shared
            // reference cannot reach `into_raw_fd` or anything else that would take
            // ownership.
            inner: ManuallyDrop::new(unsafe { T::from_raw_fd(self.raw()) }),
            _fd: PhantomData,
        }
    }
}

impl std::fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedFd").field(&self.raw()).finish()
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open while any clone lives, so for as long as
        // `self` is borrowed (it is only given back by `try_into_owned`, which
        // consumes `self`).
        unsafe { BorrowedFd::borrow_raw(self.raw()) }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl WeakFd {
    pub(crate) fn upgrade(&self) -> Option<SharedFd> {
        self.inner.upgrade().map(|inner| SharedFd { inner })
    }
}

/// A borrowed view of a [`SharedFd`] as a standard-library type (see
/// [`SharedFd::view`]).
pub(crate) struct FdView<'a, T: IntoRawFd> {
    inner: ManuallyDrop<T>,
    _fd: PhantomData<&'a SharedFd>,
}

impl<T: IntoRawFd> Deref for FdView<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl Drop for FdInner {
    fn drop(&mut self) {
        let fd = self.fd.get();
        if fd < 0 {
            return;
        }
        // Every op held a clone: none naming the slot is in flight.
        self.fixed.release();
        // SAFETY: `FdInner` owns the descriptor (a non-negative number was never
        // given back), and this is its last use.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let state = self.state.get_mut();
        super::release_fd(fd, state.multishot.take(), state.listener);
    }
}
