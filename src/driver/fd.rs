//! [`SharedFd`]: a descriptor that stays open while any operation uses it.

// Used by ops, which only tests use until issues 4 and 5.
#![cfg_attr(not(test), allow(dead_code))]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// A reference-counted descriptor. Every operation on a descriptor holds a clone, so
/// closing the owning object while an operation is queued or in the kernel cannot
/// close the descriptor under it, nor let its number be reused by another open
/// before the queued entry reaches the kernel. The descriptor closes when the last
/// clone goes.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd {
    inner: Rc<OwnedFd>,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd { inner: Rc::new(fd) }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}
