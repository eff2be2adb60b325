//! The example servers (`examples/echo_server.rs`, `examples/chat.rs`) stop
//! cleanly on `SIGTERM` and `SIGINT`, on every driver: each runs in a child process
//! (this test binary, re-run), serves a client, gets the signal, and exits with
//! its listener closed and its runtime dropped, so that the same address can be
//! bound the moment the process is gone. Ten times in a row for each.
//!
//! Before, a signal killed the process with its io_uring ring open, and the
//! kernel tears a ring down in the background after the process exits: binding
//! at once failed with `EADDRINUSE` about 4 times in 10.

// Both examples include `examples/support/shutdown.rs`, as a module of their own.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/echo_server.rs"]
mod echo_server;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use ringloop::net::{ListenOptions, TcpListener};
use support::{matrix_test_name, Mode};

/// In a child: which server to run, and where (`echo 127.0.0.1:PORT`).
const SERVE_ENV: &str = "RINGLOOP_TEST_SERVE";

/// Restarts of each server.
const RESTARTS: usize = 10;

/// In the child process: runs the server `SERVE_ENV` names until it is signalled.
/// Returns `false` in the parent.
fn serve_if_child() -> bool {
    let Ok(spec) = std::env::var(SERVE_ENV) else {
        return false;
    };
    let (which, addr) = spec.split_once(' ').expect("SERVE_ENV: `NAME ADDR`");
    let served = match which {
        "echo" => echo_server::serve(addr.to_string(), false),
        "chat" => chat::serve(addr.to_string()),
        other => panic!("no server {other}"),
    };
    served.unwrap();
    true
}

/// Starts `server` on `addr` in a child (this test, re-run with `SERVE_ENV`),
/// waits for its `Serving on` line, has a client talk to it, stops it with
/// `signal`, waits for it to exit, and binds `addr` at once.
fn serve_stop_rebind(test: &str, mode: Mode, server: &str, addr: SocketAddr, signal: i32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(SERVE_ENV, format!("{server} {addr}"))
        .envs(mode.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("{server}: exited before serving: {:?}", child.wait());
        }
        // libtest's `test NAME ... ` may come first on the line.
        if let Some(at) = line.find("Serving on") {
            assert_eq!(line[at..].trim(), format!("Serving on {addr}"), "{server}");
            break;
        }
    }
    // A client: its connection is accepted (the accept is armed), it is served.
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    match server {
        "echo" => {
            client.write_all(b"ping").unwrap();
            client.read_exact(&mut buf[..4]).unwrap();
            assert_eq!(&buf[..4], b"ping");
        }
        _ => {
            // A read with a timeout (SO_RCVTIMEO) is not restarted after a signal
            // handler, even with SA_RESTART: EINTR is no answer, read again.
            let n = loop {
                match client.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other.unwrap(),
                }
            };
            assert!(buf[..n].starts_with(b"* welcome"), "{server}");
        }
    }
    // SAFETY: kill has no memory effects; the pid is our child's, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    // The moment it is gone, as a restarted server would.
    let rebound = TcpListener::bind_with(addr, &ListenOptions::new());
    assert!(
        rebound.is_ok(),
        "{mode:?}: {server} stopped by signal {signal} ({status}): binding {addr} at once: {:?}",
        rebound.err()
    );
    let mut rest = String::new();
    let _ = out.read_to_string(&mut rest);
    assert!(
        status.success(),
        "{server}: {status} after signal {signal}\n{rest}"
    );
    drop((rebound, client));
}

fn restarts(module_path: &str, mode: Mode, server: &str) {
    if serve_if_child() {
        return;
    }
    let test = matrix_test_name(module_path, mode);
    let addr = support::net::unused_port_addr();
    for i in 0..RESTARTS {
        let signal = if i % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        serve_stop_rebind(&test, mode, server, addr, signal);
    }
}

matrix_test! {
    fn the_echo_server_restarts_on_its_address_at_once(mode) {
        restarts(module_path!(), mode, "echo");
    }
}

matrix_test! {
    fn the_chat_server_restarts_on_its_address_at_once(mode) {
        restarts(module_path!(), mode, "chat");
    }
}
