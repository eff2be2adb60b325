//! `#[ringloop::main]`: the first example of the Python asyncio documentation as an
//! `async fn main`, which returns a `Result` so that `?` works in it.
//!
//! ```python
//! async def main():
//!     print('Hello ...')
//!     await asyncio.sleep(1)
//!     print('... World!')
//!
//! asyncio.run(main())
//! ```
//!
//! The attribute builds the runtime (here with the default options: io_uring, or
//! epoll where io_uring is refused; `RINGLOOP_DRIVER` chooses too) and runs the body
//! on it, as `ringloop::run(main())` would. Then a line goes over TCP and back.
//!
//! Run: `cargo run --release --example macros`

use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};

#[ringloop::main]
async fn main() -> std::io::Result<()> {
    println!("Hello ...");
    ringloop::sleep(Duration::from_millis(100)).await;
    println!("... World!");

    // An echo of one line: every error is this `main`'s, through `?`.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let (n, buf) = stream.read(Vec::with_capacity(64)).await;
        let n = n?;
        let (written, _) = stream.write_all(buf).await;
        written.map(|()| n)
    });
    let client = TcpStream::connect(addr).await?;
    let (written, _) = client.write_all(b"hello over TCP".to_vec()).await;
    written?;
    let (n, buf) = client.read(Vec::with_capacity(64)).await;
    let n = n?;
    println!("echoed: {}", String::from_utf8_lossy(&buf[..n]));
    let served = server
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    println!("the server echoed {served} bytes");
    Ok(())
}
