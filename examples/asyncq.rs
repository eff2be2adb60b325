//! Producers and consumers around a queue: a port of Real Python's `asyncq.py`
//! ("Async IO in Python: A Complete Walkthrough").
//!
//! ```python
//! async def makeitem(size: int = 5) -> str:
//!     return os.urandom(size).hex()
//!
//! async def randsleep(caller=None) -> None:
//!     i = random.randint(0, 10)
//!     if caller:
//!         print(f"{caller} sleeping for {i} seconds.")
//!     await asyncio.sleep(i)
//!
//! async def produce(name: int, q: asyncio.Queue) -> None:
//!     n = random.randint(0, 10)
//!     for _ in it.repeat(None, n):  # Synchronous loop for each single producer
//!         await randsleep(caller=f"Producer {name}")
//!         i = await makeitem()
//!         t = time.perf_counter()
//!         await q.put((i, t))
//!         print(f"Producer {name} added <{i}> to queue.")
//!
//! async def consume(name: int, q: asyncio.Queue) -> None:
//!     while True:
//!         await randsleep(caller=f"Consumer {name}")
//!         i, t = await q.get()
//!         now = time.perf_counter()
//!         print(f"Consumer {name} got element <{i}>"
//!               f" in {now-t:0.5f} seconds.")
//!         q.task_done()
//!
//! async def main(nprod: int, ncon: int):
//!     q = asyncio.Queue()
//!     producers = [asyncio.create_task(produce(n, q)) for n in range(nprod)]
//!     consumers = [asyncio.create_task(consume(n, q)) for n in range(ncon)]
//!     await asyncio.gather(*producers)
//!     await q.join()  # Implicitly awaits consumers, too
//!     for c in consumers:
//!         c.cancel()
//!
//! if __name__ == "__main__":
//!     import argparse
//!     random.seed(444)
//!     parser = argparse.ArgumentParser()
//!     parser.add_argument("-p", "--nprod", type=int, default=5)
//!     parser.add_argument("-c", "--ncon", type=int, default=10)
//!     ns = parser.parse_args()
//!     start = time.perf_counter()
//!     asyncio.run(main(**ns.__dict__))
//!     elapsed = time.perf_counter() - start
//!     print(f"Program completed in {elapsed:0.5f} seconds.")
//! ```
//!
//! `random.seed(444)` is reproduced exactly (`support/pyrandom.rs`), so the sleeps
//! are Python's; tasks run in the same order as asyncio's, and the queue hands items
//! to consumers as asyncio's does, so the port prints the same lines in the same
//! order. Only the items (from `/dev/urandom`, like `os.urandom`) and the timings
//! differ. `-p 2 -c 4` prints exactly what Python prints, every time. The default run
//! (`-p 5 -c 10`) has timers of different tasks, started at different moments, falling
//! due in the same second; which one runs first depends on sub-millisecond delays, so
//! the Python original itself prints a few different orders from run to run, and so
//! does this port.
//!
//! An extra option, `--time-scale F`, multiplies every sleep by `F` (default 1.0), so
//! a check can run the program quickly: the printed "sleeping for {i} seconds." lines
//! keep the unscaled `i`.
//!
//! Run: `cargo run --release --example asyncq -- -p 2 -c 4 [--time-scale 0.05]`

#[path = "support/pyrandom.rs"]
mod pyrandom;

use std::cell::RefCell;
use std::io::Read;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pyrandom::PyRandom;
use ringloop::queue::Queue;

/// What the Python module keeps in globals: the `random` state, and the time scale.
struct Env {
    random: RefCell<PyRandom>,
    time_scale: f64,
}

impl Env {
    fn randint(&self, low: i64, high: i64) -> i64 {
        self.random.borrow_mut().randint(low, high)
    }
}

/// `os.urandom(size).hex()`.
async fn makeitem(size: usize) -> String {
    let mut bytes = vec![0u8; size];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn randsleep(env: &Env, caller: Option<&str>) {
    let i = env.randint(0, 10);
    if let Some(caller) = caller {
        println!("{caller} sleeping for {i} seconds.");
    }
    // `sleep(Duration::ZERO)` yields once, like `asyncio.sleep(0)`.
    ringloop::sleep(Duration::from_secs_f64(i as f64 * env.time_scale)).await;
}

async fn produce(name: usize, q: Queue<(String, Instant)>, env: Rc<Env>) {
    let n = env.randint(0, 10);
    for _ in 0..n {
        randsleep(&env, Some(&format!("Producer {name}"))).await;
        let i = makeitem(5).await;
        let t = Instant::now();
        // Unbounded and never shut down: put cannot fail.
        q.put((i.clone(), t)).await.expect("the queue is open");
        println!("Producer {name} added <{i}> to queue.");
    }
}

async fn consume(name: usize, q: Queue<(String, Instant)>, env: Rc<Env>) {
    loop {
        randsleep(&env, Some(&format!("Consumer {name}"))).await;
        let Ok((i, t)) = q.get().await else {
            return; // shut down (this program never does)
        };
        let now = Instant::now();
        println!(
            "Consumer {name} got element <{i}> in {:0.5} seconds.",
            now.duration_since(t).as_secs_f64()
        );
        q.task_done().expect("one task_done per item");
    }
}

async fn main_task(nprod: usize, ncon: usize, env: Rc<Env>) {
    let q = Queue::new(0);
    let producers: Vec<_> = (0..nprod)
        .map(|n| ringloop::spawn(produce(n, q.clone(), env.clone())))
        .collect();
    let consumers: Vec<_> = (0..ncon)
        .map(|n| ringloop::spawn(consume(n, q.clone(), env.clone())))
        .collect();
    ringloop::gather_all(producers).await;
    q.join().await; // Implicitly awaits consumers, too
    for c in consumers {
        c.cancel();
    }
}

struct Args {
    nprod: usize,
    ncon: usize,
    time_scale: f64,
}

const USAGE: &str = "usage: asyncq [-h] [-p NPROD] [-c NCON] [--time-scale F]";

/// argparse's behaviour for these options: `-p 3`, `-p3`, `--nprod 3`, `--nprod=3`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        nprod: 5,
        ncon: 10,
        time_scale: 1.0,
    };
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value)),
            _ if arg.len() > 2 && (arg.starts_with("-p") || arg.starts_with("-c")) => {
                (arg[..2].to_string(), Some(&arg[2..]))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || match inline {
            Some(v) => Ok(v.to_string()),
            None => args
                .next()
                .ok_or_else(|| format!("argument {name}: expected one argument")),
        };
        match name.as_str() {
            "-p" | "--nprod" => {
                let v = value()?;
                parsed.nprod = v
                    .parse()
                    .map_err(|_| format!("argument -p/--nprod: invalid int value: '{v}'"))?;
            }
            "-c" | "--ncon" => {
                let v = value()?;
                parsed.ncon = v
                    .parse()
                    .map_err(|_| format!("argument -c/--ncon: invalid int value: '{v}'"))?;
            }
            "--time-scale" => {
                let v = value()?;
                parsed.time_scale = v
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite() && *f >= 0.0)
                    .ok_or_else(|| format!("argument --time-scale: invalid value: '{v}'"))?;
            }
            _ => return Err(format!("unrecognized arguments: {arg}")),
        }
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}\n\n  -p, --nprod NPROD  producers (default 5)\n  -c, --ncon NCON    consumers (default 10)\n  --time-scale F     multiply every sleep by F (default 1.0)");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{USAGE}\nasyncq: error: {message}");
            return ExitCode::from(2);
        }
    };
    let env = Rc::new(Env {
        random: RefCell::new(PyRandom::new(444)),
        time_scale: args.time_scale,
    });
    let start = Instant::now();
    ringloop::run(main_task(args.nprod, args.ncon, env));
    let elapsed = start.elapsed().as_secs_f64();
    println!("Program completed in {elapsed:0.5} seconds.");
    ExitCode::SUCCESS
}
