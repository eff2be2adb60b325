//! The compat layer's readiness after a short transfer (`src/net/ready.rs`): a
//! read that drained the socket (fewer bytes than asked) makes the next read wait
//! for readiness instead of calling `recv` to get `EAGAIN`. These pin that the
//! wait is woken by bytes the peer sends later (soon after, or long after the wait
//! is armed) and by the end of stream; that a read which filled its buffer stays
//! ready (on epoll no new event would come for bytes already there); that an
//! empty buffer still reads 0 at once; and that writes through short sends
//! finish. On every driver, over TCP, a Unix stream and split halves (feature
//! `tokio-io`).

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use ringloop::net::{TcpStream, UnixStream};
use support::net::{tcp_pair, turns};
use support::{eventually, pattern, within};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Rounds of [`short_reads_then_later_data`].
const ROUNDS: usize = 40;

/// A reader task reads with a 256-byte buffer (each chunk is shorter: every read is
/// short) and records what it got; the writer sends chunk after chunk, in odd
/// rounds at once after the reader got the previous one (the bytes may arrive
/// before its wait is armed), in even rounds after a few loop turns (the reader is
/// parked in its wait). No read may finish before its bytes are sent, and every
/// chunk must arrive. Gives both streams back.
async fn short_reads_then_later_data<W, R>(mut w: W, mut r: R) -> (W, R)
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin + 'static,
{
    let got = Rc::new(RefCell::new(Vec::<Vec<u8>>::new()));
    let reader = ringloop::spawn({
        let got = got.clone();
        async move {
            for _ in 0..ROUNDS {
                let mut buf = [0u8; 256];
                let n = r.read(&mut buf).await.unwrap();
                assert!(n > 0, "an end of stream nobody sent");
                got.borrow_mut().push(buf[..n].to_vec());
            }
            r
        }
    });
    for i in 0..ROUNDS {
        let chunk = pattern(1 + i * 5, i as u32);
        w.write_all(&chunk).await.unwrap();
        eventually("the chunk read", || got.borrow().len() == i + 1).await;
        assert_eq!(got.borrow()[i], chunk, "round {i}");
        if i % 2 == 0 {
            turns(2).await;
            assert_eq!(got.borrow().len(), i + 1, "a read finished without bytes");
        }
    }
    let r = within("the reader", reader).await.unwrap();
    (w, r)
}

matrix_test! {
    /// Bytes sent after a short read wake the reader, round after round: TCP, a
    /// Unix stream, and the halves of a split TCP stream.
    fn data_after_a_short_read_wakes_the_reader(mode) {
        mode.run(async {
            let (a, b) = tcp_pair().await;
            let (_a, _b) = short_reads_then_later_data(a, b).await;
            let (u, v) = UnixStream::pair().unwrap();
            let (_u, _v) = short_reads_then_later_data(u, v).await;
            let (a, b) = tcp_pair().await;
            let (_a_read, a_write) = a.into_split();
            let (b_read, _b_write) = b.into_split();
            let (_a_write, _b_read) = short_reads_then_later_data(a_write, b_read).await;
        });
    }
}

matrix_test! {
    /// Reads that fill their buffer leave the rest ready: 1000 bytes sent at once
    /// come back as ten full 100-byte reads, with no event in between; then 150 bytes as a full read and a short one; then, after the
    /// short one, the end of stream, twice.
    fn full_reads_stay_ready(mode) {
        mode.run(async {
            let (mut a, mut b) = tcp_pair().await;
            // First a read that waits (on epoll, the descriptor is then in the
            // epoll set, where "not ready" is recorded), and is short.
            let first = ringloop::spawn(async move {
                let n = AsyncReadExt::read(&mut b, &mut [0u8; 8]).await.unwrap();
                (n, b)
            });
            turns(2).await;
            AsyncWriteExt::write_all(&mut a, b"x").await.unwrap();
            let (n, mut b) = within("the first read", first).await.unwrap();
            assert_eq!(n, 1);
            let data = pattern(1000, 3);
            AsyncWriteExt::write_all(&mut a, &data).await.unwrap();
            // All 1000 bytes in the receive buffer before the first read.
            let mut all = [0u8; 1000];
            let mut peek = 0;
            eventually("the bytes arrived", || {
                peek = b.peek_sync(&mut all).unwrap_or(0);
                peek == 1000
            })
            .await;
            for i in 0..10 {
                let mut buf = [0u8; 100];
                let n = within("a full read", AsyncReadExt::read(&mut b, &mut buf)).await;
                assert_eq!(n.unwrap(), 100, "read {i}");
                assert_eq!(&buf[..], &data[i * 100..(i + 1) * 100]);
            }
            let more = pattern(150, 4);
            AsyncWriteExt::write_all(&mut a, &more).await.unwrap();
            let mut buf = [0u8; 100];
            let n = within("a full read", b.read_exact(&mut buf)).await.unwrap();
            assert_eq!((n, &buf[..]), (100, &more[..100]));
            let n = within("the short read", AsyncReadExt::read(&mut b, &mut buf)).await;
            assert_eq!((n.unwrap(), &buf[..50]), (50, &more[100..]));
            // Not ready now: an empty buffer still reads 0 at once.
            assert_eq!(AsyncReadExt::read(&mut b, &mut []).await.unwrap(), 0);
            AsyncWriteExt::shutdown(&mut a).await.unwrap();
            let n = within("the end", AsyncReadExt::read(&mut b, &mut buf)).await;
            assert_eq!(n.unwrap(), 0);
            let n = within("the end again", AsyncReadExt::read(&mut b, &mut buf)).await;
            assert_eq!(n.unwrap(), 0, "the end stays ready");
        });
    }
}

matrix_test! {
    /// Writes larger than the socket buffers (short sends, then `EAGAIN`) finish
    /// once the peer reads, from a writer task while the reader starts late; the
    /// bytes arrive whole and in order. TCP, then a Unix stream.
    fn short_sends_wait_for_room(mode) {
        mode.run(async {
            let (a, b) = tcp_pair().await;
            transfer(a, b).await;
            let (u, v) = UnixStream::pair().unwrap();
            transfer(u, v).await;
        });
    }
}

/// 4 MiB from `w` (in a task, in 64 KiB writes) to `r`, which starts reading
/// after a few loop turns, with a 10,000-byte buffer.
async fn transfer<W, R>(mut w: W, mut r: R)
where
    W: AsyncWrite + Unpin + 'static,
    R: AsyncRead + Unpin,
{
    let data = pattern(4 << 20, 7);
    let writer = ringloop::spawn({
        let data = data.clone();
        async move {
            for chunk in data.chunks(64 << 10) {
                w.write_all(chunk).await.unwrap();
            }
            w.shutdown().await.unwrap();
        }
    });
    turns(3).await;
    let mut got = Vec::with_capacity(data.len());
    within("the transfer", async {
        let mut buf = vec![0u8; 10_000];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        got == data,
        "the bytes differ ({} of {})",
        got.len(),
        data.len()
    );
    within("the writer", writer).await.unwrap();
}

/// `TcpStream` has no `peek` without a runtime op; this looks with `recv(MSG_PEEK)`.
trait PeekSync {
    fn peek_sync(&self, buf: &mut [u8]) -> std::io::Result<usize>;
}

impl PeekSync for TcpStream {
    fn peek_sync(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
        let n = unsafe {
            libc::recv(
                self.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
