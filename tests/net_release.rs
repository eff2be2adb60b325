//! Releasing sockets where the loop is not running, or not any more: a descriptor
//! closed outside `block_on` whose number is reused, a stream dropped in the last
//! turn of a `block_on`, a listener dropped outside `block_on` while its accept is
//! armed, `Server::close` freeing its address at once, and `StreamWriter::abort` /
//! `Server::abort_clients` against a peer that stopped reading.

mod support;

use std::future::Future;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

use ringloop::net::{start_server, ListenOptions, TcpListener, TcpStream, UnixStream};
use support::net::tcp_pair;
use support::{isolated, within};

const SOON: Duration = Duration::from_secs(5);

/// Waits until the runtime's task count is back to `n` (a flusher has exited).
async fn tasks_back_to(n: usize) -> bool {
    for _ in 0..500 {
        if ringloop::all_tasks().len() <= n {
            return true;
        }
        ringloop::sleep(Duration::from_millis(2)).await;
    }
    false
}

matrix_test! {
    fn a_reused_descriptor_number_is_registered_afresh(mode) {
        // Alone in a child, so that the number is reused deterministically.
        isolated(mode, module_path!(), || {
            let rt = mode.runtime();
            let (a, b) = UnixStream::pair().unwrap();
            let number = a.as_raw_fd();
            // A read that waits, so the driver registers the descriptor; then the
            // stream leaves the runtime and is dropped outside any `block_on`.
            let a = rt.block_on(async move {
                let reader = ringloop::spawn(async move {
                    let (n, _) = a.read(Vec::with_capacity(16)).await;
                    n.unwrap();
                    a
                });
                ringloop::sleep(Duration::from_millis(10)).await;
                b.write_all(b"x").await.0.unwrap();
                within("first read", reader).await.unwrap()
            });
            drop(a);
            let (c, d) = UnixStream::pair().unwrap();
            assert!(
                c.as_raw_fd() == number || d.as_raw_fd() == number,
                "the number was not reused; the test proves nothing"
            );
            let (c, d) = if c.as_raw_fd() == number { (c, d) } else { (d, c) };
            rt.block_on(async move {
                let reader = ringloop::spawn(async move { c.read(Vec::with_capacity(16)).await.0 });
                ringloop::sleep(Duration::from_millis(10)).await;
                d.write_all(b"y").await.0.unwrap();
                let n = within("a read on the reused number", reader).await.unwrap();
                assert_eq!(n.unwrap(), 1);
            });
        });
    }
}

matrix_test! {
    fn a_stream_dropped_in_the_last_turn_is_closed(mode) {
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = peer.local_addr().unwrap();
        let rt = mode.runtime();
        rt.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"hello").await.0.unwrap();
            drop(stream);
        });
        // The runtime does not run again: the close must have reached the kernel.
        let (mut peer, _) = peer.accept().unwrap();
        peer.set_read_timeout(Some(SOON)).unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("the end of the stream");
        assert_eq!(got, b"hello");
    }
}

matrix_test! {
    fn a_listener_dropped_outside_block_on_does_not_steal_from_its_number(mode) {
        isolated(mode, module_path!(), || {
            let rt = mode.runtime();
            let first = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), &ListenOptions::new())
                .unwrap();
            let number = first.as_raw_fd();
            // Arm the accept (multishot on io_uring 5.19+) in the last turn of a
            // `block_on`, then drop the listener outside it.
            rt.block_on(async {
                let mut accept = Box::pin(first.accept());
                std::future::poll_fn(|cx| {
                    let _ = accept.as_mut().poll(cx);
                    std::task::Poll::Ready(())
                })
                .await;
            });
            drop(first);
            let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            second.set_nonblocking(true).unwrap();
            let client = std::net::TcpStream::connect(second.local_addr().unwrap()).unwrap();
            rt.block_on(ringloop::sleep(Duration::from_millis(20)));
            // Whatever the first listener's accept did, it must not take the
            // connection of a socket that got its number. (On io_uring the number
            // stays taken until the runtime has cancelled that accept, so it is
            // not reused at all; elsewhere it is, and nothing is armed on it.)
            let _ = number;
            let mut accepted = None;
            for _ in 0..200 {
                match second.accept() {
                    Ok(conn) => {
                        accepted = Some(conn);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(accepted.is_some(), "the connection went to a dead listener's accept");
            drop(client);
        });
    }
}

matrix_test! {
    fn server_close_frees_the_address_at_once(mode) {
        mode.run(async {
            let server = start_server(|_r, _w| async {}, "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            ringloop::sleep(Duration::from_millis(5)).await;
            server.close();
            TcpListener::bind_with(addr, &ListenOptions::new())
                .expect("the address is free right after Server::close");
        });
    }
}

matrix_test! {
    fn abort_with_a_large_send_in_flight_ends_the_flusher(mode) {
        mode.run(async {
            let (client, server_side) = tcp_pair().await;
            let tasks = ringloop::all_tasks().len();
            let (reader, writer) = server_side.into_streams();
            drop(reader);
            // Far more than the socket buffers take: the flusher never goes idle.
            writer.write(&vec![7u8; 16 << 20]).unwrap();
            ringloop::sleep(Duration::from_millis(50)).await;
            writer.abort();
            drop(writer);
            assert!(tasks_back_to(tasks).await, "the flusher outlived abort()");
            // The peer sees the end (after whatever the kernel had taken).
            let mut total = 0;
            loop {
                let (n, _) = within("the end", client.read(Vec::with_capacity(1 << 16))).await;
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            assert!(total < 16 << 20, "the buffered bytes were dropped");
        });
    }
}

matrix_test! {
    fn abort_clients_closes_connections_to_peers_that_do_not_read(mode) {
        mode.run(async {
            let server = start_server(
                |_reader, writer| async move {
                    let _ = writer.write(&vec![1u8; 16 << 20]);
                    std::future::pending::<()>().await;
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let tasks = ringloop::all_tasks().len();
            let client = TcpStream::connect(server.local_addr().unwrap()).await.unwrap();
            ringloop::sleep(Duration::from_millis(50)).await;
            assert_eq!(server.clients(), 1);
            server.close();
            server.abort_clients();
            within("wait_closed", server.wait_closed()).await;
            // The accept loop, the client task and its flusher are all gone.
            assert!(tasks_back_to(tasks - 1).await, "tasks left: {:?}", ringloop::all_tasks());
            let mut ended = false;
            for _ in 0..10_000 {
                let (n, _) = within("the end", client.read(Vec::with_capacity(1 << 16))).await;
                if matches!(n, Ok(0) | Err(_)) {
                    ended = true;
                    break;
                }
            }
            assert!(ended, "the connection was not closed");
        });
    }
}
