//! A stream reader's way of receiving follows the traffic
//! (`src/net/streams/receive.rs`, "Bulk transfers"): on a multishot receive, a
//! stream whose arms keep ending by themselves before the reader comes back (a
//! bulk transfer) receives single-shot into its own buffers, and one whose
//! single-shot receives keep coming back short goes back to the multishot
//! receive. Every byte arrives once and in order across both changes, reads
//! dropped half-way included, on every driver; where the runtime has no
//! multishot receive (epoll, the 5.10 mask, a kernel before 6.17) every receive
//! is single-shot already, and only the bytes are checked.

mod support;

use std::future::Future;
use std::io::{Read, Write};
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::thread;

use ringloop::metrics::OpCode;
use support::streams::{std_connection, Kind, StdPeer};
use support::{pattern, step, within};

/// What the peer sends at once: enough for many arms of the multishot receive
/// (each receives about 64 KiB) to end before the reader comes back.
const BULK: usize = 16 * 1024 * 1024;
/// What the peer sends before the reader starts, so that the first arms find
/// their budgets waiting (it fits in a loopback TCP or Unix socket's buffer).
const PREFILL: usize = 128 * 1024;
/// The small messages after it, one per request.
const QUIET_MESSAGES: u32 = 40;
const QUIET_SIZE: usize = 100;
/// Short single-shot receives in a row after which a stream goes back to the
/// multishot receive (`QUIET_AFTER` in `receive.rs`).
const QUIET_AFTER: u64 = 4;

/// The peer: the bulk in two writes (saying when the first is in the socket),
/// then a small message for each byte it receives, then waits for the end of
/// the stream.
fn peer(mut peer: StdPeer, prefilled: mpsc::Sender<()>) {
    let bulk = pattern(BULK, 1);
    peer.write_all(&bulk[..PREFILL])
        .expect("the peer's first write");
    prefilled.send(()).unwrap();
    peer.write_all(&bulk[PREFILL..])
        .expect("the peer's bulk write");
    for i in 0..QUIET_MESSAGES {
        let mut request = [0u8; 1];
        peer.read_exact(&mut request).expect("the peer's read");
        peer.write_all(&pattern(QUIET_SIZE, 100 + i))
            .expect("the peer's write");
    }
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).expect("the peer's last read");
    assert!(rest.is_empty(), "{} unexpected bytes", rest.len());
}

/// Single-shot receives started on this runtime so far.
fn receives() -> u64 {
    ringloop::metrics::current()
        .driver
        .ops_started(OpCode::Recv)
}

matrix_test! {
    fn bulk_then_quiet_keeps_every_byte_and_changes_the_way_of_receiving(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (mut reader, writer, std_peer) = std_connection(kind);
                let (prefilled, prefill_done) = mpsc::channel();
                let peer = thread::spawn(move || peer(std_peer, prefilled));
                let expected = pattern(BULK, 1);
                prefill_done.recv_timeout(step()).expect("the peer's first write");
                let start = receives();
                let mut got = Vec::with_capacity(BULK);
                let mut reads = 0u32;
                while got.len() < BULK {
                    reads += 1;
                    if reads.is_multiple_of(8) {
                        // A read polled once and dropped: whatever receive it
                        // started stays with the reader, and its bytes come
                        // with the next read.
                        let mut read = pin!(reader.read(64 * 1024));
                        let polled =
                            std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
                        if let Poll::Ready(data) = polled {
                            got.extend_from_slice(&data.unwrap());
                        }
                        continue;
                    }
                    let data = within("a read of the bulk", reader.read(64 * 1024))
                        .await
                        .unwrap();
                    assert!(!data.is_empty(), "end of stream after {} bytes", got.len());
                    got.extend_from_slice(&data);
                    // The reader's bound (`receive.rs`): below what the read
                    // wanted (1 byte) plus 64 KiB, whichever way it receives.
                    assert!(
                        reader.buffered() <= 64 * 1024,
                        "{kind:?}: the reader holds {} bytes",
                        reader.buffered()
                    );
                }
                assert_eq!(got.len(), BULK, "{kind:?}: more than was sent");
                assert!(got == expected, "{kind:?}: the bulk came back changed");
                let bulk = receives() - start;
                for i in 0..QUIET_MESSAGES {
                    writer.write(b"?").unwrap();
                    writer.drain().await.unwrap();
                    let message = within("a small reply", reader.readexactly(QUIET_SIZE))
                        .await
                        .unwrap();
                    assert!(message == pattern(QUIET_SIZE, 100 + i), "{kind:?}: message {i}");
                }
                let quiet = receives() - start - bulk;
                writer.close();
                writer.wait_closed().await.unwrap();
                assert!(reader.read(1).await.unwrap().is_empty());
                peer.join().unwrap();

                let driver = ringloop::metrics::current().driver;
                // The probe's word, as the runtime took it: a provided-buffer
                // pool (`buffer_exhaustion` is `Some`) exactly where streams
                // receive multishot.
                if driver.buffer_exhaustion.is_some() {
                    assert!(
                        bulk > 0,
                        "{kind:?}: {BULK} bytes in a row, all through the multishot receive"
                    );
                    assert!(
                        quiet <= QUIET_AFTER,
                        "{kind:?}: {quiet} single-shot receives for {QUIET_MESSAGES} \
                         small messages: the stream did not go back to the multishot receive"
                    );
                    eprintln!(
                        "measured ({kind:?}): {bulk} single-shot receives for the bulk, \
                         {quiet} for the {QUIET_MESSAGES} small messages"
                    );
                } else {
                    eprintln!(
                        "skipped ({kind:?}, {mode:?}): the change of receive, as this \
                         runtime has no multishot receive (every receive is single-shot: \
                         {bulk} for the bulk, {quiet} for the small messages)"
                    );
                }
            });
        }
    }
}
