//! hyper 1.x on ringloop (cargo feature `hyper`): `hyper::rt::{Read, Write}` for
//! [`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream)
//! and their halves, an executor ([`LocalExec`]) and a timer ([`LoopTimer`]).
//!
//! An HTTP/1.1 server and a client on one loop:
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper::{server::conn::http1, service::service_fn, Request, Response};
//! use ringloop::compat::hyper::{LocalExec, LoopTimer};
//! use ringloop::net::{TcpListener, TcpStream};
//!
//! ringloop::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     ringloop::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let hello = service_fn(|_req: Request<hyper::body::Incoming>| async {
//!             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("Hello, world!"))))
//!         });
//!         http1::Builder::new()
//!             .timer(LoopTimer)
//!             .header_read_timeout(Duration::from_secs(5))
//!             .serve_connection(stream, hello)
//!             .await
//!             .unwrap();
//!     });
//!
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
//!     hyper::rt::Executor::execute(&LocalExec, conn);
//!     let req = Request::get("/").body(Full::new(Bytes::new())).unwrap();
//!     let resp = sender.send_request(req).await.unwrap();
//!     let body = resp.into_body().collect().await.unwrap().to_bytes();
//!     assert_eq!(body, "Hello, world!");
//! });
//! ```

//! ringloop's `hyper` dependency enables none of hyper's features: a program
//! picks `server`, `client`, `http1`, `http2` in its own `[dependencies]`, and
//! cargo unifies them. HTTP/2 works as well: give [`LocalExec`] to
//! `hyper::server::conn::http2::Builder::new` (or the client's) for the stream
//! tasks it spawns, and [`LoopTimer`] for its keep-alive pings
//! (`tests/compat_hyper.rs`, `http2_multiplexed`, runs ten multiplexed requests).

mod executor;
mod io;
mod timer;

pub use executor::LocalExec;
pub use timer::{LoopSleep, LoopTimer};
