//! Three coroutines drawing random numbers until one is high enough: a port of Real
//! Python's `rand.py` ("Async IO in Python: A Complete Walkthrough").
//!
//! ```python
//! import asyncio
//! import random
//!
//! # ANSI colors
//! c = (
//!     "\033[0m",   # End of color
//!     "\033[36m",  # Cyan
//!     "\033[91m",  # Red
//!     "\033[35m",  # Magenta
//! )
//!
//! async def makerandom(idx: int, threshold: int = 6) -> int:
//!     print(c[idx + 1] + f"Initiated makerandom({idx}).")
//!     i = random.randint(0, 10)
//!     while i <= threshold:
//!         print(c[idx + 1] + f"makerandom({idx}) == {i} too low; retrying.")
//!         await asyncio.sleep(idx + 1)
//!         i = random.randint(0, 10)
//!     print(c[idx + 1] + f"---> Finished: makerandom({idx}) == {i}" + c[0])
//!     return i
//!
//! async def main():
//!     res = await asyncio.gather(*(makerandom(i, 10 - i - 1) for i in range(3)))
//!     return res
//!
//! if __name__ == "__main__":
//!     random.seed(444)
//!     r1, r2, r3 = asyncio.run(main())
//!     print()
//!     print(f"r1: {r1}, r2: {r2}, r3: {r3}")
//! ```
//!
//! `support/pyrandom.rs` is CPython's Mersenne Twister, so with `random.seed(444)`
//! the program prints the same bytes as the Python original (CPython 3.11 run for
//! reference), colours included, in about 12 seconds.
//!
//! The three coroutines share one generator, so the order in which they wake decides
//! who draws which number. As `asyncio.gather` does, each coroutine runs as its own
//! task, so the loop resumes them in the order their timers fire (polled inside one
//! `gather_all`, they would be resumed in argument order whenever two wake in the
//! same loop turn). At 2 s, 3 s, 4 s, 6 s and 9 s two of them are due "at the same
//! time"; asyncio wakes first the one whose timer was set earlier (it has drifted
//! less). To make that order certain rather than likely, each sleep here runs from
//! the loop's clock ([`ringloop::time::now`], the same for every task of one loop
//! turn), and equal deadlines fire in the order they were set.
//!
//! Run: `cargo run --release --example rand`

#[path = "support/pyrandom.rs"]
mod pyrandom;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use pyrandom::PyRandom;

/// ANSI colours: reset, cyan, red, magenta.
const C: [&str; 4] = ["\x1b[0m", "\x1b[36m", "\x1b[91m", "\x1b[35m"];

async fn makerandom(idx: usize, threshold: i64, random: Rc<RefCell<PyRandom>>) -> i64 {
    let colour = C[idx + 1];
    println!("{colour}Initiated makerandom({idx}).");
    let mut i = random.borrow_mut().randint(0, 10);
    while i <= threshold {
        println!("{colour}makerandom({idx}) == {i} too low; retrying.");
        let delay = Duration::from_secs(idx as u64 + 1);
        ringloop::time::sleep_until(ringloop::time::now() + delay).await;
        i = random.borrow_mut().randint(0, 10);
    }
    println!("{colour}---> Finished: makerandom({idx}) == {i}{}", C[0]);
    i
}

fn main() {
    let random = Rc::new(RefCell::new(PyRandom::new(444)));
    let res = ringloop::run(async {
        let tasks =
            (0..3).map(|i| ringloop::spawn(makerandom(i, 10 - i as i64 - 1, random.clone())));
        ringloop::gather_all(tasks).await
    });
    let res: Vec<i64> = res
        .into_iter()
        .map(|r| r.expect("makerandom failed"))
        .collect();
    let (r1, r2, r3) = (res[0], res[1], res[2]);
    println!();
    println!("r1: {r1}, r2: {r2}, r3: {r3}");
}
