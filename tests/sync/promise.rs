//! Promise: set/cancel/done/cancelled/result and their errors, awaiting from many
//! tasks, dropped awaiters, done callbacks scheduled through call_soon in order (and
//! removable), callbacks outside a runtime, and re-entrant use from `T::clone`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::sync::{CancelledError, InvalidStateError, Promise, PromiseError};

use super::*;
use crate::support::{poll_once, yield_until};

any_driver_test! {
    fn promise_set_cancel_and_result(mode) {
        mode.run(async {
            let promise = Promise::default();
            assert!(!promise.done() && !promise.cancelled());
            assert_eq!(promise.result(), Err(PromiseError::InvalidState));
            assert_eq!(format!("{promise:?}"), r#"Promise { state: "pending" }"#);
            assert_eq!(promise.set_result(String::from("one")), Ok(()));
            assert!(promise.done() && !promise.cancelled());
            // A second set is an error and changes nothing; so is cancelling now.
            assert_eq!(promise.set_result(String::from("two")), Err(InvalidStateError));
            assert!(!promise.cancel());
            assert_eq!(promise.result().as_deref(), Ok("one"));
            assert_eq!(format!("{promise:?}"), r#"Promise { result: "one" }"#);
            // Another handle sees the same slot.
            let other = promise.clone();
            assert_eq!(other.result().as_deref(), Ok("one"));
            assert_eq!(other.wait().await.as_deref(), Ok("one"));

            let promise = Promise::<u32>::new();
            assert!(promise.cancel());
            assert!(promise.done() && promise.cancelled());
            assert!(!promise.cancel());
            assert_eq!(promise.set_result(1), Err(InvalidStateError));
            assert_eq!(promise.result(), Err(PromiseError::Cancelled));
            assert_eq!(promise.wait().await, Err(CancelledError));
            assert_eq!((&promise).await, Err(CancelledError));
            assert_eq!(promise.await, Err(CancelledError));

            // The errors.
            assert_eq!(PromiseError::from(CancelledError), PromiseError::Cancelled);
            assert_eq!(PromiseError::from(InvalidStateError), PromiseError::InvalidState);
            assert_eq!(CancelledError.to_string(), "the operation was cancelled");
            assert!(!InvalidStateError.to_string().is_empty());
            assert!(!PromiseError::InvalidState.to_string().is_empty());
            let boxed: Box<dyn std::error::Error> = Box::new(PromiseError::Cancelled);
            assert_eq!(boxed.to_string(), CancelledError.to_string());
        });
    }
}

any_driver_test! {
    fn promise_awaited_by_many_tasks(mode) {
        mode.run(async {
            let promise = Promise::new();
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let promise = promise.clone();
                    ringloop::spawn(async move { promise.await })
                })
                .collect();
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            assert!(tasks.iter().all(|t| !t.is_finished()));
            let setter = promise.clone();
            ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(2)).await;
                setter.set_result(vec![1, 2, 3]).unwrap();
            });
            let results = ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("awaiters hung");
            assert!(results.iter().all(|r| r == &Ok(Ok(vec![1, 2, 3]))));

            // Cancelled: every awaiter gets CancelledError.
            let promise = Promise::<u8>::new();
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let promise = promise.clone();
                    ringloop::spawn(async move { promise.wait().await })
                })
                .collect();
            ringloop::yield_now().await;
            assert!(promise.cancel());
            let results = ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("awaiters hung");
            assert!(results.iter().all(|r| r == &Ok(Err(CancelledError))));
        });
    }
}

any_driver_test! {
    fn promise_dropped_awaiters_do_not_cancel_it(mode) {
        mode.run(async {
            let promise = Promise::new();
            // Futures dropped before their first poll, while waiting, and after the
            // value arrived but before being polled again.
            drop(promise.wait());
            let mut waiting = promise.wait();
            assert!(poll_once(&mut waiting).is_pending());
            let mut kept = promise.wait();
            assert!(poll_once(&mut kept).is_pending());
            let mut notified = promise.wait();
            assert!(poll_once(&mut notified).is_pending());
            drop(waiting);
            // A task awaiting it, cancelled.
            let task = {
                let promise = promise.clone();
                ringloop::spawn(async move { promise.await })
            };
            ringloop::yield_now().await;
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            assert!(!promise.done(), "dropping awaiters does not cancel the promise");
            promise.set_result(5).unwrap();
            drop(notified);
            assert_eq!(poll_once(&mut kept), Poll::Ready(Ok(5)));
        });
    }
}

any_driver_test! {
    fn promise_callbacks_run_through_call_soon_in_order(mode) {
        mode.run(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let promise = Promise::new();
            let push = |what: &'static str| {
                let log = log.clone();
                move |p: &Promise<u32>| log.borrow_mut().push(format!("{what} {:?}", p.result()))
            };
            promise.add_done_callback(push("first"));
            let removed = promise.add_done_callback(push("removed"));
            promise.add_done_callback(push("second"));
            assert!(promise.remove_done_callback(removed));
            assert!(!promise.remove_done_callback(removed));
            {
                let log = log.clone();
                ringloop::call_soon(move || log.borrow_mut().push("call_soon before".into()));
            }
            promise.set_result(7).unwrap();
            assert!(log.borrow().is_empty(), "callbacks do not run inline");
            {
                let log = log.clone();
                ringloop::call_soon(move || log.borrow_mut().push("call_soon after".into()));
            }
            // Once done, a removal finds nothing (the callbacks are scheduled), and a
            // new callback is scheduled at once.
            let late = promise.add_done_callback(push("late"));
            assert!(!promise.remove_done_callback(late));
            assert!(yield_until(10, || log.borrow().len() == 5).await);
            assert_eq!(
                *log.borrow(),
                [
                    "call_soon before",
                    "first Ok(7)",
                    "second Ok(7)",
                    "call_soon after",
                    "late Ok(7)",
                ]
            );
            // Cancellation schedules them too.
            let cancelled = Promise::<u32>::new();
            let hits = Rc::new(Cell::new(0));
            let h = hits.clone();
            cancelled.add_done_callback(move |p| {
                assert!(p.cancelled());
                h.set(h.get() + 1);
            });
            cancelled.cancel();
            assert_eq!(hits.get(), 0);
            assert!(yield_until(10, || hits.get() == 1).await);
        });
    }
}

#[test]
fn promise_outside_a_runtime_runs_callbacks_inline() {
    let promise = Promise::new();
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    promise.add_done_callback(move |p| s.set(p.result().unwrap()));
    promise.set_result(3).unwrap();
    assert_eq!(seen.get(), 3);
    let s = seen.clone();
    promise.add_done_callback(move |_| s.set(4));
    assert_eq!(seen.get(), 4);
    // Awaiting a done promise needs no runtime.
    assert_eq!(poll_once(&mut promise.wait()), Poll::Ready(Ok(3)));
}

/// A value whose `clone` calls back into the promise that holds it.
struct Reentrant {
    promise: Rc<RefCell<Option<Promise<Reentrant>>>>,
    clones: Rc<Cell<usize>>,
}

impl Clone for Reentrant {
    fn clone(&self) -> Reentrant {
        if let Some(promise) = self.promise.borrow().as_ref() {
            let again = Reentrant {
                promise: Rc::new(RefCell::new(None)),
                clones: self.clones.clone(),
            };
            assert_eq!(promise.set_result(again), Err(InvalidStateError));
            assert!(!promise.cancel());
            assert!(promise.done() && !promise.cancelled());
            promise.add_done_callback(|_| {});
        }
        self.clones.set(self.clones.get() + 1);
        Reentrant {
            promise: Rc::new(RefCell::new(None)),
            clones: self.clones.clone(),
        }
    }
}

any_driver_test! {
    fn promise_value_clone_may_reenter(mode) {
        mode.run(async {
            let promise = Promise::new();
            let slot = Rc::new(RefCell::new(Some(promise.clone())));
            let clones = Rc::new(Cell::new(0));
            let value = Reentrant {
                promise: slot.clone(),
                clones: clones.clone(),
            };
            promise.set_result(value).unwrap();
            assert!(promise.result().is_ok());
            assert!(promise.wait().await.is_ok());
            assert_eq!(clones.get(), 2);
            // Break the cycle (the value holds its own promise).
            slot.borrow_mut().take();
        });
    }
}
