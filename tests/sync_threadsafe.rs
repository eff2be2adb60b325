//! `ringloop::sync::threadsafe`: Queue, Event and Semaphore shared by tasks of
//! several runtimes, each on a thread of its own, and by plain threads using the
//! blocking calls.
//!
//! Each test runs on every driver (`matrix_test!`): the wakes cross threads, so they
//! reach a runtime through its remote queue and, when it is parked, its eventfd or
//! ring. Every wait is bounded: a task's work by `support::within`, a plain thread's
//! blocking calls by their `_timeout` variants with `support::step()`, and the
//! main thread's waits for a condition by [`wait_until`]. No timing is asserted
//! beyond "finishes within a generous bound".

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ringloop::sync::threadsafe::{Event, Queue, Semaphore};
use support::{poll_once, step, within, Mode};

/// Runs the future `make` builds on a new runtime of `mode`, on a thread of its own,
/// bounded by `within`. (`make` is sent, not the future: ringloop's own futures,
/// a sleep or a `wait_for`, are not `Send`.)
fn on_runtime<F, M>(mode: Mode, what: &'static str, make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    thread::spawn(move || mode.run(async move { within(what, make()).await }))
}

/// Waits on the calling (plain) thread until `cond` holds, at most `step()`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + step();
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {:?}", step());
        thread::sleep(Duration::from_millis(1));
    }
}

const PER_PRODUCER: u64 = 2_000;
const MAXSIZE: usize = 4;

matrix_test! {
    /// Producers on two runtimes, consumers on a third runtime (some of whose gets
    /// are cancelled by a short `wait_for`) and on a plain thread: every item
    /// arrives exactly once, and the bounded queue never holds more than maxsize.
    fn items_cross_runtimes_exactly_once(mode) {
        let q = Queue::new(MAXSIZE);
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let q = q.clone();
                on_runtime(mode, "producer", move || async move {
                    for i in 0..PER_PRODUCER {
                        q.put(p * PER_PRODUCER + i).await.unwrap();
                        assert!(q.qsize() <= MAXSIZE);
                        if i.is_multiple_of(64) {
                            ringloop::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let task_consumer = {
            let q = q.clone();
            on_runtime(mode, "runtime consumer", move || async move {
                let mut got = Vec::new();
                let mut turn = 0u32;
                loop {
                    turn += 1;
                    let item = if turn.is_multiple_of(3) {
                        // Often cancelled while waiting, or after being notified.
                        match ringloop::wait_for(Duration::from_micros(50), q.get()).await {
                            Ok(item) => item,
                            Err(_) => continue,
                        }
                    } else {
                        q.get().await
                    };
                    let Ok(item) = item else { break };
                    assert!(q.qsize() <= MAXSIZE);
                    got.push(item);
                    q.task_done().unwrap();
                }
                got
            })
        };
        let thread_consumer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match q.get_blocking_timeout(step()) {
                        Ok(item) => got.push(item),
                        Err(e) if e.is_shut_down() => break,
                        Err(e) => panic!("plain consumer: {e}"),
                    }
                    assert!(q.qsize() <= MAXSIZE);
                    q.task_done().unwrap();
                }
                got
            })
        };
        for p in producers {
            p.join().unwrap();
        }
        assert!(q.join_blocking_timeout(step()), "join after the producers");
        q.shutdown(false);
        let a = task_consumer.join().unwrap();
        let b = thread_consumer.join().unwrap();
        let n = 2 * PER_PRODUCER;
        assert_eq!(a.len() + b.len(), n as usize);
        assert_eq!(a.iter().chain(&b).sum::<u64>(), n * (n - 1) / 2);
        let distinct: HashSet<_> = a.iter().chain(&b).collect();
        assert_eq!(distinct.len(), n as usize);
        assert_eq!(q.waiter_count(), 0);
    }
}

matrix_test! {
    /// `join` on a runtime and `join_blocking` on a plain thread return only once a
    /// worker on another runtime has marked every item done.
    fn join_waits_for_task_done_across_threads(mode) {
        const ITEMS: usize = 100;
        let q = Queue::new(0);
        for i in 0..ITEMS {
            q.put_nowait(i).unwrap();
        }
        let done = Arc::new(AtomicUsize::new(0));
        let joiner_task = {
            let (q, done) = (q.clone(), done.clone());
            on_runtime(mode, "joiner", move || async move {
                q.join().await;
                assert_eq!(done.load(SeqCst), ITEMS);
            })
        };
        let joiner_thread = {
            let (q, done) = (q.clone(), done.clone());
            thread::spawn(move || {
                assert!(q.join_blocking_timeout(step()));
                assert_eq!(done.load(SeqCst), ITEMS);
            })
        };
        wait_until("both joiners wait", || q.waiter_count() == 2);
        let worker = {
            let (q, done) = (q.clone(), done.clone());
            on_runtime(mode, "worker", move || async move {
                while let Ok(_item) = q.get_nowait() {
                    ringloop::yield_now().await;
                    done.fetch_add(1, SeqCst);
                    q.task_done().unwrap();
                }
            })
        };
        worker.join().unwrap();
        joiner_task.join().unwrap();
        joiner_thread.join().unwrap();
        assert!(q.task_done().is_err());
        assert_eq!(q.waiter_count(), 0);
    }
}

matrix_test! {
    /// Getters, putters and joiners waiting on two runtimes and on plain threads all
    /// wake and fail (or return, for joins) at a shutdown.
    fn shutdown_wakes_waiters_on_every_thread(mode) {
        let empty: Queue<u32> = Queue::new(0);
        let full: Queue<u32> = Queue::new(1);
        full.put_nowait(0).unwrap();
        let mut runtimes = Vec::new();
        for _ in 0..2 {
            let (empty, full) = (empty.clone(), full.clone());
            runtimes.push(on_runtime(mode, "waiters", move || async move {
                let get = ringloop::spawn({
                    let empty = empty.clone();
                    async move { empty.get().await }
                });
                let put = ringloop::spawn({
                    let full = full.clone();
                    async move { full.put(1).await }
                });
                let join = ringloop::spawn({
                    let full = full.clone();
                    async move { full.join().await }
                });
                assert_eq!(get.await.unwrap(), Err(ringloop::queue::QueueShutDown(())));
                assert_eq!(put.await.unwrap().unwrap_err().into_inner(), 1);
                join.await.unwrap();
            }));
        }
        let plain_get = {
            let empty = empty.clone();
            thread::spawn(move || empty.get_blocking_timeout(step()))
        };
        let plain_put = {
            let full = full.clone();
            thread::spawn(move || full.put_blocking_timeout(2, step()))
        };
        let plain_join = {
            let full = full.clone();
            thread::spawn(move || full.join_blocking_timeout(step()))
        };
        wait_until("all waiters wait", || {
            empty.waiter_count() == 3 && full.waiter_count() == 6
        });
        empty.shutdown(false);
        full.shutdown(true); // drops the item: unfinished 0, so joins return
        for r in runtimes {
            r.join().unwrap();
        }
        assert!(plain_get.join().unwrap().unwrap_err().is_shut_down());
        let put = plain_put.join().unwrap().unwrap_err();
        assert!(put.is_shut_down());
        assert_eq!(put.into_inner(), 2);
        assert!(plain_join.join().unwrap());
        assert_eq!((empty.waiter_count(), full.waiter_count(), full.qsize()), (0, 0, 0));
    }
}

matrix_test! {
    /// Every future dropped while waiting, or after being notified and before it
    /// was polled again, leaves its list; a notification passes to the next waiter.
    fn dropped_futures_leave_no_waiter(mode) {
        // Pending, then dropped.
        let q: Queue<u32> = Queue::new(1);
        let event = Event::new();
        let sem = Semaphore::new(0);
        {
            let mut get = q.get();
            assert!(poll_once(&mut get).is_pending());
            let mut join = q.join();
            q.put_nowait(0).unwrap(); // notifies `get`, which is then dropped
            assert!(poll_once(&mut join).is_pending());
            let mut put = q.put(1);
            assert!(poll_once(&mut put).is_pending());
            let mut wait = event.wait();
            assert!(poll_once(&mut wait).is_pending());
            let mut acquire = sem.acquire();
            assert!(poll_once(&mut acquire).is_pending());
            assert_eq!(q.waiter_count(), 3);
            assert_eq!((event.waiter_count(), sem.waiter_count()), (1, 1));
        }
        assert_eq!(q.waiter_count(), 0);
        assert_eq!((event.waiter_count(), sem.waiter_count()), (0, 0));
        assert_eq!(q.qsize(), 1); // the dropped put put nothing

        // Notified, then dropped: the next waiter gets the notification.
        let mut a = q.put(2);
        let mut b = q.put(3);
        assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
        assert_eq!(q.get_nowait(), Ok(0)); // notifies `a`
        drop(a);
        assert_eq!(poll_once(&mut b), Poll::Ready(Ok(())));
        drop(b);
        assert_eq!(q.get_nowait(), Ok(3));
        let mut a = q.get();
        let mut b = q.get();
        assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
        q.put_nowait(4).unwrap(); // notifies `a`
        drop(a);
        assert_eq!(poll_once(&mut b), Poll::Ready(Ok(4)));
        drop(b);
        let mut a = sem.acquire();
        let mut b = sem.acquire();
        assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
        sem.release(); // handed to `a`
        assert!(sem.try_acquire().is_none());
        drop(a);
        let Poll::Ready(permit) = poll_once(&mut b) else { panic!("b not handed the permit") };
        drop(b);
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!((q.waiter_count(), sem.waiter_count()), (0, 0));

        // Given up by a timeout, in a task and on a plain thread.
        let sem = Semaphore::new(0);
        mode.run(async {
            let short = Duration::from_millis(2);
            assert!(ringloop::wait_for(short, q.get()).await.is_err());
            q.put_nowait(5).unwrap();
            assert!(ringloop::wait_for(short, q.put(6)).await.is_err());
            assert!(ringloop::wait_for(short, q.join()).await.is_err());
            assert!(ringloop::wait_for(short, event.wait()).await.is_err());
            assert!(ringloop::wait_for(short, sem.acquire()).await.is_err());
        });
        let short = Duration::from_millis(2);
        assert!(q.put_blocking_timeout(7, short).unwrap_err().is_full());
        assert!(!q.join_blocking_timeout(short));
        assert!(!event.wait_blocking_timeout(short));
        assert!(sem.acquire_blocking_timeout(short).is_none());
        assert_eq!(q.get_nowait(), Ok(5));
        assert!(q.get_blocking_timeout(short).unwrap_err().is_empty());
        assert_eq!(q.waiter_count(), 0);
        assert_eq!((event.waiter_count(), sem.waiter_count()), (0, 0));
    }
}

matrix_test! {
    /// An event set from a plain thread wakes tasks waiting on two runtimes and a
    /// blocked thread, even though it is cleared again at once.
    fn event_set_from_plain_thread_wakes_two_runtimes(mode) {
        let event = Event::new();
        let runtimes: Vec<_> = (0..2)
            .map(|_| {
                let event = event.clone();
                on_runtime(mode, "event waiters", move || async move {
                    let waiters = (0..3).map(|_| {
                        let event = event.clone();
                        ringloop::spawn(async move { event.wait().await })
                    });
                    ringloop::gather_all(waiters).await.len()
                })
            })
            .collect();
        let blocked = {
            let event = event.clone();
            thread::spawn(move || event.wait_blocking_timeout(step()))
        };
        wait_until("7 waiters", || event.waiter_count() == 7);
        let setter = {
            let event = event.clone();
            thread::spawn(move || {
                event.set();
                event.clear();
            })
        };
        setter.join().unwrap();
        for r in runtimes {
            assert_eq!(r.join().unwrap(), 3);
        }
        assert!(blocked.join().unwrap());
        assert!(!event.is_set());
        assert_eq!(event.waiter_count(), 0);
    }
}

matrix_test! {
    /// Tasks on two runtimes and a plain thread contend for 3 permits, some of the
    /// tasks' acquires given up by a short timeout: never more than 3 holders, and
    /// every permit is back at the end.
    fn semaphore_permits_never_exceed_n(mode) {
        const N: usize = 3;
        let sem = Semaphore::new(N);
        let holders = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let hold = {
            let (holders, most) = (holders.clone(), most.clone());
            move || {
                let now = holders.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                assert!(now <= N, "{now} holders");
            }
        };
        let runtimes: Vec<_> = (0..2)
            .map(|_| {
                let (sem, holders, hold) = (sem.clone(), holders.clone(), hold.clone());
                on_runtime(mode, "semaphore tasks", move || async move {
                    let tasks = (0..4u32).map(|t| {
                        let (sem, holders, hold) = (sem.clone(), holders.clone(), hold.clone());
                        ringloop::spawn(async move {
                            for i in 0..200 {
                                let permit = if (i + t).is_multiple_of(4) {
                                    let short = Duration::from_micros(20);
                                    match ringloop::wait_for(short, sem.acquire()).await {
                                        Ok(permit) => permit,
                                        Err(_) => continue,
                                    }
                                } else {
                                    sem.acquire().await
                                };
                                hold();
                                ringloop::yield_now().await;
                                holders.fetch_sub(1, SeqCst);
                                drop(permit);
                            }
                        })
                    });
                    for done in ringloop::gather_all(tasks).await {
                        done.unwrap();
                    }
                })
            })
            .collect();
        let plain = {
            let (sem, holders) = (sem.clone(), holders.clone());
            thread::spawn(move || {
                for _ in 0..300 {
                    let permit = sem.acquire_blocking_timeout(step()).expect("a permit");
                    hold();
                    thread::yield_now();
                    holders.fetch_sub(1, SeqCst);
                    drop(permit);
                }
            })
        };
        for r in runtimes {
            r.join().unwrap();
        }
        plain.join().unwrap();
        assert!(most.load(SeqCst) <= N);
        assert_eq!(sem.available_permits(), N);
        assert_eq!(sem.waiter_count(), 0);
    }
}
