//! An HTTP/1.1 server: hyper 1.x on ringloop's sockets (cargo feature `hyper`).
//!
//! - `GET /` answers `Hello, world!`;
//! - `POST /echo` streams the request body back as it arrives (any size, in
//!   bounded memory);
//! - anything else is a 404.
//!
//! Connections are kept alive; a client that does not finish sending its headers
//! within 30 s is disconnected (`header_read_timeout`, on ringloop's timer through
//! `LoopTimer`).
//!
//! Run: `cargo run --release --features hyper --example http_server -- [--addr
//! ADDR] [--driver auto|uring|epoll] [--shards N]`. ADDR defaults to
//! 127.0.0.1:8080 (port 0 picks a free one); it prints `listening on ADDR` once it
//! accepts. With `--shards N` (N > 1; 0: one per CPU) it runs N shards
//! ([`ringloop::shard`]), each with its own `SO_REUSEPORT` listener on the same
//! address (the kernel spreads the connections) and its own connections. It stops
//! on `SIGINT` or `SIGTERM`: the listeners close and the connections still open
//! are cut.
//!
//! ```text
//! $ cargo run --release --features hyper --example http_server -- --addr 127.0.0.1:8080
//! listening on 127.0.0.1:8080
//! $ curl http://127.0.0.1:8080/
//! Hello, world!
//! $ curl --data-binary @README.md http://127.0.0.1:8080/echo
//! ```

#[path = "support/shutdown.rs"]
mod shutdown;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use ringloop::compat::hyper::LoopTimer;
use ringloop::net::{ListenOptions, TcpListener};
use ringloop::shard::Shards;
use ringloop::{Builder, Driver};
use shutdown::StopSignals;

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn text(body: &'static str) -> Body {
    Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(text("Hello, world!")),
        // The request body is the response body: each chunk goes back out as it
        // comes in, with the request's length (or chunked) framing.
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed_unsync()),
        _ => {
            let mut resp = Response::new(text("not found\n"));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    })
}

/// Accepts on `listener` and serves each connection in a task of its own, until
/// the task running this is dropped.
async fn accept_loop(listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of descriptors, a connection reset in the backlog: go on.
            Err(e) => {
                eprintln!("http_server: accept: {e}");
                ringloop::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        ringloop::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(LoopTimer)
                .header_read_timeout(Duration::from_secs(30));
            // A client that goes away mid-request or mid-response ends its
            // connection with an error; nothing to report for a demo server.
            let _ = builder.serve_connection(stream, service_fn(handle)).await;
        });
    }
}

fn builder(driver: Driver) -> Builder {
    ringloop::Runtime::builder().driver(driver)
}

/// One loop: serves until `SIGINT` or `SIGTERM`.
fn serve(addr: SocketAddr, driver: Driver) -> io::Result<()> {
    let runtime = builder(driver).build()?;
    runtime.block_on(async {
        let stop = StopSignals::listen()?;
        let listener = TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let server = ringloop::spawn(accept_loop(listener));
        let signal = stop.wait().await;
        eprintln!("http_server: {signal}: stopping");
        server.cancel();
        Ok(())
    })
}

/// `shards` loops, each with its own `SO_REUSEPORT` listener on `addr`.
fn serve_sharded(addr: SocketAddr, driver: Driver, shards: usize) -> io::Result<()> {
    let options = ListenOptions::new().reuse_port(true);
    // Port 0: take a free port now, so that every shard binds the same one (the
    // probe is closed before the shards bind it).
    let addr = TcpListener::bind_with(addr, &options)?.local_addr()?;
    let results = Shards::new(shards)
        .name("http")
        .configure(move |_, _| builder(driver))
        .stop_on_signals(true)
        .run(move |shard| {
            let options = options.clone();
            async move {
                let listener = TcpListener::bind_with(addr, &options)?;
                if shard == 0 {
                    println!("listening on {addr}");
                    eprintln!("({} shards)", ringloop::shard::shard_count());
                }
                let server = ringloop::spawn(accept_loop(listener));
                ringloop::shard::stop_requested().await;
                server.cancel();
                Ok::<_, io::Error>(())
            }
        })?;
    for result in results {
        result.map_err(io::Error::other)??;
    }
    Ok(())
}

fn usage(why: &str) -> ! {
    eprintln!(
        "http_server: {why}\nusage: http_server [--addr ADDR] [--driver auto|uring|epoll] [--shards N]"
    );
    std::process::exit(2);
}

fn main() {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut driver = Driver::Auto;
    let mut shards = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = |args: &mut dyn Iterator<Item = String>| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--addr" => {
                addr = value(&mut args)
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--addr: {e}")))
            }
            "--driver" => {
                driver = match value(&mut args).as_str() {
                    "auto" => Driver::Auto,
                    "uring" => Driver::IoUring,
                    "epoll" => Driver::Epoll,
                    other => usage(&format!("unknown driver {other:?}")),
                }
            }
            "--shards" => {
                shards = value(&mut args)
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--shards: {e}")))
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let served = if shards == 1 {
        serve(addr, driver)
    } else {
        serve_sharded(addr, driver, shards)
    };
    if let Err(e) = served {
        eprintln!("http_server: {e}");
        std::process::exit(1);
    }
}
