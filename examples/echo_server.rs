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
//! Run: `cargo run --release --example echo_server -- [ADDR] [-v]`; ADDR defaults
//! to 127.0.0.1:8888 (port 0 picks a free one). With `-v` it prints the original's
//! lines for every message (too slow for benchmarks).

#[path = "support/shutdown.rs"]
mod shutdown;

use std::io;

use ringloop::net::{start_server, StreamReader, StreamWriter};
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

fn main() {
    let mut addr = "127.0.0.1:8888".to_string();
    let mut verbose = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-v" | "--verbose" => verbose = true,
            _ => addr = arg,
        }
    }
    if let Err(e) = serve(addr, verbose) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
