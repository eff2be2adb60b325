//! Cancellation of socket operations (DESIGN decision 1): for every op that hands
//! memory or a descriptor to the kernel, a future dropped while the op is in flight
//! keeps its buffer until the kernel is done (dropped exactly once), leaks no
//! descriptor, leaves the socket usable, and loses nothing the kernel already did:
//! bytes, datagrams (with their senders), errors and connections that reached a
//! dropped read or accept go to the next one. Also tasks cancelled while blocked in
//! connect/accept/read, and a runtime dropped with ops in flight.
//!
//! Every test counts descriptors, so each runs alone in a child process.

mod common;
mod net_common;

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use common::{open_fds, Mode};
use net_common::{
    counter, fd_baseline, isolated, poll_once, set_linger_zero, tcp_pair, turns, within, CountedBuf,
};
use ringloop::net::{UdpSocket, UnixStream};

fn is_uring(mode: Mode) -> bool {
    mode != Mode::Epoll
}

/// After dropping an op that was still waiting in the kernel: on io_uring the
/// kernel still owns the buffer until the cancellation's CQE; on epoll nothing
/// was in the kernel, so it is gone at once. Either way it goes exactly `n` times
/// after a few turns.
async fn dropped_in_flight(mode: Mode, drops: &Rc<Cell<usize>>, n: usize, what: &str) {
    if is_uring(mode) {
        assert_eq!(drops.get(), 0, "{what}: buffer freed under the kernel");
    } else {
        assert_eq!(drops.get(), n, "{what}");
    }
    turns(3).await;
    assert_eq!(
        drops.get(),
        n,
        "{what}: dropped once, after the kernel is done"
    );
}

matrix_test! {
    fn receives_dropped_in_flight_free_their_buffers_once(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let (client, server) = tcp_pair().await;
                // read
                let drops = counter();
                let mut op = Box::pin(server.read(CountedBuf::new(64, &drops)));
                assert!(poll_once(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                dropped_in_flight(mode, &drops, 1, "read").await;
                // readv, two buffers
                let drops = counter();
                let bufs = vec![CountedBuf::new(8, &drops), CountedBuf::new(8, &drops)];
                let mut op = Box::pin(server.readv(bufs));
                assert!(poll_once(&mut op).await.is_pending());
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
                let drops = counter();
                let mut op = Box::pin(a.recv_from(CountedBuf::new(64, &drops)));
                assert!(poll_once(&mut op).await.is_pending());
                turns(1).await;
                drop(op);
                dropped_in_flight(mode, &drops, 1, "recv_from").await;
                a.connect(b.local_addr().unwrap()).await.unwrap();
                let drops = counter();
                let mut op = Box::pin(a.recv(CountedBuf::new(64, &drops)));
                assert!(poll_once(&mut op).await.is_pending());
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
                let drops = counter();
                let mut op = Box::pin(server.read(CountedBuf::new(64, &drops)));
                assert!(poll_once(&mut op).await.is_pending());
                client.write_all(b"first".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                // The kernel was done with it (on io_uring: the bytes are in it),
                // so the buffer goes at once.
                assert_eq!(drops.get(), 1);
                let (n, buf) = within("next read", server.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"first", "the bytes come back, exactly");
                client.write_all(b"second".to_vec()).await.0.unwrap();
                let (n, buf) = within("later read", server.read(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"second");

                // Taken in pieces by smaller reads, in order, then the socket again.
                let mut op = Box::pin(server.read(Vec::with_capacity(64)));
                assert!(poll_once(&mut op).await.is_pending());
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
                assert!(poll_once(&mut next).await.is_pending(), "nothing more was sent");
                client.write_all(b"tail".to_vec()).await.0.unwrap();
                let (n, buf) = within("tail", next).await;
                assert_eq!(&buf[..n.unwrap()], b"tail");

                // Dropped in flight with nothing received, and a new read right
                // away (it waits for the cancellation): it gets the next bytes.
                let mut op = Box::pin(server.read(Vec::with_capacity(64)));
                assert!(poll_once(&mut op).await.is_pending());
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
                assert!(poll_once(&mut one).await.is_pending());
                assert!(poll_once(&mut two).await.is_pending());
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
                assert!(poll_once(&mut op).await.is_pending());
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
                let drops = counter();
                let bufs = vec![CountedBuf::new(3, &drops), CountedBuf::new(64, &drops)];
                let mut op = Box::pin(server.readv(bufs));
                assert!(poll_once(&mut op).await.is_pending());
                client.write_all(b"vectored".to_vec()).await.0.unwrap();
                turns(3).await;
                drop(op);
                assert_eq!(drops.get(), 2, "both buffers, at once");
                // The next readv gets them, spread over its own buffers in order.
                let (n, bufs) = within("next readv", server.readv(vec![Vec::with_capacity(5), Vec::with_capacity(64)])).await;
                assert_eq!(n.unwrap(), 8);
                assert_eq!((bufs[0].as_slice(), bufs[1].as_slice()), (&b"vecto"[..], &b"red"[..]));
                // And a plain read after a dropped readv.
                let mut op = Box::pin(server.readv(vec![Vec::with_capacity(2), Vec::with_capacity(2)]));
                assert!(poll_once(&mut op).await.is_pending());
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
                assert!(poll_once(&mut op).await.is_pending());
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
                let drops = counter();
                let mut op = Box::pin(a.recv_from(CountedBuf::new(64, &drops)));
                assert!(poll_once(&mut op).await.is_pending());
                b.send_to(b"d1".to_vec(), a_addr).await.0.unwrap();
                turns(3).await;
                drop(op);
                assert_eq!(drops.get(), 1);
                c.send_to(b"d2".to_vec(), a_addr).await.0.unwrap();
                let (res, buf) = within("recv_from 1", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap(), buf.as_slice()), ((2, b_addr), &b"d1"[..]));
                let (res, buf) = within("recv_from 2", a.recv_from(Vec::with_capacity(64))).await;
                assert_eq!((res.unwrap(), buf.as_slice()), ((2, c_addr), &b"d2"[..]));

                // An empty datagram is a datagram too.
                let mut op = Box::pin(a.recv_from(Vec::with_capacity(64)));
                assert!(poll_once(&mut op).await.is_pending());
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
                assert!(poll_once(&mut op).await.is_pending());
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
                    assert!(poll_once(&mut op).await.is_pending());
                    b.send_to(msg.to_vec(), a_addr).await.0.unwrap();
                    turns(3).await;
                    drop(op);
                    b.send_to(b"later".to_vec(), a_addr).await.0.unwrap();
                    let (n, buf) = within("recv", a.recv(Vec::with_capacity(64))).await;
                    assert_eq!(&buf[..n.unwrap()], msg, "{msg:?}");
                    let (n, buf) = within("recv later", a.recv(Vec::with_capacity(64))).await;
                    assert_eq!(&buf[..n.unwrap()], b"later");
                }
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}
