//! Plain callbacks on the loop: `call_soon`, `call_later`, `call_at`, and cancelling
//! one through its handle. The asyncio program it ports:
//!
//! ```python
//! def report(what):
//!     print(f"{what} fired at +{elapsed_ms} ms")
//!
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     loop.call_soon(report, "call_soon")
//!     loop.call_later(0.2, report, "call_later(200 ms)")
//!     loop.call_later(0.1, report, "call_later(100 ms)")
//!     loop.call_at(loop.time() + 0.15, report, "call_at(now + 150 ms)")
//!     loop.call_later(0.05, report, "call_later(50 ms)").cancel()
//!     await asyncio.sleep(0.3)
//! ```
//!
//! `call_soon` runs on the loop's next turn (after the current task yields), the
//! timers run in deadline order whatever order they were scheduled in, and the
//! cancelled one never runs.
//!
//! Run: `cargo run --release --example callbacks`

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

fn main() {
    ringloop::run(async {
        // The loop's clock (asyncio's `loop.time()`), which `call_at` is relative to.
        let start = ringloop::time::now();
        let report = move |what: &'static str| {
            move || println!("{what:<22} fired at +{} ms", start.elapsed().as_millis())
        };
        let ms = Duration::from_millis;

        ringloop::call_soon(report("call_soon"));
        ringloop::call_later(ms(200), report("call_later(200 ms)"));
        ringloop::call_later(ms(100), report("call_later(100 ms)"));
        ringloop::call_at(
            ringloop::time::now() + ms(150),
            report("call_at(now + 150 ms)"),
        );

        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        let handle = ringloop::call_later(ms(50), move || flag.set(true));
        handle.cancel();
        println!(
            "cancelled call_later(50 ms): handle.cancelled() = {}",
            handle.cancelled()
        );
        println!("scheduled; nothing has run yet");

        ringloop::sleep(ms(300)).await;
        if ran.get() {
            println!("BUG: the cancelled callback ran");
        } else {
            println!("after 300 ms: the cancelled callback never ran");
        }
    });
}
