//! TCP on loopback: binding (port 0, names through the resolver, invalid strings),
//! addresses, options, half-close, `SO_REUSEADDR` and `SO_REUSEPORT`, the owned-buffer
//! operations, `from_std`, and 16 MB transfers.

mod support;

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use ringloop::buf::IoBuf;
use ringloop::net::{ListenOptions, TcpListener, TcpStream};
use support::net::{fill_send_buffer, read_n, tcp_pair};
use support::{pattern, within};

matrix_test! {
    fn port_zero_and_addresses(mode) {
        mode.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            assert_eq!(addr.ip().to_string(), "127.0.0.1");
            assert_ne!(addr.port(), 0, "port 0 picks a port");
            let (client, accepted) = within("connect and accept", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            let client = client.unwrap();
            let (server, peer) = accepted.unwrap();
            // accept reports the client's address; both ends agree on both ends.
            assert_eq!(peer, client.local_addr().unwrap());
            assert_eq!(server.peer_addr().unwrap(), peer);
            assert_eq!(client.peer_addr().unwrap(), addr);
            assert_eq!(server.local_addr().unwrap(), addr);
            assert_ne!(peer.port(), addr.port());
        });
    }
}

matrix_test! {
    fn names_go_through_the_resolver(mode) {
        mode.run(async {
            // "localhost" needs getaddrinfo (on the blocking pool).
            let listener = within("bind localhost:0", TcpListener::bind("localhost:0"))
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            assert!(addr.ip().is_loopback(), "{addr}");
            assert_ne!(addr.port(), 0);
            // Connecting by name tries each address the name has until one answers.
            let by_text = format!("localhost:{}", addr.port());
            for target in [by_text.clone(), format!("127.0.0.1:{}", addr.port())] {
                let (client, accepted) = within("connect by name", async {
                    ringloop::gather!(TcpStream::connect(target.as_str()), listener.accept()).await
                })
                .await;
                let client = client.unwrap();
                assert_eq!(client.peer_addr().unwrap(), addr);
                assert_eq!(accepted.unwrap().1, client.local_addr().unwrap());
            }
            let (client, accepted) = within("connect (host, port)", async {
                ringloop::gather!(TcpStream::connect(("localhost", addr.port())), listener.accept())
                    .await
            })
            .await;
            assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
            // A literal String binds without the resolver.
            let text = format!("127.0.0.1:{}", unused_v4_port());
            let listener = TcpListener::bind(text.clone()).await.unwrap();
            assert_eq!(listener.local_addr().unwrap().to_string(), text);
            // A name that does not resolve is an error, not a panic or a hang.
            let e = within(
                "bind an unknown name",
                TcpListener::bind("no-such-host.invalid:0"),
            )
            .await
            .unwrap_err();
            assert_ne!(e.kind(), io::ErrorKind::InvalidInput, "a lookup failure: {e}");
        });
    }
}

/// A port free on 127.0.0.1 right now.
fn unused_v4_port() -> u16 {
    support::net::unused_port_addr().port()
}

matrix_test! {
    fn invalid_addresses_are_invalid_input(mode) {
        mode.run(async {
            for text in [
                "not an address",
                "127.0.0.1",
                "127.0.0.1:99999",
                "127.0.0.1:port",
                ":80",
                "",
                "[::1]",
            ] {
                let e = TcpListener::bind(text).await.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "bind {text:?}: {e}");
                let e = TcpStream::connect(text).await.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "connect {text:?}: {e}");
                let e = ringloop::net::UdpSocket::bind(text).await.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "udp bind {text:?}: {e}");
                // The message says what was wrong, not just "invalid input".
                assert!(!e.to_string().is_empty());
            }
            // An empty slice of addresses is not something to bind to.
            let none: &[SocketAddr] = &[];
            let e = TcpListener::bind(none).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        });
    }
}

matrix_test! {
    fn nodelay_and_ttl(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            for stream in [&client, &server] {
                stream.set_nodelay(true).unwrap();
                assert!(stream.nodelay().unwrap());
                stream.set_nodelay(false).unwrap();
                assert!(!stream.nodelay().unwrap());
                stream.set_ttl(7).unwrap();
                assert!(stream.take_error().unwrap().is_none());
            }
        });
    }
}

matrix_test! {
    fn half_close(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            client.write_all(b"request".to_vec()).await.0.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            // The server reads the data, then the end of stream...
            let got = within("server reads to EOF", read_n(&server, usize::MAX, 64)).await;
            assert_eq!(got, b"request");
            let (n, _) = server.read(Vec::with_capacity(8)).await;
            assert_eq!(n.unwrap(), 0, "EOF stays EOF");
            // ...and can still answer on its own half, which the client reads.
            server.write_all(b"response".to_vec()).await.0.unwrap();
            server.shutdown(Shutdown::Write).unwrap();
            let got = within("client reads the answer", read_n(&client, usize::MAX, 3)).await;
            assert_eq!(got, b"response");
            // The client's own writing half is shut: writing is an error, not a signal.
            let (res, _) = client.write(b"more".to_vec()).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        });
    }
}

matrix_test! {
    fn read_after_shutdown(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            server.shutdown(Shutdown::Read).unwrap();
            // Linux: a read on a socket whose reading half is shut returns 0 at once.
            let (n, _) = within("read after SHUT_RD", server.read(Vec::with_capacity(8))).await;
            assert_eq!(n.unwrap(), 0);
            server.shutdown(Shutdown::Both).unwrap();
            let (n, _) = within("read after SHUT_RDWR", server.read(Vec::with_capacity(8))).await;
            assert_eq!(n.unwrap(), 0);
            let (res, _) = server.write(b"x".to_vec()).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
            // The peer sees the end of stream.
            let (n, _) = within("peer sees EOF", client.read(Vec::with_capacity(8))).await;
            assert_eq!(n.unwrap(), 0);

            // A read already waiting when its own side shuts reading down ends
            // with 0 instead of waiting forever.
            let (client, server) = tcp_pair().await;
            let server = Rc::new(server);
            let s = server.clone();
            let reader = ringloop::spawn(async move { s.read(Vec::with_capacity(8)).await });
            ringloop::sleep(std::time::Duration::from_millis(10)).await;
            assert!(!reader.is_finished());
            server.shutdown(Shutdown::Read).unwrap();
            let (n, _) = within("the waiting read", reader).await.unwrap();
            assert_eq!(n.unwrap(), 0);
            drop(client);
        });
    }
}

/// Binds `addr` with a plain socket without `SO_REUSEADDR`.
fn bind_without_reuseaddr(addr: SocketAddr) -> io::Result<()> {
    let SocketAddr::V4(v4) = addr else {
        unreachable!("IPv4 only")
    };
    // SAFETY: plain system call, no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a live `sockaddr_in` of the length passed.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let result = if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    result
}

matrix_test! {
    fn reuseaddr_rebinds_while_time_wait_lingers(mode) {
        mode.run(async {
            // A connection whose server end closes first leaves that end (on the
            // listener's port) in TIME_WAIT. Once in a while the kernel keeps no
            // TIME_WAIT entry (seen once on 5.10 under emulation, the port free at
            // once): then the scenario is tried again on a new port.
            let mut addr = None;
            for _ in 0..5 {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let at = listener.local_addr().unwrap();
                let (client, accepted) = within("connect", async {
                    ringloop::gather!(TcpStream::connect(at), listener.accept()).await
                })
                .await;
                let (client, (server, _)) = (client.unwrap(), accepted.unwrap());
                drop(server);
                let (n, _) = within("client sees EOF", client.read(Vec::with_capacity(8))).await;
                assert_eq!(n.unwrap(), 0);
                drop(client);
                drop(listener);
                ringloop::sleep(std::time::Duration::from_millis(20)).await;
                // The port really is held by a TIME_WAIT connection: a socket
                // without SO_REUSEADDR cannot bind it...
                match bind_without_reuseaddr(at) {
                    Err(e) => {
                        assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE), "{e}");
                        addr = Some(at);
                        break;
                    }
                    Ok(()) => continue,
                }
            }
            let addr = addr.expect("no TIME_WAIT entry was kept in 5 tries");
            // ...but a listener can (SO_REUSEADDR is on by default), and it works.
            let listener = TcpListener::bind(addr).await.unwrap();
            assert_eq!(listener.local_addr().unwrap(), addr);
            let (client, accepted) = within("connect again", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
        });
    }
}

matrix_test! {
    fn reuse_port_lets_two_listeners_share_a_port(mode) {
        mode.run(async {
            let options = ListenOptions::new().reuse_port(true).backlog(128);
            let first = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), &options).unwrap();
            let addr = first.local_addr().unwrap();
            let second = TcpListener::bind_with(addr, &options).unwrap();
            assert_eq!(second.local_addr().unwrap(), addr);
            // Without the option, the port is taken.
            let e = TcpListener::bind_with(addr, &ListenOptions::new()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
            // Connections spread over both (the kernel's choice); together they
            // accept every one, each exactly once.
            const CLIENTS: usize = 40;
            let (first, second) = (Rc::new(first), Rc::new(second));
            let accepted = Rc::new(std::cell::RefCell::new(Vec::new()));
            let acceptors: Vec<_> = [first.clone(), second.clone()]
                .into_iter()
                .enumerate()
                .map(|(i, listener)| {
                    let accepted = accepted.clone();
                    ringloop::spawn(async move {
                        loop {
                            let (_stream, peer) = listener.accept().await.unwrap();
                            accepted.borrow_mut().push((i, peer));
                        }
                    })
                })
                .collect();
            let mut clients = Vec::new();
            for _ in 0..CLIENTS {
                clients.push(within("connect", TcpStream::connect(addr)).await.unwrap());
            }
            let all = within("all accepted", async {
                while accepted.borrow().len() < CLIENTS {
                    ringloop::sleep(std::time::Duration::from_millis(1)).await;
                }
            });
            all.await;
            let mut peers: Vec<_> = accepted.borrow().iter().map(|(_, p)| *p).collect();
            let mut expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
            peers.sort();
            expected.sort();
            assert_eq!(peers, expected);
            for task in acceptors {
                task.cancel();
            }
        });
    }
}

matrix_test! {
    fn a_zero_length_write_returns_at_once_on_a_full_socket(mode) {
        mode.run(async {
            // As send(2) and io_uring do: nothing to send waits for nothing, even
            // when there is no room (on epoll it used to wait for the peer to read).
            let (client, _server) = tcp_pair().await;
            fill_send_buffer(|buf| client.write(buf)).await;
            let (n, buf) = within("an empty write", client.write(Vec::new())).await;
            assert_eq!((n.unwrap(), buf.len()), (0, 0));
            let (n, _) = within("an empty writev", client.writev(vec![Vec::<u8>::new(); 2])).await;
            assert_eq!(n.unwrap(), 0);
            within("an empty write_all", client.write_all(Vec::new())).await.0.unwrap();

            let (a, _b) = ringloop::net::UnixStream::pair().unwrap();
            fill_send_buffer(|buf| a.write(buf)).await;
            let (n, _) = within("an empty Unix write", a.write(Vec::new())).await;
            assert_eq!(n.unwrap(), 0);
            let (n, _) = within("an empty Unix writev", a.writev(Vec::<Vec<u8>>::new())).await;
            assert_eq!(n.unwrap(), 0);

            // A stream writer never waits to write nothing either.
            let (_r, writer) = a.into_streams();
            writer.write(&vec![b'W'; 1 << 20]).unwrap();
            writer.write(b"").unwrap();
            assert_eq!(writer.buffered(), 1 << 20);
        });
    }
}

matrix_test! {
    fn owned_buffer_operations(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            // write gives the buffer back, with its contents.
            let (n, buf) = client.write(b"hello".to_vec()).await;
            assert_eq!(n.unwrap(), 5);
            assert_eq!(buf, b"hello");
            // read fills the spare capacity from the start and sets the length.
            let (n, buf) = server.read(Vec::with_capacity(64)).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (5, &b"hello"[..]));
            // A buffer with old contents is overwritten from its start, not appended.
            client.write_all(b"abc".to_vec()).await.0.unwrap();
            let mut old = Vec::with_capacity(16);
            old.extend_from_slice(b"XXXXXXXX");
            let (n, buf) = server.read(old).await;
            assert_eq!(n.unwrap(), 3);
            assert_eq!(&buf[..3], b"abc");
            // Boxed slices and static data.
            let (n, _) = client.write(&b"static"[..]).await;
            assert_eq!(n.unwrap(), 6);
            let (n, buf) = server.read(vec![0u8; 6].into_boxed_slice()).await;
            assert_eq!((n.unwrap(), &buf[..]), (6, &b"static"[..]));
            client.write_all(String::from("string")).await.0.unwrap();
            let got = read_n(&server, 6, 64).await;
            assert_eq!(got, b"string");
            // A slice writes part of a buffer, and reads into part of one.
            let (res, slice) = client.write_all(b"0123456789".to_vec().slice(2..5)).await;
            res.unwrap();
            assert_eq!(slice.into_inner(), b"0123456789");
            let mut target = Vec::with_capacity(10);
            target.extend_from_slice(b"ab");
            let (n, slice) = server.read(target.slice(2..)).await;
            assert_eq!(n.unwrap(), 3);
            assert_eq!(slice.into_inner(), b"ab234");
            // Vectored: writev sends the buffers in order; readv fills them in order.
            let (n, bufs) = client
                .writev(vec![b"one".to_vec(), Vec::new(), b"two".to_vec(), b"three".to_vec()])
                .await;
            assert_eq!(n.unwrap(), 11);
            assert_eq!(bufs.len(), 4);
            let mut got = Vec::new();
            while got.len() < 11 {
                let (n, bufs) = server
                    .readv(vec![Vec::with_capacity(2), Vec::with_capacity(4), Vec::with_capacity(64)])
                    .await;
                let n = n.unwrap();
                assert!(n > 0);
                let lens: usize = bufs.iter().map(Vec::len).sum();
                assert_eq!(lens, n, "each buffer's length is what it received");
                assert!(bufs[0].len() == 2 || lens < 2);
                got.extend(bufs.into_iter().flatten());
            }
            assert_eq!(got, b"onetwothree");
            // End of stream: read and readv give 0.
            client.shutdown(Shutdown::Write).unwrap();
            let (n, _) = server.read(Vec::with_capacity(4)).await;
            assert_eq!(n.unwrap(), 0);
            let (n, _) = server.readv(vec![Vec::with_capacity(4)]).await;
            assert_eq!(n.unwrap(), 0);
        });
    }
}

matrix_test! {
    fn from_std_conversions(mode) {
        // Blocking std sockets: from_std makes them non-blocking.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let (std_server, _) = std_listener.accept().unwrap();
        mode.run(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            assert_eq!(listener.local_addr().unwrap(), addr);
            let client = TcpStream::from_std(std_client).unwrap();
            let server = TcpStream::from_std(std_server).unwrap();
            // A read with nothing to read waits instead of blocking the thread.
            let reader = ringloop::spawn(async move {
                let got = read_n(&server, 4, 16).await;
                (got, server)
            });
            ringloop::sleep(std::time::Duration::from_millis(10)).await;
            assert!(!reader.is_finished());
            client.write_all(b"ping".to_vec()).await.0.unwrap();
            let (got, _server) = within("read", reader).await.unwrap();
            assert_eq!(got, b"ping");
            // The converted listener accepts.
            let (c, a) = within("accept", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            assert_eq!(a.unwrap().1, c.unwrap().local_addr().unwrap());
            assert!(client.as_raw_fd() >= 0);
        });
    }
}

const LARGE: usize = 16 * 1024 * 1024;

matrix_test! {
    fn sixteen_megabytes_each_way(mode) {
        mode.run(async {
            let (client, server) = tcp_pair().await;
            let (client, server) = (Rc::new(client), Rc::new(server));
            let up = pattern(LARGE, 1);
            let down = pattern(LARGE, 2);
            // Both directions at once, so neither side can rely on the other
            // reading first.
            let c = client.clone();
            let up_copy = up.clone();
            let sender_up = ringloop::spawn(async move {
                let (res, buf) = c.write_all(up_copy).await;
                res.unwrap();
                assert_eq!(buf.len(), LARGE, "the buffer comes back whole");
                c.shutdown(Shutdown::Write).unwrap();
            });
            let s = server.clone();
            let down_copy = down.clone();
            let sender_down = ringloop::spawn(async move {
                // In 1 MB vectored pieces.
                let pieces: Vec<Vec<u8>> = down_copy.chunks(1 << 20).map(<[u8]>::to_vec).collect();
                for piece in pieces {
                    s.write_all(piece).await.0.unwrap();
                }
                s.shutdown(Shutdown::Write).unwrap();
            });
            let s = server.clone();
            let receiver_up = ringloop::spawn(async move { read_n(&s, usize::MAX, 64 * 1024).await });
            let c = client.clone();
            let receiver_down = ringloop::spawn(async move {
                // With readv into two buffers of different sizes.
                let mut out = Vec::with_capacity(LARGE);
                loop {
                    let (n, bufs) = c
                        .readv(vec![Vec::with_capacity(1000), Vec::with_capacity(50_000)])
                        .await;
                    if n.unwrap() == 0 {
                        break out;
                    }
                    out.extend(bufs.into_iter().flatten());
                }
            });
            let (a, b, got_up, got_down) = within(
                "16 MB each way",
                ringloop::gather!(sender_up, sender_down, receiver_up, receiver_down),
            )
            .await;
            a.unwrap();
            b.unwrap();
            let (got_up, got_down) = (got_up.unwrap(), got_down.unwrap());
            assert_eq!(got_up.len(), LARGE);
            assert!(got_up == up, "upload corrupted");
            assert_eq!(got_down.len(), LARGE);
            assert!(got_down == down, "download corrupted");
        });
    }
}
