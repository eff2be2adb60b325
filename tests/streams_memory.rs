//! Memory bounds of the streams, measured with a counting global allocator, each
//! test alone in a child process:
//!
//! * a 10 MiB line through `readline`: `LimitOverrun` again and again, never a
//!   panic, the heap bounded by about the limit plus a receive (not 10 MiB), and
//!   the lines after it read exactly as asyncio's rules say;
//! * a fast writer against a slow reader: 64 MiB in 64 KiB writes with `drain`
//!   after each, the writer's buffer never above the high-water mark plus one
//!   write, the heap bounded, every byte in order;
//! * after a large `readexactly`, the reader does not keep receiving into (and
//!   holding) the large buffer: its heap falls back to a few receive buffers.

mod support;

use std::time::Duration;

use ringloop::net::{ReadUntilError, DEFAULT_HIGH_WATER, DEFAULT_LIMIT};
use support::alloc::Counting;
use support::in_child;
use support::streams::{stream_pair, streams_pair, Kind};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How much the heap may grow above its baseline in these tests.
const HEAP_BOUND: usize = 1024 * 1024;

/// One byte through the reader before the baseline is taken: the first receive
/// of a runtime may allocate what every later one shares (on io_uring with
/// multishot receive, the runtime's provided-buffer pool, 4 MiB).
async fn warm_up(peer: &support::streams::Peer, reader: &mut ringloop::net::StreamReader) {
    peer.send(b"!").await;
    assert_eq!(reader.readexactly(1).await.unwrap(), b"!");
}

matrix_test! {
    fn a_10_mib_line_through_readline(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        const LINE: usize = 10 * 1024 * 1024;
        const CHUNK: usize = 64 * 1024;
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                warm_up(&peer, &mut reader).await;
                let base = support::alloc::reset_peak();
                let sender = ringloop::spawn(async move {
                    // One buffer, reused: the sender adds a chunk to the heap.
                    let mut buf = vec![b'x'; CHUNK];
                    let mut sent = 0;
                    while sent < LINE {
                        buf = peer.send_buf(buf).await;
                        sent += CHUNK;
                    }
                    peer.send(b"\nnext\nafter\n").await;
                    peer.shutdown_write();
                });
                let mut overruns = 0;
                let mut consumed_total = 0;
                let mut max_consumed = 0;
                let mut lines = Vec::new();
                let mut fragment = None;
                loop {
                    let r = ringloop::wait_for(support::step(), reader.readline()).await;
                    match r.expect("readline hangs") {
                        Err(ReadUntilError::LimitOverrun { consumed }) => {
                            assert!(lines.is_empty(), "an overrun after {lines:?}");
                            assert!(fragment.is_none(), "an overrun after the fragment");
                            overruns += 1;
                            consumed_total += consumed;
                            max_consumed = max_consumed.max(consumed);
                        }
                        Err(e) => panic!("{e}"),
                        Ok(line) if line.is_empty() => break,
                        Ok(line) if lines.is_empty() && line.iter().all(|&b| b == b'x' || b == b'\n') => {
                            // The rest of the long line after the last overrun that
                            // found no newline: a line of its own, as in asyncio.
                            assert!(fragment.is_none(), "two fragments");
                            assert!(line.ends_with(b"\n") && line.len() <= DEFAULT_LIMIT + 1);
                            fragment = Some(line.len() - 1);
                        }
                        Ok(line) => lines.push(String::from_utf8(line).unwrap()),
                    }
                }
                sender.await.unwrap();
                let peak = support::alloc::peak() - base;
                println!(
                    "measured: {kind:?}: 10 MiB line: {overruns} overruns, the largest of \
                     {max_consumed} bytes; a trailing fragment of {fragment:?} bytes; peak heap \
                     {peak} bytes above the baseline"
                );
                assert!(overruns >= LINE / (DEFAULT_LIMIT + 1024 * 1024), "{overruns} overruns");
                // Every byte of the long line was dropped by an overrun (the newline
                // too when one was found) or came back in the fragment.
                assert_eq!(consumed_total + fragment.unwrap_or(0), LINE);
                assert_eq!(lines, ["next\n", "after\n"]);
                // At most the limit and one receive (64 KiB at most) were buffered.
                assert!(
                    max_consumed <= DEFAULT_LIMIT + 64 * 1024,
                    "{max_consumed} bytes buffered at once"
                );
                assert!(reader.at_eof());
                assert!(
                    peak < HEAP_BOUND,
                    "the heap grew by {peak} bytes reading an overlong line"
                );
            });
        }
    }
}

/// The byte at `offset` of the slow reader test's stream.
fn byte_at(offset: usize) -> u8 {
    (offset % 251) as u8
}

matrix_test! {
    fn a_slow_reader_against_a_fast_writer(mode) {
        if in_child(mode, module_path!(), &[]) {
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
            let base = support::alloc::reset_peak();
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
            let peak = support::alloc::peak() - base;
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

matrix_test! {
    fn a_big_read_does_not_keep_its_memory(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        const BIG: usize = 4 * 1024 * 1024;
        const CHUNK: usize = 64 * 1024;
        mode.run(async {
            let (peer, mut reader, _writer) = stream_pair(Kind::Tcp).await;
            warm_up(&peer, &mut reader).await;
            let base = support::alloc::current();
            let sender = ringloop::spawn(async move {
                let mut buf = vec![b'y'; CHUNK];
                for _ in 0..(2 * BIG / CHUNK) {
                    buf = peer.send_buf(buf).await;
                }
                peer.shutdown_write();
            });
            // One large read: the buffer grows to 4 MiB, as it must.
            let big = reader.readexactly(BIG).await.unwrap();
            assert_eq!(big.len(), BIG);
            drop(big);
            // Then small reads, with the sender's 4 MiB more arriving: the reader
            // goes back to receive buffers of its usual size.
            let mut held_at_end = 0;
            let mut max_read = 0;
            let mut total = 0;
            loop {
                let data = reader.read(usize::MAX).await.unwrap();
                if data.is_empty() {
                    break;
                }
                total += data.len();
                max_read = max_read.max(data.len());
                drop(data);
                if total > BIG / 2 {
                    held_at_end = held_at_end.max(support::alloc::current().saturating_sub(base));
                }
                ringloop::sleep(Duration::from_micros(200)).await;
            }
            sender.await.unwrap();
            println!(
                "measured: after a 4 MiB read: reads of up to {max_read} bytes; the reader \
                 held up to {held_at_end} bytes in the second half"
            );
            assert_eq!(total, BIG);
            assert!(
                held_at_end < 512 * 1024,
                "the reader still holds {held_at_end} bytes after the large read"
            );
        });
    }
}
