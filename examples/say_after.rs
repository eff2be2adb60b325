//! Awaiting coroutines one after the other versus running them as tasks: a port of
//! the "Coroutines" example of the Python asyncio documentation.
//!
//! ```python
//! async def say_after(delay, what):
//!     await asyncio.sleep(delay)
//!     print(what)
//!
//! async def main():                       # part 1: about 3 seconds
//!     print(f"started at {time.strftime('%X')}")
//!     await say_after(1, 'hello')
//!     await say_after(2, 'world')
//!     print(f"finished at {time.strftime('%X')}")
//!
//! async def main():                       # part 2: about 2 seconds
//!     task1 = asyncio.create_task(say_after(1, 'hello'))
//!     task2 = asyncio.create_task(say_after(2, 'world'))
//!     print(f"started at {time.strftime('%X')}")
//!     await task1
//!     await task2
//!     print(f"finished at {time.strftime('%X')}")
//! ```
//!
//! Run: `cargo run --release --example say_after`

use std::mem::MaybeUninit;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

async fn say_after(delay: Duration, what: &str) {
    ringloop::sleep(delay).await;
    println!("{what}");
}

/// The local wall-clock time as `HH:MM:SS`, like Python's `time.strftime('%X')`.
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    let mut tm = MaybeUninit::<libc::tm>::uninit();
    // SAFETY: both pointers are valid for the call; localtime_r (the thread-safe
    // variant) writes only into `tm` and returns null on failure.
    if unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) }.is_null() {
        let s = secs % 86_400;
        return format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60);
    }
    // SAFETY: localtime_r succeeded, so it filled in `tm`.
    let tm = unsafe { tm.assume_init() };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

async fn in_sequence() {
    println!("started at {}", clock());
    say_after(Duration::from_secs(1), "hello").await;
    say_after(Duration::from_secs(2), "world").await;
    println!("finished at {}", clock());
}

async fn as_tasks() {
    let task1 = ringloop::spawn(say_after(Duration::from_secs(1), "hello"));
    let task2 = ringloop::spawn(say_after(Duration::from_secs(2), "world"));
    println!("started at {}", clock());
    task1.await.expect("task1 failed");
    task2.await.expect("task2 failed");
    println!("finished at {}", clock());
}

fn main() {
    println!("== part 1: await say_after(1) then say_after(2), in sequence ==");
    let start = Instant::now();
    ringloop::run(in_sequence());
    println!("part 1 took {:.2} seconds", start.elapsed().as_secs_f64());

    println!();
    println!("== part 2: spawn both as tasks, then await them (they overlap) ==");
    let start = Instant::now();
    ringloop::run(as_tasks());
    println!("part 2 took {:.2} seconds", start.elapsed().as_secs_f64());
}
