//! The state a threadsafe [`Queue`](super::Queue)'s handles share, every operation
//! on it, and the futures of `put`, `get` and `join`.
//!
//! The protocol of the local queue (`src/queue/core.rs`), under one `Mutex`:
//! *wake, then take*. A put notifies the oldest waiting getter and leaves the item
//! in the queue; the getter takes it when it runs, and one that finds it gone (a
//! `get_nowait` on another thread took it first, asyncio's barging) waits again at
//! the back of the line. No wake-up is lost: every put notifies one waiting getter,
//! and a getter dropped after its notification and before it took an item passes
//! the notification on to the next getter if an item is there. The same holds for
//! putters and free places. A get or put goes
//!
//! ```text
//!     Idle ── item (place) there, or shut down ──────────────▶ Done
//!       │ none: back of the line                               ▲
//!       ▼                                                      │ takes it, or fails
//!     Waiting ── notified ──▶ polled: none after all: back of the line
//!       │ dropped: leaves; if it was notified and an item (place) is there,
//!       ▼          the next waiter is notified
//!     (gone)
//! ```
//!
//! Wakers are woken and items dropped only after the lock is released.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::lock;
use super::waiters::{wake_all, WaiterKey, Waiters};
use crate::queue::{QueueEmpty, QueueFull, QueueShutDown, TaskDoneError, TryGetError, TryPutError};

/// Where one waiting operation (a get, put or join future) stands: not polled yet,
/// in a wait list, or completed (or given up).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Wait {
    Idle,
    Waiting(WaiterKey),
    Done,
}

pub(super) struct State<T> {
    pub(super) items: VecDeque<T>,
    /// 0: unbounded.
    pub(super) maxsize: usize,
    pub(super) getters: Waiters,
    pub(super) putters: Waiters,
    /// Items put and not yet marked done by `task_done`.
    pub(super) unfinished: usize,
    pub(super) joiners: Waiters,
    pub(super) shut_down: bool,
}

impl<T> State<T> {
    pub(super) fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    /// Stores `item` and notifies the next waiting getter; returns its waker.
    fn push(&mut self, item: T) -> Option<Waker> {
        self.unfinished += 1;
        self.items.push_back(item);
        self.getters.notify_one(()).ok()
    }

    /// Takes the next item and notifies the next waiting putter.
    fn pop(&mut self) -> Option<(T, Option<Waker>)> {
        let item = self.items.pop_front()?;
        Some((item, self.putters.notify_one(()).ok()))
    }
}

/// One queue, shared by its handles (an `Arc` of it).
pub(super) struct Shared<T> {
    pub(super) state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    pub(super) fn new(maxsize: usize) -> Self {
        Shared {
            state: Mutex::new(State {
                items: VecDeque::new(),
                maxsize,
                getters: Waiters::new(),
                putters: Waiters::new(),
                unfinished: 0,
                joiners: Waiters::new(),
                shut_down: false,
            }),
        }
    }

    pub(super) fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let waker = {
            let mut s = lock(&self.state);
            if s.shut_down {
                return Err(TryPutError::ShutDown(QueueShutDown(item)));
            }
            if s.full() {
                return Err(TryPutError::Full(QueueFull(item)));
            }
            s.push(item)
        };
        wake_all(waker);
        Ok(())
    }

    pub(super) fn get_nowait(&self) -> Result<T, TryGetError> {
        let mut s = lock(&self.state);
        match s.pop() {
            Some((item, waker)) => {
                drop(s);
                wake_all(waker);
                Ok(item)
            }
            None if s.shut_down => Err(TryGetError::ShutDown(QueueShutDown(()))),
            None => Err(TryGetError::Empty(QueueEmpty)),
        }
    }

    fn poll_get(&self, wait: &mut Wait, cx: &mut Context<'_>) -> Poll<Result<T, QueueShutDown>> {
        let mut s = lock(&self.state);
        match *wait {
            Wait::Idle => {}
            Wait::Waiting(key) => {
                if s.getters.poll(key, cx.waker()).is_none() {
                    return Poll::Pending;
                }
            }
            Wait::Done => panic!("queue get polled after completion"),
        }
        if let Some((item, waker)) = s.pop() {
            *wait = Wait::Done;
            drop(s);
            wake_all(waker);
            return Poll::Ready(Ok(item));
        }
        if s.shut_down {
            *wait = Wait::Done;
            return Poll::Ready(Err(QueueShutDown(())));
        }
        *wait = Wait::Waiting(s.getters.push_back(cx.waker().clone()));
        Poll::Pending
    }

    fn drop_get(&self, wait: &mut Wait) {
        let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) else {
            return;
        };
        let waker = {
            let mut s = lock(&self.state);
            let notified = s.getters.remove(key).is_some();
            if notified && !s.items.is_empty() {
                s.getters.notify_one(()).ok()
            } else {
                None
            }
        };
        wake_all(waker);
    }

    fn poll_put(
        &self,
        item: &mut Option<T>,
        wait: &mut Wait,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), QueueShutDown<T>>> {
        let mut s = lock(&self.state);
        match *wait {
            Wait::Idle => {}
            Wait::Waiting(key) => {
                if s.putters.poll(key, cx.waker()).is_none() {
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
            wake_all(waker);
            return Poll::Ready(Ok(()));
        }
        *wait = Wait::Waiting(s.putters.push_back(cx.waker().clone()));
        Poll::Pending
    }

    fn drop_put(&self, wait: &mut Wait) {
        let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) else {
            return;
        };
        let waker = {
            let mut s = lock(&self.state);
            let notified = s.putters.remove(key).is_some();
            if notified && !s.full() && !s.shut_down {
                s.putters.notify_one(()).ok()
            } else {
                None
            }
        };
        wake_all(waker);
    }

    pub(super) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = Vec::new();
        {
            let mut s = lock(&self.state);
            if s.unfinished == 0 {
                return Err(TaskDoneError);
            }
            s.unfinished -= 1;
            if s.unfinished == 0 {
                s.joiners.notify_all((), &mut wakers);
            }
        }
        wake_all(wakers);
        Ok(())
    }

    fn poll_join(&self, wait: &mut Wait, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.state);
        match *wait {
            Wait::Idle if s.unfinished == 0 => {}
            Wait::Idle => {
                *wait = Wait::Waiting(s.joiners.push_back(cx.waker().clone()));
                return Poll::Pending;
            }
            Wait::Waiting(key) => {
                if s.joiners.poll(key, cx.waker()).is_none() {
                    return Poll::Pending;
                }
            }
            Wait::Done => panic!("queue join polled after completion"),
        }
        *wait = Wait::Done;
        Poll::Ready(())
    }

    fn drop_join(&self, wait: &mut Wait) {
        if let Wait::Waiting(key) = std::mem::replace(wait, Wait::Done) {
            let _ = lock(&self.state).joiners.remove(key);
        }
    }

    pub(super) fn shutdown(&self, immediate: bool) {
        let mut wakers = Vec::new();
        let removed = {
            let mut s = lock(&self.state);
            s.shut_down = true;
            let removed = if immediate {
                let removed = std::mem::take(&mut s.items);
                s.unfinished = s.unfinished.saturating_sub(removed.len());
                if s.unfinished == 0 {
                    s.joiners.notify_all((), &mut wakers);
                }
                removed
            } else {
                VecDeque::new()
            };
            s.getters.notify_all((), &mut wakers);
            s.putters.notify_all((), &mut wakers);
            removed
        };
        wake_all(wakers);
        // The items' destructors run with no lock held: they may use the queue.
        drop(removed);
    }
}

/// The future of [`Queue::put`](super::Queue::put). `Send` when `T` is; panics
/// if polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    wait: Wait,
}

/// The future of [`Queue::get`](super::Queue::get). `Send` when `T` is; panics
/// if polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    shared: &'a Shared<T>,
    wait: Wait,
}

/// The future of [`Queue::join`](super::Queue::join). `Send` when `T` is; panics
/// if polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T> {
    shared: &'a Shared<T>,
    wait: Wait,
}

impl<'a, T> Put<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>, item: T) -> Self {
        Put {
            shared,
            item: Some(item),
            wait: Wait::Idle,
        }
    }

    /// Gives up a put that has not completed: leaves the line (passing a wake-up
    /// on) and gives the item back.
    pub(super) fn cancel(mut self) -> Option<T> {
        self.shared.drop_put(&mut self.wait);
        self.item.take()
    }
}

impl<'a, T> Get<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        Get {
            shared,
            wait: Wait::Idle,
        }
    }
}

impl<'a, T> Join<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        Join {
            shared,
            wait: Wait::Idle,
        }
    }
}

// The item is never pinned: it is moved into the queue or back to the caller.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared.poll_put(&mut this.item, &mut this.wait, cx)
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared.poll_get(&mut this.wait, cx)
    }
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.shared.poll_join(&mut this.wait, cx)
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        self.shared.drop_put(&mut self.wait);
        // The item, if still here, is dropped with the future, after this.
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        self.shared.drop_get(&mut self.wait);
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        self.shared.drop_join(&mut self.wait);
    }
}

macro_rules! debug_wait {
    ($($name:ident),*) => {$(
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("wait", &self.wait)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_wait!(Put, Get, Join);
