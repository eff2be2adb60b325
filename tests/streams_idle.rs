//! 10,000 idle connections to a `start_server` echo server, each handler idle in
//! `reader.read()`: the memory per connection, printed (heap from a counting
//! allocator, and RSS from /proc/self/status, divided by 10,000), then every
//! connection still echoes.
//!
//! The server runs alone in a child process per driver (one driver at a time),
//! and its clients in a grandchild process: 10,000 descriptors on each side fit a
//! 20,000 hard RLIMIT_NOFILE, which an unprivileged process (or a container) may
//! not raise, and the server's figures are its own. The client process reports
//! its own RSS per (bare `TcpStream`) connection too.
//!
//! ```text
//!   test ──run_child──▶ server child ──spawn──▶ client grandchild
//!                        start_server           connects 10,000  ──"connected"──▶
//!                        measures           ◀── "echo" ── echoes each ──"echoed"──▶
//!                        closes stdin ──▶ exits; handlers end; wait_closed
//! ```

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringloop::net::{start_server, StreamReader, StreamWriter, TcpStream};
use support::alloc::Counting;
use support::{is_child, matrix_test_name, run_child, sleep_until_cond, Mode, CHILD_ENV};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONNECTIONS: usize = 10_000;
/// Connections opened at once.
const BATCH: usize = 500;
/// Environment of the client process: the server's address, and the mode.
const ADDR_ENV: &str = "RINGLOOP_IDLE_ADDR";
const MODE_ENV: &str = "RINGLOOP_IDLE_MODE";
const CLIENT_TEST: &str = "idle_clients";

/// One server child at a time: three drivers with 20,000 connections at once
/// would only slow each other down on a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The process's resident set, in bytes.
fn vm_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in kB");
    kb * 1024
}

/// Raises the soft RLIMIT_NOFILE to `want` (at most the hard limit); returns the
/// soft limit now in force.
fn raise_nofile(want: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call to fill.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(r, 0, "getrlimit");
    limit.rlim_cur = want.min(limit.rlim_max);
    // SAFETY: a valid rlimit, the soft limit within the hard one.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(r, 0, "setrlimit");
    limit.rlim_cur
}

/// How many connections fit this process's descriptor limit (with room to spare).
fn connections_that_fit() -> usize {
    let limit = raise_nofile(CONNECTIONS as u64 + 512);
    let n = CONNECTIONS.min((limit as usize).saturating_sub(512));
    if n < CONNECTIONS {
        println!("measured: RLIMIT_NOFILE {limit} fits only {n} connections");
    }
    assert!(n >= 1000, "RLIMIT_NOFILE {limit} is too low for this test");
    n
}

/// Echoes whatever arrives; idle in `read` in between.
async fn echo(mut reader: StreamReader, writer: StreamWriter) {
    while let Ok(data) = reader.read(4096).await {
        if data.is_empty() || writer.write(&data).is_err() {
            break;
        }
    }
}

/// The client process, killed if the server side panics first.
struct ClientProcess {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl ClientProcess {
    fn spawn(addr: std::net::SocketAddr, mode: Mode, connections: usize) -> ClientProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                CLIENT_TEST,
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .env(ADDR_ENV, addr.to_string())
            .env(MODE_ENV, format!("{mode:?}"))
            .env("RINGLOOP_IDLE_CONNECTIONS", connections.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the client process");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        ClientProcess {
            child,
            stdout: Some(stdout),
        }
    }

    /// Waits (on the blocking pool, the loop serving meanwhile) for the client's
    /// line starting with `word`, forwarding its measurements.
    async fn expect(&mut self, word: &'static str) {
        let mut stdout = self.stdout.take().unwrap();
        let job = ringloop::to_thread(move || {
            let mut seen = Vec::new();
            loop {
                let mut line = String::new();
                if stdout.read_line(&mut line).unwrap() == 0 {
                    panic!("the client process ended before {word:?}: {seen:?}");
                }
                if let Some(at) = line.find("measured:") {
                    println!("{}", line[at..].trim_end());
                }
                if line.starts_with(word) {
                    return stdout;
                }
                seen.push(line);
            }
        });
        let stdout = ringloop::wait_for(Duration::from_secs(40), job)
            .await
            .unwrap_or_else(|_| panic!("no {word:?} from the client process"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        self.stdout = Some(stdout);
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes its stdin (it closes its connections and exits) and waits for it.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the client process failed: {status}");
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if self.child.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

matrix_test! {
    fn ten_thousand_idle_connections(mode) {
        if !is_child() {
            let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            let output = run_child(&matrix_test_name(module_path!(), mode), &[]);
            assert!(output.success, "{output:#?}");
            for line in output.stdout.lines() {
                if let Some(at) = line.find("measured:") {
                    eprintln!("{mode:?} {}", &line[at..]);
                }
            }
            return;
        }
        let connections = connections_that_fit();
        let started = Instant::now();
        mode.run(async move {
            let server = start_server(echo, "127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            // Warm up: the first connection allocates the tables' first slots.
            let warm = TcpStream::connect(addr).await.unwrap();
            assert!(sleep_until_cond(support::step(), || server.clients() == 1).await);
            ringloop::sleep(Duration::from_millis(50)).await;
            let (heap_before, rss_before) = (support::alloc::current(), vm_rss());

            let mut clients = ClientProcess::spawn(addr, mode, connections);
            clients.expect("connected").await;
            assert!(
                sleep_until_cond(Duration::from_secs(30), || server.clients() == connections + 1).await,
                "the server has {} of {} connections",
                server.clients(),
                connections + 1
            );
            // Every handler reaches its read and parks there.
            ringloop::sleep(Duration::from_millis(200)).await;
            let heap = support::alloc::current().saturating_sub(heap_before);
            let rss = vm_rss().saturating_sub(rss_before);
            println!(
                "measured: server: {connections} idle connections (a task idle in \
                 StreamReader::read() each) after {:.1} s: heap {} bytes, RSS {} bytes per \
                 connection",
                started.elapsed().as_secs_f64(),
                heap / connections,
                rss / connections,
            );
            assert_eq!(server.clients(), connections + 1);
            // Generous: an idle connection holds a few small structures, and its
            // 4 KiB receive buffer where a receive is in flight (about 5.6 KB in
            // all on epoll and io_uring 5.10, 1.6 KB with the multishot receive,
            // when this was written).
            assert!(heap / connections < 16 * 1024, "{} heap bytes per idle connection", heap / connections);

            clients.tell("echo");
            clients.expect("echoed").await;
            assert_eq!(server.clients(), connections + 1, "a connection was lost");
            clients.finish();
            drop(warm);
            server.close();
            ringloop::wait_for(Duration::from_secs(30), server.wait_closed())
                .await
                .expect("the handlers did not finish after their clients left");
            println!("measured: done in {:.1} s", started.elapsed().as_secs_f64());
        });
    }
}

/// The client process of `ten_thousand_idle_connections`: connects, reports,
/// echoes when told, exits when its stdin closes. Does nothing when run otherwise.
#[test]
#[ignore = "the client process of ten_thousand_idle_connections"]
fn idle_clients() {
    let (Ok(addr), Ok(mode)) = (std::env::var(ADDR_ENV), std::env::var(MODE_ENV)) else {
        return;
    };
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let mode = Mode::ALL
        .into_iter()
        .find(|m| format!("{m:?}") == mode)
        .expect("a mode");
    let connections: usize = std::env::var("RINGLOOP_IDLE_CONNECTIONS")
        .unwrap()
        .parse()
        .unwrap();
    connections_that_fit();
    let rt = mode.runtime();
    let rss_before = vm_rss();
    let clients = rt.block_on(async {
        let mut clients: Vec<TcpStream> = Vec::with_capacity(connections);
        while clients.len() < connections {
            let n = BATCH.min(connections - clients.len());
            let batch = (0..n).map(|_| TcpStream::connect(addr));
            let connected = ringloop::wait_for(support::step(), ringloop::gather_all(batch))
                .await
                .expect("a batch of connects took too long");
            for c in connected {
                clients.push(c.expect("connect"));
            }
        }
        clients
    });
    println!(
        "measured: client: {} bytes of RSS per connection (a bare TcpStream)",
        vm_rss().saturating_sub(rss_before) / connections
    );
    println!("connected");
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    if stdin.read_line(&mut line).unwrap() == 0 {
        return;
    }
    assert_eq!(line.trim(), "echo");
    rt.block_on(async {
        for (b, batch) in clients.chunks(BATCH).enumerate() {
            let trips = batch.iter().enumerate().map(|(i, c)| async move {
                let msg = format!("ping {b} {i}");
                c.write_all(msg.clone().into_bytes()).await.0.unwrap();
                let mut got = Vec::new();
                while got.len() < msg.len() {
                    let (n, buf) = c.read(Vec::with_capacity(64)).await;
                    let n = n.unwrap();
                    assert!(n > 0, "connection {b}/{i} closed");
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, msg.as_bytes());
            });
            ringloop::wait_for(support::step(), ringloop::gather_all(trips))
                .await
                .expect("a batch of echoes took too long");
        }
    });
    println!("echoed");
    // Until the server side is done with us.
    while stdin.read_line(&mut line).unwrap() != 0 {}
    rt.block_on(async move { drop(clients) });
}
