//! [`WakeList`]: per-child wakers that record which children of a combinator were
//! woken, so that the combinator polls only those. It is the machinery under
//! [`gather_all`](super::gather_all), `try_gather_all`, `as_completed` and `wait`.
//!
//! A parent future that drives `n` children and polls all of them on every wake-up
//! costs O(n²) over its life. Instead, above a handful of children, each child gets
//! its own waker, which appends the child's index to a ready list (once, until the
//! child is polled again) and wakes the parent when the list goes from empty to
//! non-empty. Each poll of the parent takes the list and polls only the children on
//! it, in the order they were woken:
//!
//! ```text
//!   child i woken ──▶ queued bit i already set? ── yes ──▶ nothing (already listed)
//!                               │ no
//!                               ▼
//!                    set bit i, push i; list was empty? ── yes ──▶ wake the parent
//!
//!   parent polled ──▶ record its waker ──▶ take the list ──▶ for each i: clear bit i,
//!                                                           poll child i with its waker
//! ```
//!
//! The parent records its waker *before* taking the list, and a child's bit is
//! cleared *before* the child is polled, so a wake-up that lands at any point is
//! either seen by this poll or pushes onto an empty list and wakes the parent again:
//! no wake-up is lost. Every child starts out listed, so each is polled once.
//!
//! Wakers must be `Send + Sync`, so the shared part uses an `Arc`, atomic bits and a
//! `Mutex` (held only to push or take, never while waking); `loom::wake_list` checks
//! this with children woken on other threads. With at most
//! [`TRACK_WAKES_ABOVE`] children, tracking costs more than it saves: every child is
//! polled on each wake-up, with the parent's own waker.

use std::ops::{ControlFlow, DerefMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use crate::loom::{AtomicU64, Mutex};

/// Up to this many children, every child is polled on each wake-up; above it, each
/// child gets its own waker so that only the woken ones are polled.
const TRACK_WAKES_ABOVE: usize = 16;

/// Which of `len` children may have progressed since the parent last polled them.
pub(crate) struct WakeList {
    len: usize,
    /// `None` for small sets (poll everything).
    tracked: Option<Tracked>,
}

struct Tracked {
    shared: Arc<Shared>,
    /// One waker per child.
    wakers: Vec<Waker>,
    /// The list taken by the last poll, kept to reuse its allocation.
    spare: Vec<usize>,
}

struct Shared {
    /// Bit `i` is set while child `i` is on the ready list.
    queued: Box<[AtomicU64]>,
    state: Mutex<Ready>,
}

struct Ready {
    /// Woken children, in wake order.
    list: Vec<usize>,
    /// The parent's waker, from its last poll.
    parent: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> impl DerefMut<Target = Ready> + '_ {
        // A panic never happens while the lock is held, but stay usable regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct ChildWaker {
    index: usize,
    shared: Arc<Shared>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mask = 1u64 << (self.index % 64);
        let word = &self.shared.queued[self.index / 64];
        if word.fetch_or(mask, Ordering::AcqRel) & mask != 0 {
            return;
        }
        let parent = {
            let mut ready = self.shared.lock();
            ready.list.push(self.index);
            if ready.list.len() == 1 {
                ready.parent.clone()
            } else {
                None
            }
        };
        // Woken outside the lock: the parent's waker may run arbitrary code.
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

impl WakeList {
    /// A list for `len` children, every one of them listed (to be polled once).
    pub(crate) fn new(len: usize) -> WakeList {
        if len <= TRACK_WAKES_ABOVE {
            return WakeList { len, tracked: None };
        }
        // Only the bits of real children are set.
        let queued: Box<[AtomicU64]> = (0..len.div_ceil(64))
            .map(|word| match len - word * 64 {
                n if n >= 64 => AtomicU64::new(u64::MAX),
                n => AtomicU64::new((1u64 << n) - 1),
            })
            .collect();
        let shared = Arc::new(Shared {
            queued,
            state: Mutex::new(Ready {
                list: (0..len).collect(),
                parent: None,
            }),
        });
        let wakers = (0..len)
            .map(|index| {
                Waker::from(Arc::new(ChildWaker {
                    index,
                    shared: shared.clone(),
                }))
            })
            .collect();
        WakeList {
            len,
            tracked: Some(Tracked {
                shared,
                wakers,
                spare: Vec::new(),
            }),
        }
    }

    /// Calls `poll(index, cx)` for every child that may have progressed: the woken
    /// ones, each once, in wake order, with a context holding the child's own waker
    /// (for small sets: every child, with the parent's context; `poll` skips the
    /// finished ones). Records the parent's waker (`cx`) first.
    ///
    /// `Break` stops the walk at once; the children not reached stay listed and
    /// the parent is woken to come back for them.
    pub(crate) fn for_each_woken<B>(
        &mut self,
        cx: &mut Context<'_>,
        mut poll: impl FnMut(usize, &mut Context<'_>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let Some(tracked) = &mut self.tracked else {
            return (0..self.len).try_for_each(|index| poll(index, cx));
        };
        let mut woken = std::mem::take(&mut tracked.spare);
        {
            let mut ready = tracked.shared.lock();
            if !ready
                .parent
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                ready.parent = Some(cx.waker().clone());
            }
            std::mem::swap(&mut ready.list, &mut woken);
        }
        let mut flow = ControlFlow::Continue(());
        let mut polled = 0;
        for &index in &woken {
            let mask = 1u64 << (index % 64);
            tracked.shared.queued[index / 64].fetch_and(!mask, Ordering::AcqRel);
            polled += 1;
            let mut child_cx = Context::from_waker(&tracked.wakers[index]);
            flow = poll(index, &mut child_cx);
            if flow.is_break() {
                break;
            }
        }
        if polled < woken.len() {
            // Put the children not reached back in front, still queued.
            let mut ready = tracked.shared.lock();
            ready.list.splice(0..0, woken.drain(polled..));
            drop(ready);
            cx.waker().wake_by_ref();
        }
        woken.clear();
        tracked.spare = woken;
        flow
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        // A child woken later (a detached task, say) must not wake the parent for
        // nothing; its waker only touches the shared list.
        if let Some(tracked) = &self.tracked {
            let parent = tracked.shared.lock().parent.take();
            drop(parent);
        }
    }
}
