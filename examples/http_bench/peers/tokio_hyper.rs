//! The tokio peer: hyper 1.x serving HTTP/1.1 on a tokio current-thread runtime,
//! written the way ringloop's `http_server` example is: one thread, an accept loop,
//! one task per connection running hyper's `http1` connection (keep-alive, a timer
//! with the 30 s header-read timeout), TCP_NODELAY on, and the same handler (`GET /`
//! answers `Hello, world!`, `POST /echo` streams the body back, anything else is a
//! 404), so both send the same response bytes (the bench checks it).

use std::io;
use std::time::Duration;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn text(body: &'static str) -> Body {
    Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The handler of ringloop's `http_server` example, as it is there.
async fn handle(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(text("Hello, world!")),
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed_unsync()),
        _ => {
            let mut resp = Response::new(text("not found\n"));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    })
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
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30));
                let conn = builder.serve_connection(TokioIo::new(sock), service_fn(handle));
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
