//! Pinned futures stay where they were pinned: a `!Unpin` future is dropped at the
//! address it was polled at, whether it completes, is cancelled, panics, or its
//! runtime is dropped; in a task and inside every combinator that runs futures.
//!
//! A future whose destructor relies on its address (an intrusive wait list: its
//! node is linked into a list while it waits, and unlinked by `Drop`) corrupts
//! memory if it is moved between its last poll and its drop.

mod support;

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use ringloop::{JoinError, TaskGroup};
use support::yield_until;

/// Where a [`Pinned`] future was polled and dropped.
#[derive(Default, Debug)]
struct Addresses {
    polled: RefCell<Vec<usize>>,
    dropped: RefCell<Vec<usize>>,
}

#[derive(Clone, Default, Debug)]
struct Probe(Rc<Addresses>);

impl Probe {
    fn new() -> Probe {
        Probe::default()
    }

    fn polls(&self) -> usize {
        self.0.polled.borrow().len()
    }

    fn drops(&self) -> usize {
        self.0.dropped.borrow().len()
    }

    /// The future was polled, then dropped once, always at the same address.
    #[track_caller]
    fn assert_dropped_in_place(&self, what: &str) {
        let polled = self.0.polled.borrow();
        let dropped = self.0.dropped.borrow();
        assert!(!polled.is_empty(), "{what}: never polled");
        assert_eq!(dropped.len(), 1, "{what}: dropped {} times", dropped.len());
        for &at in polled.iter() {
            assert_eq!(
                at, polled[0],
                "{what}: polled at two addresses ({polled:x?}): moved while pinned"
            );
        }
        assert_eq!(
            dropped[0], polled[0],
            "{what}: polled at {:#x}, dropped at {:#x}: moved while pinned",
            polled[0], dropped[0]
        );
    }
}

/// What a [`Pinned`] future does at its second poll (the first one always returns
/// `Pending` and wakes itself).
#[derive(Clone, Copy, Debug)]
enum Then {
    /// Stays pending, without waking itself.
    Wait,
    Ok(u32),
    Err(&'static str),
    Panic,
}

/// A `!Unpin` future that records the address it is polled and dropped at, like
/// the node of an intrusive wait list would need to.
struct Pinned {
    probe: Probe,
    then: Then,
    polled: bool,
    /// Makes the destructor panic (after recording the address).
    panic_on_drop: bool,
    // Some bulk, so that a move is a real copy of a sizeable value.
    _payload: [u64; 8],
    _pin: PhantomPinned,
}

fn pinned(probe: &Probe, then: Then) -> Pinned {
    Pinned {
        probe: probe.clone(),
        then,
        polled: false,
        panic_on_drop: false,
        _payload: [0; 8],
        _pin: PhantomPinned,
    }
}

impl Future for Pinned {
    type Output = Result<u32, &'static str>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let at = &*self as *const Pinned as usize;
        self.probe.0.polled.borrow_mut().push(at);
        // SAFETY: only a `bool` field is written; nothing is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        if !this.polled {
            this.polled = true;
            if !matches!(this.then, Then::Wait) {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        match this.then {
            Then::Wait => Poll::Pending,
            Then::Ok(value) => Poll::Ready(Ok(value)),
            Then::Err(error) => Poll::Ready(Err(error)),
            Then::Panic => panic!("a pinned future panics"),
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let at = self as *const Pinned as usize;
        self.probe.0.dropped.borrow_mut().push(at);
        if self.panic_on_drop {
            panic!("a pinned future's destructor panics");
        }
    }
}

// ----- the task cell ---------------------------------------------------------------

any_driver_test! {
    fn a_task_is_dropped_where_it_was_polled(mode) {
        mode.run(async {
            let completes = Probe::new();
            let handle = ringloop::spawn(pinned(&completes, Then::Ok(7)));
            assert_eq!(handle.await, Ok(Ok(7)));
            completes.assert_dropped_in_place("a task that completed");

            let cancelled = Probe::new();
            let handle = ringloop::spawn(pinned(&cancelled, Then::Wait));
            assert!(yield_until(10, || cancelled.polls() > 0).await);
            assert!(handle.cancel());
            assert_eq!(handle.await, Err(JoinError::Cancelled));
            cancelled.assert_dropped_in_place("a cancelled task");

            let panics = Probe::new();
            let handle = ringloop::spawn(pinned(&panics, Then::Panic));
            assert!(handle.await.unwrap_err().is_panic());
            panics.assert_dropped_in_place("a task that panicked");
        });
    }
}

any_driver_test! {
    fn a_task_is_dropped_where_it_was_polled_when_its_runtime_is_dropped(mode) {
        let probe = Probe::new();
        let rt = mode.runtime();
        let handle = rt.spawn(pinned(&probe, Then::Wait));
        let p = probe.clone();
        rt.block_on(async move { assert!(yield_until(10, || p.polls() > 0).await) });
        drop(handle);
        assert_eq!(probe.drops(), 0);
        drop(rt);
        probe.assert_dropped_in_place("a task of a dropped runtime");
    }
}

any_driver_test! {
    fn a_destructor_that_panics_leaves_the_task_consistent(mode) {
        mode.run(async {
            for then in [Then::Ok(1), Then::Wait, Then::Panic] {
                let probe = Probe::new();
                let mut future = pinned(&probe, then);
                future.panic_on_drop = true;
                let handle = ringloop::spawn(future);
                if matches!(then, Then::Wait) {
                    assert!(yield_until(10, || probe.polls() > 0).await);
                    assert!(handle.cancel());
                }
                let error = handle.await.unwrap_err();
                assert!(error.is_panic(), "{then:?}: {error:?}");
                probe.assert_dropped_in_place("a task whose destructor panicked");
            }
            // The runtime goes on.
            assert_eq!(ringloop::spawn(async { 5 }).await, Ok(5));
        });
    }
}

any_driver_test! {
    fn the_main_future_is_dropped_where_it_was_polled(mode) {
        let probe = Probe::new();
        assert_eq!(mode.run(pinned(&probe, Then::Ok(3))), Ok(3));
        probe.assert_dropped_in_place("the main future");
    }
}

// ----- combinators -------------------------------------------------------------------

any_driver_test! {
    fn gather_drops_its_futures_in_place(mode) {
        mode.run(async {
            let (a, b) = (Probe::new(), Probe::new());
            let out = ringloop::gather!(pinned(&a, Then::Ok(1)), pinned(&b, Then::Err("e"))).await;
            assert_eq!(out, (Ok(1), Err("e")));
            a.assert_dropped_in_place("gather!, completed");
            b.assert_dropped_in_place("gather!, completed");

            let (a, b) = (Probe::new(), Probe::new());
            let gather = ringloop::gather!(pinned(&a, Then::Ok(1)), pinned(&b, Then::Wait));
            let timed_out = ringloop::wait_for(Duration::from_millis(5), gather).await;
            assert!(timed_out.is_err());
            a.assert_dropped_in_place("gather!, dropped");
            b.assert_dropped_in_place("gather!, dropped");

            let probes: Vec<_> = (0..4).map(|_| Probe::new()).collect();
            let all = ringloop::gather_all(probes.iter().map(|p| pinned(p, Then::Ok(2)))).await;
            assert_eq!(all, [Ok(2); 4]);
            let probes2: Vec<_> = (0..4).map(|_| Probe::new()).collect();
            let thens = [Then::Ok(1), Then::Wait, Then::Ok(2), Then::Wait];
            let all = ringloop::gather_all(probes2.iter().zip(thens).map(|(p, t)| pinned(p, t)));
            assert!(ringloop::wait_for(Duration::from_millis(5), all).await.is_err());
            for probe in probes.iter().chain(&probes2) {
                probe.assert_dropped_in_place("gather_all");
            }
        });
    }
}

any_driver_test! {
    fn try_gather_drops_its_futures_in_place(mode) {
        mode.run(async {
            let (a, b, c) = (Probe::new(), Probe::new(), Probe::new());
            let out = ringloop::try_gather!(
                pinned(&a, Then::Ok(1)),
                pinned(&b, Then::Wait),
                pinned(&c, Then::Err("boom")),
            )
            .await;
            assert_eq!(out, Err("boom"));
            for probe in [&a, &b, &c] {
                probe.assert_dropped_in_place("try_gather!");
            }

            let probes: Vec<_> = (0..4).map(|_| Probe::new()).collect();
            let thens = [Then::Ok(1), Then::Wait, Then::Err("boom"), Then::Wait];
            let out = ringloop::try_gather_all(probes.iter().zip(thens).map(|(p, t)| pinned(p, t)))
                .await;
            assert_eq!(out, Err("boom"));
            for probe in &probes {
                probe.assert_dropped_in_place("try_gather_all");
            }
        });
    }
}

any_driver_test! {
    fn as_completed_drops_its_futures_in_place(mode) {
        mode.run(async {
            let probes: Vec<_> = (0..3).map(|_| Probe::new()).collect();
            let thens = [Then::Ok(1), Then::Wait, Then::Ok(2)];
            let mut stream = ringloop::as_completed(probes.iter().zip(thens).map(|(p, t)| pinned(p, t)));
            assert_eq!(stream.next().await, Some(Ok(1)));
            assert_eq!(stream.next().await, Some(Ok(2)));
            assert_eq!(stream.size_hint(), (1, Some(1)));
            drop(stream);
            for probe in &probes {
                probe.assert_dropped_in_place("as_completed");
            }
        });
    }
}

any_driver_test! {
    fn wait_for_drops_its_future_in_place(mode) {
        mode.run(async {
            let done = Probe::new();
            let out = ringloop::wait_for(Duration::from_secs(60), pinned(&done, Then::Ok(4))).await;
            assert_eq!(out, Ok(Ok(4)));
            done.assert_dropped_in_place("wait_for, completed");

            let late = Probe::new();
            let out = ringloop::wait_for(Duration::from_millis(5), pinned(&late, Then::Wait)).await;
            assert!(out.is_err());
            late.assert_dropped_in_place("wait_for, timed out");
        });
    }
}

any_driver_test! {
    fn task_group_members_and_shielded_work_are_dropped_in_place(mode) {
        mode.run(async {
            let probes: Vec<_> = (0..3).map(|_| Probe::new()).collect();
            let group = TaskGroup::new();
            for (probe, then) in probes.iter().zip([Then::Ok(1), Then::Wait, Then::Err("x")]) {
                group.spawn(pinned(probe, then));
            }
            let error = group.join().await.unwrap_err();
            assert_eq!(error.errors().collect::<Vec<_>>(), [&"x"]);
            for probe in &probes {
                probe.assert_dropped_in_place("a TaskGroup member");
            }

            let shielded = Probe::new();
            let shield = ringloop::shield(pinned(&shielded, Then::Ok(9)));
            assert_eq!(shield.await, Ok(Ok(9)));
            shielded.assert_dropped_in_place("shielded work");
        });
    }
}

any_driver_test! {
    fn a_handle_polled_from_its_own_tasks_destructor_waits_for_the_output(mode) {
        // The destructor runs while the task is completing: the output is not there
        // yet, and the stage must not be touched; the output comes after.
        struct PollsOwnHandle {
            handle: Rc<RefCell<Option<ringloop::JoinHandle<u32>>>>,
            seen: Rc<RefCell<Option<bool>>>,
        }
        impl Drop for PollsOwnHandle {
            fn drop(&mut self) {
                let mut handle = self.handle.borrow_mut();
                let handle = handle.as_mut().expect("the handle is stored");
                assert!(handle.is_finished());
                *self.seen.borrow_mut() = Some(support::poll_once(handle).is_pending());
            }
        }
        mode.run(async {
            let slot = Rc::new(RefCell::new(None));
            let seen = Rc::new(RefCell::new(None));
            let guard = PollsOwnHandle { handle: slot.clone(), seen: seen.clone() };
            // Keeps the guard after it returned: the cell drops it when the task
            // completes.
            struct ReadyWithGuard(Option<PollsOwnHandle>, PhantomPinned);
            impl Future for ReadyWithGuard {
                type Output = u32;
                fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
                    assert!(self.0.is_some());
                    Poll::Ready(42)
                }
            }
            let handle = ringloop::spawn(ReadyWithGuard(Some(guard), PhantomPinned));
            *slot.borrow_mut() = Some(handle);
            assert!(yield_until(10, || seen.borrow().is_some()).await);
            assert_eq!(*seen.borrow(), Some(true), "the output was readable during the drop");
            let handle = slot.borrow_mut().take().unwrap();
            assert_eq!(handle.await, Ok(42));
        });
    }
}
