//! The op table: one slot per operation the kernel holds, keyed by `user_data`
//! (ARCHITECTURE.md, decision 1).
//!
//! ```text
//!            submit                 CQE
//!   (none) ─────────▶ InFlight ───────────▶ Completed ──poll──▶ (removed)
//!                        │                      │
//!                 future dropped          future dropped
//!                        ▼                      ▼
//!                    Orphaned ──CQE──▶ (removed; resources dropped, fd closed)
//! ```
//!
//! `Orphaned` owns the operation's resources (buffer, path, fd, sockaddr) from the
//! moment the future is dropped until the kernel reports it is done with them.
//! Operations that no future ever awaits (an asynchronous close, a multishot accept)
//! start out `Orphaned`: their CQEs go to the orphan's [`Orphan::discard`], and a
//! multishot op keeps its slot for as long as its CQEs carry `IORING_CQE_F_MORE`.
//! `Lost` is only reached when shutdown gave up waiting for a CQE: the kernel may still
//! touch the resources, so they are leaked rather than freed.

use std::task::{Context, Poll, Waker};

use slab::Slab;

/// What a dropped (or never awaited) operation leaves with the driver until its
/// last CQE arrives.
pub(crate) trait Orphan {
    /// A CQE arrived with result `res`; nobody awaits it, so hand on or release what
    /// it produced (stash received bytes, close a returned descriptor). Wakers to
    /// wake go to `woken`: this runs while the driver is busy.
    fn discard(&mut self, res: i32, flags: u32, woken: &mut Vec<Waker>);

    /// After a CQE that announced more (multishot): whether the op should be
    /// cancelled now. Asked once per CQE; answer `true` once.
    fn wants_cancel(&mut self) -> bool {
        false
    }

    /// Whether the descriptor this op serves is gone, so that the op should be
    /// cancelled (a multishot accept whose listener was dropped).
    fn released(&self) -> bool {
        false
    }
}

enum Slot {
    InFlight(Option<Waker>),
    Completed { res: i32, flags: u32 },
    Orphaned(Box<dyn Orphan>),
    Lost,
}

/// What happened to an operation whose future was dropped.
pub(crate) enum Orphaned {
    /// The kernel still has it: cancel it; the table keeps the resources.
    StillInFlight,
    /// It had completed; here is the result nobody read (`res`, `flags`), and the
    /// resources back.
    Completed(i32, u32, Box<dyn Orphan>),
    /// Shutdown gave up on it; the caller must leak its resources.
    Lost,
}

#[derive(Default)]
pub(crate) struct OpTable {
    slots: Slab<Slot>,
    /// Multishot ops that asked to be cancelled during the last reap.
    to_cancel: Vec<usize>,
}

impl OpTable {
    /// A new in-flight slot; its key is the `user_data` of the entry.
    pub(crate) fn insert(&mut self) -> usize {
        self.slots.insert(Slot::InFlight(None))
    }

    /// A slot for an op no future awaits; `orphan` receives its CQEs.
    pub(crate) fn insert_orphan(&mut self, orphan: Box<dyn Orphan>) -> usize {
        self.slots.insert(Slot::Orphaned(orphan))
    }

    /// Gives up a slot whose entry never reached the kernel.
    pub(crate) fn remove_unsubmitted(&mut self, key: usize) {
        self.slots.remove(key);
    }

    /// The result, once the CQE has arrived (the slot is then freed).
    pub(crate) fn poll(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<(i32, u32)> {
        match &mut self.slots[key] {
            Slot::Completed { res, flags } => {
                let out = (*res, *flags);
                self.slots.remove(key);
                Poll::Ready(out)
            }
            Slot::InFlight(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            // Never woken: the kernel may still use the resources.
            Slot::Lost => Poll::Pending,
            Slot::Orphaned(_) => unreachable!("an orphaned op was polled"),
        }
    }

    /// The op's future is being dropped; `data` holds its resources.
    pub(crate) fn orphan(&mut self, key: usize, data: Box<dyn Orphan>) -> Orphaned {
        let slot = &mut self.slots[key];
        match slot {
            Slot::InFlight(_) => {
                *slot = Slot::Orphaned(data);
                Orphaned::StillInFlight
            }
            Slot::Completed { res, flags } => {
                let (res, flags) = (*res, *flags);
                self.slots.remove(key);
                Orphaned::Completed(res, flags, data)
            }
            Slot::Lost => {
                std::mem::forget(data);
                Orphaned::Lost
            }
            Slot::Orphaned(_) => unreachable!("an op was orphaned twice"),
        }
    }

    /// A CQE arrived for `key`.
    pub(crate) fn complete(&mut self, key: usize, res: i32, flags: u32, woken: &mut Vec<Waker>) {
        let Some(slot) = self.slots.get_mut(key) else {
            debug_assert!(false, "CQE for unknown op {key}");
            return;
        };
        if let Slot::Orphaned(data) = slot {
            data.discard(res, flags, woken);
            if !io_uring::cqueue::more(flags) {
                self.slots.remove(key);
            } else if data.wants_cancel() {
                self.to_cancel.push(key);
            }
            return;
        }
        match std::mem::replace(slot, Slot::Completed { res, flags }) {
            Slot::InFlight(waker) => woken.extend(waker),
            Slot::Orphaned(_) => unreachable!("handled above"),
            Slot::Completed { .. } | Slot::Lost => {
                debug_assert!(false, "second CQE for single-shot op {key}");
            }
        }
    }

    /// Whether `key` holds an op whose descriptor is gone ([`Orphan::released`]):
    /// a key remembered earlier may have been reused since by another op.
    pub(crate) fn is_released(&self, key: usize) -> bool {
        matches!(self.slots.get(key), Some(Slot::Orphaned(orphan)) if orphan.released())
    }

    /// Whether `key` holds an op that no future awaits and whose last CQE has not
    /// arrived (a multishot op still armed).
    pub(crate) fn is_orphan(&self, key: usize) -> bool {
        matches!(self.slots.get(key), Some(Slot::Orphaned(_)))
    }

    /// Multishot ops to cancel, as asked during the last reap.
    pub(crate) fn take_cancels(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.to_cancel)
    }

    /// Keys of the ops the kernel still holds.
    pub(crate) fn in_flight(&self) -> Vec<usize> {
        self.slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::InFlight(_) | Slot::Orphaned(_)))
            .map(|(k, _)| k)
            .collect()
    }

    /// Shutdown gave up on every op still in flight: leak their resources.
    pub(crate) fn give_up(&mut self) -> usize {
        let mut lost = 0;
        for (_, slot) in self.slots.iter_mut() {
            match std::mem::replace(slot, Slot::Lost) {
                Slot::Orphaned(data) => {
                    std::mem::forget(data);
                    lost += 1;
                }
                Slot::InFlight(_) => lost += 1,
                done => *slot = done,
            }
        }
        lost
    }
}
