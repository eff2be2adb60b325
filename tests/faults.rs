//! Sockets, streams and files under injected faults (cargo feature
//! `fault-injection`; `src/driver/fault.rs`): operations fail with the errors the
//! kernel gives them (`EINTR`, `EAGAIN`, `ECANCELED`, `ENOBUFS`, `ENOMEM`,
//! `ECONNRESET`) or move fewer bytes, at a seeded rate, on every driver. Randomized
//! scenarios check invariants rather than exact success:
//!
//! * **raw sockets and files**, one operation at a time: an operation during which
//!   an error was injected returns that error, one without returns `Ok`; the bytes
//!   each successful operation reports are exactly the ones that arrive (a model of
//!   the file; the stream's bytes in order), so none is lost or duplicated;
//! * **streams**: an echo server (`start_server`) and clients that send random
//!   messages, half-close and read the echo: what a client receives is always a
//!   prefix of what it sent (nothing lost in the middle, nothing duplicated), and
//!   an exchange cut short is explained by an error one of the two sides was given;
//! * **a failed send** (forced with `fault::fail_next_send`: `ECONNRESET`,
//!   `ENOMEM`, `ENOBUFS`, `ECANCELED`) while the reader waits for a reply the peer
//!   never sends: the connection ends for both halves with that error (the
//!   reader's wait, `write_eof`, `drain`), and the peer sees the end;
//! * everywhere: no panic, and no descriptor left open after each seed (each test
//!   runs alone in a child process to count them).
//!
//! `RINGLOOP_FAULT_SEEDS=N` runs seeds `0..N` (default 16), `RINGLOOP_FAULT_RATE`
//! sets the rate per mille (default 100). A failure names its seed.

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::fault;
use ringloop::net::{open_connection, start_server, ReadUntilError, StreamReader, StreamWriter};
use ringloop::net::{TcpListener, TcpStream, UnixStream};
use support::net::fd_baseline;
use support::{isolated, open_fds, Mode, Rng};

/// The seeds to run.
fn seeds() -> std::ops::Range<u64> {
    let n = std::env::var("RINGLOOP_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16);
    0..n
}

/// Faults per thousand operations.
fn rate() -> u32 {
    std::env::var("RINGLOOP_FAULT_RATE")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// How long a whole seed's scenario may take before it counts as hung.
const GUARD: Duration = Duration::from_secs(15);

/// Runs `scenario` for every seed on `mode`, with faults injected into the
/// runtime's thread, in a child process; checks the descriptor count after each.
fn under_faults<F, Fut>(mode: Mode, module_path: &str, scenario: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    isolated(mode, module_path, || {
        let base = fd_baseline(mode);
        let mut injected = 0;
        for seed in seeds() {
            fault::set(seed, rate());
            let finished = mode.run(ringloop::wait_for(GUARD, scenario(seed)));
            injected += fault::stats().injected;
            fault::clear();
            assert!(finished.is_ok(), "{mode:?} seed {seed}: hung");
            assert_eq!(open_fds(), base, "{mode:?} seed {seed}: descriptor leak");
        }
        // (The accepts of io_uring 5.19+ are one multishot op, armed about once
        // a seed: there may be nothing to inject into.)
        assert!(
            injected > 0 || (mode == Mode::Uring && module_path.ends_with("accepts_under_faults")),
            "{mode:?}: nothing was injected"
        );
        println!("measured: {injected} faults injected");
    });
}

/// Checks one operation's result against what the injector did meanwhile: the
/// last error injected during the call comes back, and only then an error.
fn check<T>(what: &str, seed: u64, before: fault::Stats, result: &io::Result<T>) {
    let after = fault::stats();
    if after.errors > before.errors {
        let expected = after.last_error;
        match result {
            Err(e) => assert_eq!(
                e.raw_os_error(),
                expected,
                "seed {seed}: {what}: another error than the injected one: {e}"
            ),
            Ok(_) => panic!(
                "seed {seed}: {what}: error {expected:?} was injected, but the call succeeded"
            ),
        }
    } else if let Err(e) = result {
        panic!("seed {seed}: {what}: an error nobody injected: {e}");
    }
}

/// Checks the result of a call made of several operations, some of which may
/// fail without harm (a size hint): an error it gives must be one injected
/// during the call.
fn check_composite<T>(what: &str, seed: u64, before: fault::Stats, result: &io::Result<T>) {
    if let Err(e) = result {
        let after = fault::stats();
        assert!(
            after.errors > before.errors,
            "seed {seed}: {what}: an error nobody injected: {e}"
        );
        assert!(
            matches!(
                e.raw_os_error(),
                Some(libc::ENOMEM | libc::ENOBUFS | libc::ECANCELED | libc::ECONNRESET)
            ),
            "seed {seed}: {what}: another error than the injected ones: {e}"
        );
    }
}

/// Retries `attempt` until it succeeds; each failure must be an injected error.
async fn until_ok<T, Fut: std::future::Future<Output = io::Result<T>>>(
    what: &str,
    seed: u64,
    mut attempt: impl FnMut() -> Fut,
) -> T {
    for _ in 0..1000 {
        let before = fault::stats();
        let result = attempt().await;
        check(what, seed, before, &result);
        if let Ok(value) = result {
            return value;
        }
    }
    panic!("seed {seed}: {what}: failed 1000 times");
}

/// A connected pair of raw stream sockets.
enum Pair {
    Tcp(TcpStream, TcpStream),
    Unix(UnixStream, UnixStream),
}

impl Pair {
    async fn write(&self, buf: Vec<u8>) -> io::Result<usize> {
        match self {
            Pair::Tcp(a, _) => a.write(buf).await.0,
            Pair::Unix(a, _) => a.write(buf).await.0,
        }
    }

    async fn read(&self, cap: usize) -> io::Result<Vec<u8>> {
        let (n, mut buf) = match self {
            Pair::Tcp(_, b) => b.read(Vec::with_capacity(cap)).await,
            Pair::Unix(_, b) => b.read(Vec::with_capacity(cap)).await,
        };
        let n = n?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// Raw sockets, one op at a time: every error comes back exactly, every byte
/// counted once.
async fn raw_sockets(seed: u64) {
    let mut rng = Rng::new(seed);
    let listener = until_ok("bind", seed, || TcpListener::bind("127.0.0.1:0")).await;
    let addr = listener.local_addr().unwrap();
    let client = until_ok("connect", seed, || TcpStream::connect(addr)).await;
    let (server, _) = until_ok("accept", seed, || listener.accept()).await;
    let (u1, u2) = UnixStream::pair().unwrap();
    for pair in [Pair::Tcp(client, server), Pair::Unix(u1, u2)] {
        let mut sent = Vec::new();
        let mut received = Vec::new();
        for round in 0..40 {
            let len = 1 + rng.below(64 * 1024) as usize;
            let data = support::pattern(len, (seed as u32) * 1000 + round);
            let before = fault::stats();
            let wrote = pair.write(data.clone()).await;
            check("write", seed, before, &wrote);
            if let Ok(n) = wrote {
                assert!(n <= len, "seed {seed}: wrote {n} of {len}");
                sent.extend_from_slice(&data[..n]);
            }
            while received.len() < sent.len() {
                let before = fault::stats();
                let read = pair.read(1 + rng.below(80 * 1024) as usize).await;
                check("read", seed, before, &read);
                if let Ok(bytes) = read {
                    assert!(!bytes.is_empty(), "seed {seed}: end of stream mid-way");
                    received.extend_from_slice(&bytes);
                }
            }
            assert_eq!(received.len(), sent.len(), "seed {seed}: bytes duplicated");
            assert!(received == sent, "seed {seed}: bytes lost or reordered");
        }
    }
}

/// Reads dropped in flight (timed out, or polled once and dropped) between
/// writes: on io_uring what such a read got goes to the next one. No byte is lost
/// or duplicated, and every error a read gives is one injected (into it or into a
/// dropped one before it), each at most once.
async fn dropped_reads(seed: u64) {
    let mut rng = Rng::new(seed);
    let listener = until_ok("bind", seed, || TcpListener::bind("127.0.0.1:0")).await;
    let addr = listener.local_addr().unwrap();
    let client = until_ok("connect", seed, || TcpStream::connect(addr)).await;
    let (server, _) = until_ok("accept", seed, || listener.accept()).await;
    let start = fault::stats();
    let mut errors_seen = 0;
    let mut sent = Vec::new();
    let mut received = Vec::new();
    let mut got = |result: io::Result<Vec<u8>>, received: &mut Vec<u8>| match result {
        Ok(bytes) => received.extend_from_slice(&bytes),
        Err(e) => {
            errors_seen += 1;
            assert!(
                matches!(
                    e.raw_os_error(),
                    Some(libc::ENOMEM | libc::ENOBUFS | libc::ECANCELED | libc::ECONNRESET)
                ),
                "seed {seed}: a read gave an error nobody injected: {e}"
            );
            assert!(
                errors_seen <= fault::stats().errors - start.errors,
                "seed {seed}: more read errors than injected errors"
            );
        }
    };
    let read = |cap: usize| {
        let fut = server.read(Vec::with_capacity(cap));
        async move {
            let (n, mut buf) = fut.await;
            buf.truncate(n?);
            Ok(buf)
        }
    };
    for round in 0..200u32 {
        match rng.below(3) {
            0 => {
                let len = 1 + rng.below(16 * 1024) as usize;
                let data = support::pattern(len, seed as u32 * 31 + round);
                // Only the client's writes count here: a write error is an
                // injected one, with nothing sent.
                if let Ok(n) = client.write(data.clone()).await.0 {
                    sent.extend_from_slice(&data[..n]);
                }
            }
            1 => {
                let timeout = Duration::from_micros(rng.below(2000));
                let cap = 1 + rng.below(8 * 1024) as usize;
                if let Ok(result) = ringloop::wait_for(timeout, read(cap)).await {
                    got(result, &mut received);
                }
            }
            _ => {
                let mut fut = Box::pin(read(1 + rng.below(8 * 1024) as usize));
                if let Poll::Ready(result) = support::poll_in_task(&mut fut).await {
                    got(result, &mut received);
                }
            }
        }
        assert!(
            received.len() <= sent.len() && sent[..received.len()] == received[..],
            "seed {seed}: received bytes that are not the ones sent, in order"
        );
    }
    while received.len() < sent.len() {
        let result = read(64 * 1024).await;
        got(result, &mut received);
    }
    assert!(received == sent, "seed {seed}: bytes lost or duplicated");
}

/// Several tasks accepting on one listener, their accepts given up at random
/// (a timeout drops them, maybe in flight), while clients connect: every client
/// is accepted exactly once, and an accept's error is an injected one.
async fn accepts(seed: u64) {
    let mut rng = Rng::new(seed);
    let listener = Rc::new(until_ok("bind", seed, || TcpListener::bind("127.0.0.1:0")).await);
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(RefCell::new(Vec::new()));
    let stop = Rc::new(std::cell::Cell::new(false));
    let acceptors: Vec<_> = (0..4)
        .map(|a| {
            let (listener, accepted, stop) = (listener.clone(), accepted.clone(), stop.clone());
            let mut rng = Rng::new(seed * 10 + a);
            ringloop::spawn(async move {
                while !stop.get() {
                    let timeout = Duration::from_micros(rng.below(3000));
                    match ringloop::wait_for(timeout, listener.accept()).await {
                        Ok(Ok((stream, peer))) => accepted.borrow_mut().push((peer, stream)),
                        Ok(Err(e)) => assert!(
                            matches!(
                                e.raw_os_error(),
                                Some(libc::ENOMEM | libc::ENOBUFS | libc::ECANCELED)
                            ),
                            "seed {seed}: accept gave an error nobody injected: {e}"
                        ),
                        Err(_) => {}
                    }
                }
            })
        })
        .collect();
    let mut clients = Vec::new();
    for _ in 0..40 {
        // Connected through the kernel's backlog, not through the runtime.
        clients.push(std::net::TcpStream::connect(addr).unwrap());
        for _ in 0..rng.below(3) {
            ringloop::yield_now().await;
        }
    }
    let all = support::sleep_until_cond(Duration::from_secs(10), || {
        accepted.borrow().len() >= clients.len()
    })
    .await;
    stop.set(true);
    for task in acceptors {
        task.await.unwrap();
    }
    assert!(
        all,
        "seed {seed}: {} of {} accepted",
        accepted.borrow().len(),
        clients.len()
    );
    let mut peers: Vec<SocketAddr> = accepted.borrow().iter().map(|(p, _)| *p).collect();
    peers.sort();
    let mut expected: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    expected.sort();
    assert_eq!(
        peers, expected,
        "seed {seed}: each client accepted exactly once"
    );
}

/// Files, one op at a time, against a model of their content.
async fn files(seed: u64) {
    let mut rng = Rng::new(seed);
    let dir = std::env::temp_dir().join(format!("ringloop-faults-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data");
    let file = until_ok("open", seed, || {
        ringloop::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
    })
    .await;
    let mut model: Vec<u8> = Vec::new();
    for round in 0..60 {
        let offset = rng.below(model.len() as u64 + 1);
        match rng.below(4) {
            0 | 1 => {
                let len = 1 + rng.below(48 * 1024) as usize;
                let data = support::pattern(len, seed as u32 * 7919 + round);
                let before = fault::stats();
                let (wrote, _) = file.write_at(data.clone(), offset).await;
                check("write_at", seed, before, &wrote);
                if let Ok(n) = wrote {
                    let end = offset as usize + n;
                    if model.len() < end {
                        model.resize(end, 0);
                    }
                    model[offset as usize..end].copy_from_slice(&data[..n]);
                }
            }
            2 => {
                let len = 1 + rng.below(64 * 1024) as usize;
                let before = fault::stats();
                let (read, buf) = file.read_at(Vec::with_capacity(len), offset).await;
                check("read_at", seed, before, &read);
                if let Ok(n) = read {
                    let o = offset as usize;
                    let expected = &model[o..(o + len).min(model.len())];
                    assert!(n <= expected.len(), "seed {seed}: read past the end");
                    assert!(
                        buf[..n] == expected[..n],
                        "seed {seed}: read_at gave other bytes"
                    );
                }
            }
            _ => {
                // The whole file, through the loops that retry short reads.
                let before = fault::stats();
                let (read, buf) = file.read_exact_at(Vec::with_capacity(model.len()), 0).await;
                check("read_exact_at", seed, before, &read);
                if read.is_ok() {
                    assert!(buf == model, "seed {seed}: read_exact_at gave other bytes");
                }
            }
        }
    }
    // The whole-file helpers: write then read back.
    let data = support::pattern(200 * 1024, seed as u32);
    let other = dir.join("whole");
    until_ok("fs::write", seed, || {
        ringloop::fs::write(&other, data.clone())
    })
    .await;
    // fs::read asks for the size first, and goes on without it if that fails.
    let back = loop {
        let before = fault::stats();
        let result = ringloop::fs::read(&other).await;
        check_composite("fs::read", seed, before, &result);
        if let Ok(back) = result {
            break back;
        }
    };
    assert!(back == data, "seed {seed}: fs::read gave other bytes");
    drop(file);
    assert!(
        std::fs::read(&path).unwrap() == model,
        "seed {seed}: the file differs from the model"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the echo server saw of each connection, by the client's address.
#[derive(Default)]
struct ServerLog {
    errors: RefCell<HashMap<SocketAddr, Vec<String>>>,
    /// Where each connection's handler is (for the report of a hung seed).
    phases: RefCell<HashMap<SocketAddr, String>>,
}

async fn echo(mut reader: StreamReader, writer: StreamWriter, log: Rc<ServerLog>) {
    let peer = writer.peer_addr().ok();
    if std::env::var_os("RINGLOOP_FAULT_TRACE").is_some() {
        eprintln!("server: a connection from {peer:?}");
    }
    let failed = |e: io::Error| {
        if let Some(peer) = peer {
            log.errors
                .borrow_mut()
                .entry(peer)
                .or_default()
                .push(e.to_string());
        }
    };
    let mut echoed = 0;
    let at = |what: &str, n: usize| {
        if let Some(peer) = peer {
            log.phases
                .borrow_mut()
                .insert(peer, format!("{what} after {n} bytes"));
        }
    };
    loop {
        at("reading", echoed);
        match reader.read(16 * 1024).await {
            Ok(data) if data.is_empty() => break,
            Ok(data) => {
                echoed += data.len();
                at("draining", echoed);
                if let Err(e) = writer.write(&data) {
                    failed(e);
                    break;
                }
                if let Err(e) = writer.drain().await {
                    failed(e);
                    break;
                }
            }
            Err(e) => {
                failed(e);
                break;
            }
        }
    }
    at("closing", echoed);
    writer.close();
    if let Err(e) = writer.wait_closed().await {
        failed(e);
    }
    at("closed", echoed);
}

/// One client's exchange with the echo server.
struct Exchange {
    local: Option<SocketAddr>,
    sent: Vec<u8>,
    received: Vec<u8>,
    errors: Vec<String>,
}

/// Where each client is, for the report of a hung seed.
type Phases = Rc<RefCell<Vec<String>>>;

fn phase(phases: &Phases, id: u64, what: String) {
    phases.borrow_mut()[id as usize] = what;
}

async fn client(addr: SocketAddr, seed: u64, id: u64, phases: Phases) -> Exchange {
    let mut rng = Rng::new(seed * 1000 + id);
    let mut exchange = Exchange {
        local: None,
        sent: Vec::new(),
        received: Vec::new(),
        errors: Vec::new(),
    };
    phase(&phases, id, "connecting".into());
    let (mut reader, writer) = match open_connection(addr).await {
        Ok(streams) => streams,
        Err(e) => {
            exchange.errors.push(format!("connect: {e}"));
            return exchange;
        }
    };
    exchange.local = writer.local_addr().ok();
    if std::env::var_os("RINGLOOP_FAULT_TRACE").is_some() {
        eprintln!("client {id}: {:?}", exchange.local);
    }
    let reads = Rc::new(std::cell::Cell::new((0usize, false)));
    let r = reads.clone();
    let reading = ringloop::spawn(async move {
        let mut received = Vec::new();
        loop {
            match reader.read(32 * 1024).await {
                Ok(data) if data.is_empty() => {
                    r.set((received.len(), true));
                    return (received, None);
                }
                Ok(data) => {
                    received.extend_from_slice(&data);
                    r.set((received.len(), false));
                }
                Err(e) => {
                    r.set((received.len(), true));
                    return (received, Some(format!("read: {e}")));
                }
            }
        }
    });
    for m in 0..1 + rng.below(12) {
        let len = 1 + rng.below(24 * 1024) as usize;
        let data = support::pattern(len, (seed * 100_000 + id * 100 + m) as u32);
        if let Err(e) = writer.write(&data) {
            exchange.errors.push(format!("write: {e}"));
            break;
        }
        // Accepted by the writer: it must arrive (or an error be reported).
        exchange.sent.extend_from_slice(&data);
        phase(
            &phases,
            id,
            format!(
                "{:?} draining after {} bytes",
                exchange.local,
                exchange.sent.len()
            ),
        );
        if let Err(e) = writer.drain().await {
            exchange.errors.push(format!("drain: {e}"));
            break;
        }
    }
    if exchange.errors.is_empty() {
        if let Err(e) = writer.write_eof() {
            exchange.errors.push(format!("write_eof: {e}"));
        }
    }
    let (got, ended) = reads.get();
    phase(
        &phases,
        id,
        format!(
            "{:?} sent {} bytes ({:?}), reading: {got} bytes so far, ended {ended}",
            exchange.local,
            exchange.sent.len(),
            exchange.errors
        ),
    );
    // A send that fails after the last `drain` ends the connection for both
    // halves (the reader then ends with its error), so the reader always ends.
    let read = reading.await;
    let (received, error) = read.unwrap();
    phase(&phases, id, "done".into());
    exchange.received = received;
    exchange.errors.extend(error);
    writer.close();
    let _ = writer.wait_closed().await;
    exchange
}

/// Streams: an echo server and clients, checked for lost, duplicated and
/// unexplained missing bytes.
async fn streams_echo(seed: u64) {
    let log = Rc::new(ServerLog::default());
    let l = log.clone();
    let server = until_ok("start_server", seed, || {
        let l = l.clone();
        start_server(move |r, w| echo(r, w, l.clone()), "127.0.0.1:0")
    })
    .await;
    let addr = server.local_addr().unwrap();
    let phases: Phases = Rc::new(RefCell::new(vec![String::new(); 8]));
    let clients: Vec<_> = (0..8)
        .map(|id| ringloop::spawn(client(addr, seed, id, phases.clone())))
        .collect();
    let exchanges =
        ringloop::wait_for(Duration::from_secs(10), ringloop::gather_all(clients)).await;
    let Ok(exchanges) = exchanges else {
        panic!(
            "seed {seed}: clients hung: {:#?}\nserver errors: {:#?}\nserver: {:#?}",
            phases.borrow(),
            log.errors.borrow(),
            log.phases.borrow()
        );
    };
    let exchanges: Vec<Exchange> = exchanges.into_iter().map(Result::unwrap).collect();
    server.close();
    let mut complete = 0;
    for (id, e) in exchanges.iter().enumerate() {
        let prefix =
            e.received.len() <= e.sent.len() && e.sent[..e.received.len()] == e.received[..];
        assert!(
            prefix,
            "seed {seed} client {id}: received {} bytes that are not what it sent ({} bytes): lost, reordered or duplicated",
            e.received.len(),
            e.sent.len()
        );
        let server_errors = e
            .local
            .and_then(|a| log.errors.borrow().get(&a).cloned())
            .unwrap_or_default();
        if e.received.len() < e.sent.len() {
            assert!(
                !e.errors.is_empty() || !server_errors.is_empty(),
                "seed {seed} client {id}: got {} of {} bytes back and a clean end, with no error on either side",
                e.received.len(),
                e.sent.len()
            );
        } else {
            complete += 1;
        }
    }
    // Let the server's tasks see their ends before the runtime goes.
    let _ = ringloop::wait_for(Duration::from_secs(10), server.wait_closed()).await;
    println!(
        "seed {seed}: {complete} of {} exchanges complete",
        exchanges.len()
    );
}

matrix_test! {
    fn raw_sockets_under_faults(mode) {
        under_faults(mode, module_path!(), raw_sockets);
    }
}

matrix_test! {
    fn dropped_reads_under_faults(mode) {
        under_faults(mode, module_path!(), dropped_reads);
    }
}

matrix_test! {
    fn accepts_under_faults(mode) {
        under_faults(mode, module_path!(), accepts);
    }
}

matrix_test! {
    fn files_under_faults(mode) {
        under_faults(mode, module_path!(), files);
    }
}

matrix_test! {
    fn streams_echo_under_faults(mode) {
        under_faults(mode, module_path!(), streams_echo);
    }
}

matrix_test! {
    fn a_failed_send_ends_the_connection_for_both_halves(mode) {
        use support::streams::{fill, stream_pair, Kind};
        use support::step;
        mode.run(async {
            for kind in Kind::ALL {
                for errno in [libc::ECONNRESET, libc::ENOMEM, libc::ENOBUFS, libc::ECANCELED] {
                    let what = format!("{kind:?}, a send failing with errno {errno}");
                    let (peer, mut reader, writer) = stream_pair(kind).await;
                    peer.send(b"half a line").await;
                    fill(&mut reader, 11).await;
                    let reading = ringloop::spawn(async move {
                        let line = reader.readline().await;
                        (reader, line)
                    });
                    ringloop::sleep(Duration::from_millis(10)).await;
                    // The writer's send fails while the reader waits for the rest
                    // of the line, which the peer (waiting for the reply) never sends.
                    fault::fail_next_send(errno);
                    writer.write(b"a reply").unwrap();
                    let (mut reader, line) = ringloop::wait_for(step(), reading)
                        .await
                        .unwrap_or_else(|_| panic!("{what}: the waiting reader was not told"))
                        .unwrap();
                    fault::clear();
                    match line {
                        Err(ReadUntilError::Incomplete(e)) => {
                            assert_eq!(e.partial, b"half a line", "{what}");
                            let error = e.error.unwrap_or_else(|| panic!("{what}: a clean end"));
                            assert_eq!(error.raw_os_error(), Some(errno), "{what}: {error}");
                        }
                        other => panic!("{what}: {other:?}"),
                    }
                    let again = reader.read(10).await.unwrap_err();
                    assert_eq!(again.raw_os_error(), Some(errno), "{what}: {again}");
                    let e = writer.write_eof().unwrap_err();
                    assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}");
                    let e = writer.drain().await.unwrap_err();
                    assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}");
                    // The peer sees the end while both halves are still held.
                    let end = ringloop::wait_for(step(), peer.recv(64))
                        .await
                        .unwrap_or_else(|_| panic!("{what}: the peer did not see the end"));
                    assert_eq!(end.unwrap(), b"", "{what}");
                    drop((reader, writer));
                }
            }
        });
    }
}
