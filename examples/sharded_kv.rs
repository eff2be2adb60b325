//! A sharded key-value store: thread-per-core with nothing shared.
//!
//! Each shard owns the keys that hash to it, in a plain `HashMap` behind an `Rc`
//! (no lock: only its own thread touches it). A shard that wants a key owned by
//! another sends the operation there with `submit_to` and awaits the answer. Every
//! write is also logged on a cross-core queue (`sync::threadsafe::Queue`) that
//! shard 0 drains, the way a replication or audit log would be fed.
//!
//! Each shard writes `--keys` keys of its own, then reads back every key that all
//! shards wrote (most of them living on another shard), then shard 0 reports. The
//! output is the same on every run:
//!
//! ```text
//! 2 shards, 1000 keys each
//! shard 0 owns 1000 keys, shard 1 owns 1000 keys
//! reads: 4000 hits, 0 misses
//! log: 2000 writes, 1000 of them to another shard's keys
//! ```
//!
//! Run: `cargo run --release --example sharded_kv -- [--shards N] [--keys K]`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use ringloop::shard::{self, Shards};
use ringloop::sync::threadsafe::{Event, Queue};

thread_local! {
    /// This shard's part of the store.
    static STORE: Rc<RefCell<HashMap<String, u64>>> = Rc::new(RefCell::new(HashMap::new()));
}

/// The shard that owns `key`: FNV-1a, so that the placement is the same on every
/// run and every machine.
fn owner(key: &str, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % shards as u64) as usize
}

/// A write seen by the log: which shard wrote it and which owns it.
#[derive(Debug)]
struct Logged {
    writer: usize,
    owner: usize,
}

async fn set(key: String, value: u64, log: &Queue<Logged>) {
    let writer = shard::shard_id();
    let owner = owner(&key, shard::shard_count());
    shard::submit_to(owner, move || async move {
        STORE.with(|s| s.borrow_mut().insert(key, value));
    })
    .await
    .expect("the owner is running");
    // Bounded: a slow reader of the log slows the writers, never grows memory.
    log.put(Logged { writer, owner })
        .await
        .expect("the log is open");
}

async fn get(key: String) -> Option<u64> {
    let owner = owner(&key, shard::shard_count());
    shard::submit_to(owner, move || async move {
        STORE.with(|s| s.borrow().get(&key).copied())
    })
    .await
    .expect("the owner is running")
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shards = arg(&args, "--shards", 2).max(1);
    let keys = arg(&args, "--keys", 1000);
    let log: Queue<Logged> = Queue::new(64);
    // Counts the shards done writing; the last one opens the reads.
    let written = Arc::new(AtomicUsize::new(0));
    let all_written = Event::new();

    let results = Shards::new(shards)
        .run(move |me| {
            let (log, written, all_written) = (log.clone(), written.clone(), all_written.clone());
            async move {
                // Shard 0 also reads the log, concurrently with its own work.
                let reader = (me == 0).then(|| {
                    let log = log.clone();
                    ringloop::spawn(async move {
                        let (mut total, mut remote) = (0, 0);
                        while total < shards * keys {
                            let entry = log.get().await.expect("the log is open");
                            total += 1;
                            remote += usize::from(entry.writer != entry.owner);
                        }
                        (total, remote)
                    })
                });
                for i in 0..keys {
                    set(format!("key-{me}-{i}"), (me * keys + i) as u64, &log).await;
                }
                // Every shard has written before anyone reads.
                if written.fetch_add(1, SeqCst) + 1 == shards {
                    all_written.set();
                }
                all_written.wait().await;
                let (mut hits, mut misses) = (0, 0);
                for other in 0..shards {
                    for i in 0..keys {
                        match get(format!("key-{other}-{i}")).await {
                            Some(v) if v == (other * keys + i) as u64 => hits += 1,
                            _ => misses += 1,
                        }
                    }
                }
                let owned = STORE.with(|s| s.borrow().len());
                let logged = match reader {
                    Some(reader) => Some(reader.await.expect("the log reader")),
                    None => None,
                };
                (owned, hits, misses, logged)
            }
        })
        .expect("the shards start");

    let results: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("a shard failed"))
        .collect();
    println!("{shards} shards, {keys} keys each");
    let owned: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(i, r)| format!("shard {i} owns {} keys", r.0))
        .collect();
    println!("{}", owned.join(", "));
    let hits: usize = results.iter().map(|r| r.1).sum();
    let misses: usize = results.iter().map(|r| r.2).sum();
    println!("reads: {hits} hits, {misses} misses");
    let (total, remote) = results[0].3.expect("shard 0 read the log");
    println!("log: {total} writes, {remote} of them to another shard's keys");
}
