//! UDP on loopback: `send_to`/`recv_from` with senders, datagram boundaries and
//! truncation, empty datagrams, connected `send`/`recv` and their source filter,
//! binding by name, `from_std`.

mod support;

use std::io;
use std::time::Duration;

use ringloop::net::UdpSocket;
use support::within;

matrix_test! {
    fn send_to_and_recv_from(mode) {
        mode.run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b_addr = b.local_addr().unwrap();
            assert_ne!(b_addr.port(), 0);
            // Each datagram arrives whole, in order, with its sender.
            for (from, msg) in [(&a, &b"one"[..]), (&c, b"two"), (&a, b"three")] {
                let (n, buf) = from.send_to(msg.to_vec(), b_addr).await;
                assert_eq!(n.unwrap(), msg.len());
                assert_eq!(buf, msg, "the buffer comes back");
            }
            for (from, msg) in [(&a, &b"one"[..]), (&c, b"two"), (&a, b"three")] {
                let (res, buf) = within("recv_from", b.recv_from(Vec::with_capacity(64))).await;
                let (n, sender) = res.unwrap();
                assert_eq!(&buf[..n], msg);
                assert_eq!(sender, from.local_addr().unwrap());
            }
            // A datagram longer than the buffer is truncated to it, and the rest of
            // that datagram is gone (the next receive gets the next datagram).
            a.send_to(b"0123456789".to_vec(), b_addr).await.0.unwrap();
            a.send_to(b"next".to_vec(), b_addr).await.0.unwrap();
            let (res, buf) = within("truncated", b.recv_from(Vec::with_capacity(4))).await;
            assert_eq!(res.unwrap().0, 4);
            assert_eq!(buf, b"0123");
            let (res, buf) = within("after truncation", b.recv_from(Vec::with_capacity(64))).await;
            assert_eq!(res.unwrap().0, 4);
            assert_eq!(buf, b"next");
            // An empty datagram is a datagram: length 0, with its sender.
            c.send_to(Vec::new(), b_addr).await.0.unwrap();
            let (res, buf) = within("empty datagram", b.recv_from(Vec::with_capacity(8))).await;
            assert_eq!(res.unwrap(), (0, c.local_addr().unwrap()));
            assert!(buf.is_empty());
            // send_to by name resolves it.
            let target = format!("localhost:{}", b_addr.port());
            let (n, _) = within("send_to by name", a.send_to(b"named".to_vec(), target.as_str())).await;
            assert_eq!(n.unwrap(), 5);
            let (res, buf) = within("recv named", b.recv_from(Vec::with_capacity(8))).await;
            assert_eq!((res.unwrap().1, buf.as_slice()), (a.local_addr().unwrap(), &b"named"[..]));
            // And an invalid target is InvalidInput, with the buffer given back.
            let (res, buf) = a.send_to(b"x".to_vec(), "nowhere").await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert_eq!(buf, b"x");
        });
    }
}

matrix_test! {
    fn a_receive_waits_for_its_datagram(mode) {
        mode.run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = std::rc::Rc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let b_addr = b.local_addr().unwrap();
            let b2 = b.clone();
            let receiver = ringloop::spawn(async move { b2.recv_from(Vec::with_capacity(16)).await });
            ringloop::sleep(Duration::from_millis(20)).await;
            assert!(!receiver.is_finished(), "nothing was sent yet");
            a.send_to(b"late".to_vec(), b_addr).await.0.unwrap();
            let (res, buf) = within("late datagram", receiver).await.unwrap();
            assert_eq!(res.unwrap(), (4, a.local_addr().unwrap()));
            assert_eq!(buf, b"late");
        });
    }
}

matrix_test! {
    fn connected_send_and_recv(mode) {
        mode.run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            a.connect(b_addr).await.unwrap();
            b.connect(a_addr).await.unwrap();
            assert_eq!(a.peer_addr().unwrap(), b_addr);
            assert_eq!(b.peer_addr().unwrap(), a_addr);
            // A datagram from anyone else is filtered out by the kernel.
            stranger.send_to(b"spam".to_vec(), b_addr).await.0.unwrap();
            let (n, _) = a.send(b"hello".to_vec()).await;
            assert_eq!(n.unwrap(), 5);
            let (n, buf) = within("recv", b.recv(Vec::with_capacity(16))).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (5, &b"hello"[..]));
            // recv_from on a connected socket reports the peer.
            b.send(b"back".to_vec()).await.0.unwrap();
            let (res, buf) = within("recv_from connected", a.recv_from(Vec::with_capacity(16))).await;
            assert_eq!(res.unwrap(), (4, b_addr));
            assert_eq!(buf, b"back");
            // Datagram boundaries hold for send/recv too; an empty one included.
            a.send(Vec::new()).await.0.unwrap();
            a.send(b"x".to_vec()).await.0.unwrap();
            let (n, _) = within("empty", b.recv(Vec::with_capacity(16))).await;
            assert_eq!(n.unwrap(), 0);
            let (n, buf) = within("after empty", b.recv(Vec::with_capacity(16))).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (1, &b"x"[..]));
            // An unconnected socket cannot `send`.
            let (res, _) = stranger.send(b"?".to_vec()).await;
            let e = res.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EDESTADDRREQ), "{e}");
            assert!(stranger.peer_addr().is_err());
        });
    }
}

matrix_test! {
    fn bind_by_name_options_and_from_std(mode) {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let std_addr = std_socket.local_addr().unwrap();
        mode.run(async move {
            let a = within("bind localhost", UdpSocket::bind("localhost:0")).await.unwrap();
            assert!(a.local_addr().unwrap().ip().is_loopback());
            a.set_broadcast(true).unwrap();
            a.set_ttl(9).unwrap();
            assert!(a.take_error().unwrap().is_none());
            let b = UdpSocket::from_std(std_socket).unwrap();
            assert_eq!(b.local_addr().unwrap(), std_addr);
            // Converted from a blocking socket: a receive waits, it does not block.
            let waiting = ringloop::spawn(async move {
                let got = b.recv_from(Vec::with_capacity(8)).await;
                (got, b)
            });
            ringloop::sleep(Duration::from_millis(10)).await;
            assert!(!waiting.is_finished());
            a.send_to(b"std".to_vec(), std_addr).await.0.unwrap();
            let ((res, buf), _b) = within("from_std recv", waiting).await.unwrap();
            assert_eq!(res.unwrap(), (3, a.local_addr().unwrap()));
            assert_eq!(buf, b"std");
            // Binding a taken port is AddrInUse.
            let e = UdpSocket::bind(a.local_addr().unwrap()).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        });
    }
}

matrix_test! {
    fn many_datagrams_none_lost_none_reordered(mode) {
        mode.run(async {
            // Fewer than the receive buffer holds, so loopback drops none of them.
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b_addr = b.local_addr().unwrap();
            for i in 0u32..200 {
                a.send_to(i.to_le_bytes().to_vec(), b_addr).await.0.unwrap();
            }
            for i in 0u32..200 {
                let (res, buf) = within("recv", b.recv_from(Vec::with_capacity(8))).await;
                assert_eq!(res.unwrap().0, 4);
                assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), i);
            }
        });
    }
}
