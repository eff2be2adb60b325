//! A TCP echo client: a port of the client of the Python docs' "TCP echo client
//! and server using streams" example.
//!
//! ```python
//! async def tcp_echo_client(message):
//!     reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
//!     print(f'Send: {message!r}')
//!     writer.write(message.encode())
//!     await writer.drain()
//!     data = await reader.read(100)
//!     print(f'Received: {data.decode()!r}')
//!     print('Close the connection')
//!     writer.close()
//!     await writer.wait_closed()
//!
//! asyncio.run(tcp_echo_client('Hello World!'))
//! ```
//!
//! Run `echo_server` first, then:
//! `cargo run --release --example echo_client -- [ADDR] [MESSAGE]`
//! (defaults: 127.0.0.1:8888 and "Hello World!").

use std::io;

use ringloop::net::open_connection;

async fn tcp_echo_client(addr: &str, message: &str) -> io::Result<()> {
    let (mut reader, writer) = open_connection(addr).await?;
    println!("Send: {message:?}");
    writer.write(message.as_bytes())?;
    writer.drain().await?;
    // The echo may come in pieces: read until all of it is back, as a stream
    // protocol must (the original reads once, which loopback makes enough).
    let mut data = Vec::new();
    while data.len() < message.len() {
        let chunk = reader.read(100.max(message.len())).await?;
        if chunk.is_empty() {
            break;
        }
        data.extend_from_slice(&chunk);
    }
    println!("Received: {:?}", String::from_utf8_lossy(&data));
    println!("Close the connection");
    writer.close();
    writer.wait_closed().await
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8888".to_string());
    let message = args.next().unwrap_or_else(|| "Hello World!".to_string());
    if let Err(e) = ringloop::run(tcp_echo_client(&addr, &message)) {
        eprintln!("echo_client: {e}");
        std::process::exit(1);
    }
}
