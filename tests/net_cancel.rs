//! Cancellation of socket operations (DESIGN decision 1): for every op that hands
//! memory or a descriptor to the kernel, a future dropped while the op is in flight
//! keeps its buffer until the kernel is done (dropped exactly once), leaks no
//! descriptor, leaves the socket usable, and loses nothing the kernel already did:
//! bytes, datagrams (with their senders), errors and connections that reached a
//! dropped read or accept go to the next one. Also tasks cancelled while blocked in
//! connect/accept/read, and a runtime dropped with ops in flight.
//!
//! Every test counts descriptors, so each runs alone in a child process.

mod support;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use ringloop::net::{ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use ringloop::JoinError;
use support::net::{fd_baseline, fill_send_buffer, set_linger_zero, tcp_pair, turns, CountedBuf};
use support::{isolated, open_fds, poll_in_task, within, Drops, Mode};

/// After dropping an op that was still waiting in the kernel: on io_uring the
/// kernel still owns the buffer until the cancellation's CQE; on epoll nothing
/// was in the kernel, so it is gone at once. Either way it goes exactly `n` times
/// after a few turns.
async fn dropped_in_flight(mode: Mode, drops: &Drops, n: usize, what: &str) {
    if mode.is_uring() {
        assert_eq!(drops.count(), 0, "{what}: buffer freed under the kernel");
    } else {
        assert_eq!(drops.count(), n, "{what}");
    }
    turns(3).await;
    assert_eq!(
        drops.count(),
        n,
        "{what}: dropped once, after the kernel is done"
    );
}

fn uds_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ringloop-cancel-{}-{name}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

matrix_test! {
    fn receives_dropped_in_flight_free_their_buffers_once(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let (client, server) = tcp_pair().await;
                // read
                let drops = Drops::new();
                let mut op = Box::pin(server.read(CountedBuf::new(64, &drops)));
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                dropped_in_flight(mode, &drops, 1, "read").await;
                // readv, two buffers
                let drops = Drops::new();
                let bufs = vec![CountedBuf::new(8, &drops), CountedBuf::new(8, &drops)];
                let mut op = Box::pin(server.readv(bufs));
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                dropped_in_flight(mode, &drops, 2, "readv").await;
                // The stream still works, and no byte went to the cancelled ops.
                client.write_all(b"after".to_vec()).await.0.unwrap();
                let (n, buf) = within("read after", server.read(Vec::with_capacity(64))).await;
                assert_eq!((n.unwrap(), buf.as_slice()), (5, &b"after"[..]));

                // recv_from and recv on UDP.
                let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let drops = Drops::new();
                let mut op = Box::pin(a.recv_from(CountedBuf::new(64, &drops)));
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                dropped_in_flight(mode, &drops, 1, "recv_from").await;
                a.connect(b.local_addr().unwrap()).await.unwrap();
                let drops = Drops::new();
                let mut op = Box::pin(a.recv(CountedBuf::new(64, &drops)));
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                dropped_in_flight(mode, &drops, 1, "recv").await;
                b.send_to(b"dgram".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
                let (res, buf) = within("recv_from after", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!(res.unwrap(), (5, b.local_addr().unwrap()));
                assert_eq!(buf, b"dgram");
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn bytes_of_a_dropped_read_go_to_the_next_read(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let (client, server) = tcp_pair().await;
                // A read is in flight when the bytes arrive; the kernel completes it
                // into its buffer; then it is dropped before being polled again.
                let drops = Drops::new();
                let mut op = Box::pin(server.read(CountedBuf::new(64, &drops)));
                assert!(poll_in_task(&mut op).await.is_pending());
                client.write_all(b"first".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                // The kernel was done with it (on io_uring: the bytes are in it),
                // so the buffer goes at once.
                assert_eq!(drops.count(), 1);
                let (n, buf) = within("next read", server.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"first", "the bytes come back, exactly");
                client.write_all(b"second".to_vec()).await.0.unwrap();
                let (n, buf) = within("later read", server.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"second");

                // Taken in pieces by smaller reads, in order, then the socket again.
                let mut op = Box::pin(server.read(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                client.write_all(b"0123456789".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                let mut got = Vec::new();
                while got.len() < 10 {
                    let (n, buf) = within("small read", server.read(Vec::with_capacity(4))).await;
                    let n = n.unwrap();
                    assert!((1..=4).contains(&n), "{n}");
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, b"0123456789");
                let mut next = Box::pin(server.read(Vec::with_capacity(4)));
                turns(2).await;
                assert!(poll_in_task(&mut next).await.is_pending(), "nothing more was sent");
                client.write_all(b"tail".to_vec()).await.0.unwrap();
                let (n, buf) = within("tail", next).await;
                assert_eq!(&buf[..n.unwrap()], b"tail");

                // Dropped in flight with nothing received, and a new read right
                // away (it waits for the cancellation): it gets the next bytes.
                let mut op = Box::pin(server.read(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                let s = Rc::new(server);
                let s2 = s.clone();
                let reader = ringloop::spawn(async move { s2.read(Vec::with_capacity(64)).await });
                ringloop::yield_now().await;
                client.write_all(b"racing".to_vec()).await.0.unwrap();
                let (n, buf) = within("read after a pending cancel", reader).await.unwrap();
                assert_eq!(&buf[..n.unwrap()], b"racing");

                // Two reads in flight, both dropped after the bytes came: whichever
                // got them, the next read does.
                let mut one = Box::pin(s.read(Vec::with_capacity(64)));
                let mut two = Box::pin(s.read(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut one).await.is_pending());
                assert!(poll_in_task(&mut two).await.is_pending());
                client.write_all(b"only once".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(two);
                drop(one);
                let (n, buf) = within("after two", s.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"only once");
                client.write_all(b"!".to_vec()).await.0.unwrap();
                let (n, buf) = within("after two, next", s.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"!", "nothing was duplicated");

                // A Unix stream, the same.
                let (a, b) = UnixStream::pair().unwrap();
                let mut op = Box::pin(b.read(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                a.write_all(b"unix".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                let (n, buf) = within("unix next read", b.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"unix");
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn bytes_of_a_dropped_readv_go_to_the_next_read(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let (client, server) = tcp_pair().await;
                let drops = Drops::new();
                let bufs = vec![CountedBuf::new(3, &drops), CountedBuf::new(64, &drops)];
                let mut op = Box::pin(server.readv(bufs));
                assert!(poll_in_task(&mut op).await.is_pending());
                client.write_all(b"vectored".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                assert_eq!(drops.count(), 2, "both buffers, at once");
                // The next readv gets them, spread over its own buffers in order.
                let (n, bufs) = within("next readv", server.readv(vec![Vec::with_capacity(5), Vec::with_capacity(64)])).await;
                assert_eq!(n.unwrap(), 8);
                assert_eq!((bufs[0].as_slice(), bufs[1].as_slice()), (&b"vecto"[..], &b"red"[..]));
                // And a plain read after a dropped readv.
                let mut op = Box::pin(server.readv(vec![Vec::with_capacity(2), Vec::with_capacity(2)]));
                assert!(poll_in_task(&mut op).await.is_pending());
                client.write_all(b"abcdef".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                let mut got = Vec::new();
                while got.len() < 6 {
                    let (n, buf) = within("read", server.read(Vec::with_capacity(64))).await;
                    got.extend_from_slice(&buf[..n.unwrap()]);
                }
                assert_eq!(got, b"abcdef");
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn a_reset_seen_by_a_dropped_read_goes_to_the_next_read(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let (client, server) = tcp_pair().await;
                let mut op = Box::pin(server.read(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&client));
                drop(client);
                turns(3).await;
                drop(op);
                // The kernel reports a reset once: to the next read, not to nobody.
                let (res, _) = within("next read", server.read(Vec::with_capacity(64))).await;
                let e = res.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
                let (n, _) = within("then EOF", server.read(Vec::with_capacity(64))).await;
                assert_eq!(n.unwrap(), 0);
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn datagrams_of_dropped_receives_go_to_the_next_receive(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let a_addr = a.local_addr().unwrap();
                let (b_addr, c_addr) = (b.local_addr().unwrap(), c.local_addr().unwrap());

                // recv_from: the datagram and its sender.
                let drops = Drops::new();
                let mut op = Box::pin(a.recv_from(CountedBuf::new(64, &drops)));
                assert!(poll_in_task(&mut op).await.is_pending());
                b.send_to(b"d1".to_vec(), a_addr).await.0.unwrap();
                turns(3).await;
                drop(op);
                assert_eq!(drops.count(), 1);
                c.send_to(b"d2".to_vec(), a_addr).await.0.unwrap();
                let (res, buf) = within("recv_from 1", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap(), buf.as_slice()), ((2, b_addr), &b"d1"[..]));
                let (res, buf) = within("recv_from 2", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap(), buf.as_slice()), ((2, c_addr), &b"d2"[..]));

                // An empty datagram is a datagram too.
                let mut op = Box::pin(a.recv_from(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                b.send_to(Vec::new(), a_addr).await.0.unwrap();
                turns(3).await;
                drop(op);
                c.send_to(b"d3".to_vec(), a_addr).await.0.unwrap();
                let (res, _) = within("empty", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!(res.unwrap(), (0, b_addr), "the empty datagram was lost");
                let (res, buf) = within("after empty", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap(), buf.as_slice()), ((2, c_addr), &b"d3"[..]));

                // One datagram per receive: a dropped receive's datagram is not
                // merged with the next, even into a big buffer.
                let mut op = Box::pin(a.recv_from(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                b.send_to(b"x".to_vec(), a_addr).await.0.unwrap();
                turns(3).await;
                drop(op);
                b.send_to(b"y".to_vec(), a_addr).await.0.unwrap();
                let (res, buf) = within("x", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap().0, buf.as_slice()), (1, &b"x"[..]));

                let (res, buf) = within("y", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap().0, buf.as_slice()), (1, &b"y"[..]));

                // Connected recv, including an empty datagram.
                a.connect(b_addr).await.unwrap();
                for msg in [&b"connected"[..], b""] {
                    let mut op = Box::pin(a.recv(Vec::with_capacity(64)));
                    assert!(poll_in_task(&mut op).await.is_pending());
                    b.send_to(msg.to_vec(), a_addr).await.0.unwrap();
                    turns(3).await;
                    drop(op);
                    b.send_to(b"later".to_vec(), a_addr).await.0.unwrap();
                    let (n, buf) = within("recv", a.recv(Vec::with_capacity(64))).await;
                    assert_eq!(&buf[..n.unwrap()], msg, "{msg:?}");
                    let (n, buf) = within("recv later", a.recv(Vec::with_capacity(64))).await;
                    assert_eq!(&buf[..n.unwrap()], b"later");
                }
                // A dropped recv's datagram taken by recv_from: a connected socket
                // only receives from its peer, so that is the sender.
                let mut op = Box::pin(a.recv(Vec::with_capacity(64)));
                assert!(poll_in_task(&mut op).await.is_pending());
                b.send_to(b"mixed".to_vec(), a_addr).await.0.unwrap();
                turns(3).await;
                drop(op);
                let (res, buf) = within("recv_from after recv", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap(), buf.as_slice()), ((5, b_addr), &b"mixed"[..]));
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

/// Reads what `fill_send_buffer` and a dropped write of `X`s left, then `END`, and
/// checks the shape: `F`s (at least `sent`), a prefix of the `X`s (a dropped write
/// may have sent part of its buffer, never anything else), `END`.
async fn check_after_dropped_write(reader: &TcpStream, sent: usize, x_len: usize) {
    let mut got = Vec::new();
    while !got.ends_with(b"END") {
        let (n, buf) = within("drain", reader.read(Vec::with_capacity(1 << 16))).await;
        let n = n.unwrap();
        assert!(n > 0, "EOF before END");
        got.extend_from_slice(&buf[..n]);
    }
    let fs = got.iter().take_while(|&&b| b == b'F').count();
    let xs = got[fs..].iter().take_while(|&&b| b == b'X').count();
    assert!(fs >= sent, "{fs} < {sent}");
    assert!(xs <= x_len, "{xs} > {x_len}");
    assert_eq!(
        &got[fs + xs..],
        b"END",
        "stray bytes after {fs} F and {xs} X"
    );
}

matrix_test! {
    fn sends_dropped_in_flight_free_their_buffers_once(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                for vectored in [false, true] {
                    let (client, server) = tcp_pair().await;
                    let sent = fill_send_buffer(|buf| client.write(buf)).await;
                    // A write that cannot go out: in flight (on io_uring, in the
                    // kernel, waiting for room) until dropped. The kernel may find
                    // room again now and then (the receive window grows): a write
                    // that finishes counts as sent, and the next one is tried.
                    let x_len = 1 << 16;
                    let mut x_sent = 0;
                    let mut attempts = 0;
                    let (drops, n, op) = loop {
                        attempts += 1;
                        assert!(attempts < 100, "the send buffer never stayed full");
                        let drops = Drops::new();
                        let (n, mut op): (usize, Pin<Box<dyn Future<Output = io::Result<usize>>>>) =
                            if vectored {
                                let bufs = vec![
                                    CountedBuf::from_vec(vec![b'X'; x_len / 2], &drops),
                                    CountedBuf::from_vec(vec![b'X'; x_len / 2], &drops),
                                ];
                                let op = client.writev(bufs);
                                (2, Box::pin(async move { op.await.0 }))
                            } else {
                                let op = client.write(CountedBuf::from_vec(vec![b'X'; x_len], &drops));
                                (1, Box::pin(async move { op.await.0 }))
                            };
                        if let Poll::Ready(res) = poll_in_task(&mut op).await {
                            x_sent += res.unwrap();
                            continue;
                        }
                        turns(3).await;
                        match poll_in_task(&mut op).await {
                            Poll::Ready(res) => x_sent += res.unwrap(),
                            Poll::Pending => break (drops, n, op),
                        }
                    };
                    drop(op);
                    dropped_in_flight(mode, &drops, n, "send").await;
                    // The stream goes on: the reader drains, a new write follows.
                    let s = Rc::new(server);
                    let s2 = s.clone();
                    let reader = ringloop::spawn(async move {
                        check_after_dropped_write(&s2, sent, x_sent + x_len).await;
                    });
                    client.write_all(b"END".to_vec()).await.0.unwrap();
                    within("reader", reader).await.unwrap();
                }

                // send_to, dropped right after it was queued (on io_uring the entry
                // has not even reached the kernel) and after it completed unpolled.
                let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let b_addr = b.local_addr().unwrap();
                let drops = Drops::new();
                let mut op = Box::pin(a.send_to(CountedBuf::from_vec(b"S1".to_vec(), &drops), b_addr));
                let early = poll_in_task(&mut op).await;
                let queued = early.is_pending();
                drop(early);
                drop(op);
                if queued {
                    dropped_in_flight(mode, &drops, 1, "send_to").await;
                } else {
                    assert_eq!(drops.count(), 1, "send_to done at once");
                }
                let drops = Drops::new();
                let mut op = Box::pin(a.send_to(CountedBuf::from_vec(b"S2".to_vec(), &drops), b_addr));
                if let Poll::Ready((res, _)) = poll_in_task(&mut op).await {
                    res.unwrap();
                }
                turns(3).await;
                drop(op);
                assert_eq!(drops.count(), 1, "completed: dropped with the future");
                a.send_to(b"S3".to_vec(), b_addr).await.0.unwrap();
                // S1 at most once, then S2 (it was sent), then S3; nothing else.
                let mut got = Vec::new();
                while got.last().map(Vec::as_slice) != Some(&b"S3"[..]) {
                    let (res, buf) = within("recv", b.recv_from(Vec::with_capacity(8))).await;
                    assert_eq!(res.unwrap().1, a.local_addr().unwrap());
                    got.push(buf);
                }
                assert!(
                    got == [b"S1".to_vec(), b"S2".to_vec(), b"S3".to_vec()]
                        || got == [b"S2".to_vec(), b"S3".to_vec()],
                    "{got:?}"
                );
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn connections_of_dropped_accepts_go_to_the_next_accept(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                // Dropped while waiting, before any client: nothing is lost.
                let mut op = Box::pin(listener.accept());
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(2).await;
                drop(op);
                turns(2).await;
                let client = std::net::TcpStream::connect(addr).unwrap();
                let (_, peer) = within("accept after a dropped one", listener.accept()).await.unwrap();
                assert_eq!(peer, client.local_addr().unwrap());

                // The kernel accepted for an accept that is then dropped (on io_uring:
                // the connection is out of the backlog): the next accept gets it,
                // with the right peer address.
                let mut op = Box::pin(listener.accept());
                assert!(poll_in_task(&mut op).await.is_pending());
                let client = std::net::TcpStream::connect(addr).unwrap();
                turns(3).await;
                drop(op);
                let (stream, peer) = within("next accept", listener.accept()).await.unwrap();
                assert_eq!(peer, client.local_addr().unwrap());
                assert_eq!(stream.peer_addr().unwrap(), peer);

                // Three in flight, three clients, all dropped: three accepts get the
                // three clients, each once.
                let mut ops: Vec<_> = (0..3).map(|_| Box::pin(listener.accept())).collect();
                for op in &mut ops {
                    assert!(poll_in_task(op).await.is_pending());
                }
                let clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
                turns(3).await;
                drop(ops);
                let mut peers = Vec::new();
                for _ in 0..3 {
                    peers.push(within("accept", listener.accept()).await.unwrap().1);
                }
                let mut expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
                peers.sort();
                expected.sort();
                assert_eq!(peers, expected);
                let mut extra = Box::pin(listener.accept());
                turns(2).await;
                assert!(poll_in_task(&mut extra).await.is_pending(), "no connection twice");
                drop(extra);

                // Connections the kernel accepted for nobody are closed with the
                // listener: the client sees the end (or a reset), no descriptor stays.
                let mut op = Box::pin(listener.accept());
                assert!(poll_in_task(&mut op).await.is_pending());
                let mut orphan = std::net::TcpStream::connect(addr).unwrap();
                turns(3).await;
                drop(op);
                drop(listener);
                turns(3).await;
                orphan.set_read_timeout(Some(support::STEP)).unwrap();
                let mut byte = [0u8; 1];
                match std::io::Read::read(&mut orphan, &mut byte) {
                    Ok(0) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                    other => panic!("the orphaned connection is still open: {other:?}"),
                }

                // A Unix listener, the same.
                let path = uds_path("accept");
                let listener = UnixListener::bind(&path).unwrap();
                let mut op = Box::pin(listener.accept());
                assert!(poll_in_task(&mut op).await.is_pending());
                let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
                turns(3).await;
                drop(op);
                let (stream, _) = within("unix next accept", listener.accept()).await.unwrap();
                std::io::Write::write_all(&mut &client, b"hi").unwrap();
                let (n, buf) = within("unix read", stream.read(Vec::with_capacity(8))).await;
                assert_eq!(&buf[..n.unwrap()], b"hi", "the accepted one is that client");
                let _ = std::fs::remove_file(&path);
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

/// A listener whose accept queue is full (backlog 0, one connection waiting), so
/// that the next connect stays in SYN_SENT (the kernel drops its SYN) for seconds.
async fn full_listener() -> (TcpListener, std::net::SocketAddr, TcpStream) {
    let options = ListenOptions::new().backlog(0);
    let listener = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), &options).unwrap();
    let addr = listener.local_addr().unwrap();
    let first = within("first connect", TcpStream::connect(addr))
        .await
        .unwrap();
    turns(2).await;
    (listener, addr, first)
}

matrix_test! {
    fn a_connect_dropped_in_flight_closes_its_socket(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let (listener, addr, first) = full_listener().await;
                let during = open_fds();
                let mut op = Box::pin(TcpStream::connect(addr));
                assert!(poll_in_task(&mut op).await.is_pending());
                turns(3).await;
                assert!(poll_in_task(&mut op).await.is_pending(), "the SYN should wait");
                assert_eq!(open_fds(), during + 1, "the connecting socket");
                drop(op);
                turns(3).await;
                assert_eq!(open_fds(), during, "the dropped connect's socket is closed");
                // The listener and the waiting connection are unaffected, and once
                // there is room a connect goes through.
                let (_server, peer) = within("accept", listener.accept()).await.unwrap();
                assert_eq!(peer, first.local_addr().unwrap());
                let (client, accepted) = within("connect again", async {
                    ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                })
                .await;
                assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn cancelling_tasks_blocked_in_connect_accept_and_receives(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            let drops = Drops::new();
            mode.run(async {
                let (full, full_addr, _first) = full_listener().await;
                let idle = Rc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
                let (client, server) = tcp_pair().await;
                let server = Rc::new(server);
                let udp = Rc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                let connect = ringloop::spawn(async move { TcpStream::connect(full_addr).await.map(drop) });
                let l = idle.clone();
                let accept = ringloop::spawn(async move { l.accept().await.map(drop) });
                let (s, d) = (server.clone(), drops.clone());
                let read = ringloop::spawn(async move { s.read(CountedBuf::new(64, &d)).await.0 });
                let (u, d) = (udp.clone(), drops.clone());
                let recv = ringloop::spawn(async move { u.recv_from(CountedBuf::new(64, &d)).await.0.map(drop) });
                turns(3).await;
                for (name, task) in [("connect", &connect), ("accept", &accept), ("recv", &recv)] {
                    assert!(!task.is_finished(), "{name} finished early");
                    assert!(task.cancel());
                }
                assert!(read.cancel());
                assert_eq!(within("connect", connect).await.unwrap_err(), JoinError::Cancelled);
                assert_eq!(within("accept", accept).await.unwrap_err(), JoinError::Cancelled);
                assert_eq!(within("read", read).await.unwrap_err(), JoinError::Cancelled);
                assert_eq!(within("recv", recv).await.unwrap_err(), JoinError::Cancelled);
                turns(3).await;
                assert_eq!(drops.count(), 2, "each buffer dropped once");
                // Everything still works.
                let (c, a) = within("idle listener", async {
                    ringloop::gather!(TcpStream::connect(idle.local_addr().unwrap()), idle.accept()).await
                })
                .await;
                assert_eq!(a.unwrap().1, c.unwrap().local_addr().unwrap());
                client.write_all(b"still".to_vec()).await.0.unwrap();
                let (n, buf) = within("pair", server.read(Vec::with_capacity(8))).await;
                assert_eq!(&buf[..n.unwrap()], b"still");
                let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                other.send_to(b"u".to_vec(), udp.local_addr().unwrap()).await.0.unwrap();
                let (res, _) = within("udp", udp.recv_from(Vec::with_capacity(8))).await;
                assert_eq!(res.unwrap(), (1, other.local_addr().unwrap()));
                drop(full);
            });
            assert_eq!(drops.count(), 2);
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn a_runtime_dropped_with_socket_ops_in_flight(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            let drops = Drops::new();
            let rt = mode.runtime();
            rt.block_on(async {
                // Every socket belongs to a task that is blocked on it.
                for _ in 0..4 {
                    let (client, server) = tcp_pair().await;
                    let d = drops.clone();
                    ringloop::spawn(async move {
                        let _client = client;
                        server.read(CountedBuf::new(64, &d)).await
                    });
                }
                let (client, server) = tcp_pair().await;
                let d = drops.clone();
                ringloop::spawn(async move {
                    let _client = client;
                    server.readv(vec![CountedBuf::new(8, &d), CountedBuf::new(8, &d)]).await
                });
                let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let d = drops.clone();
                ringloop::spawn(async move { udp.recv_from(CountedBuf::new(64, &d)).await });
                // An accept with the multishot op armed (on io_uring 5.19+) and a
                // connection the kernel accepted for it that nobody took.
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                ringloop::spawn(async move {
                    let first = listener.accept().await;
                    let second = listener.accept().await;
                    (first.map(drop), second.map(drop))
                });
                let clients: Vec<_> = (0..2).map(|_| TcpStream::connect(addr)).collect();
                let clients = ringloop::gather_all(clients).await;
                ringloop::spawn(async move {
                    let _clients = clients;
                    std::future::pending::<()>().await
                });
                let (full, full_addr, first) = full_listener().await;
                ringloop::spawn(async move {
                    let _keep = (full, first);
                    TcpStream::connect(full_addr).await.map(drop)
                });
                turns(3).await;
            });
            assert_eq!(drops.count(), 0, "every receive is still in flight");
            drop(rt);
            assert_eq!(drops.count(), 7, "every buffer dropped once, by the shutdown");
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}
