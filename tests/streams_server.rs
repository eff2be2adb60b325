//! Servers: `start_server` on 127.0.0.1:0 and localhost:0, a task per connection
//! (clients served concurrently), `close` (no new connections, the existing ones
//! served), `wait_closed`, `abort_clients`, `serve_forever` (returns after close,
//! closes the server when dropped), a panicking handler (reported, the server goes
//! on), a handler that returns (its connection closes after the flush), accepts
//! running out of descriptors (the server backs off and goes on), Unix servers and
//! their socket file, and `open_connection` to a closed port.

mod support;

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::net::{
    open_connection, open_unix_connection, start_server, start_unix_server, Server, StreamReader,
    StreamWriter,
};
use support::{is_child, matrix_test_name, run_child, sleep_until_cond, step};

const SHORT: Duration = Duration::from_millis(50);

/// Echoes lines until the end of the stream.
async fn echo_lines(mut reader: StreamReader, writer: StreamWriter) {
    while let Ok(line) = reader.readline().await {
        if line.is_empty() || writer.write(&line).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
}

async fn echo_server() -> Server {
    start_server(echo_lines, "127.0.0.1:0").await.unwrap()
}

/// One line's round trip through a connection.
async fn round_trip(reader: &mut StreamReader, writer: &StreamWriter, line: &str) {
    writer.write(line.as_bytes()).unwrap();
    let got = ringloop::wait_for(step(), reader.readline())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, line.as_bytes());
}

/// Whether connecting to `addr` is refused, retrying for a while: a closed
/// server's listener goes away at its accept task's next turn.
async fn becomes_refused(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + step();
    while Instant::now() < deadline {
        match open_connection(addr).await {
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => return true,
            Err(e) => panic!("connect to a closed server: {e}"),
            Ok(_) => ringloop::sleep(Duration::from_millis(10)).await,
        }
    }
    false
}

/// A path for a Unix socket in the temporary directory.
fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ringloop-{name}-{}.sock", std::process::id()))
}

matrix_test! {
    fn start_server_on_port_zero(mode) {
        mode.run(async {
            let server = echo_server().await;
            let addr = server.local_addr().unwrap();
            assert_eq!(addr.ip().to_string(), "127.0.0.1");
            assert_ne!(addr.port(), 0, "the kernel's port");
            assert_eq!(server.local_addrs(), [addr]);
            assert!(server.is_serving());
            assert!(server.unix_path().is_none());
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            round_trip(&mut reader, &writer, "ping\n").await;
            assert_eq!(server.clients(), 1);

            // localhost: every address it resolves to, each on a port of its own,
            // each serving.
            let server = start_server(echo_lines, "localhost:0").await.unwrap();
            let addrs = server.local_addrs();
            assert!(!addrs.is_empty());
            for addr in addrs {
                assert!(addr.ip().is_loopback(), "{addr}");
                assert_ne!(addr.port(), 0);
                let (mut reader, writer) = open_connection(addr).await.unwrap();
                round_trip(&mut reader, &writer, &format!("hello {addr}\n")).await;
            }
            // A port in use is an error.
            let e = start_server(echo_lines, ("127.0.0.1", addr.port())).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        });
    }
}

matrix_test! {
    fn each_connection_is_served_by_its_own_task(mode) {
        const CLIENTS: usize = 50;
        mode.run(async {
            // Each handler waits until every client is connected: served one after
            // another, they would never get there.
            let connected = Rc::new(Cell::new(0));
            let all_in = ringloop::sync::Event::new();
            let (c, e) = (connected.clone(), all_in.clone());
            let server = start_server(
                move |mut reader, writer| {
                    let (connected, all_in) = (c.clone(), e.clone());
                    async move {
                        let name = reader.readline().await.unwrap();
                        connected.set(connected.get() + 1);
                        if connected.get() == CLIENTS {
                            all_in.set();
                        }
                        all_in.wait().await;
                        writer.write(&name).unwrap();
                        echo_lines(reader, writer).await;
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let clients = (0..CLIENTS).map(|i| async move {
                let (mut reader, writer) = open_connection(addr).await.unwrap();
                let name = format!("client {i}\n");
                writer.write(name.as_bytes()).unwrap();
                let got = reader.readline().await.unwrap();
                assert_eq!(got, name.as_bytes());
                round_trip(&mut reader, &writer, &format!("again {i}\n")).await;
                i
            });
            let done = ringloop::wait_for(step(), ringloop::gather_all(clients)).await.unwrap();
            assert_eq!(done, (0..CLIENTS).collect::<Vec<_>>());
            assert_eq!(connected.get(), CLIENTS);
            // The clients are gone: every handler finishes.
            assert!(sleep_until_cond(step(), || server.clients() == 0).await, "{}", server.clients());
        });
    }
}

matrix_test! {
    fn close_stops_accepting_and_keeps_serving(mode) {
        mode.run(async {
            let server = echo_server().await;
            let addr = server.local_addr().unwrap();
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            round_trip(&mut reader, &writer, "before\n").await;
            server.close();
            assert!(!server.is_serving());
            server.close();
            assert!(becomes_refused(addr).await, "a closed server still accepts");
            // Refused from then on.
            for _ in 0..3 {
                let Err(e) = open_connection(addr).await else {
                    panic!("accepted after close")
                };
                assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
            }
            // The connection accepted before is still served.
            round_trip(&mut reader, &writer, "after\n").await;
            assert_eq!(server.clients(), 1);
            // wait_closed waits for its handler...
            assert!(ringloop::wait_for(SHORT, server.wait_closed()).await.is_err());
            // ... which ends when the client goes.
            writer.close();
            ringloop::wait_for(step(), server.wait_closed()).await.unwrap();
            assert_eq!(server.clients(), 0);
            assert_eq!(reader.read(10).await.unwrap(), b"");
        });
    }
}

matrix_test! {
    fn wait_closed_waits_for_the_handlers(mode) {
        mode.run(async {
            let finished = Rc::new(Cell::new(0));
            let f = finished.clone();
            let server = start_server(
                move |mut reader, writer| {
                    let finished = f.clone();
                    async move {
                        // Serves until told, then works a little longer.
                        let _ = reader.readline().await;
                        ringloop::sleep(Duration::from_millis(100)).await;
                        writer.write(b"done\n").unwrap();
                        finished.set(finished.get() + 1);
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let mut conns = Vec::new();
            for _ in 0..3 {
                conns.push(open_connection(addr).await.unwrap());
            }
            assert!(sleep_until_cond(step(), || server.clients() == 3).await);
            // Not closed: wait_closed waits even with no handler running.
            server.close();
            assert!(ringloop::wait_for(SHORT, server.wait_closed()).await.is_err(), "cancel-safe");
            for (_, writer) in &conns {
                writer.write(b"stop\n").unwrap();
            }
            ringloop::wait_for(step(), server.wait_closed()).await.unwrap();
            assert_eq!(finished.get(), 3, "wait_closed returned before the handlers finished");
            for (reader, _) in &mut conns {
                assert_eq!(reader.read_to_end().await.unwrap(), b"done\n");
            }
            // Once closed and idle, at once.
            ringloop::wait_for(SHORT, server.wait_closed()).await.unwrap();

            // A server closed with no connection at all.
            let server = echo_server().await;
            assert!(ringloop::wait_for(SHORT, server.wait_closed()).await.is_err());
            server.close();
            ringloop::wait_for(SHORT, server.wait_closed()).await.unwrap();
        });
    }
}

matrix_test! {
    fn abort_clients_cancels_the_handlers(mode) {
        mode.run(async {
            let cancelled = support::Drops::new();
            let d = cancelled.clone();
            let server = start_server(
                move |mut reader, writer| {
                    let token = d.token();
                    async move {
                        let _token = token;
                        // Idle: a read that never completes, and a writer with
                        // data it will never finish sending.
                        writer.write(b"hello\n").unwrap();
                        let _ = reader.read_to_end().await;
                        std::future::pending::<()>().await;
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let mut conns = Vec::new();
            for _ in 0..5 {
                let (mut reader, writer) = open_connection(addr).await.unwrap();
                assert_eq!(reader.readline().await.unwrap(), b"hello\n");
                conns.push((reader, writer));
            }
            assert!(sleep_until_cond(step(), || server.clients() == 5).await);
            server.abort_clients();
            assert!(sleep_until_cond(step(), || server.clients() == 0).await, "{}", server.clients());
            assert_eq!(cancelled.count(), 5);
            // Their connections are closed: each client reads the end.
            for (reader, _) in &mut conns {
                let r = ringloop::wait_for(step(), reader.read(100)).await.expect("no EOF");
                match r {
                    Ok(data) => assert_eq!(data, b""),
                    Err(e) => assert!(support::streams::is_reset(&e), "{e}"),
                }
            }
            // The server still accepts (abort_clients does not close it).
            assert!(server.is_serving());
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            assert_eq!(reader.readline().await.unwrap(), b"hello\n");
            drop(writer);
            server.close();
            server.abort_clients();
            ringloop::wait_for(step(), server.wait_closed()).await.unwrap();
            assert_eq!(cancelled.count(), 6);
        });
    }
}

matrix_test! {
    fn serve_forever_returns_after_close_and_closes_when_dropped(mode) {
        mode.run(async {
            let server = Rc::new(echo_server().await);
            let s = server.clone();
            let closer = ringloop::spawn(async move {
                ringloop::sleep(SHORT).await;
                s.close();
            });
            ringloop::wait_for(step(), server.serve_forever()).await.expect("serve_forever returned");
            closer.await.unwrap();
            // Closed already: returns at once.
            ringloop::wait_for(SHORT, server.serve_forever()).await.unwrap();

            // Cancelled (a timeout), serve_forever closes the server.
            let server = echo_server().await;
            let addr = server.local_addr().unwrap();
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            assert!(ringloop::wait_for(SHORT, server.serve_forever()).await.is_err());
            assert!(!server.is_serving());
            assert!(becomes_refused(addr).await);
            round_trip(&mut reader, &writer, "still served\n").await;

            // Dropping the Server closes it too; its connections go on.
            let server = echo_server().await;
            let addr = server.local_addr().unwrap();
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            round_trip(&mut reader, &writer, "one\n").await;
            drop(server);
            assert!(becomes_refused(addr).await);
            round_trip(&mut reader, &writer, "two\n").await;
        });
    }
}

matrix_test! {
    fn a_panicking_handler_does_not_stop_the_server(mode) {
        if !is_child() {
            // In a child, to see what it prints on stderr.
            let output = run_child(&matrix_test_name(module_path!(), mode), &[]);
            assert!(output.success, "{output:#?}");
            assert!(
                output.stderr.contains("Task exception was never retrieved")
                    && output.stderr.contains("handler panics on purpose"),
                "the panic was not reported: {output:#?}"
            );
            return;
        }
        mode.run(async {
            let server = start_server(
                |mut reader: StreamReader, writer: StreamWriter| async move {
                    let line = reader.readline().await.unwrap();
                    if line == b"panic\n" {
                        panic!("handler panics on purpose");
                    }
                    writer.write(&line).unwrap();
                    echo_lines(reader, writer).await;
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            round_trip(&mut reader, &writer, "first\n").await;
            for _ in 0..3 {
                let (mut reader, writer) = open_connection(addr).await.unwrap();
                writer.write(b"panic\n").unwrap();
                // The panicking handler's connection is closed.
                let r = ringloop::wait_for(step(), reader.read(10)).await.unwrap();
                assert!(matches!(&r, Ok(v) if v.is_empty()) || r.is_err(), "{r:?}");
            }
            assert!(server.is_serving());
            round_trip(&mut reader, &writer, "old connection\n").await;
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            round_trip(&mut reader, &writer, "new connection\n").await;
            assert!(sleep_until_cond(step(), || server.clients() == 2).await, "{}", server.clients());
        });
    }
}

matrix_test! {
    fn unix_servers(mode) {
        mode.run(async {
            let path = socket_path(&format!("server-{:?}", mode));
            let _ = std::fs::remove_file(&path);
            let server = start_unix_server(echo_lines, &path).await.unwrap();
            assert_eq!(server.unix_path(), Some(path.as_path()));
            assert!(server.local_addrs().is_empty());
            assert!(server.local_addr().is_err());
            let (mut reader, writer) = open_unix_connection(&path).await.unwrap();
            round_trip(&mut reader, &writer, "over unix\n").await;
            // Closing removes the socket file; the connection is still served.
            server.close();
            assert!(!path.exists(), "the socket file is left");
            round_trip(&mut reader, &writer, "still\n").await;
            let e = open_unix_connection(&path).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            drop(writer);
            ringloop::wait_for(step(), server.wait_closed()).await.unwrap();

            // A stale socket file (left by a listener that is gone) is replaced.
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
            assert!(path.exists());
            let server = start_unix_server(echo_lines, &path).await.unwrap();
            let (mut reader, writer) = open_unix_connection(&path).await.unwrap();
            round_trip(&mut reader, &writer, "replaced\n").await;
            drop(server);
            assert!(!path.exists(), "dropping the server removes the file");

            // Any other file is an error, and is left alone.
            std::fs::write(&path, b"not a socket").unwrap();
            let e = start_unix_server(echo_lines, &path).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
            assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
            std::fs::remove_file(&path).unwrap();
        });
    }
}

matrix_test! {
    fn open_connection_to_a_closed_port_is_refused(mode) {
        mode.run(async {
            let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            ringloop::sleep(Duration::from_millis(10)).await;
            let e = ringloop::wait_for(step(), open_connection(addr)).await.unwrap().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
            let e = open_unix_connection(socket_path("nobody")).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        });
    }
}

matrix_test! {
    fn a_handler_that_returns_closes_its_connection(mode) {
        mode.run(async {
            let server = start_server(
                |_reader, writer: StreamWriter| async move {
                    // Returns at once, its writer still holding the data.
                    writer.write(&support::pattern(256 * 1024, 5)).unwrap();
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let (mut reader, _writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
            let got = ringloop::wait_for(step(), reader.read_to_end()).await.unwrap().unwrap();
            assert!(got == support::pattern(256 * 1024, 5), "got {} bytes", got.len());
            assert!(sleep_until_cond(step(), || server.clients() == 0).await);
        });
    }
}

/// Sets this process's soft limit of open descriptors.
fn set_nofile_soft(soft: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call to fill.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(r, 0, "getrlimit");
    limit.rlim_cur = soft.min(limit.rlim_max);
    // SAFETY: `limit` is a valid rlimit; lowering the soft limit needs no privilege.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(r, 0, "setrlimit");
}

matrix_test! {
    fn accepts_survive_running_out_of_descriptors(mode) {
        if !is_child() {
            // Alone in a process: the descriptor limit is the process's.
            let output = run_child(&matrix_test_name(module_path!(), mode), &[]);
            assert!(output.success, "{output:#?}");
            assert!(
                output.stderr.contains("accept failed") && output.stderr.contains("retrying in"),
                "the accept loop never hit the limit: {output:#?}"
            );
            return;
        }
        // Lowered before the runtime starts: io_uring reads the limit when it
        // prepares an accept, and a multishot accept is prepared once.
        set_nofile_soft(256);
        mode.run(async {
            let server = echo_server().await;
            let addr = server.local_addr().unwrap();
            let (mut first, first_writer) = open_connection(addr).await.unwrap();
            round_trip(&mut first, &first_writer, "before\n").await;
            // Every descriptor taken but one, which the next client's socket gets:
            // the server has none left to accept it with.
            let mut fillers = Vec::new();
            loop {
                match std::fs::File::open("/dev/null") {
                    Ok(f) => fillers.push(f),
                    Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            fillers.pop();
            let (mut reader, writer) = open_connection(addr).await.unwrap();
            writer.write(b"waiting\n").unwrap();
            // The server retries (with a back-off) and serves the old connection.
            ringloop::sleep(Duration::from_millis(200)).await;
            assert_eq!(server.clients(), 1, "accepted without a descriptor?");
            round_trip(&mut first, &first_writer, "during\n").await;
            drop(fillers);
            let got = ringloop::wait_for(step(), reader.readline()).await;
            assert_eq!(got.expect("not accepted once descriptors were free").unwrap(), b"waiting\n");
            assert!(server.is_serving());
            drop(writer);
        });
    }
}
