//! A [`StreamReader`] without a transport, fed by the program, as asyncio's
//! `StreamReader()` is in protocol tests (CPython's `test_streams.py` cases, in
//! ringloop's terms): `feed_data`, `feed_eof`, a [`StreamFeeder`] feeding from
//! another task while a read waits, `set_exception`/`exception`, and `readuntil`
//! with several separators (3.13).

mod support;

use std::io;
use std::time::Duration;

use ringloop::net::{ReadUntilError, StreamReader};
use support::streams::overrun;

const DATA: &[u8] = b"line1\nline2\nline3\n";

/// Whether `fut` is still waiting after a few loop turns.
async fn waits<F: std::future::Future>(fut: F) -> bool {
    ringloop::wait_for(Duration::from_millis(20), fut)
        .await
        .is_err()
}

matrix_test! {
    fn fed_bytes_are_read_like_received_ones(mode) {
        mode.run(async {
            let mut reader = StreamReader::new();
            assert_eq!(reader.limit(), ringloop::net::DEFAULT_LIMIT);
            assert!(!reader.at_eof());
            reader.feed_data(DATA).unwrap();
            reader.feed_data(b"").unwrap();
            assert_eq!(reader.buffered(), DATA.len());
            assert_eq!(reader.read(0).await.unwrap(), b"");
            assert_eq!(reader.read(3).await.unwrap(), b"lin");
            assert_eq!(reader.readline().await.unwrap(), b"e1\n");
            assert_eq!(reader.readexactly(6).await.unwrap(), b"line2\n");
            // Nothing more fed: a read waits (and is cancel-safe).
            assert_eq!(reader.readline().await.unwrap(), b"line3\n");
            assert!(waits(reader.read(10)).await);
            reader.feed_data(b"last").unwrap();
            reader.feed_eof();
            assert!(!reader.at_eof());
            let e = reader.feed_data(b"more").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert_eq!(reader.read_to_end().await.unwrap(), b"last");
            assert!(reader.at_eof());
            assert_eq!(reader.read(10).await.unwrap(), b"");

            // readexactly at the end: what there was, in the error.
            let mut reader = StreamReader::with_limit(3);
            assert_eq!(reader.limit(), 3);
            reader.feed_data(b"chunk").unwrap();
            assert_eq!(reader.readexactly(5).await.unwrap(), b"chunk", "not limited");
            reader.feed_data(DATA).unwrap();
            reader.feed_eof();
            let e = reader.readexactly(2 * DATA.len()).await.unwrap_err();
            assert_eq!((e.partial.as_slice(), e.expected), (DATA, Some(2 * DATA.len())));
            assert!(e.error.is_none());
        });
    }
}

matrix_test! {
    fn a_feeder_wakes_a_waiting_read(mode) {
        mode.run(async {
            // readline waits across three feeds from another task.
            let mut reader = StreamReader::new();
            reader.feed_data(b"chunk1 ").unwrap();
            let feeder = reader.feeder();
            let feeding = ringloop::spawn(async move {
                ringloop::yield_now().await;
                feeder.feed_data(b"chunk2 ").unwrap();
                feeder.feed_data(b"chunk3 ").unwrap();
                ringloop::yield_now().await;
                feeder.feed_data(b"\n chunk4").unwrap();
                feeder
            });
            assert_eq!(reader.readline().await.unwrap(), b"chunk1 chunk2 chunk3 \n");
            let feeder = feeding.await.unwrap();
            assert_eq!(reader.buffered(), 7);

            // readexactly waits for enough; the rest stays buffered.
            let mut reader = StreamReader::new();
            let feeder = {
                let f = reader.feeder();
                drop(feeder);
                f
            };
            ringloop::spawn(async move {
                ringloop::yield_now().await;
                for _ in 0..3 {
                    feeder.feed_data(DATA).unwrap();
                }
                feeder.feed_eof();
                assert!(feeder.feed_data(b"late").is_err());
            });
            assert_eq!(reader.readexactly(2 * DATA.len()).await.unwrap(), [DATA, DATA].concat());
            assert_eq!(reader.read_to_end().await.unwrap(), DATA);
            assert!(reader.at_eof());
        });
    }
}

matrix_test! {
    fn set_exception_fails_every_read(mode) {
        mode.run(async {
            let mut reader = StreamReader::new();
            assert!(reader.exception().is_none());
            reader.feed_data(b"line\n").unwrap();
            assert_eq!(reader.read(2).await.unwrap(), b"li");
            reader.set_exception(io::Error::new(io::ErrorKind::InvalidData, "bad frame"));
            let e = reader.exception().unwrap();
            assert_eq!((e.kind(), e.to_string()), (io::ErrorKind::InvalidData, "bad frame".into()));
            // Every read fails at once, the buffered bytes left where they are.
            assert_eq!(reader.read(2).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
            assert_eq!(reader.read(0).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
            let e = reader.readexactly(2).await.unwrap_err();
            assert_eq!(e.error.unwrap().kind(), io::ErrorKind::InvalidData);
            assert!(matches!(
                reader.readline().await,
                Err(ReadUntilError::Incomplete(e)) if e.partial.is_empty() && e.error.is_some()
            ));
            assert!(reader.read_to_end().await.is_err());
            assert_eq!(reader.buffered(), 3);
            assert!(!reader.at_eof());

            // A read waiting when the exception is set fails with it.
            let mut reader = StreamReader::new();
            let feeder = reader.feeder();
            ringloop::spawn(async move {
                ringloop::yield_now().await;
                feeder.set_exception(io::Error::from(io::ErrorKind::ConnectionAborted));
            });
            match reader.readline().await {
                Err(ReadUntilError::Incomplete(e)) => {
                    assert_eq!(e.error.unwrap().kind(), io::ErrorKind::ConnectionAborted);
                }
                other => panic!("{other:?}"),
            }
            assert!(reader.exception().is_some());
        });
    }
}

matrix_test! {
    fn readuntil_with_several_separators(mode) {
        mode.run(async {
            let mut reader = StreamReader::new();
            reader.feed_data(b"line 1\nline 2\r").unwrap();
            assert_eq!(reader.readuntil_any(&[b"\r", b"\n"]).await.unwrap(), b"line 1\n");
            assert_eq!(reader.readuntil_any(&[b"\r", b"\n"]).await.unwrap(), b"line 2\r");
            assert_eq!(reader.buffered(), 0);

            // The match that ends first wins, even if it is the longer one.
            reader.feed_data(b"ABCDEFG").unwrap();
            assert_eq!(reader.readuntil_any(&[b"DEF", b"BCDE"]).await.unwrap(), b"ABCDE");
            assert_eq!(reader.read(10).await.unwrap(), b"FG");

            // Two ending at the same place: the shorter one is the match, and the
            // limit is checked against where it starts (the data stays).
            let mut reader = StreamReader::with_limit(3);
            reader.feed_data(b"some dataA").unwrap();
            assert_eq!(overrun(reader.readuntil_any(&[b"A", b"ome dataA"]).await), 9);
            assert_eq!(reader.buffered(), 10);

            // A buffer long enough for the shortest separator but not the longest:
            // the search resumes from the right place as bytes come.
            let mut reader = StreamReader::new();
            reader.feed_data(b"data").unwrap();
            let feeder = reader.feeder();
            ringloop::spawn(async move {
                ringloop::yield_now().await;
                feeder.feed_data(b"Z").unwrap();
                ringloop::yield_now().await;
                feeder.feed_data(b"Aaaa").unwrap();
            });
            let got = reader.readuntil_any(&[b"A", b"long sep"]).await.unwrap();
            assert_eq!(got, b"dataZA");
            assert_eq!(reader.read(10).await.unwrap(), b"aaa");

            // Not found within the limit: the bytes where no separator can start.
            let mut reader = StreamReader::with_limit(5);
            reader.feed_data(b"0123456789").unwrap();
            assert_eq!(overrun(reader.readuntil_any(&[b"|", b"<end>"]).await), 6);
            // At the end without one: everything, in `Incomplete`.
            reader.feed_eof();
            reader.set_limit(100);
            match reader.readuntil_any(&[b"|", b"<end>"]).await {
                Err(ReadUntilError::Incomplete(e)) => {
                    assert_eq!(e.partial, b"0123456789");
                    assert!(e.error.is_none());
                }
                other => panic!("{other:?}"),
            }

            // No separator, or an empty one: InvalidInput, nothing consumed.
            let mut reader = StreamReader::new();
            reader.feed_data(b"abc").unwrap();
            for seps in [&[][..], &[&b""[..], b"b"][..]] {
                match reader.readuntil_any(seps).await {
                    Err(ReadUntilError::Incomplete(e)) => {
                        assert_eq!(e.error.unwrap().kind(), io::ErrorKind::InvalidInput);
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(reader.buffered(), 3);
        });
    }
}
