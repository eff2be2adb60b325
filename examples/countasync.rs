//! Three coroutines sleeping side by side: a port of Real Python's asyncio
//! `countasync.py`.
//!
//! ```python
//! async def count():
//!     print("One")
//!     await asyncio.sleep(1)
//!     print("Two")
//!
//! async def main():
//!     await asyncio.gather(count(), count(), count())
//! ```
//!
//! `gather!` runs the three `count()` futures concurrently, so the program prints
//! `One` three times, waits one second (not three), then prints `Two` three times.
//!
//! Run: `cargo run --release --example countasync`

use std::path::Path;
use std::time::{Duration, Instant};

async fn count() {
    println!("One");
    ringloop::sleep(Duration::from_secs(1)).await;
    println!("Two");
}

async fn main_task() {
    ringloop::gather!(count(), count(), count()).await;
}

fn main() {
    let start = Instant::now();
    ringloop::run(main_task());
    let elapsed = start.elapsed().as_secs_f64();
    // Python's `__file__`; `file!()` is `examples/countasync.rs`.
    let file = Path::new(file!())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    println!("{file} executed in {elapsed:0.2} seconds.");
}
