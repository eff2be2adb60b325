//! The tokio peer: hyper 1.x serving HTTP/1.1 on a tokio current-thread runtime,
//! written the way ringloop's `http_server` example is: one thread, an accept loop,
//! one task per connection running hyper's `http1` connection with keep-alive,
//! TCP_NODELAY on, and the same handler (`GET /` answers `Hello, world!`, anything
//! else 404 with an empty body), so both send the same response bytes.

use std::convert::Infallible;
use std::io;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The body of `GET /`.
const HELLO: &[u8] = b"Hello, world!";

/// The handler: `GET /` answers `Hello, world!`, anything else 404.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/" {
        return Ok(Response::new(Full::new(Bytes::from_static(HELLO))));
    }
    let mut not_found = Response::new(Full::new(Bytes::new()));
    *not_found.status_mut() = StatusCode::NOT_FOUND;
    Ok(not_found)
}

/// Serves HTTP/1.1 on `addr` on a current-thread runtime until killed; prints
/// `listening on ADDR` first.
pub(crate) fn serve(addr: &str) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let sock = match listener.accept().await {
                Ok((sock, _)) => sock,
                Err(e) => {
                    eprintln!("serve-tokio: accept: {e}");
                    continue;
                }
            };
            tokio::spawn(async move {
                if let Err(e) = sock.set_nodelay(true) {
                    eprintln!("serve-tokio: TCP_NODELAY: {e}");
                }
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(sock), service_fn(hello));
                // The load generator closes its connections with requests in
                // flight at the end of a run: not a server fault.
                if let Err(e) = conn.await {
                    if !e.is_incomplete_message() && !is_disconnect(&e) {
                        eprintln!("serve-tokio: connection: {e}");
                    }
                }
            });
        }
    })
}

/// Whether hyper's error is the peer going away (reset, broken pipe).
fn is_disconnect(e: &hyper::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            )
        })
}
