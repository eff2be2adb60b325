//! `shutdown(false)` and `shutdown(true)` (Python 3.13 semantics) in every state:
//! items left, blocked getters, a getter woken for an item that has not run yet,
//! blocked putters, joiners, streams; calling it twice; items whose destructors use
//! the queue.

mod support;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use ringloop::queue::{Queue, QueueShutDown, TryGetError, TryPutError};
use ringloop::{wait_for, JoinHandle};
use support::{poll_once, yield_turns, DropToken, Drops};

const GUARD: Duration = Duration::from_secs(5);

fn spawn_get<T: 'static>(q: &Queue<T>) -> JoinHandle<Result<T, QueueShutDown>> {
    let q = q.clone();
    ringloop::spawn(async move { q.get().await })
}

fn spawn_put<T: 'static>(q: &Queue<T>, item: T) -> JoinHandle<Result<(), QueueShutDown<T>>> {
    let q = q.clone();
    ringloop::spawn(async move { q.put(item).await })
}

/// A task that joins `q` and sets the returned flag when the join returns.
fn spawn_join<T: 'static>(q: &Queue<T>) -> (Rc<Cell<bool>>, JoinHandle<()>) {
    let joined = Rc::new(Cell::new(false));
    let (q, flag) = (q.clone(), joined.clone());
    let handle = ringloop::spawn(async move {
        q.join().await;
        flag.set(true);
    });
    (joined, handle)
}

any_driver_test! {
    fn shutdown_false_drains_then_fails(mode) {
        mode.run(async {
            let q = Queue::new(2);
            q.put(1).await.unwrap();
            q.put(2).await.unwrap();
            let putter = spawn_put(&q, 3);
            let (joined, joiner) = spawn_join(&q);
            yield_turns(3).await;
            q.shutdown(false);
            assert!(q.is_shut_down());
            // The blocked putter fails and gets its item back; new puts fail.
            assert_eq!(wait_for(GUARD, putter).await.unwrap().unwrap(), Err(QueueShutDown(3)));
            assert_eq!(q.put(4).await, Err(QueueShutDown(4)));
            assert_eq!(q.put_nowait(5), Err(TryPutError::ShutDown(QueueShutDown(5))));
            // Gets drain what is left, then fail.
            assert_eq!(q.qsize(), 2);
            assert_eq!(q.get().await, Ok(1));
            assert_eq!(q.get_nowait(), Ok(2));
            assert_eq!(q.get().await, Err(QueueShutDown(())));
            assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown(QueueShutDown(()))));
            // join still waits for the task_done of the items taken.
            yield_turns(3).await;
            assert!(!joined.get());
            q.task_done().unwrap();
            q.task_done().unwrap();
            wait_for(GUARD, joiner).await.unwrap().unwrap();
            assert!(joined.get());
            assert!(q.task_done().is_err());
        });
    }
}

any_driver_test! {
    fn shutdown_false_fails_waiting_getters_but_woken_ones_take_what_is_left(mode) {
        mode.run(async {
            let q = Queue::new(0);
            let getters: Vec<_> = (0..4).map(|_| spawn_get(&q)).collect();
            yield_turns(2).await;
            // The first getter is woken for this item before the shutdown: it gets it.
            q.put_nowait("left").unwrap();
            q.shutdown(false);
            let mut results = Vec::new();
            for g in getters {
                results.push(wait_for(GUARD, g).await.unwrap().unwrap());
            }
            assert_eq!(
                results,
                [
                    Ok("left"),
                    Err(QueueShutDown(())),
                    Err(QueueShutDown(())),
                    Err(QueueShutDown(()))
                ]
            );
            assert!(q.empty());
        });
    }
}

any_driver_test! {
    fn shutdown_true_drops_items_and_releases_join(mode) {
        mode.run(async {
            let drops = Drops::new();
            let q = Queue::new(3);
            for _ in 0..3 {
                q.put(drops.token()).await.unwrap();
            }
            let putter = spawn_put(&q, drops.token());
            let taken = q.get().await.unwrap(); // taken, not yet marked done
            yield_turns(2).await; // the putter fills the place
            assert_eq!(q.qsize(), 3);
            let (joined, joiner) = spawn_join(&q);
            yield_turns(2).await;
            assert_eq!(q.unfinished_tasks(), 4);
            q.shutdown(true);
            assert_eq!(q.qsize(), 0);
            assert_eq!(drops.count(), 3, "the items left are dropped");
            assert_eq!(q.unfinished_tasks(), 1);
            assert!(wait_for(GUARD, putter).await.unwrap().unwrap().is_ok());
            assert!(matches!(q.get().await, Err(QueueShutDown(()))));
            assert!(matches!(q.put(drops.token()).await, Err(QueueShutDown(_))));
            // The taken item still needs its task_done.
            yield_turns(3).await;
            assert!(!joined.get());
            drop(taken);
            q.task_done().unwrap();
            wait_for(GUARD, joiner).await.unwrap().unwrap();
            assert_eq!(drops.count(), 5);

            // With nothing taken, the joiners are released by the shutdown itself.
            let q = Queue::new(0);
            q.put_nowait(drops.token()).unwrap();
            let (joined, joiner) = spawn_join(&q);
            let getter = {
                let q2 = Queue::<DropToken>::new(0);
                let g = spawn_get(&q2);
                yield_turns(2).await;
                q2.shutdown(true);
                g
            };
            yield_turns(2).await;
            assert!(!joined.get());
            q.shutdown(true);
            wait_for(GUARD, joiner).await.unwrap().unwrap();
            assert!(joined.get());
            assert!(matches!(wait_for(GUARD, getter).await.unwrap().unwrap(), Err(QueueShutDown(()))));
        });
    }
}

any_driver_test! {
    fn shutdown_true_fails_blocked_putters_and_woken_getters(mode) {
        mode.run(async {
            let drops = Drops::new();
            // A getter woken for an item that shutdown(true) then drops fails.
            let q = Queue::new(1);
            let getter = spawn_get(&q);
            yield_turns(2).await;
            q.put_nowait(drops.token()).unwrap();
            q.shutdown(true);
            assert_eq!(drops.count(), 1);
            assert!(matches!(wait_for(GUARD, getter).await.unwrap().unwrap(), Err(QueueShutDown(()))));

            // Putters blocked on a full queue, one of them already woken for a place.
            let q = Queue::new(1);
            q.put_nowait(drops.token()).unwrap();
            let putters: Vec<_> = (0..3).map(|_| spawn_put(&q, drops.token())).collect();
            yield_turns(2).await;
            drop(q.get_nowait().unwrap()); // wakes the first putter
            q.shutdown(true);
            for p in putters {
                assert!(matches!(wait_for(GUARD, p).await.unwrap().unwrap(), Err(QueueShutDown(_))));
            }
            assert_eq!(drops.count(), 5);
            assert_eq!(q.unfinished_tasks(), 1, "one item was taken, none marked done");
        });
    }
}

any_driver_test! {
    fn shutdown_ends_streams(mode) {
        mode.run(async {
            for immediate in [false, true] {
                let q = Queue::new(0);
                q.put_nowait(1).unwrap();
                q.put_nowait(2).unwrap();
                let reader = {
                    let q = q.clone();
                    ringloop::spawn(async move {
                        let mut items = q.stream();
                        let mut got = Vec::new();
                        while let Some(item) =
                            poll_fn(|cx| Pin::new(&mut items).poll_next(cx)).await
                        {
                            got.push(item);
                        }
                        got
                    })
                };
                yield_turns(3).await; // the reader took both and waits
                q.put_nowait(3).unwrap();
                q.shutdown(immediate);
                let got = wait_for(GUARD, reader).await.unwrap().unwrap();
                // The reader was woken for 3 before the shutdown; shutdown(true) drops it.
                let expected: &[i32] = if immediate { &[1, 2] } else { &[1, 2, 3] };
                assert_eq!(got, expected, "immediate = {immediate}");
            }
        });
    }
}

any_driver_test! {
    fn shutdown_twice_and_task_done_after_shutdown(mode) {
        mode.run(async {
            let q = Queue::new(0);
            for i in 0..3 {
                q.put_nowait(i).unwrap();
            }
            q.shutdown(false);
            q.shutdown(false);
            assert_eq!(q.get_nowait(), Ok(0));
            q.task_done().unwrap();
            q.shutdown(true);
            assert_eq!(q.qsize(), 0);
            assert_eq!(q.unfinished_tasks(), 0);
            wait_for(GUARD, q.join()).await.unwrap();
            assert!(q.task_done().is_err());
        });
    }
}

/// An item that uses its queue when dropped.
struct Noisy {
    q: Rc<RefCell<Option<Queue<Noisy>>>>,
    log: Rc<RefCell<Vec<String>>>,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        let q = self.q.borrow().clone();
        if let Some(q) = q {
            let again = Noisy {
                q: Rc::new(RefCell::new(None)),
                log: self.log.clone(),
            };
            let put = q.put_nowait(again).map_err(|e| e.is_shut_down());
            self.log
                .borrow_mut()
                .push(format!("qsize {} put {:?}", q.qsize(), put));
        }
    }
}

any_driver_test! {
    fn items_dropped_by_shutdown_may_use_the_queue(mode) {
        mode.run(async {
            let q = Queue::new(0);
            let slot = Rc::new(RefCell::new(Some(q.clone())));
            let log = Rc::new(RefCell::new(Vec::new()));
            for _ in 0..2 {
                let item = Noisy { q: slot.clone(), log: log.clone() };
                assert!(q.put_nowait(item).is_ok());
            }
            q.shutdown(true);
            assert_eq!(*log.borrow(), ["qsize 0 put Err(true)", "qsize 0 put Err(true)"]);
            // Break the cycle queue -> item -> queue.
            slot.borrow_mut().take();
            let mut get = Box::pin(q.get());
            assert!(matches!(poll_once(&mut get), Poll::Ready(Err(_))));
        });
    }
}
