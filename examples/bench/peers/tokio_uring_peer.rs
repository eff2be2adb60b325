//! The tokio-uring echo server (`bench serve-tokio-uring ADDR`): one thread,
//! `tokio_uring::start`, an accept loop, one task per connection that reads up to
//! 64 KiB into an owned buffer and writes all of it back (`write_all`),
//! TCP_NODELAY on; the shape of tokio-uring's own echo example.

use std::io;
use std::net::SocketAddr;

use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

/// The per-connection buffer size.
const BUF_SIZE: usize = 64 * 1024;

/// Serves echo on `addr` until killed; prints `Serving on ADDR` first.
pub(crate) fn serve(addr: &str) -> io::Result<()> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::other(format!("address {addr:?}: {e}")))?;
    tokio_uring::start(async {
        let listener = TcpListener::bind(addr)?;
        println!("Serving on {}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((sock, _)) => {
                    tokio_uring::spawn(async move {
                        if let Err(e) = echo(sock).await {
                            if !super::tokio_server::is_disconnect(&e) {
                                eprintln!("serve-tokio-uring: connection: {e}");
                            }
                        }
                    });
                }
                Err(e) => eprintln!("serve-tokio-uring: accept: {e}"),
            }
        }
    })
}

/// Echoes one connection until the peer closes it.
async fn echo(sock: TcpStream) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let (n, b) = sock.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(());
        }
        let (written, slice) = sock.write_all(b.slice(..n)).await;
        written?;
        buf = slice.into_inner();
    }
}
