//! `StreamReader`: `read`, `read_to_end`, `readline`, `readexactly` (end of stream
//! and I/O errors), `readuntil` (separators split across receives, the end of the
//! stream, the limit, an empty separator), `at_eof` (as soon as the end arrived),
//! `lines()`, `set_limit`, and the
//! cancel-safety of every method, case by case and randomized over seeds, on TCP
//! and Unix connections.

mod support;

use std::time::Duration;

use ringloop::net::{ReadUntilError, StreamReader, DEFAULT_LIMIT};
use support::net::resetting_tcp_pair;
use support::streams::{fill, overrun, stream_pair, Kind};
use support::{next, step, Rng};

/// A timeout that cancels a read still waiting for bytes.
const SHORT: Duration = Duration::from_millis(20);

fn incomplete(r: Result<Vec<u8>, ReadUntilError>) -> ringloop::net::IncompleteReadError {
    match r {
        Err(ReadUntilError::Incomplete(e)) => e,
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

/// Asserts that `reader`'s next call of `read` is still waiting after [`SHORT`].
async fn assert_read_waits(reader: &mut StreamReader) {
    let r = ringloop::wait_for(SHORT, reader.read(100)).await;
    assert!(r.is_err(), "read returned {r:?} with nothing sent");
}

matrix_test! {
    fn read_returns_what_is_buffered_up_to_n(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                assert!(!reader.at_eof());
                peer.send(b"hello world").await;
                fill(&mut reader, 11).await;
                assert_eq!(reader.read(0).await.unwrap(), b"");
                assert_eq!(reader.read(5).await.unwrap(), b"hello");
                assert_eq!(reader.buffered(), 6);
                // Only what is buffered, though more was asked for.
                assert_eq!(reader.read(100).await.unwrap(), b" world");
                assert_eq!(reader.buffered(), 0);
                // Nothing buffered: read waits for the next receive.
                assert_read_waits(&mut reader).await;
                let sender = ringloop::spawn(async move {
                    ringloop::sleep(SHORT).await;
                    peer.send(b"late").await;
                    peer
                });
                assert_eq!(reader.read(100).await.unwrap(), b"late");
                let peer = sender.await.unwrap();
                peer.send(b"tail").await;
                peer.shutdown_write();
                assert_eq!(reader.read(2).await.unwrap(), b"ta");
                assert!(!reader.at_eof(), "bytes are left");
                assert_eq!(reader.read(100).await.unwrap(), b"il");
                // The end of the stream: empty reads, as often as asked.
                assert_eq!(reader.read(100).await.unwrap(), b"");
                assert!(reader.at_eof());
                assert_eq!(reader.read(100).await.unwrap(), b"");
                assert_eq!(reader.read(0).await.unwrap(), b"");
            });
        }
    }
}

matrix_test! {
    fn read_to_end_collects_every_piece(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                let data = support::pattern(300_000, 7);
                let sent = data.clone();
                let sender = ringloop::spawn(async move {
                    for piece in sent.chunks(40_000) {
                        peer.send(piece).await;
                        ringloop::sleep(Duration::from_millis(2)).await;
                    }
                    peer.shutdown_write();
                    peer
                });
                let got = ringloop::wait_for(step(), reader.read_to_end()).await.unwrap().unwrap();
                assert!(got == data, "read_to_end gave {} of {} bytes, or out of order", got.len(), data.len());
                assert!(reader.at_eof());
                assert_eq!(reader.read_to_end().await.unwrap(), b"");
                drop(sender.await.unwrap());
            });
        }
    }
}

matrix_test! {
    fn readline_gives_the_last_line_without_newline_then_empty(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"one\ntwo\n\nla").await;
                let sender = ringloop::spawn(async move {
                    ringloop::sleep(SHORT).await;
                    peer.send(b"st").await;
                    peer.shutdown_write();
                    peer
                });
                assert_eq!(reader.readline().await.unwrap(), b"one\n");
                assert_eq!(reader.readline().await.unwrap(), b"two\n");
                assert_eq!(reader.readline().await.unwrap(), b"\n");
                assert_eq!(reader.readline().await.unwrap(), b"last");
                assert!(reader.at_eof());
                assert_eq!(reader.readline().await.unwrap(), b"");
                assert_eq!(reader.readline().await.unwrap(), b"");
                drop(sender.await.unwrap());
            });
        }
    }
}

matrix_test! {
    fn readexactly_is_exact_and_gives_the_partial_bytes_at_eof(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"0123456789").await;
                assert_eq!(reader.readexactly(0).await.unwrap(), b"");
                assert_eq!(reader.readexactly(4).await.unwrap(), b"0123");
                // More than one receive's worth, in pieces.
                let big = support::pattern(200_000, 3);
                let sent = big.clone();
                let sender = ringloop::spawn(async move {
                    for piece in sent.chunks(30_000) {
                        peer.send(piece).await;
                        ringloop::sleep(Duration::from_millis(1)).await;
                    }
                    peer
                });
                assert_eq!(reader.readexactly(6).await.unwrap(), b"456789");
                let got = reader.readexactly(big.len()).await.unwrap();
                assert!(got == big, "readexactly(200_000) gave other bytes");
                let peer = sender.await.unwrap();
                assert_eq!(reader.buffered(), 0);

                // The stream ends first: the partial bytes and what was expected.
                peer.send(b"abc").await;
                peer.shutdown_write();
                let e = reader.readexactly(5).await.unwrap_err();
                assert_eq!(e.partial, b"abc");
                assert_eq!(e.expected, Some(5));
                assert!(e.error.is_none(), "{e:?}");
                assert_eq!(e.to_string(), "3 bytes read on 5 expected bytes");
                assert!(reader.at_eof());
                let e = reader.readexactly(1).await.unwrap_err();
                assert_eq!((e.partial.len(), e.expected), (0, Some(1)));
                let io = std::io::Error::from(e);
                assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
                // Zero bytes are always there.
                assert_eq!(reader.readexactly(0).await.unwrap(), b"");
            });
        }
    }
}

matrix_test! {
    fn an_io_error_keeps_the_partial_bytes(mode) {
        mode.run(async {
            // readexactly: the peer resets the connection after 4 of 10 bytes.
            let (resetting, other) = resetting_tcp_pair().await;
            let (mut reader, _writer) = other.into_streams();
            resetting.write_all(b"part".to_vec()).await.0.unwrap();
            fill(&mut reader, 4).await;
            drop(resetting);
            let e = ringloop::wait_for(step(), reader.readexactly(10)).await.unwrap().unwrap_err();
            assert_eq!(e.partial, b"part");
            assert_eq!(e.expected, Some(10));
            let error = e.error.as_ref().expect("an I/O error, not the end of the stream");
            assert_eq!(error.raw_os_error(), Some(libc::ECONNRESET), "{error}");
            assert_eq!(std::io::Error::from(e).raw_os_error(), Some(libc::ECONNRESET));
            // The error was reported; the stream is over, with that error (not a
            // clean end), every time.
            for _ in 0..2 {
                let after = ringloop::wait_for(step(), reader.read(10)).await.unwrap();
                let after = after.expect_err("a reset stream ends with its error");
                assert_eq!(after.raw_os_error(), Some(libc::ECONNRESET));
            }
            assert!(!reader.at_eof());
            assert_eq!(reader.exception().and_then(|e| e.raw_os_error()), Some(libc::ECONNRESET));

            // readuntil and readline: the same, the partial bytes in the error.
            for line in [false, true] {
                let (resetting, other) = resetting_tcp_pair().await;
                let (mut reader, _writer) = other.into_streams();
                resetting.write_all(b"no separator".to_vec()).await.0.unwrap();
                fill(&mut reader, 12).await;
                drop(resetting);
                let r = if line {
                    ringloop::wait_for(step(), reader.readline()).await.unwrap()
                } else {
                    ringloop::wait_for(step(), reader.readuntil(b"||")).await.unwrap()
                };
                let e = incomplete(r);
                assert_eq!(e.partial, b"no separator", "readline: {line}");
                assert_eq!(e.expected, None);
                assert_eq!(e.error.map(|e| e.raw_os_error()), Some(Some(libc::ECONNRESET)));
            }
        });
    }
}

matrix_test! {
    fn readuntil_finds_a_separator_split_across_receives(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                // One call, the peer writing three pieces apart.
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                let sender = ringloop::spawn(async move {
                    for piece in [&b"ab"[..], b"c|", b"|d"] {
                        peer.send(piece).await;
                        ringloop::sleep(Duration::from_millis(10)).await;
                    }
                    peer.shutdown_write();
                });
                assert_eq!(reader.readuntil(b"||").await.unwrap(), b"abc||");
                let e = incomplete(reader.readuntil(b"||").await);
                assert_eq!((e.partial.as_slice(), e.expected), (&b"d"[..], None));
                assert!(e.error.is_none());
                assert!(reader.at_eof());
                sender.await.unwrap();

                // Each piece in the buffer before the next is sent (the search
                // resumes where it stopped, minus a separator's length).
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                for (piece, buffered) in [(&b"ab"[..], 2), (b"c|", 4)] {
                    peer.send(piece).await;
                    fill(&mut reader, buffered).await;
                    let r = ringloop::wait_for(SHORT, reader.readuntil(b"||")).await;
                    assert!(r.is_err(), "found a separator in {buffered} bytes: {r:?}");
                }
                peer.send(b"|d").await;
                assert_eq!(reader.readuntil(b"||").await.unwrap(), b"abc||");
                // A three-byte separator, one byte per receive.
                for (piece, buffered) in [(&b"x<"[..], 3), (b"=", 4)] {
                    peer.send(piece).await;
                    fill(&mut reader, buffered).await;
                    let r = ringloop::wait_for(SHORT, reader.readuntil(b"<=>")).await;
                    assert!(r.is_err(), "found a separator in {buffered} bytes: {r:?}");
                }
                peer.send(b">y<=").await;
                assert_eq!(reader.readuntil(b"<=>").await.unwrap(), b"dx<=>");
                fill(&mut reader, 3).await;
                peer.send(b">").await;
                assert_eq!(reader.readuntil(b"<=>").await.unwrap(), b"y<=>");
            });
        }
    }
}

matrix_test! {
    fn readuntil_at_eof_gives_every_remaining_byte(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"first|no separator here").await;
                peer.shutdown_write();
                assert_eq!(reader.readuntil(b"|").await.unwrap(), b"first|");
                let e = incomplete(reader.readuntil(b"|").await);
                assert_eq!(e.partial, b"no separator here");
                assert_eq!((e.expected, e.error.is_none()), (None, true));
                assert_eq!(
                    ReadUntilError::Incomplete(e).to_string(),
                    "17 bytes read before the end of the stream"
                );
                assert!(reader.at_eof());
                assert_eq!(incomplete(reader.readuntil(b"|").await).partial, b"");
            });
        }
    }
}

matrix_test! {
    fn at_eof_once_the_end_has_arrived(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"a\nb\n").await;
                peer.shutdown_write();
                assert_eq!(reader.readline().await.unwrap(), b"a\n");
                assert_eq!(reader.readline().await.unwrap(), b"b\n");
                // The end arrived behind the last bytes: known without a read, on
                // every driver (on the multishot path once its completion is in, a
                // loop turn or so later; elsewhere the kernel is asked).
                let known = support::sleep_until_cond(step(), || reader.at_eof()).await;
                assert!(known, "{kind:?}: at_eof stays false");
                assert_eq!(reader.read(10).await.unwrap(), b"");
                assert!(reader.at_eof());

                // Never before the bytes are read.
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"a\nb\n").await;
                peer.shutdown_write();
                assert_eq!(reader.readline().await.unwrap(), b"a\n");
                ringloop::sleep(Duration::from_millis(10)).await;
                assert!(!reader.at_eof());
                assert_eq!(reader.buffered(), 2);

                // Not while the peer is only quiet, nor while bytes wait in the
                // kernel unread; then as soon as the peer closes.
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"a\n").await;
                assert_eq!(reader.readline().await.unwrap(), b"a\n");
                ringloop::sleep(Duration::from_millis(10)).await;
                assert!(!reader.at_eof(), "{kind:?}: a quiet peer is not an end");
                peer.send(b"b").await;
                peer.shutdown_write();
                ringloop::sleep(Duration::from_millis(10)).await;
                assert!(!reader.at_eof(), "{kind:?}: a byte waits before the end");
                assert_eq!(reader.read(10).await.unwrap(), b"b");
                let known = support::sleep_until_cond(step(), || reader.at_eof()).await;
                assert!(known, "{kind:?}: at_eof stays false after the last byte");
            });
        }
    }
}

matrix_test! {
    fn at_eof_is_false_for_a_reset_and_the_reset_is_kept(mode) {
        mode.run(async {
            // The peer resets the connection after the reader has read everything:
            // at_eof may be the first to meet the reset (the kernel reports it once);
            // it is no clean end, and the next read still ends with it.
            let (resetting, other) = resetting_tcp_pair().await;
            let (mut reader, _writer) = other.into_streams();
            resetting.write_all(b"a\n".to_vec()).await.0.unwrap();
            assert_eq!(reader.readline().await.unwrap(), b"a\n");
            drop(resetting);
            for _ in 0..20 {
                assert!(!reader.at_eof(), "a reset is not the end of the stream");
                ringloop::sleep(Duration::from_millis(1)).await;
            }
            let after = ringloop::wait_for(step(), reader.read(10)).await.unwrap();
            let after = after.expect_err("a reset stream ends with its error");
            assert_eq!(after.raw_os_error(), Some(libc::ECONNRESET));
            assert!(!reader.at_eof());
        });
    }
}

matrix_test! {
    fn readuntil_past_the_limit_leaves_the_data_buffered(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                reader.set_limit(8);
                assert_eq!(reader.limit(), 8);

                // Found, but further than the limit.
                peer.send(b"0123456789||rest").await;
                fill(&mut reader, 16).await;
                assert_eq!(overrun(reader.readuntil(b"||").await), 10);
                assert_eq!(reader.buffered(), 16, "readuntil consumed data");
                assert_eq!(overrun(reader.readuntil(b"||").await), 10, "again");
                assert_eq!(reader.readexactly(16).await.unwrap(), b"0123456789||rest");

                // Not found within the limit: `consumed` counts the buffered bytes
                // where no separator starts (asyncio's: all but the last one here).
                peer.send(b"0123456789abc").await;
                fill(&mut reader, 13).await;
                assert_eq!(overrun(reader.readuntil(b"||").await), 12);
                assert_eq!(reader.buffered(), 13);
                assert_eq!(reader.readexactly(13).await.unwrap(), b"0123456789abc");

                // Not found, the bytes coming in two receives while readuntil waits.
                let sender = ringloop::spawn(async move {
                    peer.send(b"01234").await;
                    ringloop::sleep(SHORT).await;
                    peer.send(b"56789").await;
                    peer
                });
                let consumed = overrun(ringloop::wait_for(step(), reader.readuntil(b"|")).await.unwrap());
                assert_eq!(consumed, 10);
                let peer = sender.await.unwrap();
                assert_eq!(reader.read(100).await.unwrap(), b"0123456789");

                // At the limit exactly is within it, as in asyncio.
                peer.send(b"01234567||").await;
                assert_eq!(reader.readuntil(b"||").await.unwrap(), b"01234567||");
                let e = overrun_error_text(&mut reader, &peer).await;
                assert_eq!(e, "separator not within the limit (9 bytes)");
            });
        }
    }
}

async fn overrun_error_text(reader: &mut StreamReader, peer: &support::streams::Peer) -> String {
    peer.send(b"012345678|").await;
    fill(reader, 10).await;
    let r = reader.readuntil(b"|").await;
    let text = r.as_ref().unwrap_err().to_string();
    let io = std::io::Error::from(r.unwrap_err());
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(reader.read(100).await.unwrap(), b"012345678|");
    text
}

matrix_test! {
    fn readline_drops_the_overlong_line(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                reader.set_limit(8);

                // The newline is found past the limit: the line and its newline go.
                peer.send(b"0123456789\nnext\n").await;
                fill(&mut reader, 16).await;
                assert_eq!(overrun(reader.readline().await), 10);
                assert_eq!(reader.buffered(), 5);
                assert_eq!(reader.readline().await.unwrap(), b"next\n");

                // No newline within the limit: everything buffered goes, and the
                // rest of the long line, when it comes, is read as a line (asyncio).
                peer.send(b"0123456789").await;
                fill(&mut reader, 10).await;
                assert_eq!(overrun(reader.readline().await), 10);
                assert_eq!(reader.buffered(), 0);
                peer.send(b"ab\nnext\n").await;
                assert_eq!(reader.readline().await.unwrap(), b"ab\n");
                assert_eq!(reader.readline().await.unwrap(), b"next\n");

                // A line of exactly the limit, newline excluded, is fine.
                peer.send(b"01234567\n").await;
                assert_eq!(reader.readline().await.unwrap(), b"01234567\n");
            });
        }
    }
}

matrix_test! {
    fn an_empty_separator_is_an_error(mode) {
        mode.run(async {
            let (peer, mut reader, _writer) = stream_pair(Kind::Unix).await;
            peer.send(b"data").await;
            fill(&mut reader, 4).await;
            let e = incomplete(reader.readuntil(b"").await);
            assert!(e.partial.is_empty());
            let error = e.error.expect("an error");
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(reader.buffered(), 4, "nothing consumed");
            assert_eq!(reader.read(10).await.unwrap(), b"data");
        });
    }
}

matrix_test! {
    fn lines_is_a_stream_of_lines(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                peer.send(b"a\nbb\n").await;
                let sender = ringloop::spawn(async move {
                    ringloop::sleep(SHORT).await;
                    peer.send(b"0123456789\nccc\nla").await;
                    ringloop::sleep(SHORT).await;
                    peer.send(b"st").await;
                    peer.shutdown_write();
                });
                reader.set_limit(5);
                let mut got = Vec::new();
                let mut lines = reader.lines();
                while let Some(line) = next(&mut lines).await {
                    got.push(match line {
                        Ok(line) => String::from_utf8(line).unwrap(),
                        Err(e) => format!("error: {e}"),
                    });
                }
                assert!(next(&mut lines).await.is_none(), "the stream ended");
                assert_eq!(
                    got,
                    [
                        "a\n",
                        "bb\n",
                        "error: separator not within the limit (10 bytes)",
                        "ccc\n",
                        "last",
                    ]
                );
                assert!(reader.at_eof());
                sender.await.unwrap();
            });
        }
    }
}

matrix_test! {
    fn lines_search_each_line_from_its_start(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                // A line found after a wait, taken whole: the next search starts
                // at the next line's first byte, not where the last one stopped.
                let (peer, mut reader, _writer) = stream_pair(kind).await;
                let mut lines = reader.lines();
                peer.send(b"abc").await;
                assert!(ringloop::wait_for(SHORT, next(&mut lines)).await.is_err());
                peer.send(b"\n").await;
                let line = ringloop::wait_for(step(), next(&mut lines)).await.unwrap();
                assert_eq!(line.unwrap().unwrap(), b"abc\n");
                peer.send(b"x\ny\n").await;
                peer.shutdown_write();
                let mut got = Vec::new();
                while let Some(line) = next(&mut lines).await {
                    got.push(line.unwrap());
                }
                assert_eq!(got, [b"x\n".to_vec(), b"y\n".to_vec()]);
            });
        }
    }
}

matrix_test! {
    fn set_limit_changes_what_readline_accepts(mode) {
        mode.run(async {
            let (peer, mut reader, _writer) = stream_pair(Kind::Tcp).await;
            assert_eq!(reader.limit(), DEFAULT_LIMIT);
            assert_eq!(DEFAULT_LIMIT, 64 * 1024);
            let mut line = vec![b'x'; 100_000];
            line.push(b'\n');
            peer.send(&line).await;
            fill(&mut reader, line.len()).await;
            assert_eq!(overrun(reader.readline().await), 100_000);
            assert_eq!(reader.buffered(), 0);
            reader.set_limit(200_000);
            peer.send(&line).await;
            assert!(reader.readline().await.unwrap() == line);
            reader.set_limit(0);
            assert_eq!(reader.limit(), 1, "the limit is at least 1");
            peer.send(b"x\n").await;
            assert_eq!(reader.readline().await.unwrap(), b"x\n");
        });
    }
}

matrix_test! {
    fn a_search_for_one_separator_does_not_hide_another(mode) {
        // A readuntil cancelled after searching the buffer for one separator; the
        // next call looks for another, which is in the part already searched.
        mode.run(async {
            let (peer, mut reader, _writer) = stream_pair(Kind::Unix).await;
            peer.send(b"ab\ncd|ef").await;
            fill(&mut reader, 8).await;
            let r = ringloop::wait_for(SHORT, reader.readuntil(b"||")).await;
            assert!(r.is_err(), "{r:?}");
            let line = ringloop::wait_for(Duration::from_secs(2), reader.readline()).await;
            assert_eq!(line.expect("readline missed the newline").unwrap(), b"ab\n");
            let r = ringloop::wait_for(Duration::from_secs(2), reader.readuntil(b"|")).await;
            assert_eq!(r.expect("readuntil missed the separator").unwrap(), b"cd|");
            // And from a longer separator to a shorter one within a line.
            peer.send(b"<=x\n").await;
            fill(&mut reader, 6).await;
            let r = ringloop::wait_for(SHORT, reader.readuntil(b"<=>")).await;
            assert!(r.is_err(), "{r:?}");
            let r = ringloop::wait_for(Duration::from_secs(2), reader.readuntil(b"=")).await;
            assert_eq!(r.expect("readuntil missed the separator").unwrap(), b"ef<=");
        });
    }
}

matrix_test! {
    fn every_method_is_cancel_safe(mode) {
        for kind in Kind::ALL {
            mode.run(async move {
                let (peer, mut reader, _writer) = stream_pair(kind).await;

                // read: cancelled while nothing is buffered.
                assert_read_waits(&mut reader).await;
                assert_read_waits(&mut reader).await;
                peer.send(b"abc").await;
                assert_eq!(reader.read(100).await.unwrap(), b"abc");

                // readexactly: cancelled twice with part of the bytes in.
                peer.send(b"0123").await;
                for _ in 0..2 {
                    let r = ringloop::wait_for(SHORT, reader.readexactly(10)).await;
                    assert!(r.is_err(), "{r:?}");
                }
                assert_eq!(reader.buffered(), 4);
                peer.send(b"456789xy").await;
                assert_eq!(reader.readexactly(10).await.unwrap(), b"0123456789");

                // readline: "xy" and "hel" before, "lo\n" after.
                peer.send(b"hel").await;
                for _ in 0..2 {
                    let r = ringloop::wait_for(SHORT, reader.readline()).await;
                    assert!(r.is_err(), "{r:?}");
                }
                peer.send(b"lo\n").await;
                assert_eq!(reader.readline().await.unwrap(), b"xyhello\n");

                // readuntil.
                peer.send(b"key=").await;
                let r = ringloop::wait_for(SHORT, reader.readuntil(b";")).await;
                assert!(r.is_err(), "{r:?}");
                peer.send(b"value;").await;
                assert_eq!(reader.readuntil(b";").await.unwrap(), b"key=value;");

                // lines(): a `next` dropped midway, then the line.
                peer.send(b"li").await;
                {
                    let mut lines = reader.lines();
                    let r = ringloop::wait_for(SHORT, next(&mut lines)).await;
                    assert!(r.is_err(), "{r:?}");
                    peer.send(b"ne\n").await;
                    assert_eq!(next(&mut lines).await.unwrap().unwrap(), b"line\n");
                }

                // read_to_end: cancelled twice, then the rest and the end.
                peer.send(b"the ").await;
                for _ in 0..2 {
                    let r = ringloop::wait_for(SHORT, reader.read_to_end()).await;
                    assert!(r.is_err(), "{r:?}");
                }
                peer.send(b"end").await;
                peer.shutdown_write();
                assert_eq!(reader.read_to_end().await.unwrap(), b"the end");
                assert!(reader.at_eof());
            });
        }
    }
}

/// One randomized schedule: the peer sends `data` in random chunks at random
/// moments; the reader makes random calls with random timeouts. Returns what the
/// reader got, in order, and how many calls were cancelled by their timeout.
async fn random_schedule(kind: Kind, seed: u64, data: Vec<u8>) -> (Vec<u8>, usize) {
    let (peer, mut reader, _writer) = stream_pair(kind).await;
    let mut rng = Rng::new(seed);
    let mut peer_rng = Rng::new(seed ^ 0xfeed);
    let sender = ringloop::spawn(async move {
        let mut at = 0;
        while at < data.len() {
            let n = (1 + peer_rng.below(1500) as usize).min(data.len() - at);
            peer.send(&data[at..at + n]).await;
            at += n;
            match peer_rng.below(8) {
                0 => {}
                1 => ringloop::yield_now().await,
                _ => ringloop::sleep(Duration::from_micros(peer_rng.below(3000))).await,
            }
        }
        peer.shutdown_write();
    });
    let mut got = Vec::new();
    let mut cancelled = 0;
    let seps: [&[u8]; 3] = [b"|", b"||", b"\n"];
    loop {
        let timeout = if rng.chance(10) {
            step()
        } else {
            Duration::from_micros(rng.below(1500))
        };
        let op = rng.below(12);
        let ended = match op {
            0..=2 => {
                let n = 1 + rng.below(4000) as usize;
                match ringloop::wait_for(timeout, reader.read(n)).await {
                    Err(_) => {
                        cancelled += 1;
                        false
                    }
                    Ok(r) => {
                        let v = r.unwrap();
                        assert!(v.len() <= n);
                        got.extend_from_slice(&v);
                        v.is_empty()
                    }
                }
            }
            3..=4 => {
                let n = 1 + rng.below(4000) as usize;
                match ringloop::wait_for(timeout, reader.readexactly(n)).await {
                    Err(_) => {
                        cancelled += 1;
                        false
                    }
                    Ok(Ok(v)) => {
                        assert_eq!(v.len(), n);
                        got.extend_from_slice(&v);
                        false
                    }
                    Ok(Err(e)) => {
                        assert!(e.error.is_none(), "seed {seed}: {e:?}");
                        assert!(e.partial.len() < n);
                        got.extend_from_slice(&e.partial);
                        true
                    }
                }
            }
            5..=7 => {
                let sep = seps[rng.below(3) as usize];
                match ringloop::wait_for(timeout, reader.readuntil(sep)).await {
                    Err(_) => {
                        cancelled += 1;
                        false
                    }
                    Ok(Ok(v)) => {
                        assert!(v.ends_with(sep), "seed {seed}");
                        let body = &v[..v.len() - sep.len()];
                        assert!(
                            !body.windows(sep.len()).any(|w| w == sep),
                            "seed {seed}: readuntil went past the first separator"
                        );
                        got.extend_from_slice(&v);
                        false
                    }
                    Ok(Err(ReadUntilError::Incomplete(e))) => {
                        assert!(e.error.is_none(), "seed {seed}: {e:?}");
                        got.extend_from_slice(&e.partial);
                        true
                    }
                    Ok(Err(e)) => panic!("seed {seed}: {e}"),
                }
            }
            8..=9 => match ringloop::wait_for(timeout, reader.readline()).await {
                Err(_) => {
                    cancelled += 1;
                    false
                }
                Ok(r) => {
                    let v = r.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                    got.extend_from_slice(&v);
                    v.is_empty()
                }
            },
            10 => {
                let mut lines = reader.lines();
                match ringloop::wait_for(timeout, next(&mut lines)).await {
                    Err(_) => {
                        cancelled += 1;
                        false
                    }
                    Ok(None) => true,
                    Ok(Some(r)) => {
                        got.extend_from_slice(&r.unwrap());
                        false
                    }
                }
            }
            _ => {
                if rng.chance(80) {
                    continue;
                }
                match ringloop::wait_for(timeout, reader.read_to_end()).await {
                    Err(_) => {
                        cancelled += 1;
                        false
                    }
                    Ok(r) => {
                        got.extend_from_slice(&r.unwrap());
                        true
                    }
                }
            }
        };
        if ended {
            break;
        }
    }
    assert!(reader.at_eof(), "seed {seed}");
    ringloop::wait_for(step(), sender).await.unwrap().unwrap();
    (got, cancelled)
}

matrix_test! {
    fn randomized_cancellations_lose_and_duplicate_nothing(mode) {
        let mut cancelled = 0;
        for seed in 0..16u64 {
            let kind = Kind::ALL[seed as usize % 2];
            let mut rng = Rng::new(seed.wrapping_mul(7919));
            let len = 10_000 + rng.below(40_000) as usize;
            // Mostly letters; separators and newlines often enough for short lines.
            let data: Vec<u8> = (0..len)
                .map(|_| match rng.below(40) {
                    0..=2 => b'|',
                    3..=4 => b'\n',
                    n => b'a' + (n as u8 % 26),
                })
                .collect();
            let (got, n) = mode.run(random_schedule(kind, seed, data.clone()));
            cancelled += n;
            if got != data {
                let first = got.iter().zip(&data).position(|(a, b)| a != b);
                panic!(
                    "seed {seed} ({kind:?}): got {} bytes of {}, first difference at {first:?}",
                    got.len(),
                    data.len()
                );
            }
        }
        // The schedules did cancel calls midway (else they test nothing).
        eprintln!("{cancelled} calls cancelled by their timeout");
        assert!(cancelled >= 200, "only {cancelled} calls were cancelled");
    }
}

matrix_test! {
    fn bytes_a_dropped_read_left_behind_come_first_in_the_streams(mode) {
        mode.run(async {
            use std::future::Future as _;
            use std::io::Write as _;
            use std::task::Poll;
            // A read of the socket is submitted, the peer's bytes arrive, and the
            // read is dropped: on io_uring the receive may complete with them
            // after all, and the driver keeps them for the socket's next read. A
            // stream reader made afterwards must read them first.
            let (peer, ours) = std::os::unix::net::UnixStream::pair().unwrap();
            let stream = ringloop::net::UnixStream::from_std(ours).unwrap();
            {
                let mut read = std::pin::pin!(stream.read(vec![0u8; 64]));
                std::future::poll_fn(|cx| {
                    assert!(read.as_mut().poll(cx).is_pending(), "nothing was sent yet");
                    Poll::Ready(())
                })
                .await;
                (&peer).write_all(b"first\n").unwrap();
            }
            (&peer).write_all(b"second\n").unwrap();
            let (mut reader, _writer) = stream.into_streams();
            let first = ringloop::wait_for(step(), reader.readline()).await;
            assert_eq!(first.expect("the first line never came").unwrap(), b"first\n");
            let second = ringloop::wait_for(step(), reader.readline()).await;
            assert_eq!(second.expect("the second line never came").unwrap(), b"second\n");
        });
    }
}
