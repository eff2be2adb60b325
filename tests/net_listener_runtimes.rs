//! A listener used from several runtimes of one thread in turn (the multishot
//! accept of io_uring 5.19+ belongs to one ring; the 5.10 mask and epoll accept one
//! connection at a time): the runtime that accepts gets every connection, even with
//! the runtime that armed the accept first idle, and dropping the listener frees its
//! port at once wherever its accept was armed, with no descriptor left behind.

mod support;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ringloop::net::{ListenOptions, TcpListener, TcpStream};
use support::{isolated, open_fds, within, Mode};

/// A listener on `rt` whose accept is armed there (one connection accepted).
fn armed_on(rt: &ringloop::Runtime) -> (TcpListener, SocketAddr) {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = within("first accept", async {
            ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
        })
        .await;
        drop((client.unwrap(), accepted.unwrap()));
        (listener, addr)
    })
}

/// Whether `addr` can be bound again right now, and then refuses connections.
fn port_free(addr: SocketAddr) -> io::Result<()> {
    drop(TcpListener::bind_with(addr, &ListenOptions::new())?);
    match std::net::TcpStream::connect(addr) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Err(io::Error::other("something still accepts there")),
    }
}

/// Two runtimes alive at once keep two wake-up eventfds in the pool: the count
/// to compare against.
fn baseline(mode: Mode) -> usize {
    drop((mode.runtime(), mode.runtime()));
    open_fds()
}

matrix_test! {
    fn the_runtime_that_accepts_gets_every_connection(mode) {
        isolated(mode, module_path!(), || {
            const CLIENTS: usize = 5;
            let base = baseline(mode);
            let first = mode.runtime();
            let (listener, addr) = armed_on(&first);
            // `first` stays alive but idle; the listener moves to `second`.
            let second = mode.runtime();
            let (clients, accepted) = second.block_on(async {
                let mut clients = Vec::new();
                let mut accepted = Vec::new();
                for _ in 0..CLIENTS {
                    // Each client connects while the accept waits. Before the fix:
                    // 1 of 5, the others stuck with the idle ring.
                    let (client, result) = ringloop::gather!(
                        TcpStream::connect(addr),
                        ringloop::wait_for(Duration::from_secs(5), listener.accept())
                    )
                    .await;
                    clients.push(client.unwrap());
                    match result {
                        Ok(result) => accepted.push(result.unwrap().1),
                        Err(_) => break,
                    }
                }
                (clients, accepted)
            });
            let expected: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
            assert_eq!(accepted, expected, "{mode:?}");
            // Back on the first runtime: it accepts too (taking the accept back).
            let late = std::net::TcpStream::connect(addr).unwrap();
            first.block_on(async {
                let (_, peer) = within("back on the first", listener.accept()).await.unwrap();
                assert_eq!(peer, late.local_addr().unwrap());
            });
            drop(listener);
            port_free(addr).unwrap_or_else(|e| panic!("{mode:?}: {addr} after the drop: {e}"));
            drop((first, second, clients, late));
            assert_eq!(open_fds(), base, "{mode:?}: descriptor leak");
        });
    }
}

matrix_test! {
    fn a_listener_dropped_in_another_runtime_frees_its_port_at_once(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            let first = mode.runtime();
            let (listener, addr) = armed_on(&first);
            // Dropped inside another runtime, with `first` idle (alive, not running).
            let second = mode.runtime();
            second.block_on(async move {
                drop(listener);
                port_free(addr).unwrap_or_else(|e| panic!("{mode:?}: {addr}: {e}"));
            });
            drop((first, second));
            assert_eq!(open_fds(), base, "{mode:?}: descriptor leak");
        });
    }
}

matrix_test! {
    fn a_listener_dropped_outside_any_runtime_frees_its_port_at_once(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            let first = mode.runtime();
            let (listener, addr) = armed_on(&first);
            drop(listener);
            port_free(addr).unwrap_or_else(|e| panic!("{mode:?}: {addr}: {e}"));
            // The runtime goes on running afterwards as if nothing happened.
            first.block_on(async {
                ringloop::sleep(Duration::from_millis(5)).await;
            });
            drop(first);
            assert_eq!(open_fds(), base, "{mode:?}: descriptor leak");
        });
    }
}

matrix_test! {
    fn a_listener_taken_back_and_forth_keeps_one_accept_armed(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            let a = mode.runtime();
            let b = mode.runtime();
            let (listener, addr) = armed_on(&a);
            // Alternating runtimes, a connection waiting each time: every one is
            // taken by the runtime that asks, none is lost or accepted twice.
            for round in 0..10 {
                let rt = if round % 2 == 0 { &b } else { &a };
                let client = std::net::TcpStream::connect(addr).unwrap();
                let peer = rt.block_on(async {
                    within("accept", listener.accept()).await.unwrap().1
                });
                assert_eq!(peer, client.local_addr().unwrap(), "{mode:?} round {round}");
            }
            drop(listener);
            port_free(addr).unwrap_or_else(|e| panic!("{mode:?}: {addr}: {e}"));
            drop((a, b));
            assert_eq!(open_fds(), base, "{mode:?}: descriptor leak");
        });
    }
}

#[test]
fn a_listener_armed_on_io_uring_accepts_on_epoll() {
    if !support::is_child() {
        let output = support::run_child("a_listener_armed_on_io_uring_accepts_on_epoll", &[]);
        assert!(output.success, "{output:#?}");
        return;
    }
    if support::skip_uring(module_path!()) {
        return;
    }
    {
        let base = baseline(Mode::Uring);
        let uring = Mode::Uring.runtime();
        if !uring.features().multishot_accept() {
            return; // nothing armed to take back on this kernel
        }
        let epoll = Mode::Epoll.runtime();
        let (listener, addr) = armed_on(&uring);
        epoll.block_on(async {
            for i in 0..3 {
                let (client, accepted) = ringloop::gather!(
                    TcpStream::connect(addr),
                    ringloop::wait_for(Duration::from_secs(5), listener.accept())
                )
                .await;
                let accepted = accepted.unwrap_or_else(|_| panic!("connection {i} not accepted"));
                assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
            }
            drop(listener);
            port_free(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
        });
        drop((uring, epoll));
        assert_eq!(open_fds(), base, "descriptor leak");
    }
}
