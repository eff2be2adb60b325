//! Cross-thread wake latency of a *parked* io_uring loop: the eventfd that
//! ringloop's driver polls (`WAKE` in `src/driver/uring/mod.rs`) beside
//! `IORING_OP_MSG_RING`, with two plain-thread peers as the yardstick.
//!
//! Two threads play ping-pong, each parked between its turns: A wakes B, B wakes A
//! back, and the one-way wake latency is half of each round trip. The rows:
//!
//! * `eventfd`: each thread has a ring with a one-shot `POLL_ADD` on its own
//!   eventfd and sits in `submit_and_wait(1)`; the peer wakes it with a `write(2)`
//!   of one. The woken side drains the counter with `read(2)` and re-arms the poll
//!   in its next `io_uring_enter`, as ringloop's driver does.
//! * `MSG_RING`: each thread has a ring and sits in `submit_and_wait(1)`; the peer
//!   wakes it by submitting `IORING_OP_MSG_RING` (`opcode::MsgRingData`) on its own
//!   ring, aimed at the target's ring fd, with `IOSQE_CQE_SKIP_SUCCESS` so that the
//!   sender gets no CQE of its own. The target receives the CQE directly.
//! * `std::sync::mpsc`: a channel each way, `recv` to park (std's channel spins a
//!   little before it sleeps on a futex).
//! * `thread::park`: an atomic flag and `unpark` each way (a futex, no spinning).
//!
//! The io_uring rows use only the `io-uring` crate, not ringloop's driver. Their
//! rings are made with the flags ringloop uses on 6.1+ (`SINGLE_ISSUER |
//! DEFER_TASKRUN | TASKRUN_FLAG`, then `COOP_TASKRUN | TASKRUN_FLAG`, then none,
//! whichever the kernel takes first; `--plain` asks for none). MSG_RING is probed
//! first (`Probe::is_supported`) and its rows are skipped, with the reason, where the
//! kernel lacks it. With two CPUs or more the threads are pinned to two different
//! ones (`sched_setaffinity`); the output says which.
//!
//! The batched variant: A posts 64 wakes in a row (64 `write`s; 64 MSG_RING entries
//! in one submit; 64 sends or unparks), B parks until it has seen all 64 (the
//! eventfd's counter, the CQEs, the messages, the flag's count) and acks with one
//! wake. Reported per round trip and as wakes per second.
//!
//! The variants take turns in rounds (a rotating order), so that a noisy neighbour
//! hurts them alike; the one-way latencies of all rounds go into one `hdrhistogram`
//! per variant (each round's medians go to stderr). Printed: median and p99 per one-way wake and the ratio of each
//! median to eventfd's.
//!
//! Run: `cargo bench --bench wake` (options after `--`: `--n N` round trips per
//! variant, default 20,000; `--batches N`, default 2,000; `--rounds N`, default 4;
//! `--plain`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread::Thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::os::fd::AsRawFd;

/// Wakes per batch in the batched variant.
const BATCH: u64 = 64;
/// `user_data` of the eventfd poll.
const WAKE: u64 = 1;
/// `user_data` of the CQE a MSG_RING posts to its target.
const MSG: u64 = 2;
/// `user_data` of a MSG_RING entry on its sender's ring (a CQE only on failure).
const SENT: u64 = 3;

/// Which ring flags to ask for.
#[derive(Clone, Copy)]
enum RingFlags {
    /// ringloop's choice: the best of the attempts the kernel takes.
    Ringloop,
    /// No setup flags.
    Plain,
}

/// A ring with the flags of `flags`, and the name of those the kernel took. Made
/// on the thread that submits to it (`SINGLE_ISSUER`, `DEFER_TASKRUN`).
fn new_ring(flags: RingFlags) -> (IoUring, &'static str) {
    if let RingFlags::Ringloop = flags {
        let mut b = IoUring::builder();
        b.setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag();
        if let Ok(ring) = b.build(256) {
            return (ring, "SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG");
        }
        let mut b = IoUring::builder();
        b.setup_coop_taskrun().setup_taskrun_flag();
        if let Ok(ring) = b.build(256) {
            return (ring, "COOP_TASKRUN | TASKRUN_FLAG");
        }
    }
    (IoUring::new(256).expect("io_uring_setup"), "none")
}

/// `io_uring_enter` waiting for one completion; an interruption is a normal return.
fn wait_one(ring: &IoUring) {
    match ring.submitter().submit_and_wait(1) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
        Err(e) => panic!("io_uring_enter: {e}"),
    }
}

/// One side of a ping-pong: built on the thread that uses it, it hands out the
/// address its peer wakes it through, and learns the peer's.
trait Parker: Sized {
    type Addr: Send + 'static;
    fn new(flags: RingFlags) -> (Self, Self::Addr);
    fn connect(&mut self, peer: Self::Addr);
    /// Posts `n` wakes to the peer.
    fn wake_peer(&mut self, n: u64);
    /// Parks until at least one wake has arrived; returns how many have.
    fn park(&mut self) -> u64;
}

/// eventfd + one-shot `POLL_ADD`, drained with `read(2)` (ringloop's wake).
struct EventfdParker {
    ring: IoUring,
    efd: Arc<EventFd>,
    peer: Option<Arc<EventFd>>,
    armed: bool,
}

impl Parker for EventfdParker {
    type Addr = Arc<EventFd>;

    fn new(flags: RingFlags) -> (Self, Arc<EventFd>) {
        let (ring, _) = new_ring(flags);
        let efd = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC).expect("eventfd"));
        let me = EventfdParker {
            ring,
            efd: efd.clone(),
            peer: None,
            armed: false,
        };
        (me, efd)
    }

    fn connect(&mut self, peer: Arc<EventFd>) {
        self.peer = Some(peer);
    }

    fn wake_peer(&mut self, n: u64) {
        let peer = self.peer.as_ref().expect("connected");
        for _ in 0..n {
            peer.write(1).expect("eventfd write");
        }
    }

    fn park(&mut self) -> u64 {
        let mut woken = 0;
        while woken == 0 {
            if !self.armed {
                let sqe =
                    opcode::PollAdd::new(types::Fd(self.efd.as_raw_fd()), libc::POLLIN as u32)
                        .build()
                        .user_data(WAKE);
                // SAFETY: a poll entry holds no pointers; the eventfd it names is
                // ours and outlives the ring (fields drop in order, the ring first).
                unsafe { self.ring.submission().push(&sqe) }.expect("SQ has room");
                self.armed = true;
            }
            wait_one(&self.ring);
            let mut fired = false;
            for cqe in self.ring.completion() {
                assert_eq!(cqe.user_data(), WAKE);
                assert!(cqe.result() >= 0, "eventfd poll failed: {}", cqe.result());
                fired = true;
            }
            if fired {
                self.armed = false;
                // The poll said readable and we are the only reader: no blocking.
                woken += self.efd.read().expect("eventfd read");
            }
        }
        woken
    }
}

/// `IORING_OP_MSG_RING` from the sender's ring straight into the target's CQ.
struct MsgRingParker {
    ring: IoUring,
    peer: Option<i32>,
}

impl Parker for MsgRingParker {
    type Addr = i32;

    fn new(flags: RingFlags) -> (Self, i32) {
        let (ring, _) = new_ring(flags);
        let fd = ring.as_raw_fd();
        (MsgRingParker { ring, peer: None }, fd)
    }

    fn connect(&mut self, peer: i32) {
        self.peer = Some(peer);
    }

    fn wake_peer(&mut self, n: u64) {
        let peer = types::Fd(self.peer.expect("connected"));
        for _ in 0..n {
            let sqe = opcode::MsgRingData::new(peer, 0, MSG, None)
                .build()
                .flags(squeue::Flags::SKIP_SUCCESS)
                .user_data(SENT);
            // SAFETY: a MSG_RING data entry holds no pointers, only the target's
            // ring fd, which the harness keeps open until both sides are done.
            unsafe { self.ring.submission().push(&sqe) }.expect("SQ has room");
        }
        let submitted = self.ring.submit().expect("io_uring_enter");
        assert_eq!(submitted as u64, n);
    }

    fn park(&mut self) -> u64 {
        let mut woken = 0;
        while woken == 0 {
            wait_one(&self.ring);
            for cqe in self.ring.completion() {
                match cqe.user_data() {
                    MSG => woken += 1,
                    SENT => panic!("MSG_RING failed: errno {}", -cqe.result()),
                    other => panic!("unexpected CQE {other}"),
                }
                debug_assert!(!cqueue::more(cqe.flags()));
            }
        }
        woken
    }
}

/// A `std::sync::mpsc` channel each way.
struct MpscParker {
    rx: mpsc::Receiver<()>,
    tx: Option<mpsc::Sender<()>>,
}

impl Parker for MpscParker {
    type Addr = mpsc::Sender<()>;

    fn new(_: RingFlags) -> (Self, mpsc::Sender<()>) {
        let (tx, rx) = mpsc::channel();
        (MpscParker { rx, tx: None }, tx)
    }

    fn connect(&mut self, peer: mpsc::Sender<()>) {
        self.tx = Some(peer);
    }

    fn wake_peer(&mut self, n: u64) {
        let tx = self.tx.as_ref().expect("connected");
        for _ in 0..n {
            tx.send(()).expect("peer alive");
        }
    }

    fn park(&mut self) -> u64 {
        self.rx.recv().expect("peer alive");
        1 + self.rx.try_iter().count() as u64
    }
}

/// `thread::park` with a count of wakes; the waker adds one and unparks.
struct FutexParker {
    pending: Arc<AtomicU64>,
    peer: Option<(Thread, Arc<AtomicU64>)>,
}

impl Parker for FutexParker {
    type Addr = (Thread, Arc<AtomicU64>);

    fn new(_: RingFlags) -> (Self, (Thread, Arc<AtomicU64>)) {
        let pending = Arc::new(AtomicU64::new(0));
        let addr = (std::thread::current(), pending.clone());
        (
            FutexParker {
                pending,
                peer: None,
            },
            addr,
        )
    }

    fn connect(&mut self, peer: (Thread, Arc<AtomicU64>)) {
        self.peer = Some(peer);
    }

    fn wake_peer(&mut self, n: u64) {
        let (thread, pending) = self.peer.as_ref().expect("connected");
        for _ in 0..n {
            pending.fetch_add(1, Ordering::Release);
            thread.unpark();
        }
    }

    fn park(&mut self) -> u64 {
        loop {
            let n = self.pending.swap(0, Ordering::Acquire);
            if n > 0 {
                return n;
            }
            std::thread::park();
        }
    }
}

/// What one run measures.
#[derive(Clone, Copy)]
enum Mode {
    /// One wake each way per round trip; records half of each round trip.
    Latency,
    /// `BATCH` wakes from A, one ack from B; records each round trip.
    Batch,
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    // SAFETY: `cpu_set_t` is a plain bit mask, for which all zeroes is valid (empty).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid set, and `allowed_cpus` gave a `cpu` below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid set of `size` bytes, only read; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, size, &set) };
    assert_eq!(rc, 0, "sched_setaffinity({cpu})");
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is a plain bit mask, for which all zeroes is valid (empty).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid, writable set of `size` bytes; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, size, &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` is a valid set and `c` is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Plays `warmup + n` rounds of `mode` between two threads (A on `cpus[0]`, B on
/// `cpus[1]` when given) and records the measured ones into `hist`, in ns.
fn run<P: Parker>(
    flags: RingFlags,
    mode: Mode,
    n: usize,
    warmup: usize,
    cpus: Option<(usize, usize)>,
    hist: &mut Histogram<u64>,
) {
    let (to_a, from_b) = mpsc::channel::<P::Addr>();
    let (to_b, from_a) = mpsc::channel::<P::Addr>();
    // Neither side drops its end (its ring, its eventfd) until both are done, so
    // no wake can reach a closed descriptor, or a reused number.
    let done = Barrier::new(2);
    let rounds = warmup + n;
    std::thread::scope(|s| {
        let done = &done;
        s.spawn(move || {
            if let Some((_, cpu)) = cpus {
                pin(cpu);
            }
            let (mut me, addr) = P::new(flags);
            to_a.send(addr).expect("A alive");
            me.connect(from_a.recv().expect("A's address"));
            for _ in 0..rounds {
                match mode {
                    Mode::Latency => {
                        me.park();
                    }
                    Mode::Batch => {
                        let mut seen = 0;
                        while seen < BATCH {
                            seen += me.park();
                        }
                        assert_eq!(seen, BATCH);
                    }
                }
                me.wake_peer(1);
            }
            done.wait();
        });
        let a = s.spawn(move || {
            if let Some((cpu, _)) = cpus {
                pin(cpu);
            }
            let (mut me, addr) = P::new(flags);
            to_b.send(addr).expect("B alive");
            me.connect(from_b.recv().expect("B's address"));
            let mut samples = Vec::with_capacity(n);
            for i in 0..rounds {
                let start = Instant::now();
                let wakes = match mode {
                    Mode::Latency => 1,
                    Mode::Batch => BATCH,
                };
                me.wake_peer(wakes);
                let acks = me.park();
                let rtt = start.elapsed();
                assert_eq!(acks, 1);
                if i >= warmup {
                    samples.push(match mode {
                        Mode::Latency => rtt / 2,
                        Mode::Batch => rtt,
                    });
                }
            }
            done.wait();
            samples
        });
        for d in a.join().expect("thread A") {
            hist.saturating_record(d.as_nanos().max(1) as u64);
        }
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Eventfd,
    MsgRing,
    Mpsc,
    Futex,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::Eventfd,
        Variant::MsgRing,
        Variant::Mpsc,
        Variant::Futex,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Eventfd => "io_uring + eventfd (POLL_ADD, write/read)",
            Variant::MsgRing => "io_uring MSG_RING",
            Variant::Mpsc => "std::sync::mpsc",
            Variant::Futex => "thread::park/unpark (futex)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Variant::Eventfd => "eventfd",
            Variant::MsgRing => "MSG_RING",
            Variant::Mpsc => "mpsc",
            Variant::Futex => "park",
        }
    }

    fn run(self, flags: RingFlags, mode: Mode, n: usize, cpus: Option<(usize, usize)>) -> Run {
        let warmup = (n / 10).clamp(10, 500);
        let mut hist = Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
        match self {
            Variant::Eventfd => run::<EventfdParker>(flags, mode, n, warmup, cpus, &mut hist),
            Variant::MsgRing => run::<MsgRingParker>(flags, mode, n, warmup, cpus, &mut hist),
            Variant::Mpsc => run::<MpscParker>(flags, mode, n, warmup, cpus, &mut hist),
            Variant::Futex => run::<FutexParker>(flags, mode, n, warmup, cpus, &mut hist),
        }
        hist
    }
}

type Run = Histogram<u64>;

/// Whether this kernel has `IORING_OP_MSG_RING`; the reason when it has not.
fn probe_msg_ring() -> Result<(), String> {
    let ring = IoUring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("IORING_REGISTER_PROBE: {e}"))?;
    if probe.is_supported(opcode::MsgRingData::CODE) {
        Ok(())
    } else {
        Err("the kernel's probe says IORING_OP_MSG_RING is unsupported (5.18+)".into())
    }
}

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

/// Runs `variants` in `rounds` rotating rounds of `n / rounds` each.
fn measure(
    variants: &[Variant],
    flags: RingFlags,
    mode: Mode,
    n: usize,
    rounds: usize,
    cpus: Option<(usize, usize)>,
) -> Vec<Run> {
    let mut hists: Vec<Run> = variants
        .iter()
        .map(|_| Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds"))
        .collect();
    let per_round = n.div_ceil(rounds);
    for round in 0..rounds {
        let mut medians = vec![0; variants.len()];
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let h = variants[i].run(flags, mode, per_round, cpus);
            medians[i] = h.value_at_quantile(0.5);
            hists[i].add(&h).expect("same bounds");
        }
        eprintln!(
            "round {}: {}",
            round + 1,
            variants
                .iter()
                .zip(&medians)
                .map(|(v, &m)| format!("{} {:.2} µs", v.short(), micros(m)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    hists
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let n = arg(&args, "--n", if quick { 200 } else { 20_000 });
    let batches = arg(&args, "--batches", if quick { 20 } else { 2_000 });
    let rounds = arg(&args, "--rounds", if quick { 1 } else { 4 }).max(1);
    let flags = if args.iter().any(|a| a == "--plain") {
        RingFlags::Plain
    } else {
        RingFlags::Ringloop
    };

    let variants: Vec<Variant> = match probe_msg_ring() {
        Ok(()) => Variant::ALL.to_vec(),
        Err(why) => {
            println!("MSG_RING rows skipped: {why}");
            Variant::ALL
                .into_iter()
                .filter(|&v| v != Variant::MsgRing)
                .collect()
        }
    };
    let cpus = allowed_cpus();
    let pinned = (cpus.len() >= 2).then(|| (cpus[0], cpus[1]));
    let (_, flag_names) = new_ring(flags);
    println!(
        "kernel {}; ring flags: {flag_names}; {}; load average {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        match pinned {
            Some((a, b)) => format!("threads pinned to CPUs {a} and {b}"),
            None => format!("threads not pinned ({} CPU allowed)", cpus.len()),
        },
        loadavg()
    );

    let lat = measure(&variants, flags, Mode::Latency, n, rounds, pinned);
    let eventfd_median = lat[0].value_at_quantile(0.5);
    println!();
    println!(
        "one-way wake of a parked thread: {} round trips per variant over {rounds} rounds, latency = RTT/2",
        n.div_ceil(rounds) * rounds
    );
    println!();
    println!("| variant | median µs | p99 µs | max µs | median vs eventfd |");
    println!("|---|--:|--:|--:|--:|");
    for (v, h) in variants.iter().zip(&lat) {
        println!(
            "| {} | {:.2} | {:.2} | {:.1} | {:.2}× |",
            v.name(),
            micros(h.value_at_quantile(0.5)),
            micros(h.value_at_quantile(0.99)),
            micros(h.max()),
            h.value_at_quantile(0.5) as f64 / eventfd_median as f64
        );
    }

    let batch = measure(&variants, flags, Mode::Batch, batches, rounds, pinned);
    let eventfd_batch = batch[0].value_at_quantile(0.5);
    println!();
    println!(
        "batched: {BATCH} wakes A→B, 1 ack B→A; {} round trips per variant",
        batches.div_ceil(rounds) * rounds
    );
    println!();
    println!("| variant | round trip median µs | p99 µs | wakes/s (median) | median vs eventfd |");
    println!("|---|--:|--:|--:|--:|");
    for (v, h) in variants.iter().zip(&batch) {
        let median = h.value_at_quantile(0.5);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} M | {:.2}× |",
            v.name(),
            micros(median),
            micros(h.value_at_quantile(0.99)),
            BATCH as f64 / Duration::from_nanos(median).as_secs_f64() / 1e6,
            median as f64 / eventfd_batch as f64
        );
    }

    if let Some(m) = variants.iter().position(|&v| v == Variant::MsgRing) {
        println!();
        println!(
            "MSG_RING / eventfd: one-way median {:.2}×, p99 {:.2}×; batched round trip {:.2}×",
            lat[m].value_at_quantile(0.5) as f64 / eventfd_median as f64,
            lat[m].value_at_quantile(0.99) as f64 / lat[0].value_at_quantile(0.99) as f64,
            batch[m].value_at_quantile(0.5) as f64 / eventfd_batch as f64
        );
    }
    println!("load average after {}", loadavg());
}
