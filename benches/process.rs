//! Subprocess spawn + wait latency: `/bin/true` started and waited for, one at a
//! time, on ringloop (io_uring with `IORING_OP_WAITID`, io_uring with the 5.10
//! mask, i.e. a poll of the pidfd then `waitid`, and epoll) beside
//! `tokio::process` on tokio's current-thread runtime, and std's blocking
//! `Command::status` as the yardstick.
//!
//! Every spawn + wait is timed on its own; the variants take turns in rounds (each
//! round runs `--n` of each, in a rotating order), so that a noisy neighbour hurts
//! them alike. Printed: the median, p10 and p90 per variant over all rounds, and
//! the median ratio to tokio.
//!
//! Run: `cargo bench --bench process` (or `-- --n 500 --rounds 5`; `--only I`
//! runs variant I of the table alone, for `strace -c -f`).

use std::time::{Duration, Instant};

use ringloop::{Driver, KernelCompat, Runtime};

const PROGRAM: &str = "/bin/true";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Uring,
    Uring510,
    Epoll,
    Tokio,
    Std,
}

impl Variant {
    const ALL: [Variant; 5] = [
        Variant::Uring,
        Variant::Uring510,
        Variant::Epoll,
        Variant::Tokio,
        Variant::Std,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Uring => "ringloop (io_uring, WAITID)",
            Variant::Uring510 => "ringloop (io_uring 5.10: pidfd poll)",
            Variant::Epoll => "ringloop-epoll",
            Variant::Tokio => "tokio::process",
            Variant::Std => "std (blocking)",
        }
    }
}

fn ringloop_rt(driver: Driver, compat: KernelCompat) -> Runtime {
    Runtime::builder()
        .driver(driver)
        .kernel_compat(compat)
        .build()
        .expect("ringloop runtime")
}

/// Times `n` spawn + wait of the program on `variant`, appending each to `samples`.
fn measure(variant: Variant, n: usize, samples: &mut Vec<Duration>) {
    match variant {
        Variant::Uring | Variant::Uring510 | Variant::Epoll => {
            let rt = match variant {
                Variant::Uring => ringloop_rt(Driver::IoUring, KernelCompat::Native),
                Variant::Uring510 => ringloop_rt(Driver::IoUring, KernelCompat::V5_10),
                _ => ringloop_rt(Driver::Epoll, KernelCompat::Native),
            };
            if variant == Variant::Uring {
                assert!(
                    rt.features().waitid(),
                    "this kernel has no IORING_OP_WAITID"
                );
            }
            rt.block_on(async {
                for _ in 0..n {
                    let start = Instant::now();
                    let status = ringloop::process::Command::new(PROGRAM)
                        .status()
                        .await
                        .unwrap();
                    samples.push(start.elapsed());
                    assert!(status.success());
                }
            });
        }
        Variant::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async {
                for _ in 0..n {
                    let start = Instant::now();
                    let status = tokio::process::Command::new(PROGRAM)
                        .status()
                        .await
                        .unwrap();
                    samples.push(start.elapsed());
                    assert!(status.success());
                }
            });
        }
        Variant::Std => {
            for _ in 0..n {
                let start = Instant::now();
                let status = std::process::Command::new(PROGRAM).status().unwrap();
                samples.push(start.elapsed());
                assert!(status.success());
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let n = arg(&args, "--n", if quick { 20 } else { 400 });
    let rounds = arg(&args, "--rounds", if quick { 1 } else { 5 });
    // `--only N`: one variant (its index in the table), for `strace -c -f`.
    if let Some(i) = args.iter().position(|a| a == "--only") {
        let v = Variant::ALL[args[i + 1].parse::<usize>().expect("a variant index")];
        measure(v, n, &mut Vec::new());
        println!("{}: {n} spawn + wait done", v.name());
        return;
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); Variant::ALL.len()];
    // Warm-up: page cache, the first runtime's pooled eventfd, tokio's SIGCHLD.
    for v in Variant::ALL {
        measure(v, 5, &mut Vec::new());
    }
    for round in 0..rounds {
        for k in 0..Variant::ALL.len() {
            let i = (k + round) % Variant::ALL.len();
            measure(Variant::ALL[i], n, &mut samples[i]);
        }
    }
    let medians: Vec<Duration> = samples
        .iter_mut()
        .map(|s| {
            s.sort();
            percentile(s, 0.5)
        })
        .collect();
    let tokio = medians[Variant::ALL
        .iter()
        .position(|&v| v == Variant::Tokio)
        .unwrap()];
    println!(
        "spawn + wait of {PROGRAM}, {n} per variant per round, {rounds} rounds ({} samples each)\n",
        n * rounds
    );
    println!("| variant | median µs | p10 µs | p90 µs | median vs tokio |");
    println!("|---|--:|--:|--:|--:|");
    for (i, v) in Variant::ALL.iter().enumerate() {
        let s = &samples[i];
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.2}× |",
            v.name(),
            micros(medians[i]),
            micros(percentile(s, 0.1)),
            micros(percentile(s, 0.9)),
            medians[i].as_secs_f64() / tokio.as_secs_f64()
        );
    }
}
