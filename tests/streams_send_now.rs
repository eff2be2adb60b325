//! A stream writer's sends made at once (`driver/op/send_now.rs`, the flusher's
//! `Send::at_once`; ARCHITECTURE.md, "Fast paths"): with nothing buffered a write
//! goes to the socket at once, and only what the socket did not take is buffered
//! and sent by the flusher, through the ring. The bytes arrive whole and in order
//! whichever path each part took: round trips of many sizes against a peer
//! thread that echoes, and bursts against a peer that does not read at first (so
//! that sends come back short and the rest waits in the writer and the ring).

mod support;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;

use support::streams::{std_connection as connection, Kind, StdPeer};
use support::{pattern, Rng};

/// Echoes everything until the end of the stream.
fn echo(mut peer: StdPeer) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = peer.read(&mut buf).expect("the echo peer's read");
        if n == 0 {
            return;
        }
        peer.write_all(&buf[..n]).expect("the echo peer's write");
    }
}

/// Sends at once where the driver can: io_uring counts them (a quiet loop: one
/// task), epoll has no such count.
fn check_at_once(mode: support::Mode) {
    let driver = ringloop::metrics::current().driver;
    if mode.is_uring() {
        let at_once = driver
            .ops_at_once
            .expect("io_uring counts sends made at once");
        assert!(at_once > 0, "no send was made at once: {driver:?}");
    } else {
        assert_eq!(driver.ops_at_once, None);
    }
}

matrix_test! {
    fn round_trips_of_many_sizes_keep_every_byte_in_order(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (mut reader, writer, peer) = connection(kind);
                let echo = thread::spawn(move || echo(peer));
                let mut rng = Rng::new(16);
                for i in 0..300u32 {
                    // Mostly small messages, now and then one large enough to
                    // fill the socket's buffer (a short send, the rest queued).
                    let len = if i % 25 == 24 {
                        256 * 1024 + rng.below(512 * 1024) as usize
                    } else {
                        1 + rng.below(2048) as usize
                    };
                    let message = pattern(len, i);
                    writer.write(&message).unwrap();
                    // Read back before `drain`: the peer echoes as it receives,
                    // and waits for room to send back.
                    let got = reader.readexactly(len).await.unwrap();
                    writer.drain().await.unwrap();
                    assert!(got == message, "message {i} ({len} bytes) came back changed");
                }
                check_at_once(mode);
                writer.close();
                writer.wait_closed().await.unwrap();
                assert!(reader.read(1).await.unwrap().is_empty());
                echo.join().unwrap();
            });
        }
    }
}

matrix_test! {
    fn a_burst_to_a_peer_that_waits_arrives_whole(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (_reader, writer, mut peer) = connection(kind);
                let (start, started) = mpsc::channel::<()>();
                let sink = thread::spawn(move || {
                    // Not reading until the writer is paused: its sends fill the
                    // socket and come back short or would block.
                    started.recv().unwrap();
                    let mut all = Vec::new();
                    peer.read_to_end(&mut all).unwrap();
                    all
                });
                let mut expected = Vec::new();
                for i in 0..64u32 {
                    // Pieces of every size up to 128 KiB, written without waiting.
                    let piece = pattern(1 + (i as usize * 2053) % (128 * 1024), i);
                    writer.write(&piece).unwrap();
                    expected.extend_from_slice(&piece);
                    if i % 7 == 0 {
                        ringloop::yield_now().await;
                    }
                }
                start.send(()).unwrap();
                // More while the peer reads: queued behind what is in flight.
                for i in 64..96u32 {
                    let piece = pattern(1 + (i as usize * 4099) % (64 * 1024), i);
                    writer.write(&piece).unwrap();
                    expected.extend_from_slice(&piece);
                    writer.drain().await.unwrap();
                }
                writer.close();
                writer.wait_closed().await.unwrap();
                let all = sink.join().unwrap();
                assert_eq!(all.len(), expected.len());
                assert!(all == expected, "the burst arrived changed");
                check_at_once(mode);
            });
        }
    }
}
