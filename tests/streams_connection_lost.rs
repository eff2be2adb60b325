//! A reset is not a clean end of stream: the kernel reports `ECONNRESET` once, to
//! the first operation on the socket after it, and the reader and the writer of a
//! connection share what either saw (`src/net/streams/transport.rs`).
//!
//! * the writer's send meets the reset: the reader's next read ends with the
//!   error after the bytes that came before it, never with a clean end;
//! * the reader meets it: the writer's next write and drain fail with it;
//! * the writer's send fails while the reader waits (a Unix peer that stopped
//!   reading, where nothing else wakes the reader): the connection ends for both
//!   halves with the send's error, as asyncio's `_fatal_error` ends a transport;
//!   the peer sees the end, and `write_eof` fails;
//! * 25 clients that send a line, half of another and reset, against a readline
//!   server whose writer sends to them all the time: every half line ends with the
//!   error (the writer's task and the reader's run in either order).

mod support;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use std::net::Shutdown;

use ringloop::net::{
    start_server, ReadUntilError, StreamReader, StreamWriter, TcpStream, UnixStream,
};
use support::net::resetting_tcp_pair;
use support::step;
use support::streams::{fill, is_reset};

/// The I/O error of a read that ended early, or a description of what came.
fn incomplete_error(r: Result<Vec<u8>, ReadUntilError>) -> (Vec<u8>, io::Error) {
    match r {
        Err(ReadUntilError::Incomplete(e)) => {
            let partial = e.partial.clone();
            let error = e.error.unwrap_or_else(|| {
                panic!(
                    "a clean end of stream after {:?}",
                    String::from_utf8_lossy(&partial)
                )
            });
            (partial, error)
        }
        Ok(line) => panic!("a line: {:?}", String::from_utf8_lossy(&line)),
        Err(e) => panic!("{e}"),
    }
}

matrix_test! {
    fn a_reset_the_writer_met_ends_the_readers_stream_with_it(mode) {
        mode.run(async {
            let (resetting, other) = resetting_tcp_pair().await;
            let (mut reader, writer) = other.into_streams();
            resetting.write_all(b"half a line".to_vec()).await.0.unwrap();
            fill(&mut reader, 11).await;
            drop(resetting);
            // The writer's send is the first to touch the socket after the reset:
            // the kernel reports it there, and the reader's receive sees an end.
            ringloop::sleep(Duration::from_millis(20)).await;
            writer.write(b"x").unwrap();
            let e = ringloop::wait_for(step(), writer.wait_closed())
                .await
                .expect("the send never failed")
                .unwrap_err();
            assert!(is_reset(&e), "{e}");
            let (partial, error) = incomplete_error(
                ringloop::wait_for(step(), reader.readline()).await.unwrap(),
            );
            assert_eq!(partial, b"half a line");
            assert!(is_reset(&error), "{error}");
            assert!(!reader.at_eof());
            let again = ringloop::wait_for(step(), reader.read(10)).await.unwrap();
            assert!(again.as_ref().is_err_and(is_reset), "{again:?}");
            assert!(reader.exception().as_ref().is_some_and(is_reset));
        });
    }
}

matrix_test! {
    fn a_reset_the_reader_met_fails_the_next_write(mode) {
        mode.run(async {
            let (resetting, other) = resetting_tcp_pair().await;
            let (mut reader, writer) = other.into_streams();
            drop(resetting);
            let e = ringloop::wait_for(step(), reader.read(10)).await.unwrap().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{e}");
            // Not accepted to be sent into a connection known to be gone.
            let e = writer.write(b"more").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{e}");
            assert!(writer.is_closing());
            let e = writer.drain().await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{e}");
            let e = ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{e}");
        });
    }
}

matrix_test! {
    fn a_failed_send_ends_the_waiting_readline_with_its_error(mode) {
        mode.run(async {
            let (peer, ours) = UnixStream::pair().unwrap();
            let (mut reader, writer) = ours.into_streams();
            peer.write_all(b"half a line".to_vec()).await.0.unwrap();
            fill(&mut reader, 11).await;
            // A Unix socket whose peer shut its reading half down fails sends with
            // EPIPE, while the peer's sending half stays open: nothing reaches the
            // reader's receive but what the writer's failure does.
            peer.shutdown(Shutdown::Read).unwrap();
            let reading = ringloop::spawn(async move {
                let line = reader.readline().await;
                (reader, line)
            });
            ringloop::sleep(Duration::from_millis(10)).await;
            writer.write(b"a reply").unwrap();
            let (mut reader, line) = ringloop::wait_for(step(), reading)
                .await
                .expect("the reader was not told that the send failed")
                .unwrap();
            let (partial, error) = incomplete_error(line);
            assert_eq!(partial, b"half a line");
            assert_eq!(error.raw_os_error(), Some(libc::EPIPE), "{error}");
            let again = reader.read(10).await.unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::EPIPE), "{again}");
            assert!(!reader.at_eof());
            // The writer's later calls fail with it, `write_eof` included.
            let e = writer.write_eof().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
            let e = writer.write(b"more").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
            let e = writer.drain().await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
            let e = ringloop::wait_for(step(), writer.wait_closed()).await.unwrap().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
            // The peer sees the connection end while both halves are still held:
            // its sends fail (its reads end at once: it shut them down itself).
            let (sent, _) = peer.write(b"more".to_vec()).await;
            let e = sent.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
            drop((reader, writer));
        });
    }
}

/// How a readline server's connection ended: the lines it read, then the end.
#[derive(Debug)]
struct Ending {
    lines: Vec<Vec<u8>>,
    /// The last readline: `Ok` (a clean end, with the last bytes) or the error.
    end: Result<Vec<u8>, (Vec<u8>, io::ErrorKind)>,
}

/// Reads lines until the end; meanwhile a task writes to the client all the time.
async fn readline_server(
    mut reader: StreamReader,
    writer: StreamWriter,
    endings: Rc<RefCell<Vec<Ending>>>,
) {
    let writer = Rc::new(writer);
    let ticker = {
        let writer = writer.clone();
        ringloop::spawn(async move {
            while writer.write(b"tick\n").is_ok() && writer.drain().await.is_ok() {
                ringloop::yield_now().await;
            }
        })
    };
    let mut lines = Vec::new();
    let end = loop {
        match reader.readline().await {
            Ok(line) if line.ends_with(b"\n") => lines.push(line),
            Ok(last) => break Ok(last),
            Err(ReadUntilError::Incomplete(e)) => {
                let kind = e
                    .error
                    .as_ref()
                    .map_or(io::ErrorKind::Other, io::Error::kind);
                break Err((e.partial, kind));
            }
            Err(e) => panic!("{e}"),
        }
    };
    ticker.cancel();
    endings.borrow_mut().push(Ending { lines, end });
}

matrix_test! {
    fn reset_clients_against_a_readline_server(mode) {
        const CLIENTS: usize = 25;
        mode.run(async {
            let endings = Rc::new(RefCell::new(Vec::new()));
            let server = {
                let endings = endings.clone();
                start_server(
                    move |r, w| readline_server(r, w, endings.clone()),
                    "127.0.0.1:0",
                )
                .await
                .unwrap()
            };
            let addr = server.local_addr().unwrap();
            let mut clients = Vec::new();
            for i in 0..CLIENTS {
                let std_stream = std::net::TcpStream::connect(addr).unwrap();
                let linger = libc::linger { l_onoff: 1, l_linger: 0 };
                nix::sys::socket::setsockopt(&std_stream, nix::sys::socket::sockopt::Linger, &linger)
                    .unwrap();
                let client = TcpStream::from_std(std_stream).unwrap();
                client.write_all(format!("line {i}\nhalf {i}").into_bytes()).await.0.unwrap();
                clients.push(client);
            }
            // Once the ticks flow (the server's writers are sending), every client
            // resets its connection.
            for client in &clients {
                let (n, _) = ringloop::wait_for(step(), client.read(Vec::with_capacity(16)))
                    .await
                    .expect("no tick");
                assert!(n.unwrap() > 0);
            }
            ringloop::sleep(Duration::from_millis(10)).await;
            drop(clients);
            let done = support::sleep_until_cond(step(), || endings.borrow().len() == CLIENTS).await;
            assert!(done, "{} of {CLIENTS} connections ended", endings.borrow().len());
            let mut clean = Vec::new();
            for ending in endings.borrow().iter() {
                assert_eq!(ending.lines.len(), 1, "{ending:?}");
                let i = String::from_utf8_lossy(&ending.lines[0])
                    .trim_start_matches("line ")
                    .trim_end()
                    .to_string();
                match &ending.end {
                    Err((partial, kind)) => {
                        assert_eq!(partial, format!("half {i}").as_bytes());
                        assert!(
                            matches!(kind, io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe),
                            "{kind:?}"
                        );
                    }
                    Ok(last) => clean.push(String::from_utf8_lossy(last).into_owned()),
                }
            }
            assert!(clean.is_empty(), "reset connections ended cleanly after {clean:?}");
            server.close();
        });
    }
}
