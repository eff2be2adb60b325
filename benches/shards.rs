//! Calls between two cores: ringloop's shards (`ringloop::shard`) beside tokio's
//! multi-thread runtime with two workers and two plain threads with
//! `std::sync::mpsc`, all on two threads.
//!
//! * Round trip: from shard 0, `submit_to(1, || async { i }).await`, one at a
//!   time (the remote task is spawned on shard 1 and its output comes back to
//!   shard 0's task). Peers: a task on a tokio worker that `tokio::spawn`s a
//!   trivial task and awaits its `JoinHandle` (tokio puts the child in the
//!   spawning worker's LIFO slot, so it mostly runs on the *same* worker: there is
//!   no way to aim a spawn at the other worker; the table says how often it ran on
//!   the other one), and a request + reply over two `std::sync::mpsc` channels
//!   between two threads. The like-for-like peer of `submit_to`, whose ratios the
//!   table gives: two tokio current-thread runtimes on two threads, the first
//!   `spawn`ing each trivial task on the second through its `Handle` and awaiting
//!   it. An extra ringloop row calls shard 0 from shard 0 (the same path through
//!   its own inbox, no thread crossed), the counterpart of tokio's multi-thread
//!   row. Each round trip goes into an `hdrhistogram`; printed: median and p99,
//!   and their ratios to tokio's cross-thread call.
//! * One-way throughput: shard 0 issues `M` calls to shard 1, each bumping an
//!   atomic counter, and the clock stops when shard 0 sees that shard 1 has run
//!   them all. Two ways: `LoopHandle::call_soon_threadsafe` (on `CallError::Full`,
//!   `reserve().await` waits for room; the default capacity is 1024 calls in
//!   flight), and
//!   `submit_to` handles made in windows of 512 and awaited in order. Peers:
//!   `tokio::spawn` of `M` trivial tasks from a task on a worker (until all ran),
//!   and boxed closures over an unbounded `std::sync::mpsc` channel (and a
//!   `sync_channel(1024)`, bounded like ringloop's calls) to a second thread.
//!   Printed: calls per second, the median of the rounds, and its ratio to tokio's.
//!
//! With two CPUs or more every variant's two threads are pinned to the first two
//! allowed CPUs (shards with `Placement::Pinned`, tokio's workers and the std
//! threads with `sched_setaffinity`); the output says so. Each ringloop variant
//! runs on io_uring and on epoll (`Shards::driver`). The variants take turns in
//! rounds (a rotating order) so that a noisy neighbour hurts them alike.
//!
//! Run: `cargo bench --bench shards` (options after `--`: `--n N` round trips per
//! variant, default 20,000; `--m M` calls per throughput run, default 200,000;
//! `--rounds R`, default 4). `cargo test --benches` runs it once, tiny.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use ringloop::shard::{self, Placement, Shards};
use ringloop::{CallError, Driver, DriverKind};

/// Round trips run before the measured ones, on the same runtime or threads.
const WARMUP: usize = 2_000;
/// `submit_to` handles made before the first is awaited, in the windowed variant.
const WINDOW: usize = 512;
/// The bound of the `sync_channel` peer (ringloop's default call capacity).
const SYNC_BOUND: usize = 1024;

/// Calls run by the throughput variants' callee (one variant runs at a time).
static RAN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The index of this tokio worker (in start order), `usize::MAX` elsewhere.
    static WORKER: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds")
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().try_into().unwrap_or(u64::MAX).max(1)
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).expect("a CPU below CPU_SETSIZE");
    sched_setaffinity(Pid::from_raw(0), &set).expect("sched_setaffinity");
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

/// Two shards on `driver`, pinned to `cpus` when given.
fn shards(driver: Driver, cpus: Option<(usize, usize)>) -> Shards {
    let placement = match cpus {
        Some((a, b)) => Placement::Pinned(vec![a, b]),
        None => Placement::Unpinned,
    };
    Shards::new(2)
        .name("bench-shard")
        .driver(driver)
        .placement(placement)
}

fn expect_kind(driver: Driver) -> DriverKind {
    match driver {
        Driver::Epoll => DriverKind::Epoll,
        _ => DriverKind::IoUring,
    }
}

/// Runs `main` on shard 0 of two shards (shard 1 only serves calls) and returns
/// its output.
fn on_shard0<T, Fut>(
    driver: Driver,
    cpus: Option<(usize, usize)>,
    main: impl Fn() -> Fut + Send + Sync + 'static,
) -> T
where
    Fut: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let set = shards(driver, cpus)
        .start(move |i| {
            let run = (i == 0).then(&main);
            async move {
                match run {
                    Some(f) => Some(f.await),
                    None => None,
                }
            }
        })
        .expect("two shards");
    let kind = expect_kind(driver);
    assert!(
        set.drivers().iter().all(|&k| k == kind),
        "shards on {:?}, wanted {kind:?}",
        set.drivers()
    );
    let mut outs = set.join().into_iter();
    outs.next()
        .expect("shard 0")
        .expect("shard 0's main")
        .expect("shard 0's output")
}

/// tokio's multi-thread runtime with two workers, pinned to `cpus` when given.
fn tokio_mt(cpus: Option<(usize, usize)>) -> tokio::runtime::Runtime {
    let next = AtomicUsize::new(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-tokio")
        .on_thread_start(move || {
            let i = next.fetch_add(1, Relaxed);
            WORKER.with(|w| w.set(i));
            if let Some((a, b)) = cpus {
                pin(if i.is_multiple_of(2) { a } else { b });
            }
        })
        .build()
        .expect("tokio runtime")
}

/// Two threads, `a` on the first CPU and `b` on the second when given; returns
/// `a`'s output once both ended.
fn two_threads<T: Send + 'static>(
    cpus: Option<(usize, usize)>,
    a: impl FnOnce() -> T + Send + 'static,
    b: impl FnOnce() + Send + 'static,
) -> T {
    let tb = thread::Builder::new()
        .name("bench-b".into())
        .spawn(move || {
            if let Some((_, cpu)) = cpus {
                pin(cpu);
            }
            b()
        })
        .expect("thread b");
    let ta = thread::Builder::new()
        .name("bench-a".into())
        .spawn(move || {
            if let Some((cpu, _)) = cpus {
                pin(cpu);
            }
            a()
        })
        .expect("thread a");
    let out = ta.join().expect("thread a");
    tb.join().expect("thread b");
    out
}

// ---------------------------------------------------------------- round trip

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rtt {
    Uring,
    Epoll,
    Local,
    Tokio,
    TokioCross,
    Mpsc,
}

impl Rtt {
    const ALL: [Rtt; 6] = [
        Rtt::Uring,
        Rtt::Epoll,
        Rtt::Local,
        Rtt::Tokio,
        Rtt::TokioCross,
        Rtt::Mpsc,
    ];

    fn name(self) -> &'static str {
        match self {
            Rtt::Uring => "ringloop `submit_to(1, ..).await` (io_uring)",
            Rtt::Epoll => "ringloop-epoll `submit_to(1, ..).await`",
            Rtt::Local => {
                "ringloop `submit_to(0, ..).await` from shard 0 (same shard, like tokio's row)"
            }
            Rtt::Tokio => "tokio multi-thread (2 workers): `spawn(..).await`",
            Rtt::TokioCross => {
                "tokio, two current-thread runtimes: `other.spawn(..).await` (cross-thread, like submit_to)"
            }
            Rtt::Mpsc => "std threads: mpsc request + reply",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Rtt::Uring => "uring",
            Rtt::Epoll => "epoll",
            Rtt::Local => "local",
            Rtt::Tokio => "tokio",
            Rtt::TokioCross => "tokio-cross",
            Rtt::Mpsc => "mpsc",
        }
    }
}

/// A run's round trips, and (tokio) how many ran the child on the other worker.
struct RttRun {
    hist: Histogram<u64>,
    cross: usize,
}

fn rtt_ringloop(
    driver: Driver,
    target: usize,
    cpus: Option<(usize, usize)>,
    warmup: usize,
    n: usize,
) -> RttRun {
    let hist = on_shard0(driver, cpus, move || async move {
        for i in 0..warmup {
            let out = shard::submit_to(target, move || async move { i }).await;
            assert_eq!(out, Ok(i));
        }
        let mut h = hist();
        for i in 0..n {
            let start = Instant::now();
            let out = shard::submit_to(target, move || async move { i }).await;
            h.record(nanos(start.elapsed())).expect("in range");
            assert_eq!(out, Ok(i));
        }
        h
    });
    RttRun {
        hist,
        cross: if target == 0 { 0 } else { n },
    }
}

fn rtt_tokio(cpus: Option<(usize, usize)>, warmup: usize, n: usize) -> RttRun {
    let rt = tokio_mt(cpus);
    let run = rt.block_on(async move {
        tokio::spawn(async move {
            for _ in 0..warmup {
                tokio::spawn(async { WORKER.with(Cell::get) })
                    .await
                    .expect("child");
            }
            let mut h = hist();
            let mut cross = 0;
            for _ in 0..n {
                let here = WORKER.with(Cell::get);
                let start = Instant::now();
                let there = tokio::spawn(async { WORKER.with(Cell::get) }).await;
                h.record(nanos(start.elapsed())).expect("in range");
                cross += usize::from(there.expect("child") != here);
            }
            RttRun { hist: h, cross }
        })
        .await
        .expect("tokio main task")
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    run
}

/// Two tokio current-thread runtimes on two threads; the first spawns each
/// trivial task on the second through its `Handle` and awaits it: tokio's way to
/// run something on a chosen thread and await the answer.
fn rtt_tokio_cross(cpus: Option<(usize, usize)>, warmup: usize, n: usize) -> RttRun {
    let (handle_tx, handle_rx) = mpsc::channel::<tokio::runtime::Handle>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let hist = two_threads(
        cpus,
        move || {
            let other = handle_rx.recv().expect("the other runtime's handle");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let h = rt.block_on(async move {
                for i in 0..warmup {
                    assert_eq!(other.spawn(async move { i }).await.expect("task"), i);
                }
                let mut h = hist();
                for i in 0..n {
                    let start = Instant::now();
                    let out = other.spawn(async move { i }).await;
                    h.record(nanos(start.elapsed())).expect("in range");
                    assert_eq!(out.expect("task"), i);
                }
                h
            });
            let _ = stop_tx.send(());
            h
        },
        move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            handle_tx
                .send(rt.handle().clone())
                .expect("send the handle");
            let _ = rt.block_on(stop_rx);
        },
    );
    RttRun { hist, cross: n }
}

fn rtt_mpsc(cpus: Option<(usize, usize)>, warmup: usize, n: usize) -> RttRun {
    let (req_tx, req_rx) = mpsc::channel::<usize>();
    let (rep_tx, rep_rx) = mpsc::channel::<usize>();
    let hist = two_threads(
        cpus,
        move || {
            for i in 0..warmup {
                req_tx.send(i).expect("send");
                assert_eq!(rep_rx.recv(), Ok(i));
            }
            let mut h = hist();
            for i in 0..n {
                let start = Instant::now();
                req_tx.send(i).expect("send");
                let out = rep_rx.recv();
                h.record(nanos(start.elapsed())).expect("in range");
                assert_eq!(out, Ok(i));
            }
            h
        },
        move || {
            for i in req_rx {
                rep_tx.send(i).expect("reply");
            }
        },
    );
    RttRun { hist, cross: n }
}

fn rtt_run(v: Rtt, cpus: Option<(usize, usize)>, warmup: usize, n: usize) -> RttRun {
    match v {
        Rtt::Uring => rtt_ringloop(Driver::IoUring, 1, cpus, warmup, n),
        Rtt::Epoll => rtt_ringloop(Driver::Epoll, 1, cpus, warmup, n),
        Rtt::Local => rtt_ringloop(Driver::IoUring, 0, cpus, warmup, n),
        Rtt::Tokio => rtt_tokio(cpus, warmup, n),
        Rtt::TokioCross => rtt_tokio_cross(cpus, warmup, n),
        Rtt::Mpsc => rtt_mpsc(cpus, warmup, n),
    }
}

// ---------------------------------------------------------------- throughput

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tput {
    SoonUring,
    SoonEpoll,
    WindowUring,
    WindowEpoll,
    Tokio,
    Mpsc,
    SyncChannel,
}

impl Tput {
    const ALL: [Tput; 7] = [
        Tput::SoonUring,
        Tput::SoonEpoll,
        Tput::WindowUring,
        Tput::WindowEpoll,
        Tput::Tokio,
        Tput::Mpsc,
        Tput::SyncChannel,
    ];

    fn name(self) -> &'static str {
        match self {
            Tput::SoonUring => {
                "ringloop `call_soon_threadsafe`, `reserve().await` when Full (io_uring)"
            }
            Tput::SoonEpoll => "ringloop-epoll `call_soon_threadsafe`, `reserve().await` when Full",
            Tput::WindowUring => "ringloop `submit_to` × 512, then await (io_uring)",
            Tput::WindowEpoll => "ringloop-epoll `submit_to` × 512, then await",
            Tput::Tokio => "tokio multi-thread (2 workers): `spawn`",
            Tput::Mpsc => "std threads: `mpsc::channel` of boxed closures",
            Tput::SyncChannel => "std threads: `mpsc::sync_channel(1024)` of boxed closures",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Tput::SoonUring => "soon-uring",
            Tput::SoonEpoll => "soon-epoll",
            Tput::WindowUring => "window-uring",
            Tput::WindowEpoll => "window-epoll",
            Tput::Tokio => "tokio",
            Tput::Mpsc => "mpsc",
            Tput::SyncChannel => "sync_channel",
        }
    }
}

/// A throughput run: its time, and (call_soon_threadsafe) how many calls came
/// back `Full` before they got in.
struct TputRun {
    elapsed: Duration,
    full: usize,
}

fn tput_soon(driver: Driver, cpus: Option<(usize, usize)>, m: usize) -> TputRun {
    RAN.store(0, Relaxed);
    on_shard0(driver, cpus, move || async move {
        let target = shard::handle(1);
        let mut full = 0;
        let start = Instant::now();
        for _ in 0..m {
            match target.call_soon_threadsafe(|| {
                RAN.fetch_add(1, Relaxed);
            }) {
                Ok(()) => {}
                Err(CallError::Full) => {
                    // Wait for room (back-pressure), then call in it.
                    full += 1;
                    target
                        .reserve()
                        .await
                        .expect("room")
                        .call_soon_threadsafe(|| {
                            RAN.fetch_add(1, Relaxed);
                        })
                        .expect("call");
                }
                Err(e) => panic!("call_soon_threadsafe: {e}"),
            }
        }
        while RAN.load(Relaxed) < m {
            ringloop::yield_now().await;
        }
        let elapsed = start.elapsed();
        assert_eq!(RAN.load(Relaxed), m);
        TputRun { elapsed, full }
    })
}

fn tput_window(driver: Driver, cpus: Option<(usize, usize)>, m: usize) -> TputRun {
    RAN.store(0, Relaxed);
    on_shard0(driver, cpus, move || async move {
        let mut window = Vec::with_capacity(WINDOW);
        let start = Instant::now();
        let mut sent = 0;
        while sent < m {
            let k = WINDOW.min(m - sent);
            window.extend((0..k).map(|_| {
                shard::submit_to(1, || async {
                    RAN.fetch_add(1, Relaxed);
                })
            }));
            for call in window.drain(..) {
                call.await.expect("remote call");
            }
            sent += k;
        }
        let elapsed = start.elapsed();
        assert_eq!(RAN.load(Relaxed), m);
        TputRun { elapsed, full: 0 }
    })
}

fn tput_tokio(cpus: Option<(usize, usize)>, m: usize) -> TputRun {
    RAN.store(0, Relaxed);
    let rt = tokio_mt(cpus);
    let elapsed = rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..m {
                drop(tokio::spawn(async {
                    RAN.fetch_add(1, Relaxed);
                }));
            }
            while RAN.load(Relaxed) < m {
                tokio::task::yield_now().await;
            }
            start.elapsed()
        })
        .await
        .expect("tokio main task")
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    assert_eq!(RAN.load(Relaxed), m);
    TputRun { elapsed, full: 0 }
}

type Job = Box<dyn FnOnce() + Send>;

fn tput_mpsc(cpus: Option<(usize, usize)>, m: usize, bound: Option<usize>) -> TputRun {
    RAN.store(0, Relaxed);
    let job = || -> Job {
        Box::new(|| {
            RAN.fetch_add(1, Relaxed);
        })
    };
    let elapsed = match bound {
        None => {
            let (tx, rx) = mpsc::channel::<Job>();
            two_threads(
                cpus,
                move || {
                    let start = Instant::now();
                    for _ in 0..m {
                        tx.send(job()).expect("send");
                    }
                    while RAN.load(Relaxed) < m {
                        std::hint::spin_loop();
                    }
                    start.elapsed()
                },
                move || rx.into_iter().for_each(|f| f()),
            )
        }
        Some(bound) => {
            let (tx, rx) = mpsc::sync_channel::<Job>(bound);
            two_threads(
                cpus,
                move || {
                    let start = Instant::now();
                    for _ in 0..m {
                        tx.send(job()).expect("send");
                    }
                    while RAN.load(Relaxed) < m {
                        std::hint::spin_loop();
                    }
                    start.elapsed()
                },
                move || rx.into_iter().for_each(|f| f()),
            )
        }
    };
    assert_eq!(RAN.load(Relaxed), m);
    TputRun { elapsed, full: 0 }
}

fn tput_run(v: Tput, cpus: Option<(usize, usize)>, m: usize) -> TputRun {
    match v {
        Tput::SoonUring => tput_soon(Driver::IoUring, cpus, m),
        Tput::SoonEpoll => tput_soon(Driver::Epoll, cpus, m),
        Tput::WindowUring => tput_window(Driver::IoUring, cpus, m),
        Tput::WindowEpoll => tput_window(Driver::Epoll, cpus, m),
        Tput::Tokio => tput_tokio(cpus, m),
        Tput::Mpsc => tput_mpsc(cpus, m, None),
        Tput::SyncChannel => tput_mpsc(cpus, m, Some(SYNC_BOUND)),
    }
}

// ---------------------------------------------------------------- main

fn micros(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn median(xs: &[f64]) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    s[(s.len() - 1) / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, tiny.
    let quick = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let n = arg(&args, "--n", if quick { 200 } else { 20_000 });
    let m = arg(&args, "--m", if quick { 2_000 } else { 200_000 });
    let rounds = arg(&args, "--rounds", if quick { 1 } else { 4 }).max(1);
    let warmup = if quick { 20 } else { WARMUP };

    let cpus = allowed_cpus();
    let pinned = (cpus.len() >= 2).then(|| (cpus[0], cpus[1]));
    println!(
        "kernel {}; {} CPUs allowed; {}; load average {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        cpus.len(),
        match pinned {
            Some((a, b)) => format!(
                "both threads of every variant pinned to CPUs {a} and {b} (shards: Placement::Pinned(vec![{a}, {b}]))"
            ),
            None => "threads not pinned (fewer than 2 CPUs)".to_owned(),
        },
        loadavg()
    );

    // Round trip.
    let per_round = n.div_ceil(rounds);
    let mut hists: Vec<Histogram<u64>> = Rtt::ALL.iter().map(|_| hist()).collect();
    let mut cross = vec![0usize; Rtt::ALL.len()];
    for round in 0..rounds {
        let mut medians = vec![0; Rtt::ALL.len()];
        for k in 0..Rtt::ALL.len() {
            let i = (k + round) % Rtt::ALL.len();
            let run = rtt_run(Rtt::ALL[i], pinned, warmup, per_round);
            medians[i] = run.hist.value_at_quantile(0.5);
            hists[i].add(&run.hist).expect("same bounds");
            cross[i] += run.cross;
        }
        eprintln!(
            "round trip, round {}: {}",
            round + 1,
            Rtt::ALL
                .iter()
                .zip(&medians)
                .map(|(v, &m)| format!("{} {:.2} µs", v.short(), micros(m)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Ratios against tokio's cross-thread call, the like-for-like peer of submit_to.
    let tokio_i = Rtt::ALL.iter().position(|&v| v == Rtt::Tokio).unwrap();
    let peer_i = Rtt::ALL.iter().position(|&v| v == Rtt::TokioCross).unwrap();
    let tokio_median = hists[peer_i].value_at_quantile(0.5) as f64;
    let tokio_p99 = hists[peer_i].value_at_quantile(0.99) as f64;
    println!();
    println!(
        "cross-core call round trip, trivial body, sequential: {} per variant over {rounds} rounds (after {warmup} warm-up each)",
        per_round * rounds
    );
    println!();
    println!(
        "| variant | median µs | p99 µs | max µs | median vs tokio-cross | p99 vs tokio-cross |"
    );
    println!("|---|--:|--:|--:|--:|--:|");
    for (v, h) in Rtt::ALL.iter().zip(&hists) {
        println!(
            "| {} | {:.2} | {:.2} | {:.1} | {:.2}× | {:.2}× |",
            v.name(),
            micros(h.value_at_quantile(0.5)),
            micros(h.value_at_quantile(0.99)),
            micros(h.max()),
            h.value_at_quantile(0.5) as f64 / tokio_median,
            h.value_at_quantile(0.99) as f64 / tokio_p99,
        );
    }
    let total = per_round * rounds;
    println!();
    println!(
        "tokio ran the spawned task on the other worker {} of {total} times ({:.1}%); tokio cannot aim a spawn at a worker, so its row is reported as is",
        cross[tokio_i],
        100.0 * cross[tokio_i] as f64 / total.max(1) as f64
    );

    // Throughput.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Tput::ALL.len()];
    let mut fulls = vec![0usize; Tput::ALL.len()];
    // Warm-up: one small run of each.
    for v in Tput::ALL {
        tput_run(v, pinned, m.min(10_000) / 10);
    }
    for round in 0..rounds {
        let mut line = vec![String::new(); Tput::ALL.len()];
        for k in 0..Tput::ALL.len() {
            let i = (k + round) % Tput::ALL.len();
            let run = tput_run(Tput::ALL[i], pinned, m);
            let rate = m as f64 / run.elapsed.as_secs_f64();
            rates[i].push(rate);
            fulls[i] += run.full;
            line[i] = format!("{} {:.2} M/s", Tput::ALL[i].short(), rate / 1e6);
        }
        eprintln!("throughput, round {}: {}", round + 1, line.join(", "));
    }
    let medians: Vec<f64> = rates.iter().map(|r| median(r)).collect();
    let tokio_t = medians[Tput::ALL.iter().position(|&v| v == Tput::Tokio).unwrap()];
    println!();
    println!(
        "one-way throughput, shard 0 → shard 1 (or worker/thread A → B): {m} calls per run, {rounds} runs per variant; calls/s until all have run"
    );
    println!();
    println!("| variant | median M calls/s | min | max | ns per call | vs tokio | waits for room per run |");
    println!("|---|--:|--:|--:|--:|--:|--:|");
    for (i, v) in Tput::ALL.iter().enumerate() {
        let r = &rates[i];
        let min = r.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.iter().copied().fold(0.0, f64::max);
        let fulls = match v {
            Tput::SoonUring | Tput::SoonEpoll => format!("{}", fulls[i] / rounds),
            _ => "–".to_owned(),
        };
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2}× | {fulls} |",
            v.name(),
            medians[i] / 1e6,
            min / 1e6,
            max / 1e6,
            1e9 / medians[i],
            medians[i] / tokio_t,
        );
    }
    println!();
    println!("load average after {}", loadavg());
}
