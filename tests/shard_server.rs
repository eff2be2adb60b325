//! Sharded servers: `start_server_sharded` with `Distribution::ReusePort` (the
//! kernel spreads connections over one listener per shard) and
//! `Distribution::Acceptor` (one listener, connections handed to shards
//! round-robin or to the least loaded), byte-exact echoes of many clients,
//! per-shard counts, `close` (no new connections on any shard, existing ones
//! served), `wait_closed`, `abort_clients`, a stop requested while clients are
//! connected (listeners close, connections finish in the grace period, nothing
//! leaks), connections handed to a shard that dies (served by another), a Unix
//! socket server (acceptor only), and a plain runtime (one shard).
//!
//! The server runs in a sharded program started by the test; the clients are
//! blocking std sockets on the test's thread, with read timeouts of
//! `support::step()`.

mod support;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringloop::net::{StreamReader, StreamWriter};
use ringloop::shard::{
    start_server_sharded, start_unix_server_sharded, Balance, Distribution, ShardSet,
    ShardedServer, ShardedServerOptions,
};
use support::{isolated, open_fds, pattern, step, Mode};

/// Writes the serving shard's index (one byte), then echoes until the end of
/// the stream.
async fn greet_echo(mut reader: StreamReader, writer: StreamWriter) {
    if writer.write(&[ringloop::shard::shard_id() as u8]).is_err() {
        return;
    }
    loop {
        match reader.read(64 * 1024).await {
            Ok(data) if !data.is_empty() => {
                if writer.write(&data).is_err() || writer.drain().await.is_err() {
                    return;
                }
            }
            _ => break,
        }
    }
    writer.close();
    let _ = writer.wait_closed().await;
}

fn acceptor(balance: Balance) -> ShardedServerOptions {
    ShardedServerOptions::new().distribution(Distribution::Acceptor(balance))
}

/// Where a test's server listens.
#[derive(Clone)]
enum Bind {
    Tcp,
    Unix(PathBuf),
}

/// A sharded program of `n` shards in `mode` whose shard 0 starts a server with
/// `options`; every shard's main then waits for the stop and, for the grace
/// period, for the server's connections to finish.
fn serve(
    mode: Mode,
    n: usize,
    bind: Bind,
    options: ShardedServerOptions,
) -> (ShardSet<()>, ShardedServer) {
    serve_with(mode, n, bind, options, |_| async {})
}

/// [`serve`], with `extra(shard)` awaited by each main once the server is up.
fn serve_with<E, EFut>(
    mode: Mode,
    n: usize,
    bind: Bind,
    options: ShardedServerOptions,
    extra: E,
) -> (ShardSet<()>, ShardedServer)
where
    E: Fn(usize) -> EFut + Send + Sync + 'static,
    EFut: std::future::Future<Output = ()> + 'static,
{
    let cell: Arc<OnceLock<ShardedServer>> = Arc::new(OnceLock::new());
    let (tx, rx) = mpsc::channel::<io::Result<ShardedServer>>();
    let tx = Mutex::new(tx);
    let c = cell.clone();
    let set = mode
        .shards(n)
        .grace_period(step())
        .start(move |shard| {
            let (cell, options, bind) = (c.clone(), options.clone(), bind.clone());
            let started = (shard == 0).then(|| tx.lock().unwrap().clone());
            let extra = extra(shard);
            async move {
                if let Some(tx) = started {
                    let server = match bind {
                        Bind::Tcp => start_server_sharded(greet_echo, "127.0.0.1:0", options).await,
                        Bind::Unix(path) => {
                            start_unix_server_sharded(greet_echo, path, options).await
                        }
                    };
                    if let Ok(server) = &server {
                        let _ = cell.set(server.clone());
                    }
                    let failed = server.is_err();
                    tx.send(server).unwrap();
                    if failed {
                        return;
                    }
                }
                extra.await;
                ringloop::shard::stop_requested().await;
                if let Some(server) = cell.get() {
                    server.wait_closed().await;
                }
            }
        })
        .unwrap_or_else(|e| panic!("cannot start {n} {mode:?} shards: {e}"));
    let server = rx
        .recv_timeout(step())
        .expect("shard 0 started the server")
        .unwrap_or_else(|e| panic!("start_server_sharded: {e}"));
    (set, server)
}

/// Requests the stop and checks that every shard's main finished.
fn stop(set: ShardSet<()>) {
    set.request_stop();
    for (i, result) in set.join().into_iter().enumerate() {
        result.unwrap_or_else(|e| panic!("shard {i}: {e}"));
    }
}

/// A connected client and the shard serving it (from its greeting).
struct Client<S> {
    stream: S,
    shard: u8,
}

fn greeted<S: Read>(mut stream: S) -> Client<S> {
    let mut shard = [0u8];
    stream
        .read_exact(&mut shard)
        .expect("the server's greeting");
    Client {
        stream,
        shard: shard[0],
    }
}

fn connect(addr: SocketAddr) -> Client<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(step())).unwrap();
    greeted(stream)
}

fn connect_unix(path: &std::path::Path) -> Client<UnixStream> {
    let stream =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
    stream.set_read_timeout(Some(step())).unwrap();
    greeted(stream)
}

impl<S: Read + Write> Client<S> {
    /// Sends `len` bytes of pattern `seed` and checks that they come back, byte
    /// for byte.
    fn echo(&mut self, len: usize, seed: u32) {
        let data = pattern(len, seed);
        self.stream.write_all(&data).unwrap();
        let mut got = vec![0u8; len];
        self.stream.read_exact(&mut got).expect("the echo");
        assert!(got == data, "the echo of {len} bytes (seed {seed}) differs");
    }

    /// Whether the server ended the connection (end of stream or reset), within
    /// the read timeout.
    fn ended(&mut self) -> bool {
        let mut buf = [0u8; 16];
        match self.stream.read(&mut buf) {
            Ok(0) => true,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
            _ => false,
        }
    }
}

/// Waits (1 ms at a time, at most `step()`) until `cond` holds; panics naming
/// `what` otherwise.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + step();
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {:?}", step());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether connecting to `addr` becomes refused within `step()` (a listener
/// closed by a call goes at its shard's next turn).
fn becomes_refused(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + step();
    while Instant::now() < deadline {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return true,
            // It reached a listener's queue as that listener closed, which resets
            // what it held: not served either; the next try sees the port closed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connect to a closed server: {e}"),
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    false
}

/// Runs `server.wait_closed()` on a runtime of this thread for at most `limit`;
/// returns whether it returned.
fn wait_closed_within(mode: Mode, server: &ShardedServer, limit: Duration) -> bool {
    mode.run(async {
        ringloop::wait_for(limit, server.wait_closed())
            .await
            .is_ok()
    })
}

const CLIENTS: usize = 64;

/// `CLIENTS` clients connect (all at once), each echoes a few KiB byte for byte;
/// returns them with the shard each is served by.
fn many_clients(addr: SocketAddr) -> Vec<Client<TcpStream>> {
    let mut clients: Vec<_> = (0..CLIENTS).map(|_| connect(addr)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.echo(1000 + 97 * i, i as u32);
    }
    clients
}

/// The counts are consistent with `clients`: `connections` per shard is the
/// number of clients each shard serves, `accepted` the same (nothing else
/// connected).
fn check_counts(server: &ShardedServer, clients: &[Client<TcpStream>], n: usize) {
    let mut per_shard = vec![0usize; n];
    for client in clients {
        per_shard[client.shard as usize] += 1;
    }
    assert_eq!(server.connections(), per_shard);
    let accepted: Vec<usize> = server.accepted().iter().map(|&a| a as usize).collect();
    assert_eq!(accepted, per_shard);
    assert_eq!(per_shard.iter().sum::<usize>(), clients.len());
}

matrix_test! {
    fn reuse_port_serves_many_clients_on_every_shard(mode) {
        let (set, server) = serve(mode, 2, Bind::Tcp, ShardedServerOptions::new());
        assert_eq!(server.distribution(), Distribution::ReusePort);
        let addr = server.local_addr().unwrap();
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        assert_ne!(addr.port(), 0);
        assert!(server.is_serving());
        let clients = many_clients(addr);
        check_counts(&server, &clients, 2);
        // 64 connections from distinct ports: the kernel's hash gives each of
        // the two listeners some (all on one: probability 2^-63).
        let accepted = server.accepted();
        assert!(accepted.iter().all(|&a| a > 0), "{accepted:?}");
        drop(clients);
        wait_until("every connection ended", || server.connections() == [0, 0]);
        assert_eq!(server.accepted().iter().sum::<u64>(), CLIENTS as u64);
        stop(set);
    }
}

matrix_test! {
    fn acceptor_round_robin_gives_each_shard_half(mode) {
        let (set, server) = serve(mode, 2, Bind::Tcp, acceptor(Balance::RoundRobin));
        let clients = many_clients(server.local_addr().unwrap());
        check_counts(&server, &clients, 2);
        assert_eq!(server.accepted(), [CLIENTS as u64 / 2, CLIENTS as u64 / 2]);
        drop(clients);
        wait_until("every connection ended", || server.connections() == [0, 0]);
        stop(set);
    }
}

matrix_test! {
    fn acceptor_least_loaded_prefers_the_shard_with_fewer_connections(mode) {
        let (set, server) = serve(mode, 2, Bind::Tcp, acceptor(Balance::LeastLoaded));
        let addr = server.local_addr().unwrap();
        // One at a time (each served before the next connects): the loads stay
        // even.
        let mut clients: Vec<_> = (0..4).map(|_| connect(addr)).collect();
        assert_eq!(server.connections(), [2, 2]);
        // Shard 1's clients leave: the next two go to shard 1.
        clients.retain(|c| c.shard == 0);
        wait_until("shard 1's connections ended", || server.connections() == [2, 0]);
        for i in 0..2 {
            let mut client = connect(addr);
            assert_eq!(client.shard, 1, "connection {i} with loads {:?}", server.connections());
            client.echo(100, i);
            clients.push(client);
        }
        assert_eq!(server.connections(), [2, 2]);
        assert_eq!(server.accepted(), [2, 4]);
        // And with shard 0 the emptier, to shard 0.
        clients.retain(|c| c.shard == 1);
        wait_until("shard 0's connections ended", || server.connections() == [0, 2]);
        let client = connect(addr);
        assert_eq!(client.shard, 0);
        drop((clients, client));
        stop(set);
    }
}

/// `close`: no new connection on any shard, the existing ones served;
/// `wait_closed` waits for them.
fn close_keeps_connections(mode: Mode, options: ShardedServerOptions) {
    let (set, server) = serve(mode, 2, Bind::Tcp, options);
    let addr = server.local_addr().unwrap();
    let mut clients = many_clients(addr);
    server.close();
    server.close(); // idempotent
    assert!(!server.is_serving());
    assert!(
        becomes_refused(addr),
        "connections to a closed server are refused"
    );
    for (i, client) in clients.iter_mut().enumerate() {
        client.echo(5000, 1000 + i as u32);
    }
    assert!(
        !wait_closed_within(mode, &server, Duration::from_millis(50)),
        "wait_closed returned with {:?} connections",
        server.connections()
    );
    drop(clients);
    assert!(
        wait_closed_within(mode, &server, step()),
        "wait_closed after the clients left"
    );
    assert_eq!(server.connections(), [0, 0]);
    stop(set);
}

matrix_test! {
    fn close_stops_accepting_on_every_shard_and_existing_connections_go_on(mode) {
        close_keeps_connections(mode, ShardedServerOptions::new());
        close_keeps_connections(mode, acceptor(Balance::RoundRobin));
    }
}

matrix_test! {
    fn abort_clients_ends_every_connection(mode) {
        for options in [ShardedServerOptions::new(), acceptor(Balance::LeastLoaded)] {
            let (set, server) = serve(mode, 2, Bind::Tcp, options);
            let mut clients = many_clients(server.local_addr().unwrap());
            server.close();
            server.abort_clients();
            for client in &mut clients {
                assert!(client.ended(), "an aborted connection ends");
            }
            assert!(wait_closed_within(mode, &server, step()), "wait_closed after abort_clients");
            assert_eq!(server.connections(), [0, 0]);
            drop(clients);
            stop(set);
        }
    }
}

/// A shard program with a server and connected clients is asked to stop: the
/// listeners close, the connections are still served during the grace period,
/// and once the clients leave every shard ends; no descriptor is left.
fn stop_while_connected(mode: Mode, options: ShardedServerOptions) {
    let (set, server) = serve(mode, 2, Bind::Tcp, options);
    let addr = server.local_addr().unwrap();
    let mut clients: Vec<_> = (0..8).map(|_| connect(addr)).collect();
    set.request_stop();
    wait_until("the stop closed every listener", || !server.is_serving());
    assert!(becomes_refused(addr), "a stopping server accepts nothing");
    for (i, client) in clients.iter_mut().enumerate() {
        client.echo(20_000, i as u32);
    }
    drop(clients);
    for (i, result) in set.join().into_iter().enumerate() {
        result.unwrap_or_else(|e| panic!("shard {i} did not end on its own: {e}"));
    }
    assert!(wait_closed_within(mode, &server, step()));
    assert_eq!(server.connections(), [0, 0]);
}

matrix_test! {
    fn request_stop_closes_listeners_and_lets_connections_finish(mode) {
        isolated(mode, module_path!(), || {
            // The shards' runtimes leave their wake-up slots in a pool: a program
            // of as many shards first, then count.
            mode.shards(2).run(|_| async {}).unwrap();
            let base = open_fds();
            stop_while_connected(mode, ShardedServerOptions::new());
            stop_while_connected(mode, acceptor(Balance::RoundRobin));
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn acceptor_hands_connections_for_a_dying_shard_to_others(mode) {
        // Shard 1 blocks its thread on request (a busy shard: calls queue up),
        // then its main panics, which ends its runtime with the hand-offs queued.
        let block = Arc::new(AtomicBool::new(false));
        let blocking = Arc::new(AtomicBool::new(false));
        let (b, bl) = (block.clone(), blocking.clone());
        let (set, server) = serve_with(mode, 3, Bind::Tcp, acceptor(Balance::RoundRobin), move |shard| {
            let (block, blocking) = (b.clone(), bl.clone());
            async move {
                if shard != 1 {
                    return;
                }
                while !block.load(SeqCst) {
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                blocking.store(true, SeqCst);
                std::thread::sleep(support::scaled(Duration::from_millis(300)));
                panic!("shard 1 dies with connections queued for it");
            }
        });
        let addr = server.local_addr().unwrap();
        block.store(true, SeqCst);
        wait_until("shard 1 is blocked", || blocking.load(SeqCst));
        let streams: Vec<_> = (0..12)
            .map(|_| {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(step())).unwrap();
                stream
            })
            .collect();
        // Every connection is served (by shard 0 or 2), none dropped.
        let mut clients: Vec<_> = streams.into_iter().map(greeted).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            assert_ne!(client.shard, 1);
            client.echo(3000, i as u32);
        }
        assert_eq!(server.accepted()[1], 0);
        assert_eq!(server.accepted().iter().sum::<u64>(), 12);
        // New connections skip the dead shard.
        let mut late = connect(addr);
        assert_ne!(late.shard, 1);
        late.echo(10, 99);
        drop((clients, late));
        set.request_stop();
        let results = set.join();
        assert!(matches!(results[1], Err(ringloop::JoinError::Panicked(_))), "{:?}", results[1]);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    }
}

/// A path for a Unix socket in the temporary directory.
fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringloop-{name}-{}.sock", std::process::id()))
}

matrix_test! {
    fn unix_server_sharded_by_an_acceptor(mode) {
        let path = socket_path(&format!("sharded-{}", mode.test_fn()));
        let (set, server) = serve(mode, 2, Bind::Unix(path.clone()), acceptor(Balance::RoundRobin));
        assert_eq!(server.unix_path(), Some(path.as_path()));
        assert!(server.local_addr().is_err());
        let mut clients: Vec<_> = (0..16).map(|_| connect_unix(&path)).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            client.echo(2000 + i, i as u32);
        }
        assert_eq!(server.accepted(), [8, 8]);
        assert_eq!(server.connections(), [8, 8]);
        server.close();
        wait_until("the socket file removed", || !path.exists());
        drop(clients);
        assert!(wait_closed_within(mode, &server, step()));
        stop(set);

        // SO_REUSEPORT is not for Unix sockets.
        let e = mode
            .run(start_unix_server_sharded(greet_echo, &path, ShardedServerOptions::new()))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("SO_REUSEPORT"), "{e}");
        assert!(!path.exists());
    }
}

matrix_test! {
    fn a_plain_runtime_is_one_shard(mode) {
        for options in [ShardedServerOptions::new(), acceptor(Balance::LeastLoaded)] {
            mode.run(async {
                let server = start_server_sharded(greet_echo, "127.0.0.1:0", options).await.unwrap();
                let addr = server.local_addr().unwrap();
                let client = std::thread::spawn(move || {
                    let mut client = connect(addr);
                    client.echo(10_000, 7);
                    client.shard
                });
                while !client.is_finished() {
                    ringloop::sleep(Duration::from_millis(1)).await;
                }
                assert_eq!(client.join().unwrap(), 0);
                server.close();
                support::within("wait_closed", server.wait_closed()).await;
                assert_eq!(server.accepted(), [1]);
            });
        }
    }
}

/// The server handle goes to other shards and threads.
#[allow(dead_code)]
fn sharded_server_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<ShardedServer>();
    check::<ShardedServerOptions>();
}
