//! The tokio peer, written the way ringloop's `echo_server` is: one thread (a
//! current-thread runtime), an accept loop, one task per connection reading into a
//! 64 KiB buffer and writing back everything it read, TCP_NODELAY on.
//!
//! With `--threads N` and N > 1 (`serve-tokio ADDR --threads N`) the same code runs
//! on a multi-thread runtime with N workers instead: one listener, whose accept loop
//! runs on the thread that called `block_on`, the connection tasks spread over the
//! workers by tokio's work-stealing scheduler (tokio's usual way to use N cores).
//! N = 1 is the current-thread runtime above, unchanged.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The per-connection buffer size.
const BUF_SIZE: usize = 64 * 1024;

/// Serves echo on `addr` with `threads` workers (1: a current-thread runtime)
/// until killed; prints `Serving on ADDR` first.
pub(crate) fn serve(addr: &str, threads: usize) -> io::Result<()> {
    if threads <= 1 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        serve_on(&rt, addr)
    } else {
        serve_multi(addr, threads)
    }
}

/// Serves echo on `addr` on a multi-thread runtime with `workers` workers (also
/// one, which the comparison benchmark `examples/bench` runs: the multi-thread
/// scheduler on the same one CPU as every other server) until killed.
pub(crate) fn serve_multi(addr: &str, workers: usize) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_io()
        .build()?;
    serve_on(&rt, addr)
}

/// The accept loop on `rt`.
fn serve_on(rt: &tokio::runtime::Runtime, addr: &str) -> io::Result<()> {
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!("Serving on {}", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((sock, _)) => {
                    tokio::spawn(async move {
                        match echo(sock).await {
                            // The client closes with requests in flight at the end.
                            Err(e) if !is_disconnect(&e) => {
                                eprintln!("serve-tokio: connection: {e}")
                            }
                            _ => {}
                        }
                    });
                }
                Err(e) => eprintln!("serve-tokio: accept: {e}"),
            }
        }
    })
}

/// Echoes one connection until the peer closes it.
async fn echo(mut sock: TcpStream) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        sock.write_all(&buf[..n]).await?;
    }
}

/// Whether `e` is the peer going away (reset, broken pipe), not a server fault.
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}
