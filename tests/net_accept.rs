//! Accepting at scale, and the multishot accept of io_uring 5.19+ (which the 5.10
//! mask and epoll replace with single-shot accepts): the probe reports it where it
//! is used, 500 clients connecting at once are all accepted and served, a listener
//! dropped while its multishot accept is armed releases its port and leaks no
//! descriptor (and its address can be bound again at once), and more than 64
//! connections waiting without an accept stay in the kernel's backlog instead of
//! piling up in the process.

mod support;

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};
use support::net::{fd_baseline, turns};
use support::{eventually_ok, isolated, open_fds, within, Mode};

matrix_test! {
    fn the_probe_reports_multishot_accept_where_it_is_used(mode) {
        mode.run(async {
            let features = ringloop::features();
            assert_eq!(ringloop::driver_kind(), mode.driver_kind());
            // Native io_uring has it where the kernel takes it (5.19+), the 5.10
            // mask hides it, epoll has no such thing. So on a new kernel both accept
            // paths run in this suite.
            let expected = mode == Mode::Uring && kernel_takes_multishot_accept();
            assert_eq!(features.multishot_accept(), expected, "{features:?}");
        });
    }
}

/// Whether this kernel takes a multishot ACCEPT: asked of the kernel directly, with
/// a raw ring (not ringloop, whose probe dates the flag by an opcode of the same
/// release). A kernel without it refuses the flag with `EINVAL`.
fn kernel_takes_multishot_accept() -> bool {
    use io_uring::{opcode, types, IoUring};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut ring = IoUring::new(4).expect("io_uring_setup");
    let accept = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd())).build();
    // SAFETY: the entry holds no pointer; the listener outlives the ring's use of it
    // (the ring is dropped first, cancelling the op).
    unsafe { ring.submission().push(&accept) }.expect("a free entry");
    ring.submit().expect("io_uring_enter");
    // A connection completes the op either way: with a descriptor, or EINVAL.
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    ring.submit_and_wait(1).expect("io_uring_enter");
    let result = ring.completion().next().expect("a completion").result();
    if result >= 0 {
        // SAFETY: the kernel just accepted `result` for this function alone.
        drop(unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(result) });
    }
    drop(ring);
    result >= 0
}

/// Accepts forever, echoing each connection's bytes back until its end.
fn spawn_echo_acceptor(
    listener: Rc<TcpListener>,
    accepted: Rc<RefCell<Vec<std::net::SocketAddr>>>,
) {
    ringloop::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            accepted.borrow_mut().push(peer);
            ringloop::spawn(async move {
                loop {
                    let (n, buf) = stream.read(Vec::with_capacity(256)).await;
                    match n {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if stream.write_all(buf).await.0.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
}

matrix_test! {
    fn five_hundred_clients_at_once(mode) {
        mode.run(async {
            const CLIENTS: usize = 500;
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = listener.local_addr().unwrap();
            let accepted = Rc::new(RefCell::new(Vec::new()));
            spawn_echo_acceptor(listener.clone(), accepted.clone());
            // All connect at once (each its own task), then each checks its echo.
            let clients: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    ringloop::spawn(async move {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        let msg = format!("client {i}\n").into_bytes();
                        stream.write_all(msg.clone()).await.0.unwrap();
                        let mut got = Vec::new();
                        while got.len() < msg.len() {
                            let (n, buf) = stream.read(Vec::with_capacity(64)).await;
                            let n = n.unwrap();
                            assert!(n > 0, "client {i}: EOF before the echo");
                            got.extend_from_slice(&buf[..n]);
                        }
                        assert_eq!(got, msg, "client {i}");
                        stream.local_addr().unwrap()
                    })
                })
                .collect();
            let results = within("500 echoes", ringloop::gather_all(clients)).await;
            let addrs: HashSet<_> = results.into_iter().map(Result::unwrap).collect();
            assert_eq!(addrs.len(), CLIENTS);
            let accepted: HashSet<_> = accepted.borrow().iter().copied().collect();
            assert_eq!(accepted, addrs, "each client accepted once, with its address");
        });
    }
}

matrix_test! {
    fn a_listener_dropped_with_its_accept_armed_releases_the_port(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                for round in 0..3 {
                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let addr = listener.local_addr().unwrap();
                    // One accept served, a second one waiting: the multishot op (on
                    // io_uring 5.19+) is armed in the kernel.
                    let (client, accepted) = within("accept", async {
                        ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                    })
                    .await;
                    drop((client.unwrap(), accepted.unwrap()));
                    let listener = Rc::new(listener);
                    let l = listener.clone();
                    let waiting = ringloop::spawn(async move { l.accept().await.map(drop) });
                    turns(2).await;
                    assert!(!waiting.is_finished());
                    waiting.cancel();
                    let _ = waiting.await;
                    drop(listener);
                    // The port is free again soon (on io_uring once the cancellation
                    // and the close reached the kernel), and nobody accepts there.
                    let again = eventually_ok("rebind", || {
                        TcpListener::bind_with(addr, &ringloop::net::ListenOptions::new())
                    })
                    .await;
                    drop(again);
                    eventually_ok("refused", || match std::net::TcpStream::connect(addr) {
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
                        other => Err(format!("round {round}: {other:?}")),
                    })
                    .await;
                }
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

/// Connections waiting in a listener's accept queue (in the kernel, not yet
/// accepted by anyone): `TCP_INFO` reports it as `tcpi_unacked` for a listener.
fn kernel_backlog(listener: &TcpListener) -> usize {
    // SAFETY: `tcp_info` is plain old data; all-zero bytes are a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live and describe the buffer truthfully.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
    info.tcpi_unacked as usize
}

matrix_test! {
    fn connections_nobody_accepts_stay_in_the_kernel(mode) {
        mode.run(async {
            const CLIENTS: usize = 300;
            // The multishot op pauses at 64 connections queued in the process
            // (op/accept_multi.rs); a few more may arrive before the pause lands.
            const BOUND: usize = 64 + 32;
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Arm the accept machinery, then stop accepting.
            let (first, accepted) = within("first", async {
                ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
            })
            .await;
            drop((first.unwrap(), accepted.unwrap()));
            let mut clients = Vec::new();
            for _ in 0..CLIENTS {
                clients.push(within("connect", TcpStream::connect(addr)).await.unwrap());
            }
            // Let the loop run: whatever it would accept ahead, it accepts now.
            for _ in 0..10 {
                turns(2).await;
            }
            ringloop::sleep(Duration::from_millis(20)).await;
            let in_kernel = kernel_backlog(&listener);
            let in_process = CLIENTS - in_kernel;
            assert!(
                in_process <= BOUND,
                "{in_process} connections accepted ahead of the caller ({in_kernel} in the backlog)"
            );
            if ringloop::features().multishot_accept() {
                assert!(in_process >= 64, "the multishot op accepts ahead: {in_process}");
            } else {
                assert_eq!(in_process, 0, "single-shot accepts only when asked");
            }
            // Every one of them is accepted in the end, each once.
            let mut peers = HashSet::new();
            for _ in 0..CLIENTS {
                let (_, peer) = within("accept", listener.accept()).await.unwrap();
                assert!(peers.insert(peer), "{peer} accepted twice");
            }
            let expected: HashSet<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
            assert_eq!(peers, expected);
            assert_eq!(kernel_backlog(&listener), 0);
        });
    }
}

matrix_test! {
    fn a_listener_dropped_outside_block_on_releases_the_port(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            let rt = mode.runtime();
            let (listener, addr) = rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let (client, accepted) = within("accept", async {
                    ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                })
                .await;
                drop((client.unwrap(), accepted.unwrap()));
                (listener, addr)
            });
            // Dropped while no block_on runs: the runtime's multishot accept
            // (which keeps the socket listening in the kernel) must still be
            // cancelled, not only at the runtime's end.
            drop(listener);
            rt.block_on(async {
                let again = eventually_ok("rebind while the runtime lives", || {
                    TcpListener::bind_with(addr, &ringloop::net::ListenOptions::new())
                })
                .await;
                drop(again);
                eventually_ok("refused", || match std::net::TcpStream::connect(addr) {
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
                    other => Err(format!("{other:?}")),
                })
                .await;
            });
            drop(rt);
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn a_listener_outlives_its_runtime(mode) {
        isolated(mode, module_path!(), || {
            // Two runtimes live at once below: the pool keeps two wake-up eventfds
            // (runtime/shared.rs).
            drop((mode.runtime(), mode.runtime()));
            let base = open_fds();
            // Armed on a first runtime, with a connection accepted ahead for nobody,
            // then that runtime is dropped: the listener goes on in a second one,
            // and the connection waiting in it is not lost.
            let first = mode.runtime();
            let (listener, addr, waiting) = first.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let (client, accepted) = within("accept", async {
                    ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                })
                .await;
                drop((client.unwrap(), accepted.unwrap()));
                let waiting = std::net::TcpStream::connect(addr).unwrap();
                turns(3).await;
                (listener, addr, waiting)
            });
            drop(first);
            let second = mode.runtime();
            second.block_on(async {
                let (_, peer) = within("the waiting one", listener.accept()).await.unwrap();
                assert_eq!(peer, waiting.local_addr().unwrap());
                let (client, accepted) = within("a new one", async {
                    ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                })
                .await;
                assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
            });
            // Used from a third runtime while the second still exists, which is
            // dropped afterwards: the listener still accepts there, and dropped, it
            // releases its port while the third runtime lives.
            let third = mode.runtime();
            third.block_on(async {
                let (client, accepted) = within("third", async {
                    ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                })
                .await;
                assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
            });
            drop(second);
            third.block_on(async {
                for _ in 0..2 {
                    let (client, accepted) = within("third again", async {
                        ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
                    })
                    .await;
                    assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
                }
                drop(listener);
                let again = eventually_ok("rebind", || {
                    TcpListener::bind_with(addr, &ringloop::net::ListenOptions::new())
                })
                .await;
                drop(again);
            });
            drop((third, waiting));
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn a_dropped_listener_can_be_bound_again_at_once(mode) {
        // Alone in a child process: a test of this binary forking meanwhile would
        // hold a copy of the listener until its exec, keeping the port bound.
        isolated(mode, module_path!(), || {
            mode.run(async {
                for _ in 0..20 {
                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let addr = listener.local_addr().unwrap();
                    // Arm the accept (multishot on io_uring 5.19+), then drop the
                    // listener and bind its address again without yielding: a
                    // server restarted in place must not see AddrInUse.
                    let listener = Rc::new(listener);
                    let l = listener.clone();
                    let waiting = ringloop::spawn(async move { l.accept().await.map(drop) });
                    ringloop::yield_now().await;
                    ringloop::yield_now().await;
                    waiting.cancel();
                    let _ = waiting.await;
                    drop(listener);
                    let again = TcpListener::bind_with(addr, &ringloop::net::ListenOptions::new())
                        .unwrap_or_else(|e| panic!("{mode:?}: rebind of {addr} at once: {e}"));
                    drop(again);
                }
            });
        });
    }
}
