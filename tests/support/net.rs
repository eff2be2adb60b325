//! Support for the socket tests (`tests/net_*.rs`, and the file and process tests
//! that share their tools): a drop-counting buffer, connected pairs, a full send
//! buffer, descriptor baselines, resets.

use std::net::SocketAddr;
use std::time::Duration;

use ringloop::buf::{BufResult, IoBuf, IoBufMut};
use ringloop::net::{TcpListener, TcpStream};

use super::{open_fds, within, DropToken, Drops, Mode};

/// A buffer that counts its drop in a [`Drops`], to check that an op frees its
/// buffer exactly once and only after the kernel is done with it.
#[derive(Debug)]
pub struct CountedBuf {
    pub data: Vec<u8>,
    _token: DropToken,
}

impl CountedBuf {
    /// An empty buffer with room for `capacity` bytes (for reads).
    pub fn new(capacity: usize, drops: &Drops) -> CountedBuf {
        CountedBuf::from_vec(Vec::with_capacity(capacity), drops)
    }

    /// A buffer holding `data` (for writes).
    pub fn from_vec(data: Vec<u8>, drops: &Drops) -> CountedBuf {
        CountedBuf {
            data,
            _token: drops.token(),
        }
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

/// Lets the loop make `n` turns, then sleeps 5 ms (a timed park, so the driver
/// enters the kernel and reaps whatever completed).
pub async fn turns(n: usize) {
    super::yield_turns(n).await;
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

/// Writes `F`s on `write` (whose peer does not read) until a write does not finish
/// within 100 ms: the send buffer is full. That last write is dropped (it may have
/// sent a prefix). Returns how many bytes the finished writes sent. Bounded: panics
/// past 1 GiB.
pub async fn fill_send_buffer<F, Fut>(mut write: F) -> usize
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = BufResult<usize, Vec<u8>>>,
{
    let mut sent = 0;
    loop {
        let op = write(vec![b'F'; 1 << 16]);
        match ringloop::wait_for(Duration::from_millis(100), op).await {
            Ok((n, _)) => sent += n.unwrap(),
            Err(_) => return sent,
        }
        assert!(sent < 1 << 30, "the send buffer never filled");
    }
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

/// A TCP connection whose first end resets it (RST) when dropped: `SO_LINGER` with
/// a zero timeout. Returns (the resetting end, the other end).
pub async fn resetting_tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A blocking connect completes in the kernel's backlog, before the accept.
    let std_stream = std::net::TcpStream::connect(addr).unwrap();
    set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&std_stream));
    let resetting = TcpStream::from_std(std_stream).unwrap();
    let (accepted, _) = within("accept", listener.accept()).await.unwrap();
    (resetting, accepted)
}
