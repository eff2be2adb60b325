//! Work that must finish even when whoever waits for it gives up: `asyncio.shield`.
//!
//! The asyncio documentation's example is `res = await shield(something())`: if the
//! coroutine containing it is cancelled, `something()` is not. This port shows three
//! cases, first in Python (this is the program whose output this example
//! reproduces, CPython 3.11 run for reference, headings aside):
//!
//! ```python
//! saved = []
//!
//! async def save(n):
//!     print(f"save({n}): writing for 1 s")
//!     await asyncio.sleep(1)
//!     saved.append(n)
//!     print(f"save({n}): written")
//!     return f"record {n}"
//!
//! async def main():
//!     try:
//!         await asyncio.wait_for(asyncio.shield(save(1)), timeout=0.5)
//!     except TimeoutError:
//!         print("main: timed out after 0.5 s; not awaiting save(1) any more")
//!     await asyncio.sleep(1)
//!     print(f"main: saved so far: {saved}")
//!
//!     async def outer():
//!         record = await asyncio.shield(save(2))
//!         print(f"outer: got {record}")  # never printed
//!     task = asyncio.create_task(outer())
//!     await asyncio.sleep(0.5)
//!     task.cancel()
//!     try:
//!         await task
//!     except asyncio.CancelledError:
//!         print("main: the outer task was cancelled after 0.5 s")
//!     await asyncio.sleep(1)
//!     print(f"main: saved so far: {saved}")
//!
//!     record = await asyncio.shield(save(3))
//!     print(f"main: got {record}")
//! ```
//!
//! In Rust, timing out or cancelling drops the future; [`ringloop::shield`] spawns
//! the work as a task first, so only the shield is dropped and the task runs on.
//! About 4 seconds in all.
//!
//! Run: `cargo run --release --example shield`

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The numbers of the records saved so far.
type Saved = Rc<RefCell<Vec<u32>>>;

async fn save(n: u32, saved: Saved) -> String {
    println!("save({n}): writing for 1 s");
    ringloop::sleep(Duration::from_secs(1)).await;
    saved.borrow_mut().push(n);
    println!("save({n}): written");
    format!("record {n}")
}

async fn main_task() {
    let saved = Saved::default();
    let half = Duration::from_millis(500);

    println!("== 1: wait_for(0.5 s, shield(save(1))) times out; save(1) goes on ==");
    let shielded = ringloop::shield(save(1, saved.clone()));
    if ringloop::wait_for(half, shielded).await.is_err() {
        println!("main: timed out after 0.5 s; not awaiting save(1) any more");
    }
    ringloop::sleep(Duration::from_secs(1)).await;
    println!("main: saved so far: {:?}", saved.borrow());

    println!("== 2: the task awaiting shield(save(2)) is cancelled; save(2) goes on ==");
    let inner = saved.clone();
    let outer = ringloop::spawn(async move {
        let record = ringloop::shield(save(2, inner)).await;
        println!("outer: got {record:?}"); // never printed
    });
    ringloop::sleep(half).await;
    outer.cancel();
    if outer.await.is_err_and(|e| e.is_cancelled()) {
        println!("main: the outer task was cancelled after 0.5 s");
    }
    ringloop::sleep(Duration::from_secs(1)).await;
    println!("main: saved so far: {:?}", saved.borrow());

    println!("== 3: shield(save(3)) awaited to the end ==");
    match ringloop::shield(save(3, saved.clone())).await {
        Ok(record) => println!("main: got {record}"),
        Err(e) => println!("main: save(3) failed: {e}"),
    }
}

fn main() {
    let start = Instant::now();
    ringloop::run(main_task());
    let elapsed = start.elapsed().as_secs_f64();
    let file = Path::new(file!())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    println!("{file} executed in {elapsed:0.2} seconds.");
}
