//! Chained coroutines: a port of Real Python's `chained.py` ("Async IO in Python: A
//! Complete Walkthrough"). Each chain waits for its first part before it starts the
//! second; the three chains overlap, so the program takes as long as the longest
//! chain (11 s with the seed below), not the sum.
//!
//! ```python
//! import asyncio
//! import random
//! import time
//!
//! async def part1(n: int) -> str:
//!     i = random.randint(0, 10)
//!     print(f"part1({n}) sleeping for {i} seconds.")
//!     await asyncio.sleep(i)
//!     result = f"result{n}-1"
//!     print(f"Returning part1({n}) == {result}.")
//!     return result
//!
//! async def part2(n: int, arg: str) -> str:
//!     i = random.randint(0, 10)
//!     print(f"part2{n, arg} sleeping for {i} seconds.")
//!     await asyncio.sleep(i)
//!     result = f"result{n}-2 derived from {arg}"
//!     print(f"Returning part2{n, arg} == {result}.")
//!     return result
//!
//! async def chain(n: int) -> None:
//!     start = time.perf_counter()
//!     p1 = await part1(n)
//!     p2 = await part2(n, p1)
//!     end = time.perf_counter() - start
//!     print(f"-->Chained result{n} => {p2} (took {end:0.2f} seconds).")
//!
//! async def main(*args):
//!     await asyncio.gather(*(chain(n) for n in args))
//!
//! if __name__ == "__main__":
//!     import sys
//!     random.seed(444)
//!     args = [1, 2, 3] if len(sys.argv) == 1 else map(int, sys.argv[1:])
//!     start = time.perf_counter()
//!     asyncio.run(main(*args))
//!     end = time.perf_counter() - start
//!     print(f"Program finished in {end:0.2f} seconds.")
//! ```
//!
//! `support/pyrandom.rs` is CPython's Mersenne Twister, so `random.seed(444)` draws
//! the same numbers here, in the same order: each part draws when it starts, and the
//! chains run as tasks spawned in argument order, as `asyncio.gather` wraps each
//! coroutine in a task, so they start in that order and resume in the order their
//! timers fire. The program prints the same lines as the Python original (CPython
//! 3.11 run for reference), timings aside.
//!
//! Run: `cargo run --release --example chained [N...]`

#[path = "support/pyrandom.rs"]
mod pyrandom;

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pyrandom::PyRandom;

/// Python's `repr()` of the tuple `(n, arg)` for a string without quotes or
/// backslashes, such as `(1, 'result1-1')`.
fn tuple_repr(n: i64, arg: &str) -> String {
    format!("({n}, '{arg}')")
}

async fn part1(n: i64, random: &RefCell<PyRandom>) -> String {
    let i = random.borrow_mut().randint(0, 10);
    println!("part1({n}) sleeping for {i} seconds.");
    ringloop::sleep(Duration::from_secs(i as u64)).await;
    let result = format!("result{n}-1");
    println!("Returning part1({n}) == {result}.");
    result
}

async fn part2(n: i64, arg: String, random: &RefCell<PyRandom>) -> String {
    let i = random.borrow_mut().randint(0, 10);
    let args = tuple_repr(n, &arg);
    println!("part2{args} sleeping for {i} seconds.");
    ringloop::sleep(Duration::from_secs(i as u64)).await;
    let result = format!("result{n}-2 derived from {arg}");
    println!("Returning part2{args} == {result}.");
    result
}

async fn chain(n: i64, random: Rc<RefCell<PyRandom>>) {
    let start = Instant::now();
    let p1 = part1(n, &random).await;
    let p2 = part2(n, p1, &random).await;
    let end = start.elapsed().as_secs_f64();
    println!("-->Chained result{n} => {p2} (took {end:0.2} seconds).");
}

fn main() -> ExitCode {
    let args: Result<Vec<i64>, _> = std::env::args().skip(1).map(|a| a.parse()).collect();
    let args = match args {
        Ok(args) if args.is_empty() => vec![1, 2, 3],
        Ok(args) => args,
        Err(e) => {
            eprintln!("usage: chained [N...] (integers): {e}");
            return ExitCode::from(2);
        }
    };
    let random = Rc::new(RefCell::new(PyRandom::new(444)));
    let start = Instant::now();
    ringloop::run(async {
        let chains = args
            .iter()
            .map(|&n| ringloop::spawn(chain(n, random.clone())));
        for result in ringloop::gather_all(chains).await {
            result.expect("a chain failed");
        }
    });
    let end = start.elapsed().as_secs_f64();
    println!("Program finished in {end:0.2} seconds.");
    ExitCode::SUCCESS
}
