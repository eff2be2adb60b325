//! Blocking work on pool threads while the loop goes on: `asyncio.to_thread`.
//!
//! Part 1 is the Python documentation's `to_thread` example; the blocking call and
//! the one-second sleep overlap, so `main` takes about 1 s, not 2:
//!
//! ```python
//! def blocking_io():
//!     print(f"start blocking_io at {time.strftime('%X')}")
//!     time.sleep(1)
//!     print(f"blocking_io complete at {time.strftime('%X')}")
//!
//! async def main():
//!     print(f"started main at {time.strftime('%X')}")
//!     await asyncio.gather(asyncio.to_thread(blocking_io), asyncio.sleep(1))
//!     print(f"finished main at {time.strftime('%X')}")
//! ```
//!
//! Part 2 runs `blocking_io` and the documentation's `cpu_bound` (from its
//! `run_in_executor` example) on pool threads while a task ticks every 200 ms
//! (at +100, +300, ... +900 ms): all five ticks come on time, because neither job
//! runs on the loop's thread.
//!
//! ```python
//! def cpu_bound():
//!     return sum(i * i for i in range(10 ** 7))
//! ```
//!
//! Times print as `HH:MM:SS` in UTC (Python's `%X` is local time). Run:
//! `cargo run --release --example to_thread`

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The wall-clock time of day as `HH:MM:SS` (UTC).
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = secs % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn blocking_io() {
    println!("start blocking_io at {}", clock());
    // Note that time.sleep() can be replaced with any blocking IO-bound operation,
    // such as file operations.
    std::thread::sleep(Duration::from_secs(1));
    println!("blocking_io complete at {}", clock());
}

fn cpu_bound() -> u128 {
    // CPU-bound work would stall the loop if it ran there. (`black_box` keeps the
    // compiler from summing the series in closed form.)
    (0..10_u128.pow(7))
        .map(|i| std::hint::black_box(i) * i)
        .sum()
}

async fn part1() {
    println!("started main at {}", clock());
    let (io, ()) = ringloop::gather!(
        ringloop::to_thread(blocking_io),
        ringloop::sleep(Duration::from_secs(1))
    )
    .await;
    io.expect("blocking_io panicked");
    println!("finished main at {}", clock());
}

async fn part2() {
    let start = Instant::now();
    let ticks = Rc::new(Cell::new(0_u32));
    let ticker = {
        let ticks = ticks.clone();
        ringloop::spawn(async move {
            for n in 1.. {
                let due = start + Duration::from_millis(100 + 200 * (n - 1));
                ringloop::time::sleep_until(due).await;
                println!("tick {n} at +{} ms", start.elapsed().as_millis());
                ticks.set(n as u32);
            }
        })
    };
    let (io, sum) = ringloop::gather!(
        ringloop::to_thread(blocking_io),
        ringloop::to_thread(cpu_bound)
    )
    .await;
    ticker.cancel();
    io.expect("blocking_io panicked");
    let sum = sum.expect("cpu_bound panicked");
    println!("cpu_bound: sum of i * i for i below 10**7 = {sum}");
    println!(
        "the loop ticked {} times while the pool threads worked",
        ticks.get()
    );
}

fn main() {
    println!("== 1: gather(to_thread(blocking_io), sleep(1)) ==");
    let start = Instant::now();
    ringloop::run(part1());
    println!("part 1 took {:.2} seconds", start.elapsed().as_secs_f64());

    println!();
    println!("== 2: blocking_io and cpu_bound on pool threads, a task ticking ==");
    let start = Instant::now();
    ringloop::run(part2());
    println!("part 2 took {:.2} seconds", start.elapsed().as_secs_f64());
}
