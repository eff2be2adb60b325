//! The scheduler shapes (those of `benches/scheduler.rs`), the same program on
//! each runtime, only `spawn`, `yield_now` and `block_on` being the runtime's:
//!
//! - `spawn`: spawn 10,000 empty tasks, then await each handle; per spawn;
//! - `yield`: 200 tasks each yield 1,000 times; per yield;
//! - `ping-pong`: 1,000 detached rounds, each a task that spawns a partner and
//!   sends it a message over a oneshot channel and waits for the answer on
//!   another; the last round to end tells the main future; per round;
//! - `chained-spawn`: a task that spawns a task that spawns ... 1,000 deep, the
//!   last one sending on a oneshot channel; per spawn.
//!
//! Every runtime uses the same channel (`tokio::sync::oneshot`, which runs on any
//! executor) and the same atomic countdown, so the channel's cost is the same in
//! every row and the difference is the runtime's. monoio and compio have no
//! `yield_now`; they get the usual one-shot yield (wake itself, return `Pending`
//! once), which is what their docs suggest. The figure is wall time per
//! operation over as many whole batches as fit in the window (after a warm-up);
//! the worker process is pinned to one CPU (tokio-mt: two workers on two CPUs,
//! the main future in `block_on`, so its spawns go through tokio's shared queue).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::peers::Peer;
use crate::worker::{Mark, Metrics};

/// The shapes.
pub(crate) const SHAPES: [&str; 4] = ["spawn", "yield", "ping-pong", "chained-spawn"];

const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 1_000;
const PING_PONGS: usize = 1_000;
const CHAIN: usize = 1_000;

/// What the shapes need of a runtime.
trait Rt: 'static {
    /// Spawns `f`; the returned future resolves when it has run.
    fn spawn<F>(f: F) -> impl Future<Output = ()> + 'static
    where
        F: Future<Output = ()> + Send + 'static;
    /// Spawns `f` and lets it run on its own.
    fn spawn_detached<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static;
    /// Yields to the scheduler once.
    fn yield_now() -> impl Future<Output = ()> + Send + 'static;
}

/// A one-shot yield: wakes itself and is pending once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// ringloop (the driver the environment names).
struct Ringloop;
impl Rt for Ringloop {
    fn spawn<F>(f: F) -> impl Future<Output = ()> + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let h = ringloop::spawn(f);
        async move { h.await.expect("task") }
    }
    fn spawn_detached<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(ringloop::spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        ringloop::yield_now()
    }
}

/// tokio (either flavour; also tokio-uring, whose tasks are tokio's).
struct Tokio;
impl Rt for Tokio {
    fn spawn<F>(f: F) -> impl Future<Output = ()> + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let h = tokio::spawn(f);
        async move { h.await.expect("task") }
    }
    fn spawn_detached<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        tokio::task::yield_now()
    }
}

/// tokio-uring: `tokio_uring::spawn` (a `spawn_local` on its `LocalSet`).
struct TokioUring;
impl Rt for TokioUring {
    fn spawn<F>(f: F) -> impl Future<Output = ()> + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let h = tokio_uring::spawn(f);
        async move { h.await.expect("task") }
    }
    fn spawn_detached<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio_uring::spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        tokio::task::yield_now()
    }
}

/// monoio.
struct Monoio;
impl Rt for Monoio {
    fn spawn<F>(f: F) -> impl Future<Output = ()> + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        monoio::spawn(f)
    }
    fn spawn_detached<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(monoio::spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        YieldOnce(false)
    }
}

/// compio.
struct Compio;
impl Rt for Compio {
    fn spawn<F>(f: F) -> impl Future<Output = ()> + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let h = compio::runtime::spawn(f);
        async move { h.await.expect("task") }
    }
    fn spawn_detached<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        compio::runtime::spawn(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        YieldOnce(false)
    }
}

/// One batch of `shape`; the operations it counts.
async fn batch<R: Rt>(shape: &str) -> usize {
    match shape {
        "spawn" => {
            let handles: Vec<_> = (0..SPAWN_MANY).map(|_| R::spawn(async {})).collect();
            for h in handles {
                h.await;
            }
            SPAWN_MANY
        }
        "yield" => {
            let handles: Vec<_> = (0..YIELD_TASKS)
                .map(|_| {
                    R::spawn(async {
                        for _ in 0..YIELDS {
                            R::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await;
            }
            YIELD_TASKS * YIELDS
        }
        "ping-pong" => {
            let (done_tx, done_rx) = oneshot::channel::<()>();
            let done_tx = Arc::new(Mutex::new(Some(done_tx)));
            let remaining = Arc::new(AtomicUsize::new(PING_PONGS));
            for _ in 0..PING_PONGS {
                let (done_tx, remaining) = (done_tx.clone(), remaining.clone());
                R::spawn_detached(async move {
                    let (tx1, rx1) = oneshot::channel::<()>();
                    let (tx2, rx2) = oneshot::channel::<()>();
                    R::spawn_detached(async move {
                        rx1.await.expect("ping");
                        tx2.send(()).expect("pong");
                    });
                    tx1.send(()).expect("ping");
                    rx2.await.expect("pong");
                    if remaining.fetch_sub(1, Ordering::Relaxed) == 1 {
                        let tx = done_tx.lock().expect("lock").take().expect("once");
                        tx.send(()).expect("done");
                    }
                });
            }
            done_rx.await.expect("done");
            PING_PONGS
        }
        _ => {
            fn chain<R: Rt>(done: oneshot::Sender<()>, n: usize) {
                if n == 0 {
                    done.send(()).expect("done");
                } else {
                    R::spawn_detached(async move { chain::<R>(done, n - 1) });
                }
            }
            let (tx, rx) = oneshot::channel();
            R::spawn_detached(async move { chain::<R>(tx, CHAIN) });
            rx.await.expect("chain");
            CHAIN
        }
    }
}

/// Batches of `shape` for `warmup`, then for `secs`: ns per operation.
async fn measure<R: Rt>(shape: &'static str, secs: Duration, warmup: Duration) -> (f64, f64) {
    let end = Instant::now() + warmup;
    while Instant::now() < end {
        batch::<R>(shape).await;
    }
    let mark = Mark::now();
    let end = Instant::now() + secs;
    let mut ops = 0;
    while Instant::now() < end || ops == 0 {
        ops += batch::<R>(shape).await;
    }
    let (wall, cpu) = mark.elapsed();
    (wall * 1e9 / ops as f64, cpu * 1e9 / ops as f64)
}

/// The worker: `shape` on `peer`'s runtime.
pub(crate) fn work(
    peer: Peer,
    shape: &str,
    secs: Duration,
    warmup: Duration,
) -> io::Result<Metrics> {
    let shape: &'static str = SHAPES
        .into_iter()
        .find(|s| *s == shape)
        .ok_or_else(|| io::Error::other(format!("unknown shape {shape:?}")))?;
    let (ns, cpu_ns) = match peer {
        Peer::Ringloop | Peer::Ringloop510 | Peer::RingloopEpoll => {
            ringloop::Runtime::new()?.block_on(measure::<Ringloop>(shape, secs, warmup))
        }
        Peer::Tokio => tokio::runtime::Builder::new_current_thread()
            .build()?
            .block_on(measure::<Tokio>(shape, secs, warmup)),
        Peer::TokioMt => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()?;
            // The main future is `block_on`'s (the shapes' handles are not `Send`,
            // so it cannot be a task): its spawns go through the runtime's shared
            // queue, and the tasks run on the two workers.
            rt.block_on(measure::<Tokio>(shape, secs, warmup))
        }
        Peer::TokioUring => tokio_uring::start(measure::<TokioUring>(shape, secs, warmup)),
        Peer::Monoio => monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .build()?
            .block_on(measure::<Monoio>(shape, secs, warmup)),
        Peer::Compio => {
            compio::runtime::Runtime::new()?.block_on(measure::<Compio>(shape, secs, warmup))
        }
        Peer::BareUring | Peer::Pread => {
            return Err(io::Error::other("no scheduler to measure"));
        }
    };
    let mut m = Metrics::new();
    m.insert("ns_per_op".into(), ns);
    m.insert("cpu_ns_per_op".into(), cpu_ns);
    Ok(m)
}
