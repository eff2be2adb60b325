//! Synchronisation and queue benchmarks: ringloop's single-thread primitives beside
//! tokio's equivalents on its current-thread runtime, in the same criterion groups.
//!
//! Each benchmark reports **time per operation**: the measured loop runs N
//! operations and the custom timing divides by N.
//!
//! - `lock_uncontended`: `lock().await` and drop, one task (tokio: `Mutex`).
//! - `semaphore`: `acquire().await` and drop of a permit, one task (tokio:
//!   `Semaphore`).
//! - `event_ping_pong`: two tasks hand a turn back and forth through two events, one
//!   round = two set/wait hops (tokio: two `Notify`s).
//! - `queue_ping_pong`: two tasks pass an item back and forth through two bounded
//!   queues, one round = two put/get hops (tokio: two `mpsc` channels).
//!
//! Run: `cargo bench --bench sync` (add `-- --quick` for a fast pass).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

#[path = "support/runtimes.rs"]
mod runtimes;

use criterion::{criterion_group, criterion_main, Criterion};
use ringloop::queue::Queue;
use ringloop::sync::{Event, Lock, Semaphore};
use runtimes::{per_op, ringloop_rt, tokio_rt, RINGLOOP_DRIVERS};

const OPS: usize = 10_000;
const ROUNDS: usize = 1_000;

/// Times `iters` runs of `body` on ringloop (each driver) and on tokio, in one
/// criterion group, dividing by `ops` per run.
fn compare<R, T>(c: &mut Criterion, group: &str, ops: usize, ringloop_body: R, tokio_body: T)
where
    R: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    T: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
{
    let mut group = c.benchmark_group(group);
    for (name, driver) in RINGLOOP_DRIVERS {
        let rt = ringloop_rt(driver);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(ringloop_body());
                }
                per_op(start.elapsed(), ops)
            })
        });
    }
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(tokio_body());
            }
            per_op(start.elapsed(), ops)
        })
    });
    group.finish();
}

fn lock_uncontended(c: &mut Criterion) {
    compare(
        c,
        "lock_uncontended",
        OPS,
        || {
            Box::pin(async {
                let lock = Lock::new();
                for _ in 0..OPS {
                    drop(std::hint::black_box(lock.lock().await));
                }
            })
        },
        || {
            Box::pin(async {
                let lock = tokio::sync::Mutex::new(());
                for _ in 0..OPS {
                    drop(std::hint::black_box(lock.lock().await));
                }
            })
        },
    );
}

fn semaphore(c: &mut Criterion) {
    compare(
        c,
        "semaphore",
        OPS,
        || {
            Box::pin(async {
                let sem = Semaphore::new(4);
                for _ in 0..OPS {
                    drop(std::hint::black_box(sem.acquire().await));
                }
            })
        },
        || {
            Box::pin(async {
                let sem = tokio::sync::Semaphore::new(4);
                for _ in 0..OPS {
                    drop(std::hint::black_box(sem.acquire().await.unwrap()));
                }
            })
        },
    );
}

fn event_ping_pong(c: &mut Criterion) {
    compare(
        c,
        "event_ping_pong",
        ROUNDS,
        || {
            Box::pin(async {
                let (ping, pong) = (Rc::new(Event::new()), Rc::new(Event::new()));
                let (ping2, pong2) = (ping.clone(), pong.clone());
                let other = ringloop::spawn(async move {
                    for _ in 0..ROUNDS {
                        ping2.wait().await;
                        ping2.clear();
                        pong2.set();
                    }
                });
                for _ in 0..ROUNDS {
                    ping.set();
                    pong.wait().await;
                    pong.clear();
                }
                other.await.unwrap();
            })
        },
        || {
            Box::pin(async {
                let ping = Arc::new(tokio::sync::Notify::new());
                let pong = Arc::new(tokio::sync::Notify::new());
                let (ping2, pong2) = (ping.clone(), pong.clone());
                let other = tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        ping2.notified().await;
                        pong2.notify_one();
                    }
                });
                for _ in 0..ROUNDS {
                    ping.notify_one();
                    pong.notified().await;
                }
                other.await.unwrap();
            })
        },
    );
}

fn queue_ping_pong(c: &mut Criterion) {
    compare(
        c,
        "queue_ping_pong",
        ROUNDS,
        || {
            Box::pin(async {
                let (to_other, from_main) = (Queue::new(16), Queue::new(16));
                let (inbox, outbox) = (to_other.clone(), from_main.clone());
                let other = ringloop::spawn(async move {
                    for _ in 0..ROUNDS {
                        let item: u64 = inbox.get().await.unwrap();
                        outbox.put(item + 1).await.unwrap();
                    }
                });
                let mut item = 0u64;
                for _ in 0..ROUNDS {
                    to_other.put(item).await.unwrap();
                    item = from_main.get().await.unwrap();
                }
                assert_eq!(item, ROUNDS as u64);
                other.await.unwrap();
            })
        },
        || {
            Box::pin(async {
                let (to_other, mut inbox) = tokio::sync::mpsc::channel::<u64>(16);
                let (outbox, mut from_other) = tokio::sync::mpsc::channel::<u64>(16);
                let other = tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        let item = inbox.recv().await.unwrap();
                        outbox.send(item + 1).await.unwrap();
                    }
                });
                let mut item = 0u64;
                for _ in 0..ROUNDS {
                    to_other.send(item).await.unwrap();
                    item = from_other.recv().await.unwrap();
                }
                assert_eq!(item, ROUNDS as u64);
                other.await.unwrap();
            })
        },
    );
}

criterion_group!(
    benches,
    lock_uncontended,
    semaphore,
    event_ping_pong,
    queue_ping_pong
);
criterion_main!(benches);
