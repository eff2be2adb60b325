//! The yardstick: an echo server written directly on the `io-uring` crate, with no
//! runtime. One thread and one ring (`SINGLE_ISSUER|DEFER_TASKRUN`, else
//! `COOP_TASKRUN`, else no flags); a multishot accept (re-armed single-shot accepts
//! where the kernel lacks it); per connection a fixed 64 KiB buffer that goes RECV →
//! SEND of the bytes received (resent from where a short send stopped) → RECV. Each
//! loop turn is one `submit_and_wait(1)` that submits everything queued and waits
//! for a completion; then every completion is handled.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{cqueue, opcode, squeue, types, IoUring, SubmissionQueue, Submitter};
use slab::Slab;

/// The per-connection buffer size.
const BUF_SIZE: usize = 64 * 1024;
/// Submission queue entries (the completion queue gets twice as many).
const RING_ENTRIES: u32 = 256;
/// `user_data` of the accept op; a connection's ops are `key << 1 | SEND?`.
const ACCEPT: u64 = u64::MAX;
/// The low `user_data` bit of a send (clear for a recv).
const SEND: u64 = 1;

/// One connection: its socket, its buffer, and the bytes of the buffer still to send.
struct Conn {
    fd: OwnedFd,
    buf: Box<[u8]>,
    /// Bytes received into `buf` by the last recv.
    len: usize,
    /// Bytes of those already sent back.
    sent: usize,
}

/// A set of ring flags to try: its name and how to ask the builder for it.
type RingFlags = (&'static str, fn(&mut io_uring::Builder));

/// Builds the ring with the best flags this kernel accepts.
fn build_ring() -> io::Result<(IoUring, &'static str)> {
    let attempts: [RingFlags; 3] = [
        ("SINGLE_ISSUER|DEFER_TASKRUN", |b| {
            b.setup_single_issuer().setup_defer_taskrun();
        }),
        ("COOP_TASKRUN", |b| {
            b.setup_coop_taskrun();
        }),
        ("no flags", |_| {}),
    ];
    let mut last = None;
    for (name, setup) in attempts {
        let mut builder = IoUring::builder();
        setup(&mut builder);
        match builder.build(RING_ENTRIES) {
            Ok(ring) => return Ok((ring, name)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Queues `entry`, submitting what is queued first if the submission queue is full.
fn push(submitter: &Submitter<'_>, sq: &mut SubmissionQueue<'_>, entry: &squeue::Entry) {
    loop {
        // SAFETY: every entry pushed here points only into a connection's boxed
        // buffer (or nowhere, for accept); a connection is removed from the slab, and
        // its buffer freed, only when the completion of its one op in flight has
        // arrived, so the memory outlives the op.
        if unsafe { sq.push(entry) }.is_ok() {
            return;
        }
        sq.sync();
        if let Err(e) = submitter.submit() {
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
            ) {
                panic!("serve-bare: io_uring_enter: {e}");
            }
        }
        sq.sync();
    }
}

/// The accept op: multishot, or a single shot to re-arm after each connection.
fn accept_entry(listener: RawFd, multishot: bool) -> squeue::Entry {
    let fd = types::Fd(listener);
    if multishot {
        opcode::AcceptMulti::new(fd)
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT)
    } else {
        opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT)
    }
}

/// A recv into the whole of `conn`'s buffer.
fn recv_entry(key: usize, conn: &mut Conn) -> squeue::Entry {
    opcode::Recv::new(
        types::Fd(conn.fd.as_raw_fd()),
        conn.buf.as_mut_ptr(),
        conn.buf.len() as u32,
    )
    .build()
    .user_data((key as u64) << 1)
}

/// A send of the part of `conn`'s buffer not yet sent.
fn send_entry(key: usize, conn: &Conn) -> squeue::Entry {
    let rest = &conn.buf[conn.sent..conn.len];
    opcode::Send::new(
        types::Fd(conn.fd.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data((key as u64) << 1 | SEND)
}

/// Sets TCP_NODELAY on `fd`.
fn set_nodelay(fd: RawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a valid c_int for the length passed, read only during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Serves echo on `addr` until killed; prints `Serving on ADDR` first.
pub(crate) fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    let (mut ring, flags) = build_ring()?;
    println!("Serving on {}", listener.local_addr()?);
    eprintln!("serve-bare: ring flags {flags}");
    let lfd = listener.as_raw_fd();
    let mut conns: Slab<Conn> = Slab::new();
    let mut multishot = true;
    let mut accepted_any = false;

    let (submitter, mut sq, mut cq) = ring.split();
    push(&submitter, &mut sq, &accept_entry(lfd, multishot));
    loop {
        sq.sync();
        if let Err(e) = submitter.submit_and_wait(1) {
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
            ) {
                return Err(e);
            }
        }
        cq.sync();
        for cqe in &mut cq {
            let res = cqe.result();
            let data = cqe.user_data();
            if data == ACCEPT {
                if res >= 0 {
                    accepted_any = true;
                    // SAFETY: a successful accept returns a new fd that nothing else
                    // owns.
                    let fd = unsafe { OwnedFd::from_raw_fd(res) };
                    set_nodelay(fd.as_raw_fd())?;
                    let entry = conns.vacant_entry();
                    let key = entry.key();
                    let conn = entry.insert(Conn {
                        fd,
                        buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
                        len: 0,
                        sent: 0,
                    });
                    push(&submitter, &mut sq, &recv_entry(key, conn));
                } else if res == -libc::EINVAL && multishot && !accepted_any {
                    eprintln!("serve-bare: no multishot accept, re-arming single shots");
                    multishot = false;
                } else {
                    eprintln!("serve-bare: accept: {}", io::Error::from_raw_os_error(-res));
                }
                if !cqueue::more(cqe.flags()) {
                    push(&submitter, &mut sq, &accept_entry(lfd, multishot));
                }
                continue;
            }
            let key = (data >> 1) as usize;
            if res <= 0 {
                // End of stream, or an error (a reset at the end of a run): close.
                conns.remove(key);
                continue;
            }
            let conn = &mut conns[key];
            if data & SEND == 0 {
                conn.len = res as usize;
                conn.sent = 0;
            } else {
                conn.sent += res as usize;
            }
            let entry = if conn.sent < conn.len {
                send_entry(key, conn)
            } else {
                recv_entry(key, conn)
            };
            push(&submitter, &mut sq, &entry);
        }
    }
}
