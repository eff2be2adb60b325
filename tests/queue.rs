//! Queues: FIFO, LIFO and priority order; `maxsize` blocking and the order in which
//! blocked putters and getters are woken; a woken waiter whose item (place) another
//! task took first waits again, as in asyncio;
//! `put_nowait`/`get_nowait` errors giving the item back; `task_done` and `join`;
//! `stream()`; no wake-up when nobody waits; re-entrant wakers.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::stream::FusedStream;
use ringloop::queue::{
    LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, QueueShutDown, TaskDoneError,
    TryGetError, TryPutError,
};
use ringloop::wait_for;
use support::{next, poll_once, yield_turns, Drops};

/// Bound on anything a test waits for: a bug fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(5);

any_driver_test! {
    fn fifo_lifo_and_priority_order(mode) {
        mode.run(async {
            let items = [5, 3, 8, 1, 9, 3, 7];
            let fifo = Queue::new(0);
            let lifo = LifoQueue::new(0);
            let prio = PriorityQueue::new(0);
            for i in items {
                fifo.put(i).await.unwrap();
                lifo.put(i).await.unwrap();
                prio.put(i).await.unwrap();
            }
            assert_eq!((fifo.qsize(), lifo.qsize(), prio.qsize()), (7, 7, 7));
            let mut got = (Vec::new(), Vec::new(), Vec::new());
            for _ in items {
                got.0.push(fifo.get().await.unwrap());
                got.1.push(lifo.get().await.unwrap());
                got.2.push(prio.get().await.unwrap());
            }
            assert_eq!(got.0, [5, 3, 8, 1, 9, 3, 7]);
            assert_eq!(got.1, [7, 3, 9, 1, 8, 3, 5]);
            assert_eq!(got.2, [1, 3, 3, 5, 7, 8, 9]);
            assert!(fifo.empty() && lifo.empty() && prio.empty());

            // Priority with a tie-breaker keeps equal priorities in put order.
            let tasks = PriorityQueue::new(0);
            for (seq, (prio, name)) in [(2, "b"), (1, "a"), (2, "c"), (1, "d")].into_iter().enumerate() {
                tasks.put_nowait((prio, seq, name)).unwrap();
            }
            let names: Vec<_> = (0..4).map(|_| tasks.get_nowait().unwrap().2).collect();
            assert_eq!(names, ["a", "d", "b", "c"]);
        });
    }
}

any_driver_test! {
    fn put_waits_while_full_and_putters_wake_in_arrival_order(mode) {
        mode.run(async {
            let q = Queue::new(2);
            assert_eq!(q.maxsize(), 2);
            q.put(0).await.unwrap();
            q.put(1).await.unwrap();
            assert!(q.full());
            let order = Rc::new(RefCell::new(Vec::new()));
            let putters: Vec<_> = (2..6)
                .map(|i| {
                    let (q, order) = (q.clone(), order.clone());
                    ringloop::spawn(async move {
                        q.put(i).await.unwrap();
                        order.borrow_mut().push(i);
                    })
                })
                .collect();
            yield_turns(10).await;
            assert!(order.borrow().is_empty(), "putters went past a full queue");
            assert_eq!(q.qsize(), 2);
            let mut got = Vec::new();
            for _ in 0..6 {
                got.push(wait_for(GUARD, q.get()).await.unwrap().unwrap());
                // Each get makes room for exactly one putter.
                ringloop::yield_now().await;
                assert!(q.qsize() <= 2);
            }
            assert_eq!(got, [0, 1, 2, 3, 4, 5]);
            assert_eq!(*order.borrow(), [2, 3, 4, 5]);
            for p in putters {
                wait_for(GUARD, p).await.unwrap().unwrap();
            }
        });
    }
}

any_driver_test! {
    fn getters_wake_in_arrival_order(mode) {
        mode.run(async {
            let q = Queue::new(0);
            let log = Rc::new(RefCell::new(Vec::new()));
            let getters: Vec<_> = (0..5)
                .map(|name| {
                    let (q, log) = (q.clone(), log.clone());
                    ringloop::spawn(async move {
                        let item = q.get().await.unwrap();
                        log.borrow_mut().push((name, item));
                    })
                })
                .collect();
            ringloop::yield_now().await;
            for item in ["a", "b", "c", "d", "e"] {
                q.put(item).await.unwrap();
            }
            for g in getters {
                wait_for(GUARD, g).await.unwrap().unwrap();
            }
            assert_eq!(
                *log.borrow(),
                [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]
            );
        });
    }
}

any_driver_test! {
    fn a_barged_getter_waits_again_as_in_asyncio(mode) {
        mode.run(async {
            let q = Queue::new(0);
            let log = Rc::new(RefCell::new(Vec::new()));
            let getter = |name: &'static str| {
                let (q, log) = (q.clone(), log.clone());
                ringloop::spawn(async move {
                    let item = q.get().await.unwrap();
                    log.borrow_mut().push((name, item));
                })
            };
            let first = getter("first");
            yield_turns(2).await;
            let later = getter("later");
            yield_turns(2).await;
            // The first getter is woken for this item, but before it runs another
            // task takes it, as asyncio allows: qsize counted it, get_nowait gets it.
            q.put_nowait("x").unwrap();
            assert_eq!((q.qsize(), q.empty()), (1, false));
            assert_eq!(q.get_nowait(), Ok("x"));
            yield_turns(3).await;
            assert!(log.borrow().is_empty());
            // The first getter found nothing and waits again, behind `later`, as
            // asyncio's does; no wake-up was lost on the way.
            assert!(format!("{q:?}").contains("getters: 2"), "{q:?}");
            q.put_nowait("y").unwrap();
            q.put_nowait("z").unwrap();
            wait_for(GUARD, first).await.unwrap().unwrap();
            wait_for(GUARD, later).await.unwrap().unwrap();
            assert_eq!(*log.borrow(), [("later", "y"), ("first", "z")]);
        });
    }
}

any_driver_test! {
    fn a_barged_putter_waits_again_as_in_asyncio(mode) {
        mode.run(async {
            let q = Queue::new(1);
            q.put_nowait(0).unwrap();
            let putter = |item: u32| {
                let q = q.clone();
                ringloop::spawn(async move { q.put(item).await.unwrap() })
            };
            let first = putter(1);
            yield_turns(2).await;
            let later = putter(2);
            yield_turns(2).await;
            // A place frees up and the first putter is woken, but another task fills
            // it before the putter runs: full() was false, so put_nowait succeeds.
            assert_eq!(q.get_nowait(), Ok(0));
            assert!(!q.full());
            assert_eq!(q.put_nowait(9), Ok(()));
            yield_turns(3).await;
            assert!(format!("{q:?}").contains("putters: 2"), "{q:?}");
            // The first putter waits again, behind `later`, as asyncio's does.
            assert_eq!(q.get_nowait(), Ok(9));
            yield_turns(3).await;
            assert_eq!(q.get_nowait(), Ok(2));
            yield_turns(3).await;
            assert_eq!(q.get_nowait(), Ok(1));
            wait_for(GUARD, first).await.unwrap().unwrap();
            wait_for(GUARD, later).await.unwrap().unwrap();
        });
    }
}

any_driver_test! {
    fn nowait_errors_give_the_item_back(mode) {
        mode.run(async {
            let drops = Drops::new();
            let q = Queue::new(1);
            q.put_nowait(drops.token()).unwrap();
            let err = q.put_nowait(drops.token()).unwrap_err();
            assert!(err.is_full() && !err.is_shut_down());
            assert_eq!(err.to_string(), "queue is full");
            assert_eq!(drops.count(), 0, "the item was dropped instead of given back");
            let token = err.into_inner();
            drop(token);
            assert_eq!(drops.count(), 1);

            let q2 = Queue::<u32>::new(1);
            assert_eq!(q2.get_nowait(), Err(TryGetError::Empty(QueueEmpty)));
            q2.put_nowait(1).unwrap();
            assert_eq!(q2.put_nowait(2), Err(TryPutError::Full(QueueFull(2))));
            assert_eq!(q2.get_nowait(), Ok(1));
            let err = q2.get_nowait().unwrap_err();
            assert!(err.is_empty() && !err.is_shut_down());
            assert_eq!(err.to_string(), "queue is empty");

            q.shutdown(false);
            match q.put_nowait(drops.token()) {
                Err(TryPutError::ShutDown(QueueShutDown(token))) => {
                    assert_eq!(drops.count(), 1);
                    drop(token);
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(q.put(drops.token()).await, Err(QueueShutDown(_))));
            assert_eq!(drops.count(), 3);
            // What was queued before the shutdown still comes out, then the error.
            assert!(q.get_nowait().is_ok());
            assert_eq!(q.get_nowait().unwrap_err(), TryGetError::ShutDown(QueueShutDown(())));
            assert_eq!(q.get_nowait().unwrap_err().to_string(), "queue is shut down");
            assert_eq!(drops.count(), 4);
        });
    }
}

any_driver_test! {
    fn task_done_and_join(mode) {
        mode.run(async {
            let q = Queue::new(0);
            // Nothing unfinished: join returns at once, task_done is an error.
            wait_for(GUARD, q.join()).await.unwrap();
            assert_eq!(q.task_done(), Err(TaskDoneError));
            assert_eq!(TaskDoneError.to_string(), "task_done() called too many times");

            for i in 0..3 {
                q.put(i).await.unwrap();
            }
            assert_eq!(q.unfinished_tasks(), 3);
            let joined = Rc::new(Cell::new(0));
            let joiners: Vec<_> = (0..3)
                .map(|_| {
                    let (q, joined) = (q.clone(), joined.clone());
                    ringloop::spawn(async move {
                        q.join().await;
                        joined.set(joined.get() + 1);
                    })
                })
                .collect();
            // Taking the items is not enough: each needs its task_done.
            for _ in 0..3 {
                q.get().await.unwrap();
            }
            yield_turns(5).await;
            assert_eq!(joined.get(), 0);
            q.task_done().unwrap();
            q.task_done().unwrap();
            yield_turns(5).await;
            assert_eq!(joined.get(), 0);
            q.task_done().unwrap();
            for j in joiners {
                wait_for(GUARD, j).await.unwrap().unwrap();
            }
            assert_eq!(joined.get(), 3);
            assert_eq!(q.task_done(), Err(TaskDoneError));
            assert_eq!(q.unfinished_tasks(), 0);

            // A join woken at zero returns even if an item arrives before it runs.
            q.put_nowait(9).unwrap();
            let mut join = Box::pin(q.join());
            assert!(poll_once(&mut join).is_pending());
            q.get_nowait().unwrap();
            q.task_done().unwrap();
            q.put_nowait(10).unwrap();
            assert_eq!(poll_once(&mut join), Poll::Ready(()));
        });
    }
}

any_driver_test! {
    fn stream_yields_items_and_ends_after_shutdown(mode) {
        mode.run(async {
            let q = Queue::new(3);
            let producer = ringloop::spawn({
                let q = q.clone();
                async move {
                    for i in 0..20 {
                        q.put(i).await.unwrap();
                    }
                    q.shutdown(false);
                }
            });
            let mut items = q.stream();
            let mut got = Vec::new();
            while let Some(item) = wait_for(GUARD, next(&mut items)).await.unwrap() {
                got.push(item);
            }
            assert_eq!(got, (0..20).collect::<Vec<_>>());
            // Ended for good.
            assert!(items.is_terminated());
            assert_eq!(next(&mut items).await, None);
            wait_for(GUARD, producer).await.unwrap().unwrap();
            // A stream made after the shutdown of an empty queue is empty.
            assert_eq!(next(&mut q.stream()).await, None);
        });
    }
}

/// Counts its wakes.
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
    });
    let waker = Waker::from(count.clone());
    (count, waker)
}

any_driver_test! {
    fn ready_put_and_get_wake_nobody(mode) {
        mode.run(async {
            let (count, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            let q = Queue::new(2);
            for round in 0..100 {
                assert_eq!(Pin::new(&mut q.put(round)).poll(&mut cx), Poll::Ready(Ok(())));
                assert_eq!(Pin::new(&mut q.get()).poll(&mut cx), Poll::Ready(Ok(round)));
            }
            assert_eq!(count.wakes.load(Ordering::SeqCst), 0);
            // A waiting getter is woken exactly once per item.
            let mut get = q.get();
            assert!(Pin::new(&mut get).poll(&mut cx).is_pending());
            assert!(Pin::new(&mut get).poll(&mut cx).is_pending());
            q.put_nowait(1).unwrap();
            q.put_nowait(2).unwrap();
            assert_eq!(count.wakes.load(Ordering::SeqCst), 1);
            assert_eq!(Pin::new(&mut get).poll(&mut cx), Poll::Ready(Ok(1)));
        });
    }
}

thread_local! {
    /// The queues a [`Reentrant`] waker looks at, and what it saw.
    static WATCHED: RefCell<(Vec<Queue<u32>>, Vec<usize>)> = RefCell::default();
}

/// A waker that calls back into the queues of [`WATCHED`] when woken: each call
/// would panic ("already mutably borrowed") if a queue woke it while holding its
/// state.
struct Reentrant;

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        WATCHED.with(|w| {
            let (queues, seen) = &mut *w.borrow_mut();
            for q in queues.iter() {
                seen.push(q.qsize() + usize::from(q.full()) + usize::from(q.is_shut_down()));
            }
        });
    }
}

any_driver_test! {
    fn wakers_run_with_no_borrow_held(mode) {
        mode.run(async {
            let q = Queue::new(1);
            let q2 = Queue::new(0);
            WATCHED.with(|w| w.borrow_mut().0 = vec![q.clone(), q2.clone()]);
            let waker = Waker::from(Arc::new(Reentrant));
            let mut cx = Context::from_waker(&waker);
            // A getter woken by a put.
            let mut get = q.get();
            assert!(Pin::new(&mut get).poll(&mut cx).is_pending());
            q.put_nowait(1).unwrap();
            assert_eq!(Pin::new(&mut get).poll(&mut cx), Poll::Ready(Ok(1)));
            // A putter woken by a get.
            q.put_nowait(2).unwrap();
            let mut put = q.put(3);
            assert!(Pin::new(&mut put).poll(&mut cx).is_pending());
            assert_eq!(q.get_nowait(), Ok(2));
            assert_eq!(Pin::new(&mut put).poll(&mut cx), Poll::Ready(Ok(())));
            // A joiner woken by task_done, then by shutdown(true).
            let mut join = q.join();
            assert!(Pin::new(&mut join).poll(&mut cx).is_pending());
            q.task_done().unwrap();
            q.task_done().unwrap();
            q.task_done().unwrap();
            assert_eq!(Pin::new(&mut join).poll(&mut cx), Poll::Ready(()));
            assert_eq!(q.get_nowait(), Ok(3));
            q.put_nowait(4).unwrap();
            let mut join = q.join();
            assert!(Pin::new(&mut join).poll(&mut cx).is_pending());
            let mut put = q.put(5);
            assert!(Pin::new(&mut put).poll(&mut cx).is_pending());
            q.shutdown(true);
            assert_eq!(Pin::new(&mut join).poll(&mut cx), Poll::Ready(()));
            assert_eq!(Pin::new(&mut put).poll(&mut cx), Poll::Ready(Err(QueueShutDown(5))));
            // A getter woken by shutdown(false).
            let mut get = q2.get();
            assert!(Pin::new(&mut get).poll(&mut cx).is_pending());
            q2.shutdown(false);
            assert_eq!(Pin::new(&mut get).poll(&mut cx), Poll::Ready(Err(QueueShutDown(()))));
            let seen = WATCHED.with(|w| std::mem::take(&mut *w.borrow_mut()).1);
            // Six wakes, each looking at both queues.
            assert_eq!(seen.len(), 12, "{seen:?}");
        });
    }
}

any_driver_test! {
    fn handles_share_one_queue_and_debug_shows_it(mode) {
        mode.run(async {
            let q = LifoQueue::new(4);
            let q2 = q.clone();
            q.put_nowait('x').unwrap();
            assert_eq!(q2.qsize(), 1);
            assert_eq!(q2.get_nowait(), Ok('x'));
            let shown = format!("{q:?}");
            assert!(shown.starts_with("LifoQueue {"), "{shown}");
            assert!(shown.contains("maxsize: 4"), "{shown}");
            assert!(!q.is_shut_down());
            q2.shutdown(false);
            assert!(q.is_shut_down());
        });
    }
}

any_driver_test! {
    fn items_may_borrow_locals(mode) {
        mode.run(async {
            // No 'static bound: a local queue carries borrowed items between the
            // futures of a gather.
            let words = [String::from("borrowed"), String::from("words")];
            let q = PriorityQueue::new(1);
            let (_, got) = ringloop::gather!(
                async {
                    for w in &words {
                        q.put(w.as_str()).await.unwrap();
                    }
                    q.shutdown(false);
                },
                async {
                    let mut got = Vec::new();
                    while let Ok(w) = q.get().await {
                        got.push(w);
                    }
                    got
                }
            )
            .await;
            assert_eq!(got, ["borrowed", "words"]);
        });
    }
}
