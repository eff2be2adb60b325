//! Scheduler benchmarks: ringloop beside tokio's current-thread runtime, in the
//! same criterion groups.
//!
//! ringloop runs each program twice, on io_uring (`ringloop`) and on the epoll
//! driver (`ringloop-epoll`), beside tokio.
//!
//! Each benchmark reports **time per operation** (one spawn, one yield, one
//! ping-pong round, one chained spawn): the measured loop runs N operations and the
//! custom timing divides by N. `timers` reports the wall time of one batch of
//! 100,000 sleeps, and prints the heap bytes each sleeping task costs.
//!
//! Run: `cargo bench --bench scheduler` (add `-- --quick` for a fast pass).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[path = "support/runtimes.rs"]
mod runtimes;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use runtimes::{per_op, ringloop_rt, tokio_rt, RINGLOOP_DRIVERS};

/// Counts live heap bytes, for the bytes-per-sleeping-task figure.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
/// Counting is off while timing, so the other benchmarks pay no atomic per allocation.
static COUNTING: AtomicBool = AtomicBool::new(false);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator, only adding a counter update.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 1_000;
const PING_PONGS: usize = 1_000;
const CHAIN: usize = 1_000;
const TIMERS: usize = 100_000;

/// A single-thread oneshot channel for ringloop, whose primitives are local.
fn local_oneshot<T>() -> (LocalSender<T>, LocalReceiver<T>) {
    let slot = Rc::new(RefCell::new((None, None::<Waker>)));
    (LocalSender(slot.clone()), LocalReceiver(slot))
}

struct LocalSender<T>(Rc<RefCell<(Option<T>, Option<Waker>)>>);
struct LocalReceiver<T>(Rc<RefCell<(Option<T>, Option<Waker>)>>);

impl<T> LocalSender<T> {
    fn send(self, value: T) {
        let mut slot = self.0.borrow_mut();
        slot.0 = Some(value);
        if let Some(w) = slot.1.take() {
            w.wake();
        }
    }
}

impl<T> Future for LocalReceiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.0.borrow_mut();
        match slot.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn spawn_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many");
    for (name, driver) in RINGLOOP_DRIVERS {
        let rt = ringloop_rt(driver);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let handles: Vec<_> =
                            (0..SPAWN_MANY).map(|_| ringloop::spawn(async {})).collect();
                        for h in handles {
                            h.await.unwrap();
                        }
                    });
                }
                per_op(start.elapsed(), SPAWN_MANY)
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let handles: Vec<_> = (0..SPAWN_MANY).map(|_| tokio::spawn(async {})).collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                });
            }
            per_op(start.elapsed(), SPAWN_MANY)
        })
    });
    group.finish();
}

fn yield_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_many");
    for (name, driver) in RINGLOOP_DRIVERS {
        let rt = ringloop_rt(driver);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let handles: Vec<_> = (0..YIELD_TASKS)
                            .map(|_| {
                                ringloop::spawn(async {
                                    for _ in 0..YIELDS {
                                        ringloop::yield_now().await;
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            h.await.unwrap();
                        }
                    });
                }
                per_op(start.elapsed(), YIELD_TASKS * YIELDS)
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let handles: Vec<_> = (0..YIELD_TASKS)
                        .map(|_| {
                            tokio::spawn(async {
                                for _ in 0..YIELDS {
                                    tokio::task::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                });
            }
            per_op(start.elapsed(), YIELD_TASKS * YIELDS)
        })
    });
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    // As in tokio's own scheduler benchmark: the rounds are detached, and the last
    // one to finish (a shared countdown) tells the main future it is done.
    let mut group = c.benchmark_group("ping_pong");
    for (name, driver) in RINGLOOP_DRIVERS {
        let rt = ringloop_rt(driver);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let (done_tx, done_rx) = local_oneshot::<()>();
                        let done_tx = Rc::new(RefCell::new(Some(done_tx)));
                        let remaining = Rc::new(Cell::new(PING_PONGS));
                        for _ in 0..PING_PONGS {
                            let done_tx = done_tx.clone();
                            let remaining = remaining.clone();
                            ringloop::spawn(async move {
                                let (tx1, rx1) = local_oneshot::<()>();
                                let (tx2, rx2) = local_oneshot::<()>();
                                ringloop::spawn(async move {
                                    rx1.await;
                                    tx2.send(());
                                });
                                tx1.send(());
                                rx2.await;
                                remaining.set(remaining.get() - 1);
                                if remaining.get() == 0 {
                                    done_tx.borrow_mut().take().unwrap().send(());
                                }
                            });
                        }
                        done_rx.await;
                    });
                }
                per_op(start.elapsed(), PING_PONGS)
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
                    let done_tx = Arc::new(Mutex::new(Some(done_tx)));
                    let remaining = Arc::new(AtomicUsize::new(PING_PONGS));
                    for _ in 0..PING_PONGS {
                        let done_tx = done_tx.clone();
                        let remaining = remaining.clone();
                        tokio::spawn(async move {
                            let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
                            let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
                            tokio::spawn(async move {
                                rx1.await.unwrap();
                                tx2.send(()).unwrap();
                            });
                            tx1.send(()).unwrap();
                            rx2.await.unwrap();
                            if remaining.fetch_sub(1, Ordering::Relaxed) == 1 {
                                let tx = done_tx.lock().unwrap().take().unwrap();
                                tx.send(()).unwrap();
                            }
                        });
                    }
                    done_rx.await.unwrap();
                });
            }
            per_op(start.elapsed(), PING_PONGS)
        })
    });
    group.finish();
}

fn chained_spawn(c: &mut Criterion) {
    fn ringloop_chain(done: LocalSender<()>, n: usize) {
        if n == 0 {
            done.send(());
        } else {
            ringloop::spawn(async move { ringloop_chain(done, n - 1) });
        }
    }
    fn tokio_chain(done: tokio::sync::oneshot::Sender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            tokio::spawn(async move { tokio_chain(done, n - 1) });
        }
    }
    let mut group = c.benchmark_group("chained_spawn");
    for (name, driver) in RINGLOOP_DRIVERS {
        let rt = ringloop_rt(driver);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let (tx, rx) = local_oneshot();
                        ringloop::spawn(async move { ringloop_chain(tx, CHAIN) });
                        rx.await;
                    });
                }
                per_op(start.elapsed(), CHAIN)
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move { tokio_chain(tx, CHAIN) });
                    rx.await.unwrap();
                });
            }
            per_op(start.elapsed(), CHAIN)
        })
    });
    group.finish();
}

/// The sleep of task `i`: spread over 1..=100 ms.
fn timer_delay(i: usize) -> Duration {
    Duration::from_millis(1 + (i * 37 % 100) as u64)
}

/// Heap bytes per sleeping task: on a fresh thread (so no allocator cache is warm),
/// spawn the tasks, let each register its timer, and compare live heap bytes.
fn bytes_per_sleeping_task(name: &str, spawn_all: impl FnOnce() -> isize + Send) {
    let per_task = std::thread::scope(|s| {
        s.spawn(|| {
            LIVE_BYTES.store(0, Ordering::Relaxed);
            COUNTING.store(true, Ordering::Relaxed);
            let during = spawn_all();
            COUNTING.store(false, Ordering::Relaxed);
            during / TIMERS as isize
        })
        .join()
        .expect("measuring thread")
    });
    println!("timers/{name}: {per_task} heap bytes per sleeping task");
}

fn timers(c: &mut Criterion) {
    bytes_per_sleeping_task("ringloop", || {
        let rt = ringloop_rt(ringloop::Driver::IoUring);
        let live = rt.block_on(async {
            let handles: Vec<_> = (0..TIMERS)
                .map(|i| ringloop::spawn(ringloop::sleep(timer_delay(i))))
                .collect();
            ringloop::yield_now().await;
            let live = LIVE_BYTES.load(Ordering::Relaxed);
            for h in handles {
                h.await.unwrap();
            }
            live
        });
        live
    });
    bytes_per_sleeping_task("tokio", || {
        let rt = tokio_rt();
        let live = rt.block_on(async {
            let handles: Vec<_> = (0..TIMERS)
                .map(|i| tokio::spawn(tokio::time::sleep(timer_delay(i))))
                .collect();
            tokio::task::yield_now().await;
            let live = LIVE_BYTES.load(Ordering::Relaxed);
            for h in handles {
                h.await.unwrap();
            }
            live
        });
        live
    });

    let trt = tokio_rt();
    let mut group = c.benchmark_group("timers");
    group.sample_size(10);
    for (name, driver) in RINGLOOP_DRIVERS {
        let rt = ringloop_rt(driver);
        group.bench_function(BenchmarkId::new(name, "100k sleeps 1-100ms"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> = (0..TIMERS)
                        .map(|i| ringloop::spawn(ringloop::sleep(timer_delay(i))))
                        .collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
        });
    }
    group.bench_function(BenchmarkId::new("tokio", "100k sleeps 1-100ms"), |b| {
        b.iter(|| {
            trt.block_on(async {
                let handles: Vec<_> = (0..TIMERS)
                    .map(|i| tokio::spawn(tokio::time::sleep(timer_delay(i))))
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    spawn_many,
    yield_many,
    ping_pong,
    chained_spawn,
    timers
);
criterion_main!(benches);
