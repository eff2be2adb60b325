//! Memory bounds of the streams, measured with a counting global allocator, each
//! test alone in a child process:
//!
//! * a fast writer against a slow reader: 64 MiB in 64 KiB writes with `drain`
//!   after each, the writer's buffer never above the high-water mark plus one
//!   write, the heap bounded, every byte in order.

mod common;
#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[path = "common/streams.rs"]
mod streams;

use std::time::Duration;

use common::{is_child, matrix_test_name, run_child};
use counting_alloc::Counting;
use ringloop::net::DEFAULT_HIGH_WATER;
use streams::{streams_pair, Kind};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How much the heap may grow above its baseline in these tests.
const HEAP_BOUND: usize = 1024 * 1024;

/// Runs the test in a child process (the allocator counts every thread) and
/// shows what the child measured.
fn in_child(module_path: &str, mode: common::Mode) -> bool {
    if is_child() {
        return false;
    }
    let output = run_child(&matrix_test_name(module_path, mode), &[]);
    assert!(output.success, "{output:#?}");
    for line in output.stdout.lines() {
        if let Some(at) = line.find("measured:") {
            eprintln!("{mode:?} {}", &line[at..]);
        }
    }
    true
}

/// The byte at `offset` of the slow reader test's stream.
fn byte_at(offset: usize) -> u8 {
    (offset % 251) as u8
}

matrix_test! {
    fn a_slow_reader_against_a_fast_writer(mode) {
        if in_child(module_path!(), mode) {
            return;
        }
        const TOTAL: usize = 64 * 1024 * 1024;
        const CHUNK: usize = 64 * 1024;
        mode.run(async {
            let ((_r, writer), (mut reader, _w)) = streams_pair(Kind::Tcp).await;
            // One byte first: the first receive of a runtime may allocate what every
            // later one shares (on io_uring with multishot receive, the runtime's
            // provided-buffer pool, 4 MiB).
            writer.write(b"!").unwrap();
            assert_eq!(reader.readexactly(1).await.unwrap(), b"!");
            let base = counting_alloc::reset_peak();
            let receiver = ringloop::spawn(async move {
                let mut offset = 0;
                let mut reads = 0;
                loop {
                    let data = reader.read(256 * 1024).await.unwrap();
                    if data.is_empty() {
                        return (offset, reads);
                    }
                    for (i, &b) in data.iter().enumerate() {
                        if b != byte_at(offset + i) {
                            panic!("byte {} is {b}, not {}", offset + i, byte_at(offset + i));
                        }
                    }
                    offset += data.len();
                    reads += 1;
                    // Slow: a pause after each read.
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
            });
            let mut chunk = vec![0u8; CHUNK];
            let mut max_buffered = 0;
            let mut offset = 0;
            while offset < TOTAL {
                for (i, b) in chunk.iter_mut().enumerate() {
                    *b = byte_at(offset + i);
                }
                writer.write(&chunk).unwrap();
                max_buffered = max_buffered.max(writer.buffered());
                writer.drain().await.unwrap();
                max_buffered = max_buffered.max(writer.buffered());
                offset += CHUNK;
            }
            writer.close();
            ringloop::wait_for(Duration::from_secs(30), writer.wait_closed())
                .await
                .unwrap()
                .unwrap();
            let (received, reads) = ringloop::wait_for(Duration::from_secs(30), receiver)
                .await
                .unwrap()
                .unwrap();
            let peak = counting_alloc::peak() - base;
            println!(
                "measured: slow reader: {reads} reads; writer buffered at most {max_buffered} \
                 bytes; peak heap {peak} bytes above the baseline"
            );
            assert_eq!(received, TOTAL);
            assert!(
                max_buffered <= DEFAULT_HIGH_WATER + CHUNK,
                "the writer buffered {max_buffered} bytes"
            );
            assert!(peak < HEAP_BOUND, "the heap grew by {peak} bytes");
        });
    }
}
