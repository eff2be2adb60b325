//! The monoio peer (`serve-monoio ADDR --threads N`): N threads, each running its own
//! monoio runtime (`FusionDriver`: io_uring where the kernel has it, else monoio's
//! epoll driver) with its own `SO_REUSEPORT` listener on the same port, so the
//! kernel spreads the connections over the threads and a connection stays on the
//! thread that accepted it (monoio's thread-per-core model; the same layout as
//! ringloop's `echo_server --shards N`). Each connection is a task reading up to
//! 64 KiB and writing back everything it read, TCP_NODELAY on.
//!
//! Thread 0 binds first (port 0 picks a free port); the others bind to the port it
//! got; `Serving on ADDR` is printed only once every listener is bound, so the
//! client's connections are spread over all of them.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};

/// The per-connection buffer size.
const BUF_SIZE: usize = 64 * 1024;

/// Serves echo on `addr` with `threads` threads until killed; prints
/// `Serving on ADDR` first.
pub(crate) fn serve(addr: &str, threads: usize) -> io::Result<()> {
    let threads = threads.max(1);
    let driver = if monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "legacy (epoll)"
    };
    eprintln!("serve-monoio: {threads} thread(s), {driver} driver");
    let (bound_tx, bound_rx) = mpsc::channel::<io::Result<SocketAddr>>();
    let mut handles = Vec::new();
    let mut bind_to: String = addr.to_owned();
    for i in 0..threads {
        let (tx, at) = (bound_tx.clone(), bind_to.clone());
        handles.push(
            thread::Builder::new()
                .name(format!("monoio-{i}"))
                .spawn(move || run_thread(&at, &tx))?,
        );
        // Each thread reports its listener's address (or why it has none) before
        // serving; the next one binds to the same port.
        let local = bound_rx
            .recv()
            .map_err(|_| io::Error::other("a monoio thread ended before binding"))??;
        bind_to = local.to_string();
    }
    println!("Serving on {bind_to}");
    for handle in handles {
        handle
            .join()
            .map_err(|_| io::Error::other("a monoio thread panicked"))??;
    }
    Ok(())
}

/// One thread: a runtime, a `SO_REUSEPORT` listener on `addr` (reported on
/// `bound`), and its accept loop.
fn run_thread(addr: &str, bound: &mpsc::Sender<io::Result<SocketAddr>>) -> io::Result<()> {
    let mut rt = match monoio::RuntimeBuilder::<monoio::FusionDriver>::new().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = bound.send(Err(io::Error::new(e.kind(), format!("runtime: {e}"))));
            return Err(e);
        }
    };
    rt.block_on(async {
        let opts = ListenerOpts::new().reuse_port(true).reuse_addr(true);
        let listener = match TcpListener::bind_with_config(addr, &opts)
            .and_then(|l| l.local_addr().map(|a| (l, a)))
        {
            Ok((listener, local)) => {
                let _ = bound.send(Ok(local));
                listener
            }
            Err(e) => {
                let _ = bound.send(Err(io::Error::new(e.kind(), format!("bind {addr}: {e}"))));
                return Err(e);
            }
        };
        loop {
            match listener.accept().await {
                Ok((sock, _)) => {
                    monoio::spawn(async move {
                        match echo(sock).await {
                            // The client closes with requests in flight at the end.
                            Err(e) if !super::tokio_server::is_disconnect(&e) => {
                                eprintln!("serve-monoio: connection: {e}")
                            }
                            _ => {}
                        }
                    });
                }
                Err(e) => eprintln!("serve-monoio: accept: {e}"),
            }
        }
    })
}

/// Echoes one connection until the peer closes it.
async fn echo(mut sock: TcpStream) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(BUF_SIZE);
    loop {
        // monoio owns the buffer while the op runs and hands it back: a read fills
        // the spare capacity (len 0 → n), and write_all sends buf[..len].
        let (res, b) = sock.read(buf).await;
        buf = b;
        if res? == 0 {
            return Ok(());
        }
        let (res, b) = sock.write_all(buf).await;
        buf = b;
        res?;
        buf.clear();
    }
}
