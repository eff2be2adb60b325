//! A bounded soak test: the example echo server (`examples/echo_server.rs`) in a
//! child process, on each driver in turn, under clients that connect, send, stop
//! reading, reset, half-close and hang up at random, and beside them, bursts of
//! 30 clients whose process dies at once (`soak/burst.rs`). Between rounds,
//! once every connection has ended, the server's descriptor count is back to its
//! count after the warm-up, its heap (a counting allocator, reported by the child)
//! and its RSS stay within a bound of theirs; every exchange a client completed
//! came back byte-exact. The server then stops cleanly on `SIGTERM`.
//!
//! 60 s in all by default (a third per driver); `RINGLOOP_SOAK_SECS` sets the
//! total. Ignored by a plain `cargo test`: ci/test.sh runs it
//! (`cargo test --test soak -- --ignored`).

// The example includes `examples/support/shutdown.rs` itself.
#[path = "soak/burst.rs"]
mod burst;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::alloc::Counting;
use support::{Mode, Rng};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// In the child: the address to serve on.
const SERVE_ENV: &str = "RINGLOOP_SOAK_SERVE";

/// Client threads in each round.
const CLIENTS: usize = 12;
/// Warm-up rounds, before the baseline is taken.
const WARM_UP: usize = 2;
/// How far the server's heap may be above its baseline after a round.
const HEAP_SLACK: usize = 2 << 20;
/// How far its RSS may be above its baseline after a round.
const RSS_SLACK: usize = 24 << 20;

/// In the child: serves until `SIGTERM`, reporting the heap every 100 ms.
fn serve_if_child() -> bool {
    let Ok(addr) = std::env::var(SERVE_ENV) else {
        return false;
    };
    std::thread::spawn(|| loop {
        println!("heap {}", support::alloc::current());
        std::thread::sleep(Duration::from_millis(100));
    });
    echo_server::serve(addr, false).unwrap();
    true
}

/// The server process and what it reports.
struct Server {
    child: Child,
    addr: SocketAddr,
    heap: Arc<AtomicUsize>,
    /// Heap reports so far (to wait for a fresh one).
    reports: Arc<AtomicU64>,
    /// Reaped (else killed when dropped: a failed check must not leave it).
    stopped: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    fn start(mode: Mode) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "soak_the_echo_server",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVE_ENV, "127.0.0.1:0")
            .envs(mode.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the server exited");
            if let Some(at) = line.find("Serving on ") {
                break line[at + "Serving on ".len()..].trim().parse().unwrap();
            }
        };
        let heap = Arc::new(AtomicUsize::new(0));
        let reports = Arc::new(AtomicU64::new(0));
        let (h, r) = (heap.clone(), reports.clone());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if let Some(n) = line.strip_prefix("heap ") {
                    if let Ok(n) = n.trim().parse() {
                        h.store(n, Ordering::SeqCst);
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        Server {
            child,
            addr,
            heap,
            reports,
            stopped: false,
        }
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The server's descriptors, and what its rings hold (`fdinfo`: the ops still
    /// armed are its `PollList`), for the report of a descriptor left open.
    fn describe_fds(&self) -> String {
        let pid = self.child.id();
        let mut out = String::new();
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return out;
        };
        for entry in dir.flatten() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            let fd = entry.file_name().to_string_lossy().into_owned();
            out += &format!("fd {fd} -> {}\n", target.display());
            if target.to_string_lossy().contains("io_uring") {
                out += &std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
                    .unwrap_or_default();
            }
        }
        out
    }

    fn rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// The heap after the server had a moment with nothing to do: a report made
    /// after this call.
    fn fresh_heap(&self) -> usize {
        let seen = self.reports.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.reports.load(Ordering::SeqCst) < seen + 2 {
            assert!(Instant::now() < deadline, "no heap report from the server");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.heap.load(Ordering::SeqCst)
    }

    /// Waits until the server's descriptor count is down to `fds` (every
    /// connection it served has ended); the count it had when giving up.
    fn settle(&self, fds: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.fds();
            if now <= fds || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) {
        self.signal_stop();
    }

    fn signal_stop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill has no memory effects; the pid is our child's, not reaped.
        let killed = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(killed, 0);
        let status = self.child.wait().unwrap();
        self.stopped = true;
        assert!(
            status.success(),
            "the server did not stop cleanly: {status}"
        );
    }
}

/// What one client did.
#[derive(Default, Clone, Copy, Debug)]
struct Tally {
    completed: u64,
    bytes: u64,
    aborted: u64,
    /// Bursts of clients killed with their process.
    bursts: u64,
}

/// Sets `SO_LINGER` to 0, so that closing sends a reset.
fn linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a live, correctly sized `struct linger`.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

fn pattern(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A full exchange: data sent by a second thread while this one reads the echo,
/// then a half-close; the echo must be exactly the data.
fn exchange(addr: SocketAddr, rng: &mut Rng, tally: &mut Tally) {
    let Ok(stream) = TcpStream::connect(addr) else {
        tally.aborted += 1;
        return;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let len = match rng.below(10) {
        0 => 1 + rng.below(2 << 20) as usize,
        _ => 1 + rng.below(64 << 10) as usize,
    };
    let data = pattern(rng, len);
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let sender = std::thread::spawn(move || {
        for chunk in sent.chunks(16 << 10) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut echoed = Vec::with_capacity(len);
    (&stream)
        .read_to_end(&mut echoed)
        .expect("reading the echo");
    sender.join().unwrap();
    assert_eq!(echoed.len(), data.len(), "an echo of another length");
    assert!(echoed == data, "an echo with other bytes");
    tally.completed += 1;
    tally.bytes += len as u64;
}

/// One of the ways a client misbehaves, at random.
fn misbehave(addr: SocketAddr, rng: &mut Rng, tally: &mut Tally) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        tally.aborted += 1;
        return;
    };
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    match rng.below(5) {
        // Sends and never reads, then hangs up (a reset: unread data).
        0 => {
            let len = 1 + rng.below(1 << 20) as usize;
            let data = pattern(rng, len);
            let _ = stream.write_all(&data);
        }
        // Sends a little, then resets.
        1 => {
            let len = 1 + rng.below(32 << 10) as usize;
            let data = pattern(rng, len);
            let _ = stream.write_all(&data);
            linger_zero(&stream);
        }
        // Half-closes at once: the echo is empty (however slow the server is to
        // answer on a busy machine).
        2 => {
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).expect("an empty echo");
            assert!(rest.is_empty(), "an echo of nothing sent");
            tally.completed += 1;
        }
        // Sends, half-closes, reads part of the echo and hangs up.
        3 => {
            let len = 1 + rng.below(256 << 10) as usize;
            let data = pattern(rng, len);
            let _ = stream.write_all(&data);
            let _ = stream.shutdown(Shutdown::Write);
            let mut part = vec![0u8; 1 + rng.below(data.len() as u64) as usize];
            let _ = stream.read(&mut part);
        }
        // Connects and hangs up.
        _ => {}
    }
    tally.aborted += 1;
}

/// One round: `CLIENTS` threads, each running clients until `until`, and one
/// running bursts of killed clients.
fn round(addr: SocketAddr, seed: u64, until: Instant) -> Tally {
    let burster = std::thread::spawn(move || {
        let mut bursts = 0;
        while Instant::now() < until {
            burst::burst(addr, seed * 1000 + bursts);
            bursts += 1;
        }
        bursts
    });
    let threads: Vec<_> = (0..CLIENTS as u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed * 1000 + t);
                let mut tally = Tally::default();
                while Instant::now() < until {
                    if rng.chance(50) {
                        exchange(addr, &mut rng, &mut tally);
                    } else {
                        misbehave(addr, &mut rng, &mut tally);
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = threads.into_iter().fold(Tally::default(), |mut all, t| {
        let t = t.join().expect("a client failed");
        all.completed += t.completed;
        all.bytes += t.bytes;
        all.aborted += t.aborted;
        all
    });
    tally.bursts = burster.join().expect("a burst failed");
    tally
}

fn soak(mode: Mode, secs: f64) {
    let server = Server::start(mode);
    // Idle: the listener and the runtime's own descriptors. Every round must end
    // with this count again.
    let idle_fds = server.fds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let round_time = Duration::from_secs_f64((secs / 6.0).clamp(1.0, 10.0));
    let mut baseline = None;
    let mut total = Tally::default();
    let mut worst = (0usize, 0usize);
    let mut r = 0;
    while Instant::now() + round_time / 2 < deadline {
        let until = (Instant::now() + round_time).min(deadline);
        let tally = round(server.addr, r as u64, until);
        total.completed += tally.completed;
        total.bytes += tally.bytes;
        total.aborted += tally.aborted;
        total.bursts += tally.bursts;
        let fds = server.settle(idle_fds);
        assert_eq!(
            fds,
            idle_fds,
            "{mode:?} round {r}: descriptors left open:\n{}",
            server.describe_fds()
        );
        let heap = server.fresh_heap();
        let rss = server.rss();
        r += 1;
        let Some((base_heap, base_rss)) = baseline else {
            if r == WARM_UP {
                baseline = Some((heap, rss));
                println!("{mode:?}: after the warm-up: heap {heap} B, RSS {rss} B");
            }
            continue;
        };
        println!(
            "{mode:?} round {r}: {} exchanges ({} KB) complete, {} aborted, {} bursts of {} killed; heap {heap} B, RSS {rss} B",
            tally.completed,
            tally.bytes >> 10,
            tally.aborted,
            tally.bursts,
            burst::BURST
        );
        assert!(
            heap <= base_heap + HEAP_SLACK,
            "{mode:?} round {r}: the heap grew from {base_heap} to {heap} bytes"
        );
        assert!(
            rss <= base_rss + RSS_SLACK,
            "{mode:?} round {r}: RSS grew from {base_rss} to {rss} bytes"
        );
        worst = (
            worst.0.max(heap.saturating_sub(base_heap)),
            worst.1.max(rss.saturating_sub(base_rss)),
        );
    }
    assert!(
        baseline.is_some(),
        "{mode:?}: too short to get past the warm-up"
    );
    assert!(total.completed > 0, "{mode:?}: no exchange completed");
    println!(
        "measured: {mode:?}: {r} rounds in {:.0?}: {} exchanges ({} MB) byte-exact, {} aborted, {} bursts of {} clients killed with their process; {idle_fds} descriptors after each; heap at most {} KB, RSS at most {} KB above the warm-up",
        start.elapsed(),
        total.completed,
        total.bytes >> 20,
        total.aborted,
        total.bursts,
        burst::BURST,
        worst.0 >> 10,
        worst.1 >> 10
    );
    server.stop();
}

#[test]
#[ignore = "60 s: ci/test.sh runs it (cargo test --test soak -- --ignored)"]
fn soak_the_echo_server() {
    burst::burst_if_child();
    if serve_if_child() {
        return;
    }
    let secs: f64 = std::env::var("RINGLOOP_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(60.0);
    for mode in Mode::ALL {
        soak(mode, secs / Mode::ALL.len() as f64);
    }
}
