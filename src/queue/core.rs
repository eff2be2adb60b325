//! The state one queue's handles share, and every operation on it. The three queue
//! types and the futures are thin layers over [`Shared`].
//!
//! ## Wake, then take
//!
//! As in asyncio, a waiting getter is woken when an item arrives (a waiting putter
//! when a place frees up, both when the queue shuts down), and when it runs it looks
//! again: the item stays in the queue until someone takes it. So `qsize()`,
//! `empty()` and `full()` mean what they say, and `get_nowait()` succeeds whenever
//! `qsize() > 0`, `put_nowait()` whenever `!full()`. A task that takes the item
//! between the wake-up and the woken getter's turn (a `get_nowait`, or a `get` that
//! finds the item there) gets it, and the woken getter, finding nothing, waits again
//! at the back of the line: asyncio's behaviour, kept exactly so that programs
//! ported from asyncio hand the same items to the same tasks.
//!
//! No wake-up is lost: every put wakes one waiting getter, so while getters wait,
//! each item in the queue has a woken getter on its way to it (one that finds nothing
//! waits again); a getter dropped after being woken and before its turn passes the
//! wake-up on to the next waiting getter if an item is there (asyncio does the same).
//! The same holds for putters and free places.
//!
//! A get or put (its [`Wait`] state and its node in a wait list) goes
//!
//! ```text
//!               item (place) there now, or shut down
//!     Idle ───────────────────────────────────────────────▶ Done
//!       │ none: joins the back of the line                    ▲
//!       ▼                                                     │ polled: takes an item
//!     Waiting ◀─── none after all: back of the line ───┐      │ (fills a place), or
//!       │  │                                           │      │ fails if shut down
//!       │  └──── notified (put/get/shutdown) ───▶ woken ┴──────┘
//!       │ dropped                                 │ dropped
//!       ▼                                         ▼
//!     (gone)             (gone; if an item (place) is there, the next waiter is woken)
//! ```
//!
//! Wakers are woken, and items dropped, only after the state's `RefCell` borrow is
//! released: either may run code that uses the queue.

use std::cell::RefCell;
use std::fmt;
use std::task::{Context, Poll, Waker};

use super::error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
use super::storage::Storage;
use super::{QueueEmpty, QueueFull};
use crate::sync::{WaitList, WaiterKey};

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
    getters: WaitList,
    putters: WaitList,
    /// Items put and not yet marked done by `task_done`.
    unfinished: usize,
    joiners: WaitList,
    shut_down: bool,
}

impl<T> State<T> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    /// Stores `item` and wakes the next waiting getter; returns its waker.
    fn push(&mut self, item: T) -> Option<Waker> {
        // Counted first: a `PriorityQueue` item's `Ord` may panic inside the push,
        // after which the item is still in the heap (`BinaryHeap` puts it back while
        // unwinding); it must not be missing from `unfinished`, or `join` would
        // return while it is queued.
        self.unfinished += 1;
        self.items.push(item);
        wake_next(&mut self.getters)
    }

    /// Takes the next item and wakes the next waiting putter; returns the item and
    /// the putter's waker.
    fn pop(&mut self) -> Option<(T, Option<Waker>)> {
        let item = self.items.pop()?;
        Some((item, wake_next(&mut self.putters)))
    }
}

/// Notifies the oldest waiter of `list`, if any; returns its waker (asyncio's
/// `_wakeup_next`).
fn wake_next(list: &mut WaitList) -> Option<Waker> {
    list.notify_one(()).ok().flatten()
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
        self.state.borrow().full()
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
            if s.full() {
                return Err(TryPutError::Full(QueueFull(item)));
            }
            s.push(item)
        };
        wake(waker);
        Ok(())
    }

    pub(crate) fn get_nowait(&self) -> Result<T, TryGetError> {
        let popped = self.state.borrow_mut().pop();
        match popped {
            Some((item, waker)) => {
                wake(waker);
                Ok(item)
            }
            None if self.is_shut_down() => Err(TryGetError::ShutDown(QueueShutDown(()))),
            None => Err(TryGetError::Empty(QueueEmpty)),
        }
    }

    /// Polls a get whose state is `wait`.
    pub(crate) fn poll_get(
        &self,
        wait: &mut Wait,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, QueueShutDown>> {
        let mut s = self.state.borrow_mut();
        match *wait {
            Wait::Idle => {}
            // Woken (or not): look again below.
            Wait::Waiting(key) => {
                if s.getters.poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
            }
            Wait::Done => panic!("queue get polled after completion"),
        }
        if let Some((item, waker)) = s.pop() {
            *wait = Wait::Done;
            drop(s);
            wake(waker);
            return Poll::Ready(Ok(item));
        }
        if s.shut_down {
            *wait = Wait::Done;
            return Poll::Ready(Err(QueueShutDown(())));
        }
        // Nothing there (if we had been woken, someone took the item first): wait at
        // the back of the line, as asyncio's getter does.
        *wait = Wait::Waiting(s.getters.push_back(Some(cx.waker().clone())));
        Poll::Pending
    }

    /// A get whose state is `wait` is dropped: it leaves the line, and if it had been
    /// woken, passes the wake-up on to the next getter when an item is there.
    pub(crate) fn drop_get(&self, wait: &mut Wait) {
        let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) else {
            return;
        };
        let waker = {
            let mut s = self.state.borrow_mut();
            let woken = s.getters.remove(key).is_some();
            if woken && s.items.len() > 0 {
                wake_next(&mut s.getters)
            } else {
                None
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
        match *wait {
            Wait::Idle => {}
            Wait::Waiting(key) => {
                if s.putters.poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
            }
            Wait::Done => panic!("queue put polled after completion"),
        }
        if s.shut_down || !s.full() {
            *wait = Wait::Done;
            let item = item.take().expect("a pending put holds its item");
            if s.shut_down {
                drop(s);
                return Poll::Ready(Err(QueueShutDown(item)));
            }
            let waker = s.push(item);
            drop(s);
            wake(waker);
            return Poll::Ready(Ok(()));
        }
        // Full (if we had been woken, someone filled the place first): wait at the
        // back of the line, as asyncio's putter does.
        *wait = Wait::Waiting(s.putters.push_back(Some(cx.waker().clone())));
        Poll::Pending
    }

    /// A put whose state is `wait` is dropped: it leaves the line, and if it had been
    /// woken, passes the wake-up on to the next putter when a place is free. (Its
    /// item is dropped by the caller.)
    pub(crate) fn drop_put(&self, wait: &mut Wait) {
        let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) else {
            return;
        };
        let waker = {
            let mut s = self.state.borrow_mut();
            let woken = s.putters.remove(key).is_some();
            if woken && !s.full() && !s.shut_down {
                wake_next(&mut s.putters)
            } else {
                None
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
            s.getters.notify_all((), &mut wakers);
            s.putters.notify_all((), &mut wakers);
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
