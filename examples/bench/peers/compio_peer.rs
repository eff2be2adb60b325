//! The compio echo server (`bench serve-compio ADDR`): one thread, one compio
//! runtime (io_uring driver), an accept loop, one task per connection that reads
//! up to 64 KiB into an owned buffer and writes all of it back (`write_all`),
//! TCP_NODELAY on; compio's usual way to write a server.

use std::io;

use compio::buf::BufResult;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};

/// The per-connection buffer size.
const BUF_SIZE: usize = 64 * 1024;

/// Serves echo on `addr` until killed; prints `Serving on ADDR` first.
pub(crate) fn serve(addr: &str) -> io::Result<()> {
    let rt = compio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!("Serving on {}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((sock, _)) => compio::runtime::spawn(async move {
                    if let Err(e) = echo(sock).await {
                        if !super::tokio_server::is_disconnect(&e) {
                            eprintln!("serve-compio: connection: {e}");
                        }
                    }
                })
                .detach(),
                Err(e) => eprintln!("serve-compio: accept: {e}"),
            }
        }
    })
}

/// Echoes one connection until the peer closes it.
async fn echo(mut sock: TcpStream) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        let BufResult(n, b) = sock.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let BufResult(written, mut b) = sock.write_all(b).await;
        written?;
        b.clear();
        buf = b;
    }
}
