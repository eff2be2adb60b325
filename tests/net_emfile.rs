//! A server out of descriptors (`EMFILE`) backs off and resumes once descriptors
//! free up, on every driver: multishot accept (the op ends with `-EMFILE`; the next
//! accept re-arms it), single-shot accepts (5.10 mask), `accept4` (epoll).
//!
//! The server runs in a child process whose `RLIMIT_NOFILE` leaves room for only
//! [`ROOM`] more descriptors; the clients live in this (parent) process, which has
//! the normal limit. The child prints its port; the parent connects [`CLIENTS`]
//! clients that each send a line, wait for its echo, and keep their connection open
//! until released. So the server fills its descriptors, its accept fails with
//! `EMFILE` (it logs "accept failed ... retrying"), and it must not die. Once the
//! parent sees that log line it releases the clients; each closes after its echo,
//! which frees a descriptor in the server, and every client must get its echo.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use support::{is_child, matrix_test_name, Mode, CHILD_ENV};

/// Descriptors the server may still open after it started listening.
const ROOM: usize = 3;
const CLIENTS: usize = 12;
const LIMIT: Duration = Duration::from_secs(30);

/// Lowers the soft `RLIMIT_NOFILE` so that exactly `room` descriptors can still be
/// opened: the lowest `room` free numbers are below the limit, no other is.
fn leave_room_for(room: usize) {
    let mut free = 0;
    let mut fd = 0;
    let limit = loop {
        // SAFETY: F_GETFD only queries the descriptor table.
        let rc = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if rc == -1 {
            free += 1;
            if free == room {
                break fd + 1;
            }
        }
        fd += 1;
    };
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a live `rlimit` for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    rl.rlim_cur = limit as libc::rlim_t;
    // SAFETY: `rl` is a valid `rlimit`; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
}

/// The child: an echo server with room for `ROOM` descriptors, until it has served
/// every client.
fn serve(mode: Mode) {
    let served = Rc::new(std::cell::Cell::new(0usize));
    let s = served.clone();
    mode.run(async move {
        let server = ringloop::net::start_server(
            move |mut reader, writer| {
                let served = s.clone();
                async move {
                    let line = reader.readline().await.unwrap();
                    writer.write(&line).unwrap();
                    writer.drain().await.unwrap();
                    // Hold the connection (and its descriptor) until the client
                    // closes it.
                    while !reader.read(64).await.unwrap_or_default().is_empty() {}
                    served.set(served.get() + 1);
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        // The accept loop has not run yet (nothing yielded): the limit applies to
        // every accept, the first multishot one included.
        leave_room_for(ROOM);
        // (On a line of its own: libtest has printed "test ... " without a newline.)
        println!("\nPORT {}", server.local_addr().unwrap().port());
        let all = async {
            while served.get() < CLIENTS {
                ringloop::sleep(Duration::from_millis(5)).await;
            }
        };
        ringloop::wait_for(LIMIT, all)
            .await
            .unwrap_or_else(|_| panic!("served {} of {CLIENTS}", served.get()));
        server.close();
        ringloop::wait_for(LIMIT, server.wait_closed())
            .await
            .unwrap();
    });
}

enum Line {
    Out(String),
    Err(String),
}

/// The parent: starts the child, drives the clients, checks both sides.
fn drive(mode: Mode, test_name: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    let err = BufReader::new(child.stderr.take().unwrap());
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        out.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(Line::Out(l))))
    });
    std::thread::spawn(move || {
        err.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx2.send(Line::Err(l))))
    });
    let deadline = Instant::now() + LIMIT;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    // Reads the child's output until `want` matches a line (or the time is up).
    let wait_for_line =
        |want: &dyn Fn(&Line) -> bool, stdout: &mut Vec<String>, stderr: &mut Vec<String>| loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                return false;
            };
            let found = want(&line);
            match line {
                Line::Out(l) => stdout.push(l),
                Line::Err(l) => stderr.push(l),
            }
            if found {
                return true;
            }
        };
    let got_port = wait_for_line(
        &|l| matches!(l, Line::Out(l) if l.starts_with("PORT ")),
        &mut stdout,
        &mut stderr,
    );
    assert!(
        got_port,
        "{mode:?}: no port from the child:\n{stdout:#?}\n{stderr:#?}"
    );
    let port: u16 = stdout.last().unwrap()["PORT ".len()..].parse().unwrap();

    let echoed = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (echoed, release) = (echoed.clone(), release.clone());
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream.set_read_timeout(Some(LIMIT)).unwrap();
                let msg = format!("hello {i}\n");
                stream.write_all(msg.as_bytes()).unwrap();
                let mut got = vec![0; msg.len()];
                stream
                    .read_exact(&mut got)
                    .unwrap_or_else(|e| panic!("client {i}: {e}"));
                assert_eq!(got, msg.as_bytes(), "client {i}");
                echoed.fetch_add(1, SeqCst);
                let deadline = Instant::now() + LIMIT;
                while !release.load(SeqCst) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();

    // The server runs out of descriptors and says so, without dying.
    let failed = wait_for_line(
        &|l| matches!(l, Line::Err(l) if l.contains("accept failed")),
        &mut stdout,
        &mut stderr,
    );
    assert!(
        failed,
        "{mode:?}: the server never hit its limit:\n{stdout:#?}\n{stderr:#?}"
    );
    let emfile = stderr.last().unwrap().clone();
    assert!(
        emfile.contains("Too many open files") && emfile.contains("retrying"),
        "{emfile}"
    );
    // While nobody closes, it serves at most as many clients as it has room for.
    let start = Instant::now();
    while echoed.load(SeqCst) == 0 && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = echoed.load(SeqCst);
    assert!(
        (1..=ROOM).contains(&before),
        "{mode:?}: {before} echoes with room for {ROOM}"
    );
    assert!(!matches!(child.try_wait(), Ok(Some(_))), "the server died");

    // Released, the clients close one by one as they are served: all are.
    release.store(true, SeqCst);
    for (i, client) in clients.into_iter().enumerate() {
        client
            .join()
            .unwrap_or_else(|_| panic!("{mode:?}: client {i} failed"));
    }
    assert_eq!(echoed.load(SeqCst), CLIENTS);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{mode:?}: the server did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Collect the rest of its output.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        match line {
            Line::Out(l) => stdout.push(l),
            Line::Err(l) => stderr.push(l),
        }
    }
    assert!(
        status.success() && stdout.iter().any(|l| l.contains("1 passed")),
        "{mode:?}: {status:?}\n{stdout:#?}\n{stderr:#?}"
    );
}

matrix_test! {
    fn accept_backs_off_under_emfile_and_resumes(mode) {
        if is_child() {
            serve(mode);
        } else {
            drive(mode, &matrix_test_name(module_path!(), mode));
        }
    }
}
