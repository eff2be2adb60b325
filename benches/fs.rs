//! Random 4 KiB reads from a page-cached file: ringloop on io_uring and on epoll
//! beside a plain `pread` loop (the yardstick) and tokio's file I/O.
//!
//! The workload (issue 5): a 256 MiB file, written once and read back so that it
//! sits in the page cache; 100,000 reads of 4 KiB at random 4 KiB-aligned offsets
//! (the same offsets for every contender), 64 in flight where the contender can
//! have several:
//!
//! * `pread loop`: one thread, one `pread(2)` after the other (no runtime, nothing
//!   in flight but the call).
//! * `ringloop` / `ringloop-5.10` / `ringloop-epoll`: 64 tasks on one runtime, each
//!   reading with `File::read_at` into its own buffer, the next offset taken from a
//!   shared counter; on io_uring the loop submits the reads of a turn in one
//!   `io_uring_enter` (page-cached reads complete inline there), also with the
//!   5.10 feature mask (no `DEFER_TASKRUN`, no `EXT_ARG`); on epoll each read is a
//!   direct `pread`.
//! * `tokio::fs`: 64 tasks on a current-thread runtime, each with its own
//!   `tokio::fs::File`, `seek` + `read_exact` (tokio runs each on its blocking pool).
//! * `tokio spawn_blocking`: 64 tasks, each read a `pread` in `spawn_blocking`.
//!
//! With `--pattern seq --block 1MiB` the reads are sequential instead: block after
//! block from the start of the file (wrapping around at its end), each of the
//! given size, 4 GiB in all unless `--reads` says otherwise, 4 in flight unless
//! `--inflight` says otherwise; the next offset
//! is still taken from the shared counter, so the reads in flight are
//! neighbours.
//!
//! Each round runs every contender once, in turn; the table shows the medians over
//! the rounds (reads per second), and the median of the per-round ratios to the
//! `pread` loop. A checksum of every block read is compared across contenders.
//!
//! Run: `cargo bench --bench fs` (options after `--`: `--reads N`, `--inflight N`,
//! `--rounds N`, `--size-mib N`, `--only NAME,NAME`, `--pattern random|seq`,
//! `--block SIZE` with a suffix `KiB` or `MiB`, default 4KiB).

use std::cell::Cell;
use std::io::{Read, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The unit the bench file is made of (each one starts and ends with its number).
const BLOCK: usize = 4096;

struct Args {
    reads: usize,
    inflight: usize,
    rounds: usize,
    size_mib: u64,
    only: Option<Vec<String>>,
    /// Sequential reads instead of random ones.
    seq: bool,
    /// Bytes per read: a multiple of `BLOCK`.
    block: usize,
}

/// `4096`, `4KiB`, `1MiB`.
fn parse_size(s: &str) -> usize {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = num.parse().expect("--block N[KiB|MiB]");
    n * match unit {
        "" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        _ => panic!("--block: unknown unit {unit:?} (KiB or MiB)"),
    }
}

fn parse_args() -> Args {
    let mut args = Args {
        reads: 100_000,
        inflight: 64,
        rounds: 7,
        size_mib: 256,
        only: None,
        seq: false,
        block: BLOCK,
    };
    let mut inflight = None;
    let mut reads = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value =
            |name: &str| -> String { it.next().unwrap_or_else(|| panic!("{name} needs a value")) };
        match arg.as_str() {
            "--reads" => reads = Some(value("--reads").parse().expect("--reads N")),
            "--inflight" => inflight = Some(value("--inflight").parse().expect("--inflight N")),
            "--pattern" => {
                args.seq = match value("--pattern").as_str() {
                    "random" => false,
                    "seq" => true,
                    other => panic!("--pattern random|seq, not {other:?}"),
                }
            }
            "--block" => args.block = parse_size(&value("--block")),
            "--rounds" => args.rounds = value("--rounds").parse().expect("--rounds N"),
            "--size-mib" => args.size_mib = value("--size-mib").parse().expect("--size-mib N"),
            "--only" => args.only = Some(value("--only").split(',').map(str::to_owned).collect()),
            // cargo bench passes --bench; criterion-style filters are ignored.
            _ => {}
        }
    }
    assert!(
        args.block >= BLOCK && args.block.is_multiple_of(BLOCK),
        "--block must be a multiple of {BLOCK}"
    );
    // Sequential reads: several (not 64) in flight; 4 GiB in all (16 passes over
    // the default file).
    args.inflight = inflight.unwrap_or(if args.seq { 4 } else { 64 });
    args.reads = reads.unwrap_or(if args.seq {
        (4 << 30) / args.block
    } else {
        100_000
    });
    args
}

/// xorshift64*: the random offsets (of reads of `block` bytes), the same in every
/// run; or, with `seq`, one block after the other, wrapping at the end.
fn offsets(n: usize, size: u64, block: usize, seq: bool) -> Vec<u64> {
    let blocks = size / block as u64;
    if seq {
        return (0..n as u64).map(|i| (i % blocks) * block as u64).collect();
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % blocks) * block as u64
        })
        .collect()
}

/// The checksum of what one read gave: of each 4 KiB block, its first and last 8
/// bytes (each block of the file starts and ends with its own number, so a read
/// at a wrong offset shows).
fn block_sum(buf: &[u8]) -> u64 {
    buf.chunks(BLOCK).fold(0u64, |sum, block| {
        let first = u64::from_le_bytes(block[..8].try_into().unwrap());
        let last = u64::from_le_bytes(block[BLOCK - 8..].try_into().unwrap());
        sum.wrapping_add(first.wrapping_mul(31).wrapping_add(last))
    })
}

fn make_file(path: &Path, size: u64) {
    let mut file = std::fs::File::create(path).expect("create the bench file");
    let mut chunk = vec![0u8; 1 << 20];
    let blocks_per_chunk = chunk.len() / BLOCK;
    for c in 0..size / chunk.len() as u64 {
        for (i, block) in chunk.chunks_mut(BLOCK).enumerate() {
            let n = c * blocks_per_chunk as u64 + i as u64;
            block[..8].copy_from_slice(&n.to_le_bytes());
            block[8..BLOCK - 8].fill(n as u8);
            block[BLOCK - 8..].copy_from_slice(&(!n).to_le_bytes());
        }
        file.write_all(&chunk).expect("write the bench file");
    }
    file.sync_all().expect("sync the bench file");
    // Read it all once: it is in the page cache from now on.
    let mut file = std::fs::File::open(path).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    while file.read(&mut sink).unwrap() > 0 {}
}

fn pread_loop(path: &Path, offsets: &[u64], block: usize) -> (Duration, u64) {
    let file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; block];
    let mut sum = 0u64;
    let start = Instant::now();
    for &off in offsets {
        let n = file.read_at(&mut buf, off).unwrap();
        assert_eq!(n, block);
        sum = sum.wrapping_add(block_sum(&buf));
    }
    (start.elapsed(), sum)
}

fn ringloop_reads(
    driver: ringloop::Driver,
    compat: ringloop::KernelCompat,
    path: &Path,
    offsets: &Rc<Vec<u64>>,
    inflight: usize,
    block: usize,
) -> (Duration, u64) {
    let rt = ringloop::Runtime::builder()
        .driver(driver)
        .kernel_compat(compat)
        .build()
        .expect("ringloop runtime");
    rt.block_on(async {
        let file = Rc::new(ringloop::fs::File::open(path).await.unwrap());
        let next = Rc::new(Cell::new(0usize));
        let sum = Rc::new(Cell::new(0u64));
        let start = Instant::now();
        let tasks: Vec<_> = (0..inflight)
            .map(|_| {
                let (file, next, sum, offsets) =
                    (file.clone(), next.clone(), sum.clone(), offsets.clone());
                ringloop::spawn(async move {
                    let mut buf = Vec::with_capacity(block);
                    loop {
                        let i = next.get();
                        if i >= offsets.len() {
                            break;
                        }
                        next.set(i + 1);
                        let (n, b) = file.read_at(buf, offsets[i]).await;
                        assert_eq!(n.unwrap(), block);
                        sum.set(sum.get().wrapping_add(block_sum(&b)));
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (start.elapsed(), sum.get())
    })
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn tokio_fs(path: &Path, offsets: &Rc<Vec<u64>>, inflight: usize, block: usize) -> (Duration, u64) {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let mut files = Vec::new();
        for _ in 0..inflight {
            files.push(tokio::fs::File::open(path).await.unwrap());
        }
        let next = Rc::new(Cell::new(0usize));
        let sum = Rc::new(Cell::new(0u64));
        let start = Instant::now();
        let tasks: Vec<_> = files
            .into_iter()
            .map(|mut file| {
                let (next, sum, offsets) = (next.clone(), sum.clone(), offsets.clone());
                tokio::task::spawn_local(async move {
                    let mut buf = vec![0u8; block];
                    loop {
                        let i = next.get();
                        if i >= offsets.len() {
                            break;
                        }
                        next.set(i + 1);
                        file.seek(SeekFrom::Start(offsets[i])).await.unwrap();
                        file.read_exact(&mut buf).await.unwrap();
                        sum.set(sum.get().wrapping_add(block_sum(&buf)));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (start.elapsed(), sum.get())
    })
}

fn tokio_spawn_blocking(
    path: &Path,
    offsets: &Rc<Vec<u64>>,
    inflight: usize,
    block: usize,
) -> (Duration, u64) {
    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let file = Arc::new(std::fs::File::open(path).unwrap());
        let next = Rc::new(Cell::new(0usize));
        let sum = Rc::new(Cell::new(0u64));
        let start = Instant::now();
        let tasks: Vec<_> = (0..inflight)
            .map(|_| {
                let (file, next, sum, offsets) =
                    (file.clone(), next.clone(), sum.clone(), offsets.clone());
                tokio::task::spawn_local(async move {
                    let mut buf = vec![0u8; block];
                    loop {
                        let i = next.get();
                        if i >= offsets.len() {
                            break;
                        }
                        next.set(i + 1);
                        let (off, f) = (offsets[i], file.clone());
                        buf = tokio::task::spawn_blocking(move || {
                            let n = f.read_at(&mut buf, off).unwrap();
                            assert_eq!(n, block);
                            buf
                        })
                        .await
                        .unwrap();
                        sum.set(sum.get().wrapping_add(block_sum(&buf)));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (start.elapsed(), sum.get())
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("ringloop-bench-fs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("data");
    let size = args.size_mib << 20;
    eprintln!(
        "writing and caching a {} MiB file in {} ...",
        args.size_mib,
        dir.display()
    );
    make_file(&path, size);
    let offsets = Rc::new(offsets(args.reads, size, args.block, args.seq));

    type Run<'a> = Box<dyn Fn() -> (Duration, u64) + 'a>;
    let (p, o, k, b) = (&path, &offsets, args.inflight, args.block);
    let (native, v5_10) = (
        ringloop::KernelCompat::Native,
        ringloop::KernelCompat::V5_10,
    );
    let contenders: Vec<(&str, Run)> = vec![
        ("pread loop", Box::new(move || pread_loop(p, o, b))),
        (
            "ringloop",
            Box::new(move || ringloop_reads(ringloop::Driver::IoUring, native, p, o, k, b)),
        ),
        (
            "ringloop-5.10",
            Box::new(move || ringloop_reads(ringloop::Driver::IoUring, v5_10, p, o, k, b)),
        ),
        (
            "ringloop-epoll",
            Box::new(move || ringloop_reads(ringloop::Driver::Epoll, native, p, o, k, b)),
        ),
        ("tokio::fs", Box::new(move || tokio_fs(p, o, k, b))),
        (
            "tokio spawn_blocking",
            Box::new(move || tokio_spawn_blocking(p, o, k, b)),
        ),
    ];
    let contenders: Vec<_> = contenders
        .into_iter()
        .filter(|(name, _)| {
            *name == "pread loop"
                || args
                    .only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|o| o == name))
        })
        .collect();

    let load_before = loadavg();
    eprintln!(
        "{} {} reads of {} B, {} in flight, {} rounds; load average {load_before}",
        args.reads,
        if args.seq { "sequential" } else { "random" },
        args.block,
        args.inflight,
        args.rounds
    );
    // Warm-up: one pass of each (page cache, pool threads, allocator).
    let mut expected = None;
    for (name, run) in &contenders {
        let (_, sum) = run();
        match expected {
            None => expected = Some(sum),
            Some(e) => assert_eq!(sum, e, "{name} read different bytes"),
        }
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for round in 0..args.rounds {
        let mut this_round = Vec::new();
        for (i, (name, run)) in contenders.iter().enumerate() {
            let (elapsed, sum) = run();
            assert_eq!(Some(sum), expected, "{name} read different bytes");
            let rate = args.reads as f64 / elapsed.as_secs_f64();
            rates[i].push(rate);
            this_round.push(rate);
        }
        for (i, rate) in this_round.iter().enumerate() {
            ratios[i].push(rate / this_round[0]);
        }
        eprintln!(
            "round {}: {}",
            round + 1,
            contenders
                .iter()
                .zip(&this_round)
                .map(|((name, _), r)| format!("{name} {:.3} M/s", r / 1e6))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!();
    // Reads of more than one block also get a column of bytes per second.
    let big = args.block != BLOCK;
    let gib = |rate: f64| rate * args.block as f64 / f64::from(1u32 << 30);
    println!(
        "| contender | reads/s (median of {}) | min – max |{} vs pread loop |",
        args.rounds,
        if big { " GiB/s |" } else { "" }
    );
    println!("|---|--:|--:|{}--:|", if big { "--:|" } else { "" });
    for (i, (name, _)) in contenders.iter().enumerate() {
        let lo = rates[i].iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = rates[i].iter().cloned().fold(0.0, f64::max);
        let rate = median(&mut rates[i]);
        let ratio = median(&mut ratios[i]);
        let bytes = if big {
            format!(" {:.2} |", gib(rate))
        } else {
            String::new()
        };
        println!(
            "| {name} | {:.3} M | {:.3} – {:.3} M |{bytes} {:.2}× |",
            rate / 1e6,
            lo / 1e6,
            hi / 1e6,
            ratio
        );
    }
    println!();
    println!(
        "load average before {load_before}, after {}; kernel {}",
        loadavg(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
