//! `StreamWriter`: writes are sent without `drain`, flow control (high and low
//! water marks, `set_write_buffer_limits`, `buffered`), `write_eof` (half-close),
//! `close` + `wait_closed` flushing first, a dropped writer still flushing, writes
//! after `close`, errors after the peer reset the connection, and the two halves
//! used from different tasks.

mod support;

use std::time::Duration;

use ringloop::net::{StreamWriter, DEFAULT_HIGH_WATER};
use support::net::resetting_tcp_pair;
use support::streams::{is_reset, stream_pair, streams_pair, Kind, Peer};
use support::{pattern, sleep_until_cond, step};

const SHORT: Duration = Duration::from_millis(50);

/// Reads exactly `n` bytes from the raw peer.
async fn recv_exactly(peer: &Peer, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let chunk = peer.recv(n - got.len()).await.unwrap();
        assert!(
            !chunk.is_empty(),
            "the stream ended after {} of {n} bytes",
            got.len()
        );
        got.extend_from_slice(&chunk);
    }
    got
}

/// Writes 64 KiB chunks of a pattern until the writer is paused (the kernel's
/// buffers full, the peer not reading); returns the bytes written.
async fn write_until_paused(writer: &StreamWriter, high: usize) -> Vec<u8> {
    let mut written = Vec::new();
    for i in 0..1024 {
        let piece = pattern(64 * 1024, i as u32);
        writer.write(&piece).unwrap();
        written.extend_from_slice(&piece);
        if writer.buffered() > high {
            // Paused: drain waits while the peer does not read. Only waits during
            // which the kernel took nothing more show that the socket is full: on
            // a busy machine (or a VM under emulation) the flusher may just be
            // late, or this process not scheduled for a whole wait; so three
            // waits in a row, each scaled.
            let mut still = 0;
            while still < 3 {
                let before = writer.buffered();
                let r = ringloop::wait_for(support::scaled(SHORT), writer.drain()).await;
                if r.is_ok() || writer.buffered() != before {
                    break;
                }
                still += 1;
            }
            if still == 3 {
                return written;
            }
        }
        // Let the flusher hand the buffer to the kernel.
        ringloop::yield_now().await;
    }
    panic!("64 MiB written and the writer never paused");
}

matrix_test! {
    fn writes_are_sent_without_drain(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, _reader, writer) = stream_pair(kind).await;
                assert_eq!(writer.buffered(), 0);
                writer.write(b"hello").unwrap();
                writer.write(b"").unwrap();
                writer.writelines([&b" "[..], b"world", b"\n"]).unwrap();
                // Each write was sent at once (the socket had room) or buffered
                // for the flusher: either way, never more than was written.
                assert!(writer.buffered() <= 12);
                let got = ringloop::wait_for(step(), recv_exactly(&peer, 12)).await.unwrap();
                assert_eq!(got, b"hello world\n");
                assert!(sleep_until_cond(step(), || writer.buffered() == 0).await);
                // Later writes wake the parked flusher.
                for i in 0..50 {
                    writer.write(format!("{i:02}").as_bytes()).unwrap();
                    if i % 10 == 0 {
                        ringloop::sleep(Duration::from_millis(1)).await;
                    }
                }
                let got = ringloop::wait_for(step(), recv_exactly(&peer, 100)).await.unwrap();
                let expected: String = (0..50).map(|i| format!("{i:02}")).collect();
                assert_eq!(got, expected.as_bytes());
                assert!(!writer.is_closing());
            });
        }
    }
}

matrix_test! {
    fn drain_waits_from_the_high_water_mark_to_the_low_one(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, _reader, writer) = stream_pair(kind).await;
                assert_eq!(DEFAULT_HIGH_WATER, 64 * 1024);
                // Below the high-water mark, drain returns at once, read or not.
                writer.write(&[1; 1000]).unwrap();
                ringloop::wait_for(SHORT, writer.drain()).await.unwrap().unwrap();

                let (high, low) = (256 * 1024, 64 * 1024);
                writer.set_write_buffer_limits(high, Some(low));
                let mut written = vec![1; 1000];
                written.extend(write_until_paused(&writer, high).await);
                let paused_at = writer.buffered();
                assert!(paused_at > high, "{paused_at}");
                // Cancelled drains change nothing; the bytes stay buffered.
                for _ in 0..3 {
                    assert!(ringloop::wait_for(SHORT, writer.drain()).await.is_err());
                }
                assert!(writer.buffered() > high);

                // The peer reads: drain returns once the buffer is down to `low`.
                let total = written.len();
                let reader = ringloop::spawn(async move {
                    let got = recv_exactly(&peer, total).await;
                    (got, peer)
                });
                ringloop::wait_for(step(), writer.drain()).await.unwrap().unwrap();
                let left = writer.buffered();
                assert!(left <= low, "drain returned with {left} bytes buffered (low {low})");
                let (got, peer) = ringloop::wait_for(step(), reader).await.unwrap().unwrap();
                assert!(got == written, "the bytes arrived out of order");

                // Raising the limits above what is buffered resumes the writer;
                // lowering them under it pauses it.
                let written = write_until_paused(&writer, high).await;
                let buffered = writer.buffered();
                writer.set_write_buffer_limits(4 * buffered, Some(2 * buffered));
                ringloop::wait_for(SHORT, writer.drain()).await.unwrap().unwrap();
                writer.set_write_buffer_limits(0, None);
                // Paused at once while anything is buffered (decided by the state,
                // not by how fast the kernel takes the rest).
                {
                    let mut drain = std::pin::pin!(writer.drain());
                    let pending = support::poll_once(drain.as_mut()).is_pending();
                    assert!(pending || writer.buffered() == 0);
                }
                let total = written.len();
                let reader = ringloop::spawn(async move { recv_exactly(&peer, total).await });
                // Low mark 0: drain waits until every byte is sent.
                ringloop::wait_for(step(), writer.drain()).await.unwrap().unwrap();
                assert_eq!(writer.buffered(), 0);
                assert!(ringloop::wait_for(step(), reader).await.unwrap().unwrap() == written);
            });
        }
    }
}

matrix_test! {
    fn write_eof_half_closes(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let ((mut a_reader, a_writer), (mut b_reader, b_writer)) = streams_pair(kind).await;
                assert!(a_writer.can_write_eof());
                a_writer.write(b"request").unwrap();
                a_writer.write_eof().unwrap();
                assert!(a_writer.is_closing());
                a_writer.write_eof().unwrap();
                let e = a_writer.write(b"more").unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
                // The peer reads the request and the end of the stream...
                let got = ringloop::wait_for(step(), b_reader.read_to_end()).await.unwrap().unwrap();
                assert_eq!(got, b"request");
                // ... and can still answer, which the first side reads.
                b_writer.write(b"response").unwrap();
                b_writer.close();
                ringloop::wait_for(step(), b_writer.wait_closed()).await.unwrap().unwrap();
                let got = ringloop::wait_for(step(), a_reader.read_to_end()).await.unwrap().unwrap();
                assert_eq!(got, b"response");
                ringloop::wait_for(step(), a_writer.wait_closed()).await.unwrap().unwrap();
                // close after write_eof is fine.
                a_writer.close();
                ringloop::wait_for(step(), a_writer.wait_closed()).await.unwrap().unwrap();
            });
        }
    }
}

matrix_test! {
    fn close_flushes_then_shuts_down(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, writer) = stream_pair(kind).await;
                // Before close, wait_closed waits.
                assert!(ringloop::wait_for(SHORT, writer.wait_closed()).await.is_err());
                let data = pattern(1024 * 1024, 1);
                writer.write(&data).unwrap();
                writer.close();
                assert!(writer.is_closing());
                // Nothing more is accepted.
                let e = writer.write(b"late").unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
                assert!(writer.writelines([b"late"]).is_err());
                let receiver = ringloop::spawn(async move { peer.recv_to_end().await });
                ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap();
                let got = ringloop::wait_for(step(), receiver).await.unwrap().unwrap().unwrap();
                assert!(got.len() == data.len() && got == data, "got {} of {} bytes", got.len(), data.len());
                // Shut down both ways: this side's reader reads the end too.
                assert_eq!(ringloop::wait_for(step(), reader.read(10)).await.unwrap().unwrap(), b"");
                // drain and wait_closed after the end return at once.
                ringloop::wait_for(SHORT, writer.drain()).await.unwrap().unwrap();
                ringloop::wait_for(SHORT, writer.wait_closed()).await.unwrap().unwrap();
                writer.close();
            });
        }
    }
}

matrix_test! {
    fn a_dropped_writer_still_sends_what_it_buffered(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                // Both halves dropped with 1 MiB buffered: all of it, then the end.
                let (peer, reader, writer) = stream_pair(kind).await;
                let data = pattern(1024 * 1024, 2);
                writer.write(&data).unwrap();
                drop(writer);
                drop(reader);
                let got = ringloop::wait_for(step(), peer.recv_to_end()).await.unwrap().unwrap();
                assert!(got == data, "got {} of {} bytes", got.len(), data.len());

                // Only the writer dropped: the peer reads the end, and this side
                // can still read what the peer sends back.
                let (peer, mut reader, writer) = stream_pair(kind).await;
                writer.write(b"bye").unwrap();
                drop(writer);
                let got = ringloop::wait_for(step(), peer.recv_to_end()).await.unwrap().unwrap();
                assert_eq!(got, b"bye");
                peer.send(b"see you").await;
                peer.shutdown_write();
                let got = ringloop::wait_for(step(), reader.read_to_end()).await.unwrap().unwrap();
                assert_eq!(got, b"see you");
            });
        }
    }
}

/// Writes and drains until an error comes back; panics if none comes.
async fn write_until_error(writer: &StreamWriter) -> std::io::Error {
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..10_000 {
        if let Err(e) = writer.write(&chunk) {
            return e;
        }
        if let Err(e) = writer.drain().await {
            return e;
        }
        ringloop::sleep(Duration::from_millis(1)).await;
    }
    panic!("640 MB written to a reset connection without an error");
}

matrix_test! {
    fn writes_after_a_reset_fail_with_the_error(mode) {
        mode.run(async {
            // TCP reset (RST) by the peer.
            let (resetting, other) = resetting_tcp_pair().await;
            let (_reader, writer) = other.into_streams();
            writer.write(b"before").unwrap();
            ringloop::wait_for(step(), async {
                let mut buf = Vec::new();
                while buf.len() < 6 {
                    let (n, b) = resetting.read(Vec::with_capacity(16)).await;
                    buf.extend_from_slice(&b[..n.unwrap()]);
                }
            })
            .await
            .unwrap();
            drop(resetting);
            let e = ringloop::wait_for(step(), write_until_error(&writer)).await.unwrap();
            assert!(is_reset(&e), "{e:?}");
            // The same error from then on, and from wait_closed.
            assert!(is_reset(&writer.write(b"x").unwrap_err()));
            assert!(is_reset(&writer.drain().await.unwrap_err()));
            let e = ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap_err();
            assert!(is_reset(&e), "{e:?}");
            assert!(writer.is_closing());
            writer.close();
            assert!(is_reset(&ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap_err()));

            // A peer that closed normally, and Unix peers.
            for kind in Kind::ALL {
                let (peer, _reader, writer) = stream_pair(kind).await;
                drop(peer);
                let e = ringloop::wait_for(step(), write_until_error(&writer)).await.unwrap();
                assert!(is_reset(&e), "{kind:?}: {e:?}");
                let e = ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap_err();
                assert!(is_reset(&e), "{kind:?}: {e:?}");
            }
        });
    }
}

matrix_test! {
    fn the_halves_work_from_different_tasks(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let ((mut a_reader, a_writer), (mut b_reader, b_writer)) = streams_pair(kind).await;
                // b echoes, its reader in one task and its writer in another.
                let queue = ringloop::queue::Queue::<Vec<u8>>::new(16);
                let q = queue.clone();
                let b_read = ringloop::spawn(async move {
                    loop {
                        let line = b_reader.readline().await.unwrap();
                        if line.is_empty() {
                            break;
                        }
                        q.put(line).await.unwrap();
                    }
                    q.shutdown(false);
                });
                let b_write = ringloop::spawn(async move {
                    while let Ok(line) = queue.get().await {
                        b_writer.write(&line).unwrap();
                        b_writer.drain().await.unwrap();
                    }
                    b_writer.close();
                    b_writer.wait_closed().await.unwrap();
                });
                // a writes in one task and reads in another.
                const LINES: usize = 2000;
                let a_write = ringloop::spawn(async move {
                    for i in 0..LINES {
                        a_writer.write(format!("line {i} {}\n", "x".repeat(i % 300)).as_bytes()).unwrap();
                        a_writer.drain().await.unwrap();
                        if i % 100 == 0 {
                            ringloop::yield_now().await;
                        }
                    }
                    a_writer.write_eof().unwrap();
                    a_writer
                });
                let a_read = ringloop::spawn(async move {
                    let mut n = 0;
                    loop {
                        let line = a_reader.readline().await.unwrap();
                        if line.is_empty() {
                            return n;
                        }
                        assert_eq!(line, format!("line {n} {}\n", "x".repeat(n % 300)).as_bytes());
                        n += 1;
                    }
                });
                let n = ringloop::wait_for(step(), a_read).await.unwrap().unwrap();
                assert_eq!(n, LINES);
                let _a_writer = a_write.await.unwrap();
                b_read.await.unwrap();
                b_write.await.unwrap();
            });
        }
    }
}

matrix_test! {
    fn addresses(mode) {
        mode.run(async {
            let (peer, _reader, writer) = stream_pair(Kind::Tcp).await;
            let Peer::Tcp(peer) = peer else { unreachable!() };
            assert_eq!(writer.peer_addr().unwrap(), peer.local_addr().unwrap());
            assert_eq!(writer.local_addr().unwrap(), peer.peer_addr().unwrap());
            // A Unix connection has no IP address.
            let (_peer, _reader, writer) = stream_pair(Kind::Unix).await;
            assert!(writer.peer_addr().is_err());
            assert!(writer.local_addr().is_err());
        });
    }
}

matrix_test! {
    fn abort_drops_the_buffer_and_closes_at_once(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                // The peer never reads, so close would wait for a flush forever.
                let (peer, mut reader, writer) = stream_pair(kind).await;
                let written = write_until_paused(&writer, DEFAULT_HIGH_WATER).await;
                assert!(writer.buffered() > 0);
                writer.abort();
                assert!(writer.is_closing());
                assert_eq!(writer.buffered(), 0);
                ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap();
                ringloop::wait_for(SHORT, writer.drain()).await.unwrap().unwrap();
                assert!(writer.write(b"late").is_err());
                // This side's reader reads the end; the peer reads what the kernel
                // had taken before the abort (a prefix of what was written), then
                // the end.
                assert_eq!(ringloop::wait_for(step(), reader.read(10)).await.unwrap().unwrap(), b"");
                let got = ringloop::wait_for(step(), peer.recv_to_end()).await.unwrap().unwrap();
                assert!(got.len() < written.len(), "the buffered bytes were dropped");
                assert!(written.starts_with(&got), "the peer got a prefix, in order");
            });
        }
    }
}
