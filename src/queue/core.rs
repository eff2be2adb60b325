//! The state one queue's handles share, and every operation on it. The three queue
//! types and the futures are thin layers over [`Shared`].
//!
//! ## Waking, and what a woken waiter is promised
//!
//! asyncio wakes a waiting getter when an item arrives but leaves the item in the
//! queue, so a task that calls `get()` before the woken one runs takes it ("barging"),
//! and the woken getter goes back to the end of the line. Here a wake is a promise:
//! `promised_items` counts the items set aside for getters that were woken but have
//! not run yet, and `promised_slots` the free places set aside for woken putters. An
//! item or place is free for a new caller only beyond those promises, so nobody
//! overtakes a task that was waiting, and waiters are served in arrival order. The
//! items themselves stay in the storage until taken, so `qsize()`, `empty()` and
//! `full()` count them, as asyncio does.
//!
//! Invariants (`len` is the number of stored items):
//! - a getter waits only if `len <= promised_items` (no item is free for it);
//! - a putter waits only if `len + promised_slots >= maxsize` (no place is free);
//! - `len + promised_slots <= maxsize` for a bounded queue.
//!
//! A get or put (its [`Wait`] state, and its node in a wait list) goes
//!
//! ```text
//!              item/place free now, or shut down
//!     Idle ──────────────────────────────────────────────▶ Done
//!       │ nothing free: joins the wait list                 ▲
//!       ▼                                                   │ polled: takes its item /
//!     Waiting ──notify(Go)──▶ woken with a promise ─────────┤ fills its place
//!       │  ╲                        │                       │
//!       │   ╲──notify(ShutDown)──▶ woken ───────────────────┘ polled: QueueShutDown
//!       │ dropped                   │ dropped
//!       ▼                           ▼
//!    (gone)             (gone; the promise passes to the next waiter,
//!                        or the item/place is free again)
//! ```
//!
//! So a dropped `get()` or `put()` loses neither an item nor a wake-up. After
//! `shutdown`, every waiter is notified with `ShutDown`; getters already promised an
//! item still take it (unless `shutdown(true)` emptied the queue first).

use std::cell::RefCell;
use std::fmt;
use std::task::{Context, Poll, Waker};

use super::error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
use super::storage::Storage;
use super::{QueueEmpty, QueueFull};
use crate::sync::{WaitList, WaiterKey};

/// What a waiting getter or putter is notified with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wake {
    /// An item (getter) or a free place (putter) was set aside for it.
    Go,
    /// The queue was shut down.
    ShutDown,
}

/// Where one waiting operation (a get, put or join future) stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Wait {
    /// Not polled yet.
    Idle,
    /// In a wait list.
    Waiting(WaiterKey),
    /// Completed.
    Done,
}

/// One queue, shared by its handles.
pub(crate) struct Shared<T> {
    state: RefCell<State<T>>,
}

struct State<T> {
    items: Storage<T>,
    /// 0: unbounded.
    maxsize: usize,
    getters: WaitList<Wake>,
    putters: WaitList<Wake>,
    /// Items set aside for getters notified with `Go` that have not taken them.
    promised_items: usize,
    /// Places set aside for putters notified with `Go` that have not filled them.
    promised_slots: usize,
    /// Items put and not yet marked done by `task_done`.
    unfinished: usize,
    joiners: WaitList<()>,
    shut_down: bool,
}

impl<T> State<T> {
    fn has_free_item(&self) -> bool {
        self.items.len() > self.promised_items
    }

    fn has_free_slot(&self) -> bool {
        self.maxsize == 0 || self.items.len() + self.promised_slots < self.maxsize
    }

    /// Stores `item` and promises an item to the oldest waiting getter, if any;
    /// returns the waker to wake.
    fn push(&mut self, item: T) -> Option<Waker> {
        self.items.push(item);
        self.unfinished += 1;
        self.promise_item()
    }

    /// Takes the next item and promises the place it leaves to the oldest waiting
    /// putter, if any; returns the item and the waker to wake.
    fn pop(&mut self) -> Option<(T, Option<Waker>)> {
        let item = self.items.pop()?;
        Some((item, self.promise_slot()))
    }

    /// Wakes the oldest waiting getter if an item is free for it.
    fn promise_item(&mut self) -> Option<Waker> {
        if self.getters.is_empty() || !self.has_free_item() {
            return None;
        }
        let waker = self.getters.notify_one(Wake::Go).ok()?;
        self.promised_items += 1;
        waker
    }

    /// Wakes the oldest waiting putter if a place is free for it.
    fn promise_slot(&mut self) -> Option<Waker> {
        if self.putters.is_empty() || self.shut_down || !self.has_free_slot() {
            return None;
        }
        let waker = self.putters.notify_one(Wake::Go).ok()?;
        self.promised_slots += 1;
        waker
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> Shared<T> {
    pub(crate) fn new(items: Storage<T>, maxsize: usize) -> Shared<T> {
        Shared {
            state: RefCell::new(State {
                items,
                maxsize,
                getters: WaitList::new(),
                putters: WaitList::new(),
                promised_items: 0,
                promised_slots: 0,
                unfinished: 0,
                joiners: WaitList::new(),
                shut_down: false,
            }),
        }
    }

    pub(crate) fn qsize(&self) -> usize {
        self.state.borrow().items.len()
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.state.borrow().maxsize
    }

    pub(crate) fn full(&self) -> bool {
        let s = self.state.borrow();
        s.maxsize > 0 && s.items.len() >= s.maxsize
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.state.borrow().shut_down
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.state.borrow().unfinished
    }

    pub(crate) fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let waker = {
            let mut s = self.state.borrow_mut();
            if s.shut_down {
                return Err(TryPutError::ShutDown(QueueShutDown(item)));
            }
            if !s.has_free_slot() {
                return Err(TryPutError::Full(QueueFull(item)));
            }
            s.push(item)
        };
        wake(waker);
        Ok(())
    }

    pub(crate) fn get_nowait(&self) -> Result<T, TryGetError> {
        let (item, waker) = {
            let mut s = self.state.borrow_mut();
            if !s.has_free_item() {
                return Err(if s.shut_down {
                    TryGetError::ShutDown(QueueShutDown(()))
                } else {
                    TryGetError::Empty(QueueEmpty)
                });
            }
            s.pop().expect("a free item is stored")
        };
        wake(waker);
        Ok(item)
    }

    /// Polls a get whose state is `wait`.
    pub(crate) fn poll_get(
        &self,
        wait: &mut Wait,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, QueueShutDown>> {
        let mut s = self.state.borrow_mut();
        let taken = match *wait {
            Wait::Idle if s.has_free_item() => s.pop(),
            Wait::Idle if s.shut_down => None,
            Wait::Idle => {
                *wait = Wait::Waiting(s.getters.push_back(Some(cx.waker().clone())));
                return Poll::Pending;
            }
            Wait::Waiting(key) => match s.getters.poll(key, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Wake::Go) => {
                    s.promised_items -= 1;
                    // Empty only if `shutdown(true)` removed the promised item.
                    s.pop()
                }
                Poll::Ready(Wake::ShutDown) => None,
            },
            Wait::Done => panic!("queue get polled after completion"),
        };
        *wait = Wait::Done;
        drop(s);
        Poll::Ready(match taken {
            Some((item, waker)) => {
                wake(waker);
                Ok(item)
            }
            None => Err(QueueShutDown(())),
        })
    }

    /// A get whose state is `wait` is dropped: it leaves the list, and passes on the
    /// item it was promised.
    pub(crate) fn drop_get(&self, wait: &mut Wait) {
        let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) else {
            return;
        };
        let waker = {
            let mut s = self.state.borrow_mut();
            match s.getters.remove(key) {
                Some(Wake::Go) => {
                    s.promised_items -= 1;
                    s.promise_item()
                }
                Some(Wake::ShutDown) | None => None,
            }
        };
        wake(waker);
    }

    /// Polls a put of `item` whose state is `wait`; `item` is `None` once the put
    /// has completed.
    pub(crate) fn poll_put(
        &self,
        item: &mut Option<T>,
        wait: &mut Wait,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), QueueShutDown<T>>> {
        let mut s = self.state.borrow_mut();
        let accept = match *wait {
            Wait::Idle if s.shut_down => false,
            Wait::Idle if s.has_free_slot() => true,
            Wait::Idle => {
                *wait = Wait::Waiting(s.putters.push_back(Some(cx.waker().clone())));
                return Poll::Pending;
            }
            Wait::Waiting(key) => match s.putters.poll(key, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Wake::Go) => {
                    s.promised_slots -= 1;
                    !s.shut_down
                }
                Poll::Ready(Wake::ShutDown) => false,
            },
            Wait::Done => panic!("queue put polled after completion"),
        };
        *wait = Wait::Done;
        let item = item.take().expect("a pending put holds its item");
        if !accept {
            drop(s);
            return Poll::Ready(Err(QueueShutDown(item)));
        }
        let waker = s.push(item);
        drop(s);
        wake(waker);
        Poll::Ready(Ok(()))
    }

    /// A put whose state is `wait` is dropped: it leaves the list, and passes on the
    /// place it was promised. (Its item is dropped by the caller.)
    pub(crate) fn drop_put(&self, wait: &mut Wait) {
        let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) else {
            return;
        };
        let waker = {
            let mut s = self.state.borrow_mut();
            match s.putters.remove(key) {
                Some(Wake::Go) => {
                    s.promised_slots -= 1;
                    s.promise_slot()
                }
                Some(Wake::ShutDown) | None => None,
            }
        };
        wake(waker);
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = Vec::new();
        {
            let mut s = self.state.borrow_mut();
            if s.unfinished == 0 {
                return Err(TaskDoneError);
            }
            s.unfinished -= 1;
            if s.unfinished == 0 && !s.joiners.is_empty() {
                s.joiners.notify_all((), &mut wakers);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
        Ok(())
    }

    /// Polls a join whose state is `wait`.
    pub(crate) fn poll_join(&self, wait: &mut Wait, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.state.borrow_mut();
        match *wait {
            Wait::Idle if s.unfinished == 0 => {}
            Wait::Idle => {
                *wait = Wait::Waiting(s.joiners.push_back(Some(cx.waker().clone())));
                return Poll::Pending;
            }
            Wait::Waiting(key) => {
                if s.joiners.poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
            }
            Wait::Done => panic!("queue join polled after completion"),
        }
        *wait = Wait::Done;
        Poll::Ready(())
    }

    /// A join whose state is `wait` is dropped.
    pub(crate) fn drop_join(&self, wait: &mut Wait) {
        if let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) {
            self.state.borrow_mut().joiners.remove(key);
        }
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        let mut wakers = Vec::new();
        let removed = {
            let mut s = self.state.borrow_mut();
            s.shut_down = true;
            let removed = if immediate {
                let removed = s.items.take_all();
                s.unfinished = s.unfinished.saturating_sub(removed.len());
                if s.unfinished == 0 {
                    s.joiners.notify_all((), &mut wakers);
                }
                removed
            } else {
                Vec::new()
            };
            s.getters.notify_all(Wake::ShutDown, &mut wakers);
            s.putters.notify_all(Wake::ShutDown, &mut wakers);
            removed
        };
        wakers.into_iter().for_each(Waker::wake);
        // The items' destructors run with no borrow held: they may use the queue.
        drop(removed);
    }

    /// Writes `name { qsize, maxsize, getters, putters, joiners, unfinished, shut_down }`
    /// (the waiter counts exclude woken waiters).
    pub(crate) fn fmt_debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(name);
        match self.state.try_borrow() {
            Ok(s) => d
                .field("qsize", &s.items.len())
                .field("maxsize", &s.maxsize)
                .field("getters", &s.getters.len())
                .field("putters", &s.putters.len())
                .field("joiners", &s.joiners.len())
                .field("unfinished", &s.unfinished)
                .field("shut_down", &s.shut_down),
            Err(_) => d.field("state", &"<borrowed>"),
        };
        d.finish()
    }
}
