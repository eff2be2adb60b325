//! The cross-core call (the round trip of `benches/shards.rs`): from a task on one
//! thread, run a trivial task on another thread and await its answer, one call at
//! a time, the two threads pinned to the server and client CPUs.
//!
//! - ringloop (each driver): two shards, from shard 0 `submit_to(1, || async { i
//!   }).await`;
//! - tokio: two current-thread runtimes on two threads, the first `spawn`ing each
//!   task on the second through its `Handle` and awaiting the `JoinHandle`
//!   (tokio's way to run something on a chosen thread and await it);
//! - tokio-mt: a multi-thread runtime with two workers, a task on one `spawn`s
//!   and awaits; tokio puts the child in the spawning worker's LIFO slot, so it
//!   mostly runs on the same worker (no way to aim a spawn at the other one): the
//!   `cross_share` figure says how often it crossed.
//!
//! Figures: the median and p99 round trip (µs) over the window, after a warm-up.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringloop::shard::{self, Placement, Shards};

use crate::peers::Peer;
use crate::process;
use crate::worker::Metrics;

thread_local! {
    /// This tokio worker's number (start order), `usize::MAX` elsewhere.
    static WORKER: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The two CPUs the two sides are pinned to, when this process may use two.
fn cpus() -> Option<(usize, usize)> {
    let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| process::cpu_allowed(c))
        .take(2)
        .collect();
    match allowed[..] {
        [a, b] => Some((a, b)),
        _ => None,
    }
}

/// Pins this thread to `cpu` when there are two CPUs to use.
fn pin(cpu: Option<usize>) -> io::Result<()> {
    match cpu {
        Some(cpu) => process::pin_current_thread(cpu),
        None => Ok(()),
    }
}

/// Calls `call(i)` (which must answer `i`) for `warmup`, then for `secs`: the
/// measured round trips (ns) and how many answers came from another thread.
async fn round_trips<F, Fut>(mut call: F, secs: Duration, warmup: Duration) -> (Vec<u64>, usize)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = (u64, bool)>,
{
    let mut i = 0;
    let end = Instant::now() + warmup;
    while Instant::now() < end {
        assert_eq!(call(i).await.0, i);
        i += 1;
    }
    let mut rtts = Vec::with_capacity(1 << 20);
    let mut crossed = 0;
    let end = Instant::now() + secs;
    while Instant::now() < end || rtts.is_empty() {
        let start = Instant::now();
        let (out, other) = call(i).await;
        rtts.push(start.elapsed().as_nanos() as u64);
        assert_eq!(out, i, "the call answered another call");
        crossed += usize::from(other);
        i += 1;
    }
    (rtts, crossed)
}

/// The worker: the round trip on `peer`.
pub(crate) fn work(peer: Peer, secs: Duration, warmup: Duration) -> io::Result<Metrics> {
    let cpus = cpus();
    let (mut rtts, crossed) = match peer {
        Peer::Ringloop | Peer::Ringloop510 | Peer::RingloopEpoll => {
            let placement = match cpus {
                Some((a, b)) => Placement::Pinned(vec![a, b]),
                None => Placement::Unpinned,
            };
            let set = Shards::new(2)
                .name("bench-shard")
                .placement(placement)
                .start(move |i| async move {
                    if i != 0 {
                        return None;
                    }
                    let call = |i: u64| async move {
                        let out = shard::submit_to(1, move || async move { i }).await;
                        (out.expect("submit_to"), true)
                    };
                    Some(round_trips(call, secs, warmup).await)
                })?;
            set.join()
                .into_iter()
                .next()
                .and_then(|r| r.ok().flatten())
                .ok_or_else(|| io::Error::other("shard 0 failed"))?
        }
        Peer::Tokio => {
            let (handle_tx, handle_rx) = mpsc::channel::<tokio::runtime::Handle>();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let callee = thread::spawn(move || -> io::Result<()> {
                pin(cpus.map(|c| c.1))?;
                let rt = tokio::runtime::Builder::new_current_thread().build()?;
                let _ = handle_tx.send(rt.handle().clone());
                let _ = rt.block_on(stop_rx);
                Ok(())
            });
            pin(cpus.map(|c| c.0))?;
            let other = handle_rx
                .recv()
                .map_err(|_| io::Error::other("the callee thread failed"))?;
            let rt = tokio::runtime::Builder::new_current_thread().build()?;
            let out = rt.block_on(round_trips(
                |i| {
                    let h = other.spawn(async move { i });
                    async move { (h.await.expect("task"), true) }
                },
                secs,
                warmup,
            ));
            let _ = stop_tx.send(());
            callee
                .join()
                .map_err(|_| io::Error::other("the callee panicked"))??;
            out
        }
        Peer::TokioMt => {
            let next = AtomicUsize::new(0);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .on_thread_start(move || {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    WORKER.with(|w| w.set(i));
                    if let Some((a, b)) = cpus {
                        let _ = pin(Some(if i.is_multiple_of(2) { a } else { b }));
                    }
                })
                .build()?;
            let out = rt.block_on(async move {
                tokio::spawn(round_trips(
                    |i| async move {
                        let here = WORKER.with(Cell::get);
                        let there = tokio::spawn(async move { (i, WORKER.with(Cell::get)) })
                            .await
                            .expect("task");
                        (there.0, there.1 != here)
                    },
                    secs,
                    warmup,
                ))
                .await
            });
            rt.shutdown_timeout(Duration::from_secs(5));
            out.map_err(io::Error::other)?
        }
        _ => return Err(io::Error::other("no cross-thread call")),
    };
    rtts.sort_unstable();
    let q = |p: f64| rtts[((rtts.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    let mut m = Metrics::new();
    m.insert("rtt_p50_us".into(), q(0.5));
    m.insert("rtt_p99_us".into(), q(0.99));
    m.insert("cross_share".into(), crossed as f64 / rtts.len() as f64);
    Ok(m)
}
