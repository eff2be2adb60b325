//! Support for the socket tests (`tests/net_*.rs`): a drop-counting buffer, polling
//! an op once with the task's waker, connected pairs, and running a test body alone
//! in a child process so that descriptor counts mean something.

use std::cell::Cell;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::buf::{IoBuf, IoBufMut};
use ringloop::net::{TcpListener, TcpStream};

use super::{is_child, matrix_test_name, open_fds, run_child, Mode};

/// How long any single step of a socket test may take before it counts as hung
/// (times the machine's slowness: [`step`]).
pub const STEP: Duration = Duration::from_secs(10);

/// [`STEP`], scaled for a slow machine ([`super::scaled`]).
pub fn step() -> Duration {
    super::scaled(STEP)
}

/// Awaits `fut`, failing the test (naming `what`) if it takes longer than [`step`].
pub async fn within<F: IntoFuture>(what: &str, fut: F) -> F::Output {
    match ringloop::wait_for(step(), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: did not finish within {:?}", step()),
    }
}

/// A buffer that counts its drops, to check that an op frees its buffer exactly once
/// and only after the kernel is done with it.
#[derive(Debug)]
pub struct CountedBuf {
    pub data: Vec<u8>,
    drops: Rc<Cell<usize>>,
}

impl CountedBuf {
    /// An empty buffer with room for `capacity` bytes (for reads).
    pub fn new(capacity: usize, drops: &Rc<Cell<usize>>) -> CountedBuf {
        CountedBuf {
            data: Vec::with_capacity(capacity),
            drops: drops.clone(),
        }
    }

    /// A buffer holding `data` (for writes).
    pub fn from_vec(data: Vec<u8>, drops: &Rc<Cell<usize>>) -> CountedBuf {
        CountedBuf {
            data,
            drops: drops.clone(),
        }
    }
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

// SAFETY: every method delegates to the inner `Vec`, whose heap block does not move
// when the `CountedBuf` moves and is only reallocated through `&mut self`, which the
// op holds exclusively while the kernel uses the buffer.
unsafe impl IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.data.bytes_total()
    }
}

// SAFETY: delegates to the inner `Vec` (see above); its spare capacity is writable.
unsafe impl IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        // SAFETY: forwarded from the caller: `len` bytes are initialised.
        unsafe { self.data.set_init(len) }
    }
}

/// A drop counter for [`CountedBuf`]s.
pub fn counter() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

/// Polls `fut` once with the calling task's waker (so that the op is submitted and
/// its completion wakes this task).
pub async fn poll_once<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Lets the loop make `n` turns, then sleeps 5 ms (a timed park, so the driver
/// enters the kernel and reaps whatever completed).
pub async fn turns(n: usize) {
    for _ in 0..n {
        ringloop::yield_now().await;
    }
    ringloop::sleep(Duration::from_millis(5)).await;
}

/// A connected TCP pair on loopback: (client, server side).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = within("tcp_pair", async {
        ringloop::gather!(TcpStream::connect(addr), listener.accept()).await
    })
    .await;
    let client = client.unwrap();
    let (server, peer) = accepted.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

/// Runs `body` in a child process of its own (this test, re-run alone), so that the
/// descriptors it counts are its own; the parent checks that the child passed. Call
/// as `isolated(mode, module_path!(), || ...)` from a `matrix_test!` body.
pub fn isolated(mode: Mode, module_path: &str, body: impl FnOnce()) {
    if !is_child() {
        let output = run_child(&matrix_test_name(module_path, mode), &[]);
        assert!(output.success, "{output:#?}");
        return;
    }
    body();
}

/// The descriptor count to compare against: the first runtime of a process leaves
/// its wake-up eventfd in a pool for the next one (runtime/shared.rs), so one is
/// created and dropped before counting.
pub fn fd_baseline(mode: Mode) -> usize {
    drop(mode.runtime());
    open_fds()
}

/// Reads from `stream` until `len` bytes came (or the end of stream), with reads of
/// `chunk` bytes.
pub async fn read_n(stream: &TcpStream, len: usize, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let (n, buf) = stream.read(Vec::with_capacity(chunk)).await;
        let n = n.unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// A deterministic pattern of `len` bytes (not periodic in any small power of two,
/// so that a reordered or repeated chunk shows).
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// An address nothing listens on: a port bound and released just now.
pub fn unused_port_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Sets `SO_LINGER` to 0 on `fd`, so that closing it sends a reset.
pub fn set_linger_zero(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a live, correctly sized `struct linger` for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// Retries `attempt` every millisecond until it succeeds, for at most [`STEP`].
///
/// For what happens "soon" rather than at once: on io_uring a dropped socket is
/// closed through the ring (driver/fd.rs), so its address is free only after the
/// loop's next turn, when the `CLOSE` entry reaches the kernel.
pub async fn eventually<T, E: std::fmt::Debug>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = std::time::Instant::now() + step();
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("{what}: still failing after {:?}: {e:?}", step())
            }
            Err(_) => ringloop::sleep(Duration::from_millis(1)).await,
        }
    }
}
