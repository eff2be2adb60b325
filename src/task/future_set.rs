//! [`FutureSet`]: many futures polled inside one parent future, each only when it
//! was woken ([`WakeList`]); and [`InOrder`], a set that collects the outputs in
//! input order. `gather_all`, `try_gather_all` and `as_completed` are thin layers
//! over these.
//!
//! ```text
//!   slot i:  Some(future) ──poll: Ready(output)──▶ None    (future dropped at once,
//!                │                                           output handed over)
//!                └──────────── clear() ─────────▶ None    (dropped = cancelled)
//! ```

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wake_list::WakeList;

/// Futures run concurrently by one parent; a finished one is dropped at once.
pub(crate) struct FutureSet<F> {
    futures: Vec<Option<Pin<Box<F>>>>,
    remaining: usize,
    wakes: WakeList,
}

impl<F: Future> FutureSet<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> FutureSet<F> {
        let futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
        let remaining = futures.len();
        FutureSet {
            wakes: WakeList::new(futures.len()),
            futures,
            remaining,
        }
    }

    /// How many futures the set started with.
    pub(crate) fn len(&self) -> usize {
        self.futures.len()
    }

    /// How many futures have not finished (nor been cleared).
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// Polls the futures that were woken. Each one that finishes is dropped and its
    /// output handed to `on_ready(index, output)`; `Break` stops there (the other
    /// woken futures are polled next time).
    pub(crate) fn poll_ready<B>(
        &mut self,
        cx: &mut Context<'_>,
        mut on_ready: impl FnMut(usize, F::Output) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let FutureSet {
            futures,
            remaining,
            wakes,
        } = self;
        wakes.for_each_woken(cx, |index, cx| {
            let Some(future) = &mut futures[index] else {
                return ControlFlow::Continue(());
            };
            let Poll::Ready(output) = future.as_mut().poll(cx) else {
                return ControlFlow::Continue(());
            };
            futures[index] = None;
            *remaining -= 1;
            on_ready(index, output)
        })
    }

    /// Drops every unfinished future now.
    pub(crate) fn clear(&mut self) {
        // One at a time, so a destructor that panics leaves the others droppable.
        for slot in &mut self.futures {
            *slot = None;
        }
        self.remaining = 0;
    }
}

/// A [`FutureSet`] whose outputs, mapped to `T`, are collected in input order.
pub(crate) struct InOrder<F, T> {
    set: FutureSet<F>,
    outputs: Vec<Option<T>>,
}

impl<F: Future, T> InOrder<F, T> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> InOrder<F, T> {
        let set = FutureSet::new(futures);
        let outputs = (0..set.len()).map(|_| None).collect();
        InOrder { set, outputs }
    }

    /// Polls the woken futures, keeping what `split` makes of each output; resolves
    /// to every output in input order once all finished, or to `Err(b)` as soon as
    /// `split` breaks with `b`, in which case the other futures and the outputs kept
    /// so far are dropped before this returns.
    pub(crate) fn poll_collect<B>(
        &mut self,
        cx: &mut Context<'_>,
        mut split: impl FnMut(F::Output) -> ControlFlow<B, T>,
    ) -> Poll<Result<Vec<T>, B>> {
        let outputs = &mut self.outputs;
        let flow = self.set.poll_ready(cx, |index, output| {
            outputs[index] = Some(split(output)?);
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(b) = flow {
            self.set.clear();
            self.outputs = Vec::new();
            return Poll::Ready(Err(b));
        }
        if self.set.remaining() > 0 {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut self.outputs)
            .into_iter()
            .map(|output| output.expect("every future of the set finished"))
            .collect();
        Poll::Ready(Ok(outputs))
    }
}
