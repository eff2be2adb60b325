//! `futures::io` on ringloop sockets (feature `futures-io`): reads and writes,
//! `poll_close` twice, a copy through the halves, an error after a reset, on every
//! driver.

mod support;

use std::time::Duration;

use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use ringloop::net::UnixStream;
use support::net::{resetting_tcp_pair, tcp_pair};
use support::{pattern, within};

matrix_test! {
    /// Lines through a `futures::io::BufReader`, then `close` twice (`Ok` both
    /// times), the peer reading the end of stream after the bytes.
    fn lines_and_close_twice(mode) {
        mode.run(async {
            let (mut a, b) = tcp_pair().await;
            AsyncWriteExt::write_all(&mut a, b"one\ntwo\nthree").await.unwrap();
            a.close().await.unwrap();
            a.close().await.unwrap();
            let mut lines = BufReader::new(b).lines();
            let mut got = Vec::new();
            while let Some(line) = within("a line", futures_util::StreamExt::next(&mut lines)).await {
                got.push(line.unwrap());
            }
            assert_eq!(got, ["one", "two", "three"]);

            let (mut u, mut v) = UnixStream::pair().unwrap();
            AsyncWriteExt::write_all(&mut u, b"unix").await.unwrap();
            u.close().await.unwrap();
            let mut s = String::new();
            v.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, "unix");
        });
    }
}

matrix_test! {
    /// `futures::io::copy` of 8 MiB from one connection's read half into another's
    /// write half, vectored writes included, checked at the far end.
    fn copy_through_halves(mode) {
        mode.run(async {
            let (src, relay_in) = tcp_pair().await;
            let (relay_out, dst) = tcp_pair().await;
            let data = pattern(8 << 20, 3);
            let (_, mut src_write) = src.into_split();
            let feed = ringloop::spawn({
                let data = data.clone();
                async move {
                    let half = data.len() / 2;
                    let slices = [
                        std::io::IoSlice::new(&data[..half]),
                        std::io::IoSlice::new(&data[half..]),
                    ];
                    let mut sent = 0;
                    while sent < data.len() {
                        // Vectored first, then plain writes for whatever is left.
                        let n = if sent == 0 {
                            src_write.write_vectored(&slices).await.unwrap()
                        } else {
                            src_write.write(&data[sent..]).await.unwrap()
                        };
                        sent += n;
                    }
                    src_write.close().await.unwrap();
                }
            });
            let (relay_read, _) = relay_in.into_split();
            let (_, mut relay_write) = relay_out.into_split();
            let relay = ringloop::spawn(async move {
                let n = futures_util::io::copy(relay_read, &mut relay_write).await.unwrap();
                relay_write.close().await.unwrap();
                n
            });
            let (mut dst_read, _) = dst.into_split();
            let mut got = Vec::new();
            within("the copy", dst_read.read_to_end(&mut got)).await.unwrap();
            assert!(got == data, "the bytes differ");
            within("feed", feed).await.unwrap();
            assert_eq!(within("relay", relay).await, Ok(data.len() as u64));
        });
    }
}

matrix_test! {
    /// A write after the peer's reset is an `Err`, not a silent success.
    fn write_after_reset_is_err(mode) {
        mode.run(async {
            let (server, mut client) = resetting_tcp_pair().await;
            drop(server);
            let err = within("a failing write", async {
                loop {
                    match AsyncWriteExt::write(&mut client, b"x").await {
                        Ok(_) => ringloop::sleep(Duration::from_millis(5)).await,
                        Err(e) => break e,
                    }
                }
            })
            .await;
            assert!(
                matches!(err.raw_os_error(), Some(libc::ECONNRESET) | Some(libc::EPIPE)),
                "{err:?}"
            );
        });
    }
}

matrix_test! {
    /// The asyncio streams as `futures::io`: lines through the reader's own
    /// buffer (`AsyncBufRead`), a copy into a slice (`AsyncRead`), the writer's
    /// `write_all`, `flush` and `close` (twice).
    fn asyncio_streams_as_futures_io(mode) {
        mode.run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (_a_reader, mut writer) = a.into_streams();
            let (reader, _b_writer) = b.into_streams();
            let data = pattern(1 << 20, 5);
            let send = ringloop::spawn({
                let data = data.clone();
                async move {
                    writer.write_all(b"alpha\nbeta\n").await.unwrap();
                    writer.write_all(&data).await.unwrap();
                    writer.flush().await.unwrap();
                    // The writer's own `close` (asyncio's) shadows the trait's.
                    AsyncWriteExt::close(&mut writer).await.unwrap();
                    AsyncWriteExt::close(&mut writer).await.unwrap();
                }
            });
            let mut reader = reader;
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(line, "alpha\n");
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(line, "beta\n");
            let mut rest = Vec::new();
            let read = AsyncReadExt::read_to_end(&mut reader, &mut rest);
            within("read_to_end", read).await.unwrap();
            assert!(rest == data, "the bytes differ");
            within("sender", send).await.unwrap();
        });
    }
}
