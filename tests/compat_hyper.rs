//! hyper 1.x on ringloop (feature `hyper`): a hyper client against a hyper server
//! on one loop, pipelined requests, a 100 MB streamed request body in bounded
//! memory, clients that leave mid-request and mid-response, the header-read
//! timeout on the loop's timer, and the timer's thread checks; on every driver.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use ringloop::compat::hyper::{LocalExec, LoopTimer};
use ringloop::net::{TcpListener, TcpStream, UnixStream};
use support::alloc::Counting;
use support::net::turns;
use support::{eventually, isolated, open_fds, scaled, within};

#[global_allocator]
static ALLOC: Counting = Counting;

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// 64 KiB of zeros, the chunk of every generated body (no allocation per chunk).
static CHUNK: [u8; 64 << 10] = [0; 64 << 10];

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// `chunks` chunks of [`CHUNK`], produced as they are sent.
fn zeros(chunks: usize) -> Body {
    let frames = (0..chunks).map(|_| Ok(Frame::data(Bytes::from_static(&CHUNK))));
    StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
}

/// GET / → "Hello, world!"; POST /echo → the body streamed back; POST /count →
/// the body's length, counted as it streams; GET /big → 64 MiB streamed.
async fn handle(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(full("Hello, world!")),
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed_unsync()),
        (&Method::POST, "/count") => {
            let mut body = req.into_body();
            let mut n = 0usize;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    n += data.len();
                }
            }
            Response::new(full(n.to_string()))
        }
        (&Method::GET, "/big") => Response::new(zeros(1024)),
        _ => {
            let mut resp = Response::new(full("not found"));
            *resp.status_mut() = hyper::StatusCode::NOT_FOUND;
            resp
        }
    })
}

/// How each connection's `serve_connection` ended: `Ok` or the error's text.
type Results = Rc<RefCell<Vec<Result<(), String>>>>;

/// Serves every connection of `listener` until it is dropped with the task.
fn serve(
    listener: TcpListener,
    header_timeout: Option<Duration>,
) -> (Results, ringloop::JoinHandle<()>) {
    let results = Results::default();
    let task = ringloop::spawn({
        let results = results.clone();
        async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let results = results.clone();
                ringloop::spawn(async move {
                    let mut builder = http1::Builder::new();
                    builder.timer(LoopTimer);
                    if let Some(t) = header_timeout {
                        builder.header_read_timeout(t);
                    }
                    let res = builder.serve_connection(stream, service_fn(handle)).await;
                    results.borrow_mut().push(res.map_err(|e| format!("{e:?}")));
                });
            }
        }
    });
    (results, task)
}

async fn bound() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn body_of(resp: Response<Incoming>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

/// Reads from `stream` until `done(all bytes so far)` or the end of stream.
async fn read_until(stream: &TcpStream, mut done: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let mut all = Vec::new();
    while !done(&all) {
        let (n, buf) = stream.read(Vec::with_capacity(64 << 10)).await;
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    all
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

matrix_test! {
    /// A hyper client against the hyper server: GET and POST /echo, three
    /// requests on one kept-alive connection; then the same over a Unix pair.
    fn client_against_server(mode) {
        mode.run(async {
            let (listener, addr) = bound().await;
            let (results, server) = serve(listener, None);
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
            hyper::rt::Executor::execute(&LocalExec, conn);
            within("three requests", async {
                let resp = sender.send_request(Request::get("/").body(full("")).unwrap()).await.unwrap();
                assert_eq!(resp.status(), 200);
                assert_eq!(body_of(resp).await, "Hello, world!");
                let echo = Request::post("/echo").body(full("ping pong")).unwrap();
                let resp = sender.send_request(echo).await.unwrap();
                assert_eq!(body_of(resp).await, "ping pong");
                let big = Request::post("/echo").body(zeros(64)).unwrap();
                let resp = sender.send_request(big).await.unwrap();
                let body = body_of(resp).await;
                assert!(body.len() == 64 * CHUNK.len() && body.iter().all(|b| *b == 0));
            })
            .await;
            drop(sender);
            eventually("the connection served", || results.borrow().len() == 1).await;
            assert_eq!(results.borrow()[0], Ok(()));
            server.cancel();

            let (a, b) = UnixStream::pair().unwrap();
            let served = ringloop::spawn(async move {
                http1::Builder::new().serve_connection(a, service_fn(handle)).await
            });
            let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(b).await.unwrap();
            let conn = ringloop::spawn(conn);
            let resp = within("unix request", sender.send_request(Request::get("/").body(full("")).unwrap())).await.unwrap();
            assert_eq!(body_of(resp).await, "Hello, world!");
            drop(sender);
            within("unix client conn", conn).await.unwrap().unwrap();
            within("unix server conn", served).await.unwrap().unwrap();
        });
    }
}

matrix_test! {
    /// Three requests written at once (pipelined) get three responses, in order.
    fn pipelined_requests(mode) {
        mode.run(async {
            let (listener, addr) = bound().await;
            let (_results, server) = serve(listener, None);
            let stream = TcpStream::connect(addr).await.unwrap();
            let one = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
            let echo = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\npong";
            let requests = format!("{one}{echo}{one}");
            stream.write_all(requests.into_bytes()).await.0.unwrap();
            let all = within("three responses", read_until(&stream, |all| {
                count(all, b"Hello, world!") == 2 && count(all, b"pong") == 1
            }))
            .await;
            assert_eq!(count(&all, b"HTTP/1.1 200 OK"), 3, "{}", String::from_utf8_lossy(&all));
            let hello = all.windows(13).position(|w| w == b"Hello, world!").unwrap();
            let pong = all.windows(4).position(|w| w == b"pong").unwrap();
            assert!(hello < pong, "in order");
            server.cancel();
        });
    }
}

matrix_test! {
    /// A 100 MB request body streamed to a handler that counts it: the answer is
    /// right and the heap (client and server in one process) stays bounded.
    fn streamed_100mb_body_bounded_heap(mode) {
        isolated(mode, module_path!(), || {
            mode.run(async {
                let (listener, addr) = bound().await;
                let (_results, server) = serve(listener, None);
                let stream = TcpStream::connect(addr).await.unwrap();
                let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
                ringloop::spawn(conn);
                let chunks = 100_000_000 / CHUNK.len() + 1;
                let before = support::alloc::reset_peak();
                let req = Request::post("/count").body(zeros(chunks)).unwrap();
                let limit = scaled(Duration::from_secs(120));
                let resp = ringloop::wait_for(limit, sender.send_request(req)).await.expect("in time").unwrap();
                let body = body_of(resp).await;
                let grown = support::alloc::peak() - before;
                assert_eq!(body, (chunks * CHUNK.len()).to_string());
                assert!(grown < 8 << 20, "the heap grew by {grown} bytes for a streamed body");
                server.cancel();
            });
        });
    }
}

matrix_test! {
    /// A client that leaves mid-request (headers and part of the body), and one
    /// that leaves mid-response (a 64 MiB body): each connection's
    /// `serve_connection` ends with an error, and no descriptor is left.
    fn client_leaves_mid_request_and_mid_response(mode) {
        isolated(mode, module_path!(), || {
            mode.run(async {
                let in_loop = open_fds();
                let (listener, addr) = bound().await;
                let (results, server) = serve(listener, None);

                let stream = TcpStream::connect(addr).await.unwrap();
                let head = "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
                let mut partial = head.as_bytes().to_vec();
                partial.extend_from_slice(&[7; 1000]);
                stream.write_all(partial).await.0.unwrap();
                turns(4).await;
                drop(stream);
                eventually("mid-request: served", || results.borrow().len() == 1).await;
                assert!(results.borrow()[0].is_err(), "{:?}", results.borrow());

                let stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.0.unwrap();
                let first = within("the start of the body", read_until(&stream, |all| all.len() > 200_000)).await;
                assert!(first.starts_with(b"HTTP/1.1 200 OK"));
                drop(stream); // unread bytes: the close resets the connection
                eventually("mid-response: served", || results.borrow().len() == 2).await;
                assert!(results.borrow()[1].is_err(), "{:?}", results.borrow());

                server.cancel();
                turns(4).await;
                eventually("descriptors closed", || open_fds() <= in_loop).await;
            });
        });
    }
}

matrix_test! {
    /// A kept-alive connection whose next request's headers stop coming: the
    /// header-read timeout (on `LoopTimer`) fires and the server closes it.
    fn header_read_timeout_closes(mode) {
        mode.run(async {
            let (listener, addr) = bound().await;
            // Long enough that a loaded machine's stall before the first request's
            // headers does not fire it.
            let (results, server) = serve(listener, Some(support::scaled(Duration::from_secs(1))));
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0.unwrap();
            let first = within("the first response", read_until(&stream, |all| count(all, b"Hello, world!") == 1)).await;
            assert!(first.starts_with(b"HTTP/1.1 200 OK"));
            stream.write_all(b"GET / HTTP/1.1\r\nHost:").await.0.unwrap();
            let rest = within("the close", read_until(&stream, |_| false)).await;
            assert!(count(&rest, b"Hello, world!") == 0, "{}", String::from_utf8_lossy(&rest));
            eventually("served", || results.borrow().len() == 1).await;
            let res = results.borrow()[0].clone();
            assert!(res.as_ref().is_err_and(|e| e.contains("HeaderTimeout")), "{res:?}");
            server.cancel();
        });
    }
}

fn assert_send_sync<T: Send + Sync>() {}

any_driver_test! {
    /// `LoopSleep` is `Send + Sync`; it fires on the loop that polls it; polled
    /// on another thread after that, it panics with a message that says why;
    /// dropped on another thread, it is leaked, harmlessly.
    fn loop_sleep_stays_on_its_loop(mode) {
        assert_send_sync::<ringloop::compat::hyper::LoopSleep>();
        use hyper::rt::Timer;
        /// A sleep carried out of its loop (a plain value, not awaited).
        struct Carry(std::pin::Pin<Box<dyn hyper::rt::Sleep>>);
        let carried = mode.run(async {
            let start = std::time::Instant::now();
            LoopTimer.sleep(Duration::from_millis(5)).await;
            assert!(start.elapsed() >= Duration::from_millis(5));
            // Registered here, then taken elsewhere.
            let mut sleep = LoopTimer.sleep(Duration::from_secs(3600));
            assert!(support::poll_once(sleep.as_mut()).is_pending());
            Carry(sleep)
        });
        let polled = std::thread::spawn(move || {
            let mut carried = carried;
            mode.run(async move {
                let _ = support::poll_once(carried.0.as_mut());
            })
        })
        .join();
        let panic = polled.expect_err("polled on another thread");
        let text = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("");
        assert!(text.contains("other than the ringloop loop"), "{text}");

        // Made on this thread, never polled: it may go to another loop and fire.
        let fresh = LoopTimer.sleep(Duration::from_millis(5));
        std::thread::spawn(move || mode.run(fresh)).join().unwrap();

        // Registered on a loop, dropped on another thread: leaked, nothing touched.
        let carried = mode.run(async {
            let mut sleep = LoopTimer.sleep(Duration::from_secs(3600));
            assert!(support::poll_once(sleep.as_mut()).is_pending());
            Carry(sleep)
        });
        std::thread::spawn(move || drop(carried)).join().unwrap();
    }
}

matrix_test! {
    /// HTTP/2 (prior knowledge) on one connection: hyper's h2 server and client,
    /// their stream tasks spawned by `LocalExec` (no `Send`), timers on
    /// `LoopTimer`; ten requests at once, multiplexed, echo bodies of 256 KiB.
    fn http2_multiplexed(mode) {
        use hyper::server::conn::http2 as server_h2;
        mode.run(async {
            let (listener, addr) = bound().await;
            let server = ringloop::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                server_h2::Builder::new(LocalExec)
                    .timer(LoopTimer)
                    .serve_connection(stream, service_fn(handle))
                    .await
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            // The client's connection ends (and closes its socket) once it sent its
            // GOAWAY, whether or not it read all the server sent: a close with
            // unread bytes resets the connection, and the server's shutdown would
            // then fail (ENOTCONN). A second descriptor keeps the socket open until
            // the server is done.
            let keep = {
                use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
                // SAFETY: `dup` of the stream's open descriptor.
                let fd = unsafe { libc::dup(stream.as_raw_fd()) };
                assert!(fd >= 0, "dup: {}", std::io::Error::last_os_error());
                // SAFETY: `fd` was just returned by `dup`, owned by nothing else.
                unsafe { OwnedFd::from_raw_fd(fd) }
            };
            let (sender, conn) = hyper::client::conn::http2::Builder::new(LocalExec)
                .timer(LoopTimer)
                .handshake::<_, Body>(stream)
                .await
                .unwrap();
            let conn = ringloop::spawn(conn);
            let requests = (0..10u8).map(|i| {
                let mut sender = sender.clone();
                async move {
                    let body = vec![i; 256 << 10];
                    let req = Request::post("/echo").body(full(body.clone())).unwrap();
                    let resp = sender.send_request(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    assert!(body_of(resp).await == body, "request {i}: the echo differs");
                }
            });
            let limit = scaled(Duration::from_secs(60));
            ringloop::wait_for(limit, ringloop::gather_all(requests.map(ringloop::spawn)))
                .await
                .expect("the requests finished")
                .into_iter()
                .for_each(|r| r.unwrap());
            drop(sender);
            within("the client connection", conn).await.unwrap().unwrap();
            within("the server connection", server).await.unwrap().unwrap();
            drop(keep);
        });
    }
}
