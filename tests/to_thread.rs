//! `ringloop::to_thread`: results and panics come back through the waker, jobs
//! overlap, the pool stays within its bound and retires idle threads, dropping the
//! future never runs a queued job and lets a running one finish, and a runtime that
//! shuts down meanwhile is no problem.
//!
//! The pool is process-wide and configured once from the environment, so the tests
//! that need a small bound or a short keep-alive (and exact control over which
//! thread runs what) re-run themselves in a child process with
//! `RINGLOOP_BLOCKING_THREADS` / `RINGLOOP_BLOCKING_KEEP_ALIVE_MS` set.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use ringloop::{to_thread, JoinError};
use support::*;

const POOL_THREAD: &str = "ringloop-pool";
const THREADS_ENV: &str = "RINGLOOP_BLOCKING_THREADS";
const KEEP_ALIVE_ENV: &str = "RINGLOOP_BLOCKING_KEEP_ALIVE_MS";

/// A guard so a bug fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(10);

/// How many threads of this process are pool threads, by their names.
fn pool_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == POOL_THREAD)
        .count()
}

/// Counts drops; `Send`, so results and closures can carry it across threads. Also
/// records the names of the threads that dropped its tokens.
#[derive(Clone, Default)]
struct SendDrops {
    count: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<String>>>,
}

impl SendDrops {
    fn token(&self) -> SendToken {
        SendToken(self.clone())
    }

    fn count(&self) -> usize {
        self.count.load(SeqCst)
    }

    fn threads(&self) -> Vec<String> {
        self.threads.lock().unwrap().clone()
    }
}

struct SendToken(SendDrops);

impl Drop for SendToken {
    fn drop(&mut self) {
        let name = thread::current().name().unwrap_or("").to_owned();
        self.0.threads.lock().unwrap().push(name);
        self.0.count.fetch_add(1, SeqCst);
    }
}

/// A gate that blocking jobs wait at (at most 10 s) until it opens.
#[derive(Clone)]
struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn new() -> Gate {
        Gate(Arc::new((Mutex::new(false), std::sync::Condvar::new())))
    }

    fn wait(&self) {
        let (open, cond) = &*self.0;
        let guard = open.lock().unwrap();
        let (guard, _) = cond
            .wait_timeout_while(guard, GUARD, |open| !*open)
            .unwrap();
        assert!(*guard, "the gate never opened");
    }

    fn open(&self) {
        let (open, cond) = &*self.0;
        *open.lock().unwrap() = true;
        cond.notify_all();
    }
}

/// Awaits `future`, failing the test if it takes longer than [`GUARD`].
async fn guarded<F: std::future::IntoFuture>(future: F) -> F::Output {
    ringloop::wait_for(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("not done within {GUARD:?}"))
}

/// Polls `future` to completion on this thread with a thread-unparking waker: no
/// runtime involved.
fn block_on_plain<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = Instant::now() + GUARD;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        assert!(Instant::now() < deadline, "not woken within {GUARD:?}");
        thread::park_timeout(GUARD);
    }
}

matrix_test! {
    fn the_result_comes_back_from_a_pool_thread(mode) {
        mode.run(async {
            let caller = thread::current().id();
            let (value, name, thread) = ringloop::wait_for(GUARD, to_thread(move || {
                let me = thread::current();
                (6 * 7, me.name().map(str::to_owned), me.id())
            }))
            .await
            .expect("timed out")
            .expect("the job failed");
            assert_eq!(value, 42);
            assert_eq!(name.as_deref(), Some(POOL_THREAD));
            assert_ne!(thread, caller);
            // A non-Copy result, and a unit one.
            assert_eq!(guarded(to_thread(|| "moved".to_string())).await.unwrap(), "moved");
            assert_eq!(guarded(to_thread(|| {})).await, Ok(()));
        });
    }
}

matrix_test! {
    fn the_future_is_lazy(mode) {
        mode.run(async {
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let future = to_thread(move || flag.store(true, SeqCst));
            ringloop::sleep(Duration::from_millis(50)).await;
            assert!(!ran.load(SeqCst), "the job ran before the future was polled");
            drop(future);

            // Dropped unpolled: never runs, and its closure is dropped at once.
            let drops = SendDrops::default();
            let token = drops.token();
            let flag = ran.clone();
            drop(to_thread(move || {
                let _token = token;
                flag.store(true, SeqCst);
            }));
            assert_eq!(drops.count(), 1);
            ringloop::sleep(Duration::from_millis(50)).await;
            assert!(!ran.load(SeqCst));
        });
    }
}

matrix_test! {
    fn many_jobs_overlap(mode) {
        mode.run(async {
            const JOBS: u64 = 200;
            const EACH: Duration = Duration::from_millis(50);
            let start = Instant::now();
            let results = ringloop::wait_for(
                Duration::from_secs(30),
                ringloop::gather_all((0..JOBS).map(|i| {
                    to_thread(move || {
                        thread::sleep(EACH);
                        i * i
                    })
                })),
            )
            .await
            .expect("timed out");
            let took = start.elapsed();
            let squares: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
            assert_eq!(squares, (0..JOBS).map(|i| i * i).collect::<Vec<_>>());
            // In sequence: 10 s. With 64 threads: about 4 rounds of 50 ms, even shared
            // with the other tests of this binary.
            assert!(took < support::scaled(Duration::from_secs(5)), "{JOBS} jobs of {EACH:?} took {took:?}");
        });
    }
}

matrix_test! {
    fn ten_thousand_queued_jobs_all_run_within_the_bound(mode) {
        if in_child(mode, module_path!(), &[(THREADS_ENV, "4")]) {
            return;
        }
        mode.run(async {
            const JOBS: usize = 10_000;
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicBool::new(false));

            // A task that keeps counting the pool's threads while the jobs run.
            let sampler = {
                let done = done.clone();
                ringloop::spawn(async move {
                    let mut most_threads = 0;
                    while !done.load(SeqCst) {
                        most_threads = most_threads.max(pool_threads());
                        ringloop::sleep(Duration::from_millis(1)).await;
                    }
                    most_threads
                })
            };

            let jobs = (0..JOBS).map(|i| {
                let running = running.clone();
                let most = most.clone();
                to_thread(move || {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    // The first jobs block until four run at once, so that all four
                    // threads get started (bounded: a slow machine, under emulation,
                    // may take long to start one; then the count below says so).
                    if i < 16 {
                        let until = std::time::Instant::now() + support::scaled(Duration::from_secs(2));
                        while running.load(SeqCst) < 4 && std::time::Instant::now() < until {
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                    running.fetch_sub(1, SeqCst);
                    i
                })
            });
            let results = ringloop::wait_for(Duration::from_secs(30), ringloop::gather_all(jobs))
                .await
                .expect("timed out");
            done.store(true, SeqCst);
            let ids: Vec<usize> = results.into_iter().map(Result::unwrap).collect();
            assert_eq!(ids, (0..JOBS).collect::<Vec<_>>());
            assert_eq!(most.load(SeqCst), 4, "jobs running at once, at most");
            let threads = sampler.await.unwrap();
            assert!(
                (1..=4).contains(&threads),
                "{threads} pool threads seen (bound 4)"
            );
            assert!(pool_threads() <= 4);
        });
    }
}

matrix_test! {
    fn a_panic_becomes_an_error_and_the_thread_survives(mode) {
        // One thread, so the next job must run on the thread that panicked.
        if in_child(mode, module_path!(), &[(THREADS_ENV, "1")]) {
            return;
        }
        mode.run(async {
            let panicked_on = Arc::new(Mutex::new(None::<ThreadId>));
            let slot = panicked_on.clone();
            let result = guarded(to_thread(move || -> u32 {
                *slot.lock().unwrap() = Some(thread::current().id());
                panic!("job {} failed", 7)
            }))
            .await;
            assert_eq!(result, Err(JoinError::Panicked("job 7 failed".into())));

            let result = guarded(to_thread(|| -> () { std::panic::panic_any(17_u8) })).await;
            assert_eq!(result, Err(JoinError::Panicked("Box<dyn Any>".into())));

            let next = guarded(to_thread(|| thread::current().id())).await.unwrap();
            assert_eq!(Some(next), *panicked_on.lock().unwrap(), "the thread was replaced");
            assert_eq!(pool_threads(), 1);
        });
    }
}

matrix_test! {
    fn dropping_a_queued_job_means_it_never_runs(mode) {
        if in_child(mode, module_path!(), &[(THREADS_ENV, "1")]) {
            return;
        }
        mode.run(async {
            // Occupy the only thread.
            let gate = Gate::new();
            let started = Arc::new(AtomicBool::new(false));
            let blocker = {
                let (gate, started) = (gate.clone(), started.clone());
                ringloop::spawn(to_thread(move || {
                    started.store(true, SeqCst);
                    gate.wait();
                }))
            };
            assert!(sleep_until_cond(GUARD, || started.load(SeqCst)).await);

            // Three jobs queue behind it; the middle one is dropped while queued.
            let order = Arc::new(Mutex::new(Vec::new()));
            let drops = SendDrops::default();
            let job = |name: &'static str| {
                let order = order.clone();
                let token = drops.token();
                to_thread(move || {
                    let _token = token;
                    order.lock().unwrap().push(name);
                    name
                })
            };
            let mut a = job("a");
            let mut b = job("b");
            let mut c = job("c");
            for future in [&mut a, &mut b, &mut c] {
                assert!(poll_once(future).is_pending());
            }
            drop(b);
            assert_eq!(drops.count(), 1, "the dropped job's closure is dropped at once");

            gate.open();
            guarded(blocker).await.unwrap().unwrap();
            assert_eq!(ringloop::wait_for(GUARD, a).await.unwrap(), Ok("a"));
            assert_eq!(ringloop::wait_for(GUARD, c).await.unwrap(), Ok("c"));
            // First in, first out; "b" never ran.
            assert_eq!(*order.lock().unwrap(), ["a", "c"]);
            assert_eq!(drops.count(), 3);
        });
    }
}

matrix_test! {
    fn dropping_a_running_job_lets_it_finish_on_its_thread(mode) {
        mode.run(async {
            let gate = Gate::new();
            let started = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicBool::new(false));
            let results = SendDrops::default();
            let mut future = {
                let (gate, started, finished) = (gate.clone(), started.clone(), finished.clone());
                let results = results.clone();
                to_thread(move || {
                    started.store(true, SeqCst);
                    gate.wait();
                    finished.store(true, SeqCst);
                    results.token()
                })
            };
            assert!(poll_once(&mut future).is_pending());
            assert!(sleep_until_cond(GUARD, || started.load(SeqCst)).await);
            drop(future);
            assert!(!finished.load(SeqCst));

            gate.open();
            assert!(sleep_until_cond(GUARD, || results.count() == 1).await);
            assert!(finished.load(SeqCst));
            assert_eq!(results.threads(), [POOL_THREAD], "the result is dropped by the worker");
        });
    }
}

matrix_test! {
    fn idle_threads_retire(mode) {
        // Idle threads live 500 ms, times the machine's slowness: under emulation
        // the loop may take longer than 500 ms to look after the jobs finished.
        let keep_alive = support::scaled(Duration::from_millis(500)).as_millis().to_string();
        if in_child(mode, module_path!(), &[(THREADS_ENV, "3"), (KEEP_ALIVE_ENV, &keep_alive)]) {
            return;
        }
        mode.run(async {
            // Three jobs that meet, so three threads run at once.
            let barrier = Arc::new(std::sync::Barrier::new(3));
            let jobs = (0..3).map(|_| {
                let barrier = barrier.clone();
                to_thread(move || {
                    barrier.wait();
                })
            });
            let results = ringloop::wait_for(GUARD, ringloop::gather_all(jobs)).await.unwrap();
            assert!(results.iter().all(Result::is_ok));
            let idle_at = Instant::now();
            // They are idle now, and go after about 500 ms (scaled).
            assert!(pool_threads() > 0, "idle threads retired at once");
            assert!(sleep_until_cond(GUARD, || pool_threads() == 0).await, "threads never retired");
            let lived = idle_at.elapsed();
            // Not long after they went idle (a generous margin for a busy machine).
            assert!(lived >= Duration::from_millis(250), "retired after only {lived:?}");

            // The pool starts threads again.
            assert_eq!(guarded(to_thread(|| 5)).await, Ok(5));
            assert_eq!(pool_threads(), 1);
        });
    }
}

matrix_test! {
    fn a_job_outliving_its_runtime_drops_its_result(mode) {
        let gate = Gate::new();
        let started = Arc::new(AtomicBool::new(false));
        let results = SendDrops::default();
        {
            let rt = mode.runtime();
            rt.block_on(async {
                let (gate, flag) = (gate.clone(), started.clone());
                let results = results.clone();
                // A task awaiting the job; the runtime will cancel it on shutdown.
                let _task = ringloop::spawn(to_thread(move || {
                    flag.store(true, SeqCst);
                    gate.wait();
                    results.token()
                }));
                assert!(sleep_until_cond(GUARD, || started.load(SeqCst)).await);
            });
            drop(rt);
        }
        gate.open();
        let deadline = Instant::now() + GUARD;
        while results.count() == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(results.count(), 1);
        assert_eq!(results.threads(), [POOL_THREAD]);
        // This thread can run a runtime (and the pool) again.
        assert_eq!(mode.run(to_thread(|| 3)), Ok(3));
    }
}

matrix_test! {
    fn a_wake_after_the_runtime_is_gone_is_harmless(mode) {
        let gate = Gate::new();
        let started = Arc::new(AtomicBool::new(false));
        let mut future = {
            let (gate, started) = (gate.clone(), started.clone());
            to_thread(move || {
                started.store(true, SeqCst);
                gate.wait();
                "late"
            })
        };
        // Polled by a runtime that then goes away: the job keeps the stale waker.
        {
            let rt = mode.runtime();
            rt.block_on(async {
                assert!(futures_poll(&mut future).await.is_pending());
                assert!(sleep_until_cond(GUARD, || started.load(SeqCst)).await);
            });
        }
        gate.open();
        thread::sleep(Duration::from_millis(20));
        // Awaited by another runtime later, from another thread: the result is there.
        let other = thread::spawn(move || mode.run(future));
        assert_eq!(other.join().unwrap(), Ok("late"));
    }
}

/// Polls `future` once with the current task's waker.
async fn futures_poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

matrix_test! {
    fn the_loop_keeps_ticking_while_jobs_block(mode) {
        mode.run(async {
            let ticks = std::rc::Rc::new(std::cell::Cell::new(0_u32));
            let ticker = {
                let ticks = ticks.clone();
                ringloop::spawn(async move {
                    loop {
                        ringloop::sleep(Duration::from_millis(20)).await;
                        ticks.set(ticks.get() + 1);
                    }
                })
            };
            let block = || to_thread(|| thread::sleep(Duration::from_millis(300)));
            let (a, b) = guarded(ringloop::gather!(block(), block())).await;
            assert_eq!((a, b), (Ok(()), Ok(())));
            ticker.cancel();
            // About 15 ticks; none if the jobs blocked the loop.
            assert!(ticks.get() >= 5, "only {} ticks in 300 ms", ticks.get());
        });
    }
}

matrix_test! {
    fn several_runtimes_on_several_threads_share_the_pool(mode) {
        let threads: Vec<_> = (0..4_u64)
            .map(|t| {
                thread::spawn(move || {
                    mode.run(async move {
                        let jobs = (0..50_u64).map(|i| to_thread(move || t * 1000 + i));
                        ringloop::wait_for(GUARD, ringloop::gather_all(jobs)).await.unwrap()
                    })
                })
            })
            .collect();
        for (t, handle) in threads.into_iter().enumerate() {
            let results = handle.join().unwrap();
            let expected: Vec<_> = (0..50).map(|i| Ok(t as u64 * 1000 + i)).collect();
            assert_eq!(results, expected);
        }
    }
}

#[test]
fn works_outside_a_runtime() {
    assert_eq!(block_on_plain(to_thread(|| 40 + 2)), Ok(42));
    let err = block_on_plain(to_thread(|| -> () { panic!("outside") }));
    assert_eq!(err, Err(JoinError::Panicked("outside".into())));
    // Moved to another thread between polls.
    let mut future = to_thread(|| thread::sleep(Duration::from_millis(20)));
    assert!(poll_once(&mut future).is_pending());
    let other = thread::spawn(move || block_on_plain(future));
    assert_eq!(other.join().unwrap(), Ok(()));
}

matrix_test! {
    fn randomized_drops_lose_nothing(mode) {
        // Each job's closure carries a token, and its result another. Futures are
        // dropped at random points: before the first poll, while queued or running
        // (a short wait_for), or not at all. Every closure token must be dropped
        // exactly once, every job that ran must have its result dropped or
        // delivered exactly once, and an unpolled job must never run.
        for seed in 0..40 {
            let mut rng = Rng::new(seed);
            let closures = SendDrops::default();
            let results = SendDrops::default();
            let ran = Arc::new(AtomicUsize::new(0));
            let delivered = mode.run(async {
                let mut tasks = Vec::new();
                let mut unpolled_ran = Vec::new();
                for _ in 0..30 {
                    let token = closures.token();
                    let results = results.clone();
                    let ran = ran.clone();
                    let work = Duration::from_micros(rng.below(3000));
                    let this_ran = Arc::new(AtomicBool::new(false));
                    let flag = this_ran.clone();
                    let future = to_thread(move || {
                        let _token = token;
                        flag.store(true, SeqCst);
                        ran.fetch_add(1, SeqCst);
                        thread::sleep(work);
                        results.token()
                    });
                    match rng.below(3) {
                        0 => {
                            drop(future);
                            unpolled_ran.push(this_ran);
                        }
                        1 => {
                            let limit = Duration::from_micros(rng.below(4000));
                            tasks.push(ringloop::spawn(async move {
                                ringloop::wait_for(limit, future).await.is_ok()
                            }));
                        }
                        _ => tasks.push(ringloop::spawn(async move {
                            ringloop::wait_for(GUARD, future).await.unwrap().is_ok()
                        })),
                    }
                }
                let mut delivered = 0;
                for task in tasks {
                    if task.await.unwrap() {
                        delivered += 1;
                    }
                }
                // Results of delivered jobs were dropped by the tasks already; the
                // others are dropped by their workers once they finish.
                let settled = sleep_until_cond(GUARD, || {
                    closures.count() == 30 && results.count() == ran.load(SeqCst)
                })
                .await;
                assert!(
                    settled,
                    "seed {seed}: closures dropped {}/30, results dropped {} of {} run",
                    closures.count(),
                    results.count(),
                    ran.load(SeqCst)
                );
                for flag in unpolled_ran {
                    assert!(!flag.load(SeqCst), "seed {seed}: an unpolled job ran");
                }
                delivered
            });
            let ran = ran.load(SeqCst);
            assert!(delivered <= ran, "seed {seed}: {delivered} delivered, {ran} ran");
            assert_eq!(closures.count(), 30, "seed {seed}");
            assert_eq!(results.count(), ran, "seed {seed}");
        }
    }
}

#[test]
fn the_process_exits_while_pool_threads_block() {
    if !is_child() {
        let start = Instant::now();
        let output = run_child("the_process_exits_while_pool_threads_block", &[]);
        assert!(output.success, "the child failed:\n{output:#?}");
        // The child leaves a job blocked for 60 s behind; it must not wait for it.
        let took = start.elapsed();
        assert!(
            took < support::scaled(Duration::from_secs(30)),
            "the child took {took:?} to exit"
        );
        return;
    }
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let mut future = to_thread(move || {
        flag.store(true, SeqCst);
        thread::sleep(Duration::from_secs(60));
    });
    assert!(poll_once(&mut future).is_pending());
    let deadline = Instant::now() + GUARD;
    while !started.load(SeqCst) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert!(started.load(SeqCst));
    drop(future);
}
