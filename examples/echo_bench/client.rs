//! The load generator: one thread, raw edge-triggered epoll over non-blocking
//! TCP_NODELAY sockets, closed loop. Each of C connections sends an M-byte message,
//! waits until all M bytes have come back, records the round trip and sends the
//! next. It is the same for every server.
//!
//! Every echoed byte is checked. Message `k` of connection `c` is the window
//! `PATTERN[s .. s + M]` of a table where `PATTERN[j] = j as u8`, with the seed
//! `s = (131 c + 17 k) mod 256`; consecutive messages differ, so a server that drops,
//! repeats, reorders or mixes up bytes fails the run. Sending is straight from that
//! table and checking is a `memcmp` against it: no per-request allocation or fill.
//!
//! The orchestrating thread steers the client through [`Shared`]: it reads the
//! completed-request counter and flips the phase (warm-up → measure → stop); the
//! client resets its histogram when the measured window starts.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use crate::histogram::Histogram;

/// Warm-up: requests run, latencies are not kept.
pub(crate) const WARMUP: u8 = 0;
/// The measured window: latencies go into the histogram.
pub(crate) const MEASURE: u8 = 1;
/// Stop: the client closes its connections and returns.
pub(crate) const STOP: u8 = 2;

/// Epoll events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// How long one `epoll_wait` may block, so the phase is noticed promptly.
const WAIT_MS: i32 = 10;

/// State shared between the client thread and the thread steering it.
pub(crate) struct Shared {
    /// `WARMUP`, `MEASURE` or `STOP`, set by the steering thread.
    pub(crate) phase: AtomicU8,
    /// Requests completed so far (written by the client only).
    pub(crate) completed: AtomicU64,
    /// The client thread's id, for its CPU time; 0 until connected.
    pub(crate) tid: AtomicI32,
    /// Set once every connection is established.
    pub(crate) connected: AtomicBool,
}

impl Shared {
    /// A fresh state in the warm-up phase.
    pub(crate) fn new() -> Self {
        Self {
            phase: AtomicU8::new(WARMUP),
            completed: AtomicU64::new(0),
            tid: AtomicI32::new(0),
            connected: AtomicBool::new(false),
        }
    }
}

/// One connection's progress through its current message.
struct Conn {
    stream: TcpStream,
    /// The seed of the message in flight (its window into the pattern).
    seed: usize,
    /// Messages completed on this connection.
    seq: usize,
    /// Bytes of the current message sent, and received back.
    sent: usize,
    recvd: usize,
    /// When the current message's first byte was sent.
    start: Instant,
}

/// The failure of a run, with what went wrong.
fn fail(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// The seed of message `seq` of connection `conn`.
fn seed(conn: usize, seq: usize) -> usize {
    (conn.wrapping_mul(131).wrapping_add(seq.wrapping_mul(17))) & 255
}

/// Adds `fd` to the epoll set `epfd` for edge-triggered input and output.
fn watch(epfd: RawFd, fd: RawFd, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: token,
    };
    // SAFETY: `ev` is a valid epoll_event, read only during the call.
    if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs the client against `addr` with `conns` connections of `size`-byte messages
/// until `shared.phase` is `STOP`; the latencies (ns) of the measured window.
pub(crate) fn run(
    addr: SocketAddr,
    conns: usize,
    size: usize,
    shared: &Shared,
) -> io::Result<Histogram> {
    // SAFETY: gettid has no preconditions.
    shared
        .tid
        .store(unsafe { libc::gettid() }, Ordering::Relaxed);
    let pattern: Vec<u8> = (0..256 + size).map(|j| j as u8).collect();
    let mut scratch = vec![0u8; size.clamp(1, 1 << 20) + 1];

    // SAFETY: epoll_create1 has no memory preconditions.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `epfd` is a new fd that nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };

    let mut table = Vec::with_capacity(conns);
    for c in 0..conns {
        let stream =
            TcpStream::connect(addr).map_err(|e| fail(format!("connection {c} to {addr}: {e}")))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        watch(epoll.as_raw_fd(), stream.as_raw_fd(), c as u64)?;
        table.push(Conn {
            stream,
            seed: seed(c, 0),
            seq: 0,
            sent: 0,
            recvd: 0,
            start: Instant::now(),
        });
    }
    shared.connected.store(true, Ordering::Release);

    let mut hist = Histogram::new();
    let mut completed: u64 = 0;
    let mut phase = WARMUP;
    for (c, conn) in table.iter_mut().enumerate() {
        conn.start = Instant::now();
        send_more(c, conn, &pattern, size)?;
    }

    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    loop {
        let now_phase = shared.phase.load(Ordering::Relaxed);
        if now_phase != phase {
            phase = now_phase;
            match phase {
                MEASURE => hist.reset(),
                _ => break,
            }
        }
        // SAFETY: `events` has room for EVENTS entries, written by the kernel.
        let n = unsafe {
            libc::epoll_wait(
                epoll.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS as i32,
                WAIT_MS,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let c = ev.u64 as usize;
            let flags = ev.events as i32;
            let conn = &mut table[c];
            if flags & libc::EPOLLERR != 0 {
                let e = conn
                    .stream
                    .take_error()?
                    .unwrap_or_else(|| fail("EPOLLERR".into()));
                return Err(fail(format!("connection {c}: {e}")));
            }
            if flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP) != 0 {
                // Not a loop: the next echo can only arrive after the next send, and
                // its arrival is a new edge, so reading again now would only cost an
                // EAGAIN.
                if let Some(now) = recv_some(c, conn, &pattern, size, &mut scratch)? {
                    // One message done: record it, then send the next one.
                    hist.record(now.duration_since(conn.start).as_nanos() as u64);
                    completed += 1;
                    shared.completed.store(completed, Ordering::Relaxed);
                    conn.seq += 1;
                    conn.seed = seed(c, conn.seq);
                    conn.sent = 0;
                    conn.recvd = 0;
                    conn.start = now;
                    send_more(c, conn, &pattern, size)?;
                }
            }
            if flags & libc::EPOLLOUT != 0 && conn.sent < size {
                send_more(c, conn, &pattern, size)?;
            }
        }
    }
    Ok(hist)
}

/// Sends as much of `conn`'s current message as the socket takes now.
fn send_more(c: usize, conn: &mut Conn, pattern: &[u8], size: usize) -> io::Result<()> {
    while conn.sent < size {
        let rest = &pattern[conn.seed + conn.sent..conn.seed + size];
        // SAFETY: `rest` is valid for reads of its length during the call.
        let n = unsafe {
            libc::send(
                conn.stream.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(()), // EPOLLOUT resumes it
                io::ErrorKind::Interrupted => continue,
                _ => return Err(fail(format!("connection {c}: send: {e}"))),
            }
        }
        conn.sent += n as usize;
    }
    Ok(())
}

/// Reads what has arrived on `conn` and checks it; `Some(now)` when the current
/// message is complete, `None` when the socket has nothing more for now.
fn recv_some(
    c: usize,
    conn: &mut Conn,
    pattern: &[u8],
    size: usize,
    scratch: &mut [u8],
) -> io::Result<Option<Instant>> {
    loop {
        // Ask for one byte more than is owed, so a server that sends extra is caught.
        let want = (size - conn.recvd + 1).min(scratch.len());
        // SAFETY: `scratch` is valid for writes of `want <= scratch.len()` bytes.
        let n = unsafe {
            libc::recv(
                conn.stream.as_raw_fd(),
                scratch.as_mut_ptr().cast(),
                want,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(fail(format!("connection {c}: recv: {e}"))),
            }
        }
        let n = n as usize;
        if n == 0 {
            return Err(fail(format!("connection {c}: the server closed it")));
        }
        if conn.recvd + n > conn.sent {
            return Err(fail(format!(
                "connection {c}: {} bytes echoed of {} sent (message {})",
                conn.recvd + n,
                conn.sent,
                conn.seq
            )));
        }
        let start = conn.seed + conn.recvd;
        if scratch[..n] != pattern[start..start + n] {
            return Err(fail(format!(
                "connection {c}: message {} bytes {}..{} came back altered",
                conn.seq,
                conn.recvd,
                conn.recvd + n
            )));
        }
        conn.recvd += n;
        if conn.recvd == size {
            return Ok(Some(Instant::now()));
        }
        if n < want {
            // A short read: the socket is drained; the next arrival is a new edge.
            return Ok(None);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn consecutive_messages_differ() {
        for c in 0..64 {
            for k in 0..1000 {
                assert_ne!(super::seed(c, k), super::seed(c, k + 1));
            }
        }
    }
}
