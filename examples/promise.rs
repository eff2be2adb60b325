//! A low-level future set by another task: the "Futures" example of asyncio's
//! documentation (`loop.create_future()`), with a done callback added. The asyncio
//! program it ports:
//!
//! ```python
//! async def set_after(fut, delay, value):
//!     # Sleep for *delay* seconds.
//!     await asyncio.sleep(delay)
//!     # Set *value* as a result of *fut* Future.
//!     fut.set_result(value)
//!
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     fut = loop.create_future()
//!     fut.add_done_callback(lambda f: print(f"callback: the future is done: {f.result()!r}"))
//!     start = loop.time()
//!     loop.create_task(set_after(fut, 1, '... world'))
//!     print('hello ...')
//!     # Wait until *fut* has a result (1 second) and print it.
//!     print(await fut)
//!     print(f"awaited for {loop.time() - start:.2f} seconds")
//! ```
//!
//! Both print, after `hello ...` and a one-second pause:
//!
//! ```text
//! callback: the future is done: '... world'
//! ... world
//! ```
//!
//! The callback line comes first: `set_result` schedules the callback with
//! `call_soon`, and the loop runs it in the same turn, before `main` resumes.
//!
//! Run: `cargo run --release --example promise`

use std::time::Duration;

use ringloop::sync::Promise;

async fn set_after(fut: Promise<String>, delay: Duration, value: &str) {
    // Sleep for `delay`.
    ringloop::sleep(delay).await;
    // Set `value` as the result of `fut`. Nobody else sets it, so this cannot fail.
    fut.set_result(value.to_owned())
        .expect("the promise was set already");
}

fn main() {
    ringloop::run(async {
        // asyncio's `loop.create_future()`.
        let fut = Promise::new();
        fut.add_done_callback(|f| {
            let value = f.result().unwrap_or_default();
            println!("callback: the future is done: '{value}'");
        });
        let start = ringloop::time::now();

        // Run `set_after` in a parallel task.
        ringloop::spawn(set_after(fut.clone(), Duration::from_secs(1), "... world"));

        println!("hello ...");

        // Wait until `fut` has a result (1 second) and print it.
        match fut.await {
            Ok(value) => println!("{value}"),
            Err(cancelled) => println!("{cancelled}"),
        }
        println!("awaited for {:.2} seconds", start.elapsed().as_secs_f64());
    });
}
