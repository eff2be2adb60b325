//! File reads from a page-cached file: 4 KiB at random 4 KiB-aligned offsets
//! (`random-4k`, 64 reads in flight where the peer can have several) and 1 MiB
//! blocks in file order (`seq-1m`, 8 in flight, each next block taken from a
//! shared counter, wrapping at the end of the file).
//!
//! The file (`--file-mib`, 512 MiB by default) is written once by the parent and
//! read back so it sits in the page cache; every 4 KiB block starts with its own
//! number (little-endian u64), and every read checks that number at the start of
//! what it got, so a read at a wrong offset fails the run.
//!
//! Each peer reads the idiomatic way for it: `pread` one after the other (`pread`,
//! the yardstick); ringloop, monoio, compio and tokio-uring with their own
//! `File::read_at` from N tasks on one runtime; tokio (current-thread and
//! multi-thread) with `pread` in `spawn_blocking` from N tasks (tokio's file I/O
//! runs on its blocking pool; `tokio::fs::File` has no positional read);
//! bare-uring with N `IORING_OP_READ`s kept in flight on one ring, no runtime.
//! Figures: reads/s, MiB/s, and the process's CPU time per read (`getrusage`, all
//! threads, the blocking pools' too). Every large buffer starts on a page, for
//! every peer alike (`aligned.rs`: where a buffer starts changed the speed of a
//! 1 MiB copy by 2.5×).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::peers::Peer;
use crate::worker::{Mark, Metrics};

/// The block every block number is written for.
const PAGE: u64 = 4096;

/// The file-read cells.
pub(crate) const MODES: [&str; 2] = ["random-4k", "seq-1m"];

/// One cell's reads.
#[derive(Clone, Copy)]
struct Plan {
    /// Bytes per read.
    len: usize,
    /// Reads in flight (for peers that can have several).
    inflight: usize,
    /// Whether offsets are random (else in file order).
    random: bool,
    /// Reads that fit in the file.
    slots: u64,
}

impl Plan {
    /// The plan of `mode` on a file of `file_len` bytes.
    fn new(mode: &str, file_len: u64) -> io::Result<Self> {
        let (len, inflight, random) = match mode {
            "random-4k" => (4096, 64, true),
            "seq-1m" => (1 << 20, 8, false),
            _ => return Err(io::Error::other(format!("unknown file mode {mode:?}"))),
        };
        Ok(Self {
            len,
            inflight,
            random,
            slots: file_len / len as u64,
        })
    }

    /// The offset of read number `i`.
    fn offset(&self, i: u64) -> u64 {
        let slot = if self.random {
            // A cheap mix (splitmix64) of the read's number.
            let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (x ^ (x >> 31)) % self.slots
        } else {
            i % self.slots
        };
        slot * self.len as u64
    }

    /// Checks a read of `n` bytes at `off` into `buf`.
    fn check(&self, off: u64, n: usize, buf: &[u8]) -> io::Result<()> {
        if n != self.len || buf.len() < 8 {
            return Err(io::Error::other(format!(
                "a short read at {off}: {n} of {} bytes",
                self.len
            )));
        }
        let got = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        if got != off / PAGE {
            return Err(io::Error::other(format!(
                "the read at {off} returned block {got}"
            )));
        }
        Ok(())
    }
}

/// Writes the file at `path` (`mib` MiB, each 4 KiB block starting with its
/// number) unless it is there with that size, and reads it once so it is in the
/// page cache.
pub(crate) fn make_file(path: &Path, mib: u64) -> io::Result<()> {
    let size = mib << 20;
    if std::fs::metadata(path).map(|m| m.len()).ok() != Some(size) {
        let mut file = File::create(path)?;
        let mut chunk = vec![0u8; 1 << 20];
        for c in 0..mib {
            for (i, block) in chunk.chunks_mut(PAGE as usize).enumerate() {
                let n = c * (1 << 20) / PAGE + i as u64;
                block[..8].copy_from_slice(&n.to_le_bytes());
                block[8..].fill(n as u8);
            }
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
    }
    let mut file = File::open(path)?;
    let mut sink = vec![0u8; 1 << 20];
    while file.read(&mut sink)? > 0 {}
    Ok(())
}

/// The worker: `peer` reads per `mode` from `path` for `warmup`, then for `secs`
/// measured.
pub(crate) fn work(
    peer: Peer,
    mode: &str,
    path: &Path,
    secs: Duration,
    warmup: Duration,
) -> io::Result<Metrics> {
    // Every peer's buffers start on a page (see `aligned.rs`).
    crate::aligned::enable();
    let plan = Plan::new(mode, std::fs::metadata(path)?.len())?;
    let phases = [warmup, secs];
    let (reads, wall, cpu) = match peer {
        Peer::Pread => pread(&plan, path, phases)?,
        Peer::Ringloop | Peer::Ringloop510 | Peer::RingloopEpoll => ringloop(&plan, path, phases)?,
        Peer::Tokio | Peer::TokioMt => tokio(peer == Peer::TokioMt, &plan, path, phases)?,
        Peer::Monoio => monoio(&plan, path, phases)?,
        Peer::Compio => compio(&plan, path, phases)?,
        Peer::TokioUring => tokio_uring(&plan, path, phases)?,
        Peer::BareUring => bare_uring(&plan, path, phases)?,
    };
    let mut m = Metrics::new();
    m.insert("reads_per_s".into(), reads as f64 / wall);
    m.insert(
        "mib_per_s".into(),
        reads as f64 * plan.len as f64 / (1 << 20) as f64 / wall,
    );
    m.insert("cpu_us_per_read".into(), cpu * 1e6 / reads.max(1) as f64);
    Ok(m)
}

/// Reads done, wall seconds and CPU seconds of the measured phase.
type Outcome = (u64, f64, f64);

/// `pread` after `pread` on this thread.
fn pread(plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    let file = File::open(path)?;
    let mut buf = vec![0u8; plan.len];
    let mut i = 0u64;
    let mut run = |length: Duration| -> io::Result<u64> {
        let end = Instant::now() + length;
        let start = i;
        while Instant::now() < end {
            let off = plan.offset(i);
            let n = file.read_at(&mut buf, off)?;
            plan.check(off, n, &buf)?;
            i += 1;
        }
        Ok(i - start)
    };
    run(phases[0])?;
    let mark = Mark::now();
    let reads = run(phases[1])?;
    let (wall, cpu) = mark.elapsed();
    Ok((reads, wall, cpu))
}

/// Runs `phase(length)` for the warm-up, then for the measured window.
macro_rules! two_phases {
    ($phases:expr, $phase:expr) => {{
        $phase($phases[0]).await?;
        let mark = Mark::now();
        let reads = $phase($phases[1]).await?;
        let (wall, cpu) = mark.elapsed();
        Ok::<Outcome, io::Error>((reads, wall, cpu))
    }};
}

/// ringloop: N tasks on one runtime, each `File::read_at` into its own buffer;
/// the driver is the one the environment names.
fn ringloop(plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    let rt = ringloop::Runtime::new()?;
    let plan = *plan;
    rt.block_on(async move {
        let file = Rc::new(ringloop::fs::File::open(path).await?);
        let next = Rc::new(Cell::new(0u64));
        let phase = |length: Duration| {
            let (file, next) = (file.clone(), next.clone());
            async move {
                let end = Instant::now() + length;
                let start = next.get();
                let tasks: Vec<_> = (0..plan.inflight)
                    .map(|_| {
                        let (file, next) = (file.clone(), next.clone());
                        ringloop::spawn(async move {
                            let mut buf = Vec::with_capacity(plan.len);
                            while Instant::now() < end {
                                let i = next.get();
                                next.set(i + 1);
                                let off = plan.offset(i);
                                let (n, b) = file.read_at(buf, off).await;
                                plan.check(off, n?, &b)?;
                                buf = b;
                            }
                            Ok::<(), io::Error>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await
                        .map_err(|e| io::Error::other(format!("task: {e:?}")))??;
                }
                Ok::<u64, io::Error>(next.get() - start)
            }
        };
        two_phases!(phases, phase)
    })
}

/// tokio: N tasks, each read a `pread` in `spawn_blocking`.
fn tokio(multi: bool, plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread().build()?
    } else {
        tokio::runtime::Builder::new_current_thread().build()?
    };
    let plan = *plan;
    let file = Arc::new(File::open(path)?);
    let next = Arc::new(AtomicU64::new(0));
    rt.block_on(async move {
        let phase = |length: Duration| {
            let (file, next) = (file.clone(), next.clone());
            async move {
                let end = Instant::now() + length;
                let start = next.load(Ordering::Relaxed);
                let tasks: Vec<_> = (0..plan.inflight)
                    .map(|_| {
                        let (file, next) = (file.clone(), next.clone());
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; plan.len];
                            while Instant::now() < end {
                                let off = plan.offset(next.fetch_add(1, Ordering::Relaxed));
                                let file = file.clone();
                                let (n, b) = tokio::task::spawn_blocking(move || {
                                    let n = file.read_at(&mut buf, off);
                                    (n, buf)
                                })
                                .await
                                .map_err(io::Error::other)?;
                                plan.check(off, n?, &b)?;
                                buf = b;
                            }
                            Ok::<(), io::Error>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.map_err(io::Error::other)??;
                }
                Ok::<u64, io::Error>(next.load(Ordering::Relaxed) - start)
            }
        };
        two_phases!(phases, phase)
    })
}

/// monoio: N tasks, each `File::read_at` into its own buffer.
fn monoio(plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().build()?;
    let plan = *plan;
    let path = path.to_path_buf();
    rt.block_on(async move {
        let file = Rc::new(monoio::fs::File::open(&path).await?);
        let next = Rc::new(Cell::new(0u64));
        let phase = |length: Duration| {
            let (file, next) = (file.clone(), next.clone());
            async move {
                let end = Instant::now() + length;
                let start = next.get();
                let tasks: Vec<_> = (0..plan.inflight)
                    .map(|_| {
                        let (file, next) = (file.clone(), next.clone());
                        monoio::spawn(async move {
                            let mut buf = Vec::with_capacity(plan.len);
                            while Instant::now() < end {
                                let i = next.get();
                                next.set(i + 1);
                                let off = plan.offset(i);
                                let (n, b) = file.read_at(buf, off).await;
                                plan.check(off, n?, &b)?;
                                buf = b;
                            }
                            Ok::<(), io::Error>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await?;
                }
                Ok::<u64, io::Error>(next.get() - start)
            }
        };
        two_phases!(phases, phase)
    })
}

/// compio: N tasks, each `File::read_at` into its own buffer.
fn compio(plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    use compio::io::AsyncReadAt;
    let rt = compio::runtime::Runtime::new()?;
    let plan = *plan;
    rt.block_on(async move {
        let file = Rc::new(compio::fs::File::open(path).await?);
        let next = Rc::new(Cell::new(0u64));
        let phase = |length: Duration| {
            let (file, next) = (file.clone(), next.clone());
            async move {
                let end = Instant::now() + length;
                let start = next.get();
                let tasks: Vec<_> = (0..plan.inflight)
                    .map(|_| {
                        let (file, next) = (file.clone(), next.clone());
                        compio::runtime::spawn(async move {
                            let mut buf = Vec::with_capacity(plan.len);
                            while Instant::now() < end {
                                let i = next.get();
                                next.set(i + 1);
                                let off = plan.offset(i);
                                let compio::buf::BufResult(n, mut b) = file.read_at(buf, off).await;
                                plan.check(off, n?, &b)?;
                                b.clear();
                                buf = b;
                            }
                            Ok::<(), io::Error>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await
                        .map_err(|e| io::Error::other(format!("task: {e:?}")))??;
                }
                Ok::<u64, io::Error>(next.get() - start)
            }
        };
        two_phases!(phases, phase)
    })
}

/// tokio-uring: N tasks, each `File::read_at` into its own buffer.
fn tokio_uring(plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    let plan = *plan;
    tokio_uring::start(async move {
        let file = Rc::new(tokio_uring::fs::File::open(path).await?);
        let next = Rc::new(Cell::new(0u64));
        let phase = |length: Duration| {
            let (file, next) = (file.clone(), next.clone());
            async move {
                let end = Instant::now() + length;
                let start = next.get();
                let tasks: Vec<_> = (0..plan.inflight)
                    .map(|_| {
                        let (file, next) = (file.clone(), next.clone());
                        tokio_uring::spawn(async move {
                            let mut buf = Vec::with_capacity(plan.len);
                            while Instant::now() < end {
                                let i = next.get();
                                next.set(i + 1);
                                let off = plan.offset(i);
                                let (n, mut b) = file.read_at(buf, off).await;
                                plan.check(off, n?, &b)?;
                                b.clear();
                                buf = b;
                            }
                            Ok::<(), io::Error>(())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.map_err(io::Error::other)??;
                }
                Ok::<u64, io::Error>(next.get() - start)
            }
        };
        two_phases!(phases, phase)
    })
}

/// bare-uring: one ring, N `IORING_OP_READ`s kept in flight, each into its own
/// buffer; one `submit_and_wait(1)` per turn, then every completion is checked
/// and its slot re-armed with the next offset.
fn bare_uring(plan: &Plan, path: &Path, phases: [Duration; 2]) -> io::Result<Outcome> {
    use io_uring::{types, IoUring};
    use std::os::fd::AsRawFd;

    // Declared before the ring, so dropped after it (locals drop in reverse).
    let mut bufs: Vec<Vec<u8>> = (0..plan.inflight).map(|_| vec![0u8; plan.len]).collect();
    let file = File::open(path)?;
    let fd = types::Fd(file.as_raw_fd());
    let mut ring = IoUring::new(plan.inflight.next_power_of_two() as u32)?;
    let mut offs = vec![0u64; plan.inflight];
    let mut next = 0u64;
    let mut in_flight = 0usize;
    let mut run = |length: Duration, ring: &mut IoUring| -> io::Result<u64> {
        let end = Instant::now() + length;
        let mut done = 0u64;
        if in_flight == 0 {
            for slot in 0..plan.inflight {
                arm(ring, fd, plan, (&mut bufs, &mut offs), slot, &mut next)?;
            }
            in_flight = plan.inflight;
        }
        loop {
            ring.submit_and_wait(1)?;
            let cqes: Vec<(usize, i32)> = ring
                .completion()
                .map(|c| (c.user_data() as usize, c.result()))
                .collect();
            let over = Instant::now() >= end;
            for (slot, res) in cqes {
                if res < 0 {
                    return Err(io::Error::from_raw_os_error(-res));
                }
                plan.check(offs[slot], res as usize, &bufs[slot])?;
                done += 1;
                if over {
                    in_flight -= 1;
                } else {
                    arm(ring, fd, plan, (&mut bufs, &mut offs), slot, &mut next)?;
                }
            }
            if in_flight == 0 {
                return Ok(done);
            }
        }
    };
    run(phases[0], &mut ring)?;
    let mark = Mark::now();
    let reads = run(phases[1], &mut ring)?;
    let (wall, cpu) = mark.elapsed();
    Ok((reads, wall, cpu))
}

/// Queues the read of slot `slot` at the next offset.
fn arm(
    ring: &mut io_uring::IoUring,
    fd: io_uring::types::Fd,
    plan: &Plan,
    (bufs, offs): (&mut [Vec<u8>], &mut [u64]),
    slot: usize,
    next: &mut u64,
) -> io::Result<()> {
    offs[slot] = plan.offset(*next);
    *next += 1;
    let buf = &mut bufs[slot];
    let sqe = io_uring::opcode::Read::new(fd, buf.as_mut_ptr(), buf.len() as u32)
        .offset(offs[slot])
        .build()
        .user_data(slot as u64);
    // SAFETY: the caller's buffers and file outlive its ring (declared before
    // it); its loop drains every read before returning Ok, and no other read
    // uses that slot meanwhile.
    unsafe { ring.submission().push(&sqe) }.map_err(|_| io::Error::other("submission queue full"))
}

#[cfg(test)]
mod tests {
    use super::Plan;

    #[test]
    fn offsets_stay_in_the_file() {
        let plan = Plan::new("random-4k", 64 << 20).unwrap();
        assert!((0..10_000).all(|i| plan.offset(i) + 4096 <= 64 << 20));
        let seq = Plan::new("seq-1m", 8 << 20).unwrap();
        assert_eq!(seq.offset(9), 1 << 20);
    }
}
