//! Socket errors are `Err`s, never panics or signals: connection refused (TCP, UDP,
//! a Unix listener with a full backlog), a peer reset while a read waits or with
//! unread data, a connection reset before it is accepted, and writes to a peer that
//! went away, which must give `EPIPE`/`ECONNRESET` and not kill the process with
//! `SIGPIPE` (checked in a child process that restores `SIGPIPE`'s default action).

mod support;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use support::net::{set_linger_zero, tcp_pair, turns, unused_port_addr};
use support::{is_child, matrix_test_name, run_child, within, CHILD_ENV};

matrix_test! {
    fn connection_refused(mode) {
        mode.run(async {
            let addr = unused_port_addr();
            let e = within("connect", TcpStream::connect(addr)).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
            // Every address is tried; the last error is reported.
            let two = [addr, unused_port_addr()];
            let e = within("connect to two", TcpStream::connect(&two[..])).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            // A refused address before a good one is skipped.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let good = listener.local_addr().unwrap();
            let both = [addr, good];
            let (client, accepted) = within("fallback", async {
                ringloop::gather!(TcpStream::connect(&both[..]), listener.accept()).await
            })
            .await;
            assert_eq!(client.unwrap().peer_addr().unwrap(), good);
            accepted.unwrap();
        });
    }
}

matrix_test! {
    fn udp_connection_refused(mode) {
        mode.run(async {
            // A connected UDP socket learns from the ICMP port-unreachable that
            // nothing listens: the next receive reports ECONNREFUSED, once.
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let closed_addr = closed.local_addr().unwrap();
            drop(closed);
            turns(1).await;
            socket.connect(closed_addr).await.unwrap();
            let (n, _) = socket.send(b"anyone?".to_vec()).await;
            assert_eq!(n.unwrap(), 7, "the send itself succeeds");
            let (res, _) = within("recv", socket.recv(Vec::with_capacity(16))).await;
            let e = res.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            // Reported once; the socket still works (here: the error is gone).
            assert!(socket.take_error().unwrap().is_none());
        });
    }
}

matrix_test! {
    fn peer_reset_while_a_read_waits(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            let server = Rc::new(server);
            let s = server.clone();
            let reader = ringloop::spawn(async move { s.read(Vec::with_capacity(64)).await });
            turns(2).await;
            assert!(!reader.is_finished());
            // SO_LINGER 0, then close: the kernel sends a reset instead of a FIN.
            set_linger_zero(client.as_raw_fd());
            drop(client);
            let (res, _) = within("the waiting read", reader).await.unwrap();
            let e = res.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            // Linux reports the reset once; after it, reads see the end of stream.
            let (n, _) = within("the next read", server.read(Vec::with_capacity(64))).await;
            assert_eq!(n.unwrap(), 0);
            let (n, _) = within("readv", server.readv(vec![Vec::with_capacity(64)])).await;
            assert_eq!(n.unwrap(), 0);
        });
    }
}

matrix_test! {
    fn peer_reset_with_unread_data(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            client.write_all(b"unread".to_vec()).await.0.unwrap();
            turns(1).await;
            set_linger_zero(client.as_raw_fd());
            drop(client);
            turns(2).await;
            ringloop::sleep(Duration::from_millis(10)).await;
            // Linux drops nothing that already arrived: the bytes first, then the reset
            // (once), then the end of stream.
            let (n, buf) = within("read the data", server.read(Vec::with_capacity(64))).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (6, &b"unread"[..]));
            let (res, _) = within("read the reset", server.read(Vec::with_capacity(64))).await;
            let e = res.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            let (n, _) = within("read EOF", server.read(Vec::with_capacity(64))).await;
            assert_eq!(n.unwrap(), 0);
        });
    }
}

matrix_test! {
    fn a_connection_reset_before_accept(mode) {
        mode.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Get the accept machinery going (on io_uring 5.19+: the listener's
            // multishot accept is armed and keeps accepting ahead of the caller).
            let (first, accepted) = within("first", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            let (_first, _accepted) = (first.unwrap(), accepted.unwrap());
            // A client connects and resets before anyone calls accept.
            let doomed = within("doomed connect", TcpStream::connect(addr)).await.unwrap();
            let doomed_addr = doomed.local_addr().unwrap();
            turns(2).await;
            set_linger_zero(doomed.as_raw_fd());
            drop(doomed);
            turns(2).await;
            ringloop::sleep(Duration::from_millis(10)).await;
            // The kernel's accept4 hands out the reset connection with its peer's
            // address (it asks for the address the way SO_PEERNAME does, which a
            // closed socket still has), and the reset shows on the first read.
            // Every driver must say the same, and the listener goes on accepting.
            let (stream, peer) = within("accept the reset one", listener.accept()).await.unwrap();
            assert_eq!(peer, doomed_addr);
            let (res, _) = within("read it", stream.read(Vec::with_capacity(8))).await;
            let e = res.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            let (client, accepted) = within("next", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
        });
    }
}

matrix_test! {
    fn a_unix_connection_closed_before_accept(mode) {
        let path = std::env::temp_dir().join(format!(
            "ringloop-closed-{}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        mode.run(async {
            let listener = UnixListener::bind(&path).unwrap();
            let (first, accepted) = within("first", async {
                ringloop::gather!(UnixStream::connect(&path), listener.accept()).await
            })
            .await;
            let (_first, _accepted) = (first.unwrap(), accepted.unwrap());
            let doomed = within("doomed connect", UnixStream::connect(&path)).await.unwrap();
            doomed.write_all(b"last words".to_vec()).await.0.unwrap();
            drop(doomed);
            turns(2).await;
            // Accepted all the same, with what the client wrote, then the end.
            let (stream, peer) = within("accept", listener.accept()).await.unwrap();
            assert!(peer.is_unnamed());
            let (n, buf) = within("read", stream.read(Vec::with_capacity(64))).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (10, &b"last words"[..]));
            let (n, _) = within("EOF", stream.read(Vec::with_capacity(64))).await;
            assert_eq!(n.unwrap(), 0);
        });
        let _ = std::fs::remove_file(&path);
    }
}

matrix_test! {
    fn unix_connect_to_a_full_backlog(mode) {
        let path = std::env::temp_dir().join(format!(
            "ringloop-backlog-{}-{:?}.sock",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        mode.run(async {
            let listener = UnixListener::bind(&path).unwrap();
            // Nobody accepts: once the backlog is full, a connect fails with
            // WouldBlock (EAGAIN) at once instead of waiting or spinning.
            let mut clients = Vec::new();
            let e = loop {
                match within("connect", UnixStream::connect(&path)).await {
                    Ok(c) => clients.push(c),
                    Err(e) => break e,
                }
                assert!(clients.len() <= 5000, "the backlog never filled");
            };
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e} after {}", clients.len());
            assert!(clients.len() >= 100, "{} connections", clients.len());
            // Accepting one makes room for one more.
            let (_server, _) = within("accept", listener.accept()).await.unwrap();
            turns(1).await;
            clients.push(within("connect again", UnixStream::connect(&path)).await.unwrap());
        });
        let _ = std::fs::remove_file(&path);
    }
}

/// The write operations a peer that went away must fail without a signal.
async fn writes_fail_without_sigpipe_tcp() {
    // Reset: the first write may see ECONNRESET (the pending socket error), later
    // ones EPIPE; the process survives all of them.
    let (client, server) = tcp_pair().await;
    set_linger_zero(client.as_raw_fd());
    drop(client);
    turns(2).await;
    ringloop::sleep(Duration::from_millis(10)).await;
    let mut kinds = Vec::new();
    for i in 0..6 {
        let res = match i % 3 {
            0 => server.write(vec![1u8; 1024]).await.0.map(drop),
            1 => server.write_all(vec![2u8; 1024]).await.0,
            _ => server
                .writev(vec![vec![3u8; 512], vec![4u8; 512]])
                .await
                .0
                .map(drop),
        };
        kinds.push(res.unwrap_err().kind());
    }
    assert!(
        kinds.iter().all(|k| matches!(
            k,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        )),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&io::ErrorKind::BrokenPipe), "{kinds:?}");

    // Orderly close with unread data, while a big write_all is in progress: the
    // peer's kernel answers the data with a reset.
    let (client, server) = tcp_pair().await;
    let server = Rc::new(server);
    let s = server.clone();
    let writer = ringloop::spawn(async move { s.write_all(vec![5u8; 32 << 20]).await.0 });
    turns(3).await;
    drop(client);
    let e = within("write_all to a closed peer", writer)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{e}"
    );
    let e = server.write(vec![6u8; 10]).await.0.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");

    // Our own writing half shut: EPIPE.
    let (_client, server) = tcp_pair().await;
    server.shutdown(std::net::Shutdown::Write).unwrap();
    let e = server.write(vec![7u8; 10]).await.0.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
}

async fn writes_fail_without_sigpipe_unix() {
    // A Unix stream whose peer is gone gives EPIPE at once.
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    turns(1).await;
    let e = a.write(b"x".to_vec()).await.0.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
    let e = a.write_all(b"xy".to_vec()).await.0.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
    let e = a.writev(vec![b"x".to_vec()]).await.0.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
    // And the stream helpers: the writer reports the error, the process lives.
    // (The flusher sends in the background: the error shows in a later call.)
    let (a, b) = UnixStream::pair().unwrap();
    let (_reader, writer) = a.into_streams();
    drop(b);
    turns(1).await;
    let e = within("the writer fails", async {
        loop {
            if let Err(e) = writer.write(b"to nobody") {
                break e;
            }
            if let Err(e) = writer.drain().await {
                break e;
            }
            ringloop::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
}

/// Restores the default action of SIGPIPE (terminate), which Rust's runtime set to
/// "ignore" before `main`.
fn default_sigpipe() {
    // SAFETY: installing the default disposition is always sound; no handler runs.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
}

matrix_test! {
    fn writes_to_a_gone_peer_raise_no_sigpipe(mode) {
        if !is_child() {
            let output = run_child(&matrix_test_name(module_path!(), mode), &[]);
            assert!(output.success, "killed by SIGPIPE? {output:#?}");
            return;
        }
        default_sigpipe();
        mode.run(async {
            writes_fail_without_sigpipe_tcp().await;
            writes_fail_without_sigpipe_unix().await;
        });
    }
}

/// The check above can fail: with SIGPIPE at its default, a plain `write(2)` to a
/// closed pipe kills the child.
#[test]
fn control_a_plain_write_does_raise_sigpipe() {
    if is_child() {
        default_sigpipe();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(b);
        // SAFETY: writing one byte from a live buffer.
        let rc = unsafe { libc::write(a.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        panic!("still alive after write returned {rc}");
    }
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([
            "--exact",
            "control_a_plain_write_does_raise_sigpipe",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}
