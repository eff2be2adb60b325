//! A TCP echo server on ringloop's asyncio-style streams: a port of the server of
//! the Python docs' "TCP echo client and server using streams" example, made into
//! the program the echo benchmark runs.
//!
//! ```python
//! async def handle_echo(reader, writer):
//!     data = await reader.read(100)
//!     message = data.decode()
//!     addr = writer.get_extra_info('peername')
//!     print(f"Received {message!r} from {addr!r}")
//!     print(f"Send: {message!r}")
//!     writer.write(data)
//!     await writer.drain()
//!     print("Close the connection")
//!     writer.close()
//!     await writer.wait_closed()
//!
//! async def main():
//!     server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//!     addrs = ', '.join(str(sock.getsockname()) for sock in server.sockets)
//!     print(f'Serving on {addrs}')
//!     async with server:
//!         await server.serve_forever()
//! ```
//!
//! Unlike the original, each connection is echoed until the client closes it,
//! whatever arrives as soon as it arrives (not line by line), so that one
//! connection can carry many requests. It runs on one thread and serves until
//! `SIGINT` (Ctrl-C) or `SIGTERM`: then it closes its listener and drops the
//! runtime before exiting, so that a server restarted at once can bind the same
//! address (see `support/shutdown.rs` for why a killed io_uring server may not).
//!
//! Run: `cargo run --release --example echo_server -- [ADDR] [-v] [--shards N]
//! [--acceptor]`; ADDR defaults to 127.0.0.1:8888 (port 0 picks a free one). With
//! `-v` it prints the original's lines for every message (too slow for
//! benchmarks).
//!
//! With `--shards N` (default 1; 0: one per CPU) and N > 1 it runs N shards
//! ([`ringloop::shard`]), each serving connections with the same handler: one
//! `SO_REUSEPORT` listener per shard (the kernel spreads the connections), or with
//! `--acceptor` one listener on shard 0 handing connections out round-robin. It
//! stops on `SIGINT` or `SIGTERM` (`Shards::stop_on_signals`): every listener
//! closes, and connections have the grace period (10 s) to finish.

#[path = "support/shutdown.rs"]
mod shutdown;

use std::io;

use std::sync::{Arc, OnceLock};

use ringloop::net::{start_server, StreamReader, StreamWriter};
use ringloop::shard::{
    start_server_sharded, Balance, Distribution, ShardedServer, ShardedServerOptions, Shards,
};
use shutdown::StopSignals;

async fn handle_echo(mut reader: StreamReader, writer: StreamWriter, verbose: bool) {
    let addr = writer.peer_addr();
    loop {
        let data = match reader.read(64 * 1024).await {
            Ok(data) if !data.is_empty() => data,
            Ok(_) => break,
            // A client that goes away abruptly resets the connection: its end.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
            Err(e) => {
                eprintln!("read from {addr:?} failed: {e}");
                return;
            }
        };
        if verbose {
            let message = String::from_utf8_lossy(&data);
            println!("Received {message:?} from {addr:?}");
            println!("Send: {message:?}");
        }
        if writer.write(&data).is_err() || writer.drain().await.is_err() {
            return;
        }
    }
    if verbose {
        println!("Close the connection");
    }
    writer.close();
    let _ = writer.wait_closed().await;
}

async fn main_task(addr: String, verbose: bool) -> io::Result<()> {
    // Before the server announces itself: a SIGTERM sent as soon as it is up is
    // taken (the server stops cleanly), not fatal.
    let stop = StopSignals::listen()?;
    let server = start_server(
        move |reader, writer| handle_echo(reader, writer, verbose),
        addr.as_str(),
    )
    .await?;
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
    println!("Serving on {}", addrs.join(", "));
    // The original's `serve_forever`, until a signal asks to stop (the server
    // serves in the background meanwhile).
    stop.wait().await;
    server.close();
    Ok(())
}

/// Serves on `addr` until `SIGINT` or `SIGTERM`; returns once the listener is
/// closed and the runtime is gone (every connection closed).
pub fn serve(addr: String, verbose: bool) -> io::Result<()> {
    ringloop::run(main_task(addr, verbose))
}

/// Serves on `addr` with `shards` shards until `SIGINT` or `SIGTERM`; returns
/// once every shard has ended (each waits for its connections, within the grace
/// period).
pub fn serve_sharded(addr: String, verbose: bool, shards: usize, acceptor: bool) -> io::Result<()> {
    let distribution = if acceptor {
        Distribution::Acceptor(Balance::RoundRobin)
    } else {
        Distribution::ReusePort
    };
    let options = ShardedServerOptions::new().distribution(distribution);
    let server: Arc<OnceLock<ShardedServer>> = Arc::new(OnceLock::new());
    let results = Shards::new(shards)
        .name("echo")
        .stop_on_signals(true)
        .run(move |shard| {
            let (addr, options, server) = (addr.clone(), options.clone(), server.clone());
            async move {
                if shard == 0 {
                    let handler = move |reader, writer| handle_echo(reader, writer, verbose);
                    match start_server_sharded(handler, addr.as_str(), options).await {
                        Ok(started) => {
                            let addrs: Vec<String> = started
                                .local_addrs()
                                .iter()
                                .map(|a| a.to_string())
                                .collect();
                            println!("Serving on {}", addrs.join(", "));
                            eprintln!(
                                "({} shards, {distribution:?})",
                                ringloop::shard::shard_count()
                            );
                            let _ = server.set(started);
                        }
                        Err(e) => {
                            ringloop::shard::request_stop();
                            return Err(e);
                        }
                    }
                }
                ringloop::shard::stop_requested().await;
                // The listeners are closed; the connections finish (the grace
                // period bounds the wait).
                if let Some(server) = server.get() {
                    server.wait_closed().await;
                }
                Ok(())
            }
        })?;
    for result in results {
        result.map_err(io::Error::other)??;
    }
    Ok(())
}

fn main() {
    let mut addr = "127.0.0.1:8888".to_string();
    let mut verbose = false;
    let mut shards = 1;
    let mut acceptor = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-v" | "--verbose" => verbose = true,
            "--acceptor" => acceptor = true,
            "--shards" => match args.next().map(|n| n.parse::<usize>()) {
                Some(Ok(n)) => shards = n,
                _ => {
                    eprintln!("echo_server: --shards needs a number (0: one per CPU)");
                    std::process::exit(2);
                }
            },
            _ => addr = arg,
        }
    }
    let served = if shards == 1 {
        serve(addr, verbose)
    } else {
        serve_sharded(addr, verbose, shards, acceptor)
    };
    if let Err(e) = served {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
