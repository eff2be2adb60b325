//! The reader's flow control (`src/net/streams/receive.rs`): what a stream reader
//! holds, received and not yet read, stays below what its read asks for plus
//! 64 KiB, on every driver and whatever the timing. Measured with a counting
//! global allocator, each test alone in a child process, the senders being plain
//! threads that allocate nothing once started:
//!
//! * `readuntil` over a 10 MB line with the default 64 KiB limit: every
//!   `LimitOverrun` reports fewer than the limit + 64 KiB bytes, and the heap
//!   stays within the limit + 256 KiB;
//! * an echo server whose clients send and never read: the memory each
//!   connection costs once everything stalls is the writer's high-water mark,
//!   one echoed read, and the reader's bound (not megabytes).

mod support;

use std::io::Write;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ringloop::net::{
    start_server, ReadUntilError, StreamReader, StreamWriter, TcpStream, UnixStream,
    DEFAULT_HIGH_WATER, DEFAULT_LIMIT,
};
use support::alloc::Counting;
use support::streams::Kind;
use support::{in_child, step};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The documented bound: a reader holds fewer than `want + READ_AHEAD` bytes.
const READ_AHEAD: usize = 64 * 1024;
/// The bound on a reader's heap: what its read asks for plus 256 KiB.
const HEAP_SLACK: usize = 256 * 1024;

/// The sending end of a connection, for a thread.
enum StdPeer {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl StdPeer {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            StdPeer::Tcp(s) => s,
            StdPeer::Unix(s) => s,
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            StdPeer::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            StdPeer::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

/// A connection of `kind` between a blocking std socket and a ringloop reader.
fn connection(kind: Kind) -> (StdPeer, StreamReader, StreamWriter) {
    match kind {
        Kind::Tcp => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (accepted, _) = listener.accept().unwrap();
            let (reader, writer) = TcpStream::from_std(accepted).unwrap().into_streams();
            (StdPeer::Tcp(peer), reader, writer)
        }
        Kind::Unix => {
            let (peer, ours) = std::os::unix::net::UnixStream::pair().unwrap();
            let (reader, writer) = UnixStream::from_std(ours).unwrap().into_streams();
            (StdPeer::Unix(peer), reader, writer)
        }
    }
}

matrix_test! {
    fn readuntil_on_a_10_mb_line_holds_the_limit_and_a_little(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        const LINE: usize = 10 * 1024 * 1024;
        const CHUNK: usize = 64 * 1024;
        for kind in Kind::ALL {
            mode.run(async move {
                let (mut peer, mut reader, _writer) = connection(kind);
                let start = Arc::new(Barrier::new(2));
                let go = start.clone();
                let chunk = vec![b'x'; CHUNK];
                let sender = std::thread::spawn(move || {
                    peer.writer().write_all(b"!").unwrap();
                    go.wait();
                    for _ in 0..LINE / CHUNK {
                        peer.writer().write_all(&chunk).unwrap();
                    }
                    peer.writer().write_all(b"\nnext\n").unwrap();
                    peer.shutdown_write();
                });
                // The first receive of a runtime may allocate what every later one
                // shares (on io_uring with multishot receive, the 4 MiB pool).
                assert_eq!(reader.readexactly(1).await.unwrap(), b"!");
                let base = support::alloc::reset_peak();
                start.wait();
                let (mut overruns, mut max_consumed, mut skipped) = (0, 0, 0);
                let mut lines = Vec::new();
                loop {
                    let r = ringloop::wait_for(step(), reader.readuntil(b"\n")).await;
                    match r.expect("readuntil hangs") {
                        Err(ReadUntilError::LimitOverrun { consumed }) => {
                            overruns += 1;
                            max_consumed = max_consumed.max(consumed);
                            // readuntil leaves the data: skip it, 4 KiB at a time so
                            // that the copies handed out weigh little on the heap.
                            let mut left = consumed;
                            while left > 0 {
                                let n = left.min(4096);
                                assert_eq!(reader.readexactly(n).await.unwrap().len(), n);
                                left -= n;
                            }
                            skipped += consumed;
                        }
                        Ok(line) => lines.push(line),
                        Err(ReadUntilError::Incomplete(e)) => {
                            assert!(e.error.is_none() && e.partial.is_empty(), "{e}");
                            break;
                        }
                    }
                }
                sender.join().unwrap();
                let peak = support::alloc::peak() - base;
                println!(
                    "measured: {kind:?}: readuntil on a 10 MiB line: {overruns} overruns, the \
                     largest of {max_consumed} bytes; peak heap {peak} bytes above the baseline"
                );
                // The line came whole: the overruns' bytes, then the rest of it.
                assert_eq!(lines.last().map(|l| l.as_slice()), Some(&b"next\n"[..]));
                assert_eq!(lines.len(), 2, "{} lines", lines.len());
                assert_eq!(skipped + lines[0].len(), LINE + 1);
                let want = DEFAULT_LIMIT + 1;
                assert!(
                    max_consumed < want + READ_AHEAD,
                    "{max_consumed} bytes buffered at once"
                );
                assert!(peak < want + HEAP_SLACK, "the heap grew by {peak} bytes");
            });
        }
    }
}

/// The echo server of `examples/echo_server.rs`: whatever arrives goes back.
async fn echo(mut reader: StreamReader, writer: StreamWriter) {
    loop {
        let data = match reader.read(64 * 1024).await {
            Ok(data) if !data.is_empty() => data,
            _ => break,
        };
        if writer.write(&data).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
    writer.close();
    let _ = writer.wait_closed().await;
}

matrix_test! {
    fn an_echo_server_holds_little_for_clients_that_never_read(mode) {
        if in_child(mode, module_path!(), &[]) {
            return;
        }
        const PEERS: usize = 16;
        const CHUNK: usize = 64 * 1024;
        mode.run(async {
            let server = start_server(echo, "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            // One exchange first: what every connection shares is allocated then.
            let (mut r, w) = ringloop::net::open_connection(addr).await.unwrap();
            w.write(b"warm-up").unwrap();
            assert_eq!(r.readexactly(7).await.unwrap(), b"warm-up");
            drop((r, w));
            let chunk = vec![7u8; CHUNK];
            let mut peers = Vec::with_capacity(PEERS);
            ringloop::sleep(Duration::from_millis(20)).await;
            let base = support::alloc::current();
            for _ in 0..PEERS {
                let peer = std::net::TcpStream::connect(addr).unwrap();
                peer.set_nonblocking(true).unwrap();
                peers.push(peer);
            }
            // The clients send until nothing moves any more: the server's writer
            // waits in `drain`, its reader stops, and every kernel buffer between
            // them is full. Bounded in rounds and in time.
            let deadline = Instant::now() + Duration::from_secs(20);
            let (mut sent, mut still) = (0usize, 0);
            while still < 20 && Instant::now() < deadline {
                let mut moved = 0;
                for peer in &mut peers {
                    loop {
                        match peer.write(&chunk) {
                            Ok(n) => moved += n,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => panic!("a client's send failed: {e}"),
                        }
                    }
                }
                sent += moved;
                still = if moved == 0 { still + 1 } else { 0 };
                ringloop::sleep(Duration::from_millis(5)).await;
            }
            let per_connection = support::alloc::current().saturating_sub(base) / PEERS;
            println!(
                "measured: {PEERS} clients that never read sent {sent} bytes; the server \
                 holds {per_connection} bytes per connection"
            );
            // The writer: its high-water mark and one echoed read (64 KiB) past it,
            // in flight or buffered; the reader: its read (any byte) plus its bound.
            let bound = DEFAULT_HIGH_WATER + 2 * CHUNK + HEAP_SLACK;
            assert!(
                per_connection < bound,
                "{per_connection} bytes per connection (bound {bound})"
            );
            drop(peers);
            server.close();
            server.abort_clients();
        });
    }
}
