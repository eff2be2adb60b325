//! `tokio::io` on ringloop sockets (feature `tokio-io`): a `tokio_util` codec over
//! a `TcpStream`, shutdown, errors after a reset, a read abandoned in flight, and
//! a large transfer through the halves, on every driver.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringloop::net::{TcpListener, TcpStream, UnixStream};
use support::net::{read_n, resetting_tcp_pair, tcp_pair, turns};
use support::{eventually, isolated, open_fds, pattern, scaled, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};

matrix_test! {
    /// A line echo server and client, both `Framed<TcpStream, LinesCodec>`.
    fn framed_lines_echo(mode) {
        mode.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ringloop::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut lines = Framed::new(stream, LinesCodec::new());
                let mut echoed = 0;
                while let Some(line) = lines.next().await {
                    lines.send(format!("echo {}", line.unwrap())).await.unwrap();
                    echoed += 1;
                }
                echoed
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut lines = Framed::new(stream, LinesCodec::new());
            within("the echo", async {
                for i in 0..200 {
                    lines.send(format!("line {i}")).await.unwrap();
                    assert_eq!(lines.next().await.unwrap().unwrap(), format!("echo line {i}"));
                }
            })
            .await;
            // Closing the sink shuts the write side down: the server sees the end.
            SinkExt::<String>::close(&mut lines).await.unwrap();
            assert!(lines.next().await.is_none(), "the server closed after the end");
            assert_eq!(within("the server", server).await, Ok(200));
        });
    }
}

matrix_test! {
    /// Bytes written arrive; `poll_shutdown` twice is `Ok` both times and the
    /// peer reads the end of stream after the bytes; a read after it sees EOF.
    fn write_shutdown_twice(mode) {
        mode.run(async {
            // The streams' own owned-buffer methods (`write_all`, `read`,
            // `shutdown`) shadow the extension traits': call those by trait.
            let (mut a, mut b) = tcp_pair().await;
            AsyncWriteExt::write_all(&mut a, b"hello, ").await.unwrap();
            AsyncWriteExt::write_all(&mut a, b"world").await.unwrap();
            a.flush().await.unwrap();
            AsyncWriteExt::shutdown(&mut a).await.unwrap();
            AsyncWriteExt::shutdown(&mut a).await.unwrap();
            let mut got = Vec::new();
            within("read_to_end", b.read_to_end(&mut got)).await.unwrap();
            assert_eq!(got, b"hello, world");
            assert_eq!(AsyncReadExt::read(&mut b, &mut [0; 8]).await.unwrap(), 0);
            // The other direction still works (half-close).
            AsyncWriteExt::write_all(&mut b, b"back").await.unwrap();
            let mut back = [0; 4];
            within("read back", a.read_exact(&mut back)).await.unwrap();
            assert_eq!(&back, b"back");

            let (mut u, mut v) = UnixStream::pair().unwrap();
            AsyncWriteExt::write_all(&mut u, b"unix").await.unwrap();
            AsyncWriteExt::shutdown(&mut u).await.unwrap();
            AsyncWriteExt::shutdown(&mut u).await.unwrap();
            let mut got = String::new();
            v.read_to_string(&mut got).await.unwrap();
            assert_eq!(got, "unix");
        });
    }
}

matrix_test! {
    /// After the peer reset the connection, a write fails (ECONNRESET or EPIPE)
    /// instead of succeeding silently, and a read reports the reset or the end.
    fn write_after_reset_is_err(mode) {
        mode.run(async {
            let (server, mut client) = resetting_tcp_pair().await;
            drop(server); // SO_LINGER 0: the close sends a reset
            let err = within("a failing write", async {
                loop {
                    match AsyncWriteExt::write(&mut client, b"after the reset").await {
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
            assert!(AsyncWriteExt::write(&mut client, b"again").await.is_err());
        });
    }
}

matrix_test! {
    /// A read abandoned while its poll is armed takes no bytes: the stream's next
    /// reader (an owned-buffer read, then the halves after `into_split` dropped the
    /// armed poll) gets every byte in order; afterwards no descriptor is left.
    fn dropped_read_loses_nothing(mode) {
        isolated(mode, module_path!(), || {
            let baseline = support::net::fd_baseline(mode);
            mode.run(async {
                let in_loop = open_fds();
                let (mut a, mut b) = tcp_pair().await;
                let mut buf = [0u8; 1024];
                // Nothing to read: the poll is armed, then the read future dropped.
                let read = AsyncReadExt::read(&mut a, &mut buf);
                assert!(ringloop::wait_for(Duration::from_millis(20), read).await.is_err());
                let data = pattern(300_000, 7);
                let writer = ringloop::spawn(async move {
                    AsyncWriteExt::write_all(&mut b, &data).await.unwrap();
                    b
                });
                // The first 1000 bytes through the owned-buffer API.
                let first = within("owned read", read_n(&a, 1000, 1000)).await;
                // One more byte through the compat read, then split.
                let mut small = [0u8; 1];
                a.read_exact(&mut small).await.unwrap();
                let (mut read, write_half) = a.into_split();
                let mut rest = vec![0u8; 300_000 - 1001];
                within("read_exact", read.read_exact(&mut rest)).await.unwrap();
                let mut all = first;
                all.push(small[0]);
                all.extend_from_slice(&rest);
                assert_eq!(all, pattern(300_000, 7));
                let b = within("writer", writer).await.unwrap();
                // Armed (nothing to read, the peer still open), abandoned, then the
                // halves dropped with the op armed: it is cancelled, the descriptor
                // closed.
                let pending = ringloop::wait_for(Duration::from_millis(20), read.read(&mut buf));
                assert!(pending.await.is_err());
                drop(read);
                drop(write_half);
                drop(b);
                turns(4).await;
                eventually("descriptors closed", || open_fds() <= in_loop).await;
            });
            assert_eq!(open_fds(), baseline);
        });
    }
}

matrix_test! {
    /// 32 MiB each way at once through the halves (the send buffers fill: every
    /// write and read waits for readiness many times), checked byte for byte.
    fn halves_bulk_both_ways(mode) {
        mode.run(async {
            let (a, b) = tcp_pair().await;
            let (a_read, a_write) = a.into_split();
            let (b_read, b_write) = b.into_split();
            const LEN: usize = 32 << 20;
            let send = |mut w: ringloop::compat::WriteHalf, seed: u32| {
                ringloop::spawn(async move {
                    let data = pattern(1 << 20, seed);
                    for _ in 0..LEN >> 20 {
                        w.write_all(&data).await.unwrap();
                    }
                    w.shutdown().await.unwrap();
                })
            };
            let recv = |mut r: ringloop::compat::ReadHalf, seed: u32| {
                ringloop::spawn(async move {
                    let want = pattern(1 << 20, seed);
                    let mut buf = vec![0u8; 64 << 10];
                    let mut got = 0usize;
                    loop {
                        let n = r.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        for (i, byte) in buf[..n].iter().enumerate() {
                            assert_eq!(*byte, want[(got + i) % (1 << 20)], "byte {}", got + i);
                        }
                        got += n;
                    }
                    got
                })
            };
            let tasks = (send(a_write, 1), send(b_write, 2), recv(b_read, 1), recv(a_read, 2));
            let limit = scaled(Duration::from_secs(60));
            let (s1, s2, r1, r2) = ringloop::wait_for(limit, async {
                ringloop::gather!(tasks.0, tasks.1, tasks.2, tasks.3).await
            })
            .await
            .expect("the transfer finished");
            s1.unwrap();
            s2.unwrap();
            assert_eq!((r1, r2), (Ok(LEN), Ok(LEN)));
        });
    }
}

matrix_test! {
    /// The asyncio streams as tokio I/O: lines through `FramedRead` on a
    /// `StreamReader` and `FramedWrite` on a `StreamWriter`; 4 MiB through the
    /// writer's bounded buffer, flushed, shut down twice, read back through
    /// `AsyncBufRead`.
    fn asyncio_streams_as_tokio_io(mode) {
        use tokio::io::AsyncBufReadExt;
        use tokio_util::codec::{FramedRead, FramedWrite};
        mode.run(async {
            let (a, b) = tcp_pair().await;
            let (a_reader, a_writer) = a.into_streams();
            let (b_reader, b_writer) = b.into_streams();
            let mut lines_out = FramedWrite::new(a_writer, LinesCodec::new());
            let mut lines_in = FramedRead::new(b_reader, LinesCodec::new());
            for i in 0..100 {
                lines_out.send(format!("line {i}")).await.unwrap();
            }
            for i in 0..100 {
                let line = within("a line", lines_in.next()).await.unwrap().unwrap();
                assert_eq!(line, format!("line {i}"));
            }
            let mut writer = b_writer;
            let mut reader = a_reader;
            let data = pattern(4 << 20, 9);
            let send = ringloop::spawn({
                let data = data.clone();
                async move {
                    writer.write_all(&data).await.unwrap();
                    writer.write_all(b"\nlast line\n").await.unwrap();
                    writer.flush().await.unwrap();
                    assert_eq!(writer.buffered(), 0, "flushed: the kernel has every byte");
                    writer.shutdown().await.unwrap();
                    writer.shutdown().await.unwrap();
                    assert!(writer.write_all(b"late").await.is_err(), "after the shutdown");
                }
            });
            let mut got = vec![0u8; data.len()];
            within("read_exact", reader.read_exact(&mut got)).await.unwrap();
            assert!(got == data, "the bytes differ");
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(line, "\n");
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            assert_eq!(line, "last line\n");
            assert_eq!(reader.fill_buf().await.unwrap(), b"", "the end");
            within("sender", send).await.unwrap();
            drop(lines_out);
        });
    }
}

matrix_test! {
    /// A `StreamWriter` whose peer reset the connection: the error comes back
    /// from a later `poll_write` or from `poll_flush`, never lost.
    fn stream_writer_reports_a_reset(mode) {
        mode.run(async {
            let (server, client) = resetting_tcp_pair().await;
            let (_reader, mut writer) = client.into_streams();
            drop(server);
            let err = within("an error", async {
                loop {
                    if let Err(e) = writer.write_all(&[1u8; 4096]).await {
                        break e;
                    }
                    if let Err(e) = writer.flush().await {
                        break e;
                    }
                    ringloop::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            assert!(
                matches!(err.raw_os_error(), Some(libc::ECONNRESET) | Some(libc::EPIPE)),
                "{err:?}"
            );
            assert!(writer.flush().await.is_err(), "the error stays");
        });
    }
}

/// Polls a read on `a` once, which arms its readiness op (nothing to read yet).
async fn arm(a: &mut UnixStream) {
    std::future::poll_fn(|cx| {
        let mut space = [0u8; 16];
        let mut buf = tokio::io::ReadBuf::new(&mut space);
        let polled = tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut *a), cx, &mut buf);
        assert!(polled.is_pending(), "nothing to read yet");
        std::task::Poll::Ready(())
    })
    .await
}

matrix_test! {
    /// A read armed on one runtime (left idle, or dropped), then made on another
    /// runtime of the same thread: the second runtime's read gets the bytes (the
    /// first's op, which would never wake it, is dropped and the call made again).
    fn read_armed_on_another_runtime_of_the_thread(mode) {
        for drop_first in [false, true] {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let first = mode.runtime();
            first.block_on(arm(&mut a));
            let kept = if drop_first {
                drop(first);
                None
            } else {
                Some(first)
            };
            let got = mode.run(async {
                AsyncWriteExt::write_all(&mut b, b"hello").await.unwrap();
                let mut buf = [0u8; 16];
                let n = within("the read", AsyncReadExt::read(&mut a, &mut buf)).await.unwrap();
                buf[..n].to_vec()
            });
            assert_eq!(got, b"hello", "dropped first: {drop_first}");
            drop(kept);
        }
    }
}

matrix_test! {
    /// A stream dropped, from another runtime of the thread, while a read poll
    /// armed on an idle runtime holds its descriptor: the poll is cancelled at once
    /// and the peer reads the end of stream.
    fn dropped_after_arming_on_an_idle_runtime_closes(mode) {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let idle = mode.runtime();
        idle.block_on(arm(&mut a));
        let n = mode.run(async move {
            drop(a);
            let mut buf = [0u8; 8];
            within("the end of stream", AsyncReadExt::read(&mut b, &mut buf)).await.unwrap()
        });
        assert_eq!(n, 0, "the peer reads the end of stream");
        drop(idle);
    }
}

matrix_test! {
    /// A `WriteHalf` dropped while its `ReadHalf` lives: the peer reads the end of
    /// stream, and its reply still reaches the read half (tokio's behaviour).
    fn dropping_the_write_half_shuts_down_writing(mode) {
        mode.run(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (mut read, write) = a.into_split();
            drop(write);
            let mut all = Vec::new();
            within("the end of stream", AsyncReadExt::read_to_end(&mut b, &mut all)).await.unwrap();
            assert!(all.is_empty());
            AsyncWriteExt::write_all(&mut b, b"bye").await.unwrap();
            let mut reply = [0u8; 3];
            within("the reply", read.read_exact(&mut reply)).await.unwrap();
            assert_eq!(&reply, b"bye");
        });
    }
}
