//! Driver tests: the op lifecycle on every driver, above all what happens when an
//! op's future is dropped while the kernel holds it (ARCHITECTURE.md, decision 1).
//!
//! Each test runs on io_uring, io_uring limited to 5.10, and epoll. Buffers count
//! their drops, and descriptor counts (from /proc/self/fd) are compared before and
//! after, so a leak or a double free fails the test. Tests that count descriptors
//! re-run themselves alone in a child process ([`isolated`]), since the other tests
//! of this binary open and close descriptors on other threads meanwhile.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::fd::SharedFd;
use super::op::{Accept, Nop, Op, OpKind, OpenAt, PollAdd, Read, Readiness, Write};
use super::sys;
use super::Interest;
use crate::buf::{IoBuf, IoBufMut};
use crate::{Driver, DriverKind, KernelCompat, Runtime};

#[derive(Clone, Copy, Debug)]
enum Mode {
    Uring,
    Uring510,
    Epoll,
}

const MODES: [Mode; 3] = [Mode::Uring, Mode::Uring510, Mode::Epoll];

/// Whether io_uring cannot be set up here: `io_uring_setup` refused with `EPERM`
/// (a seccomp filter such as Docker's default profile, `kernel.io_uring_disabled`)
/// or `ENOSYS`. Then the io_uring parts of these tests are skipped, and the first
/// test that skips says so on standard error (past libtest's capture), once per
/// run; `tests/uring_refused.rs` proves the refusal real. Asked of the kernel
/// directly, once.
pub(crate) fn uring_refused() -> bool {
    static REFUSED: std::sync::OnceLock<Option<io::Error>> = std::sync::OnceLock::new();
    static SAID: std::sync::Once = std::sync::Once::new();
    let refused = REFUSED.get_or_init(|| match io_uring::IoUring::new(2) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => Some(e),
        _ => None,
    });
    let Some(e) = refused else {
        return false;
    };
    SAID.call_once(|| {
        use std::io::Write;
        let line = format!(
            "SKIPPED: io_uring cannot be set up here (io_uring_setup: {e}): the io_uring \
             parts of the driver's unit tests are skipped\n"
        );
        let _ = io::stderr().write_all(line.as_bytes());
    });
    true
}

/// The modes this machine can run: all of [`MODES`], or epoll alone where
/// io_uring is refused ([`uring_refused`]).
fn modes() -> impl Iterator<Item = Mode> {
    MODES
        .into_iter()
        .filter(|&mode| !is_uring(mode) || !uring_refused())
}

fn runtime(mode: Mode) -> Runtime {
    let builder = match mode {
        Mode::Uring => Runtime::builder()
            .driver(Driver::IoUring)
            .kernel_compat(KernelCompat::Native),
        Mode::Uring510 => Runtime::builder()
            .driver(Driver::IoUring)
            .kernel_compat(KernelCompat::V5_10),
        Mode::Epoll => Runtime::builder().driver(Driver::Epoll),
    };
    builder.build().expect("runtime")
}

fn is_uring(mode: Mode) -> bool {
    !matches!(mode, Mode::Epoll)
}

/// A heap buffer that counts its drops.
#[derive(Debug)]
struct CountedBuf {
    data: Vec<u8>,
    drops: Rc<Cell<usize>>,
}

impl CountedBuf {
    fn new(capacity: usize, drops: &Rc<Cell<usize>>) -> CountedBuf {
        CountedBuf {
            data: Vec::with_capacity(capacity),
            drops: drops.clone(),
        }
    }
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

// SAFETY: delegates to the inner `Vec`, whose heap block is stable across moves.
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

// SAFETY: delegates to the inner `Vec`.
unsafe impl IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.data.set_init(len) }
    }
}

/// A non-blocking pipe, as the socket and pipe types open them.
fn pipe() -> (SharedFd, SharedFd) {
    let (r, w) = sys::pipe().expect("pipe");
    (SharedFd::new(r), SharedFd::new(w))
}

/// Set in the environment of a test re-run by [`isolated`].
const CHILD_ENV: &str = "RINGLOOP_DRIVER_TEST_CHILD";

/// Runs `body` alone in a child process (this test binary re-run with only the test
/// `name`), so that descriptor counts see no other test's descriptors; the parent
/// checks that the child passed.
fn isolated(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        // The first runtime of a process leaves its wake-up eventfd in the slot pool
        // for the next one (runtime/shared.rs): create it before counting.
        drop(runtime(Mode::Epoll));
        body();
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = std::process::Command::new(exe)
        .args([
            &format!("driver::tests::{name}"),
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the test binary");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait for the child").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: the child did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its child process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `fut` once with the calling task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

/// Lets the loop make a few turns (so the driver submits and reaps).
async fn turns(n: usize) {
    for _ in 0..n {
        crate::yield_now().await;
    }
    crate::sleep(Duration::from_millis(5)).await;
}

#[test]
fn nop_and_pipe_round_trip() {
    for mode in modes() {
        runtime(mode).block_on(async {
            assert_eq!(Op::new(Nop).await.unwrap(), 0, "{mode:?}");
            let (r, w) = pipe();
            let reader = crate::spawn(Op::new(Read::new(r.clone(), Vec::with_capacity(16), None)));
            crate::yield_now().await;
            let (n, _) = Op::new(Write::new(w.clone(), b"hello".to_vec(), None)).await;
            assert_eq!(n.unwrap(), 5);
            let (n, buf) = reader.await.unwrap();
            assert_eq!(n.unwrap(), 5, "{mode:?}");
            assert_eq!(buf, b"hello");
        });
    }
}

#[test]
fn dropped_read_keeps_its_buffer_until_the_kernel_is_done() {
    isolated(
        "dropped_read_keeps_its_buffer_until_the_kernel_is_done",
        || {
            for mode in modes() {
                let fds_before = sys::open_fd_count();
                let drops = Rc::new(Cell::new(0));
                let rt = runtime(mode);
                rt.block_on(async {
                    let (r, w) = pipe();
                    let mut op = Op::new(Read::new(r.clone(), CountedBuf::new(64, &drops), None));
                    assert!(poll_once(&mut op).await.is_pending());
                    crate::yield_now().await;
                    drop(op);
                    if is_uring(mode) {
                        // The kernel still holds the buffer until the cancellation's CQE.
                        assert_eq!(drops.get(), 0, "{mode:?}: buffer freed under the kernel");
                    } else {
                        assert_eq!(drops.get(), 1, "{mode:?}");
                    }
                    turns(3).await;
                    assert_eq!(
                        drops.get(),
                        1,
                        "{mode:?}: buffer dropped once after the CQE"
                    );
                    // The pipe still works, and no byte went to the cancelled read.
                    let (n, _) = Op::new(Write::new(w.clone(), b"xy".to_vec(), None)).await;
                    assert_eq!(n.unwrap(), 2);
                    let (n, buf) = Op::new(Read::new(r.clone(), Vec::with_capacity(8), None)).await;
                    assert_eq!((n.unwrap(), buf.as_slice()), (2, &b"xy"[..]), "{mode:?}");
                });
                drop(rt);
                assert_eq!(drops.get(), 1);
                assert_eq!(sys::open_fd_count(), fds_before, "{mode:?}: fd leak");
            }
        },
    );
}

#[test]
fn cancelling_a_task_blocked_in_an_op() {
    isolated("cancelling_a_task_blocked_in_an_op", || {
        for mode in modes() {
            let fds_before = sys::open_fd_count();
            let drops = Rc::new(Cell::new(0));
            runtime(mode).block_on(async {
                let (r, _w) = pipe();
                let buf = CountedBuf::new(64, &drops);
                let task = crate::spawn(Op::new(Read::new(r, buf, None)));
                turns(2).await;
                assert!(task.cancel());
                assert_eq!(task.await.unwrap_err(), crate::JoinError::Cancelled);
                turns(3).await;
                assert_eq!(drops.get(), 1, "{mode:?}");
            });
            assert_eq!(drops.get(), 1);
            assert_eq!(sys::open_fd_count(), fds_before, "{mode:?}: fd leak");
        }
    });
}

#[test]
fn shutdown_completes_ops_in_flight() {
    isolated("shutdown_completes_ops_in_flight", || {
        for mode in modes() {
            let fds_before = sys::open_fd_count();
            let drops = Rc::new(Cell::new(0));
            let rt = runtime(mode);
            let (r, _w) = pipe();
            rt.block_on(async {
                for _ in 0..10 {
                    crate::spawn(Op::new(Read::new(
                        r.clone(),
                        CountedBuf::new(64, &drops),
                        None,
                    )));
                }
                turns(2).await;
            });
            assert_eq!(drops.get(), 0);
            drop(rt);
            // Every task was cancelled and every read completed before drop returned.
            assert_eq!(drops.get(), 10, "{mode:?}");
            drop((r, _w));
            assert_eq!(sys::open_fd_count(), fds_before, "{mode:?}: fd leak");
        }
    });
}

#[test]
fn an_op_that_outlives_its_runtime() {
    for mode in modes() {
        let drops = Rc::new(Cell::new(0));
        let (r, w) = pipe();
        let rt = runtime(mode);
        let mut op = Op::new(Read::new(r.clone(), CountedBuf::new(8, &drops), None));
        rt.block_on(async {
            assert!(poll_once(&mut op).await.is_pending());
        });
        drop(rt);
        assert_eq!(drops.get(), 0, "the future still owns its buffer");
        // Polled again in another runtime: the old one is gone, so the op fails
        // (cancelled by the shutdown, or reported as shut down), never hangs.
        let rt2 = runtime(mode);
        let (result, buf) = rt2.block_on(async { (&mut op).await });
        assert!(result.is_err(), "{mode:?}: {result:?}");
        drop(buf);
        assert_eq!(drops.get(), 1);
        drop((op, w));
    }
}

#[test]
fn descriptors_from_dropped_opens_are_closed() {
    isolated("descriptors_from_dropped_opens_are_closed", || {
        let dir = std::env::temp_dir().join(format!("ringloop-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("file");
        std::fs::write(&path, b"data").unwrap();
        for mode in modes() {
            let fds_before = sys::open_fd_count();
            runtime(mode).block_on(async {
                for _ in 0..20 {
                    // Dropped right after submission: the open still happens in the
                    // kernel, and its descriptor must be closed when the CQE arrives.
                    let mut op = Op::new(OpenAt::new(&path, libc::O_RDONLY, 0).unwrap());
                    let polled = poll_once(&mut op).await;
                    if let Poll::Ready(fd) = polled {
                        drop(fd.unwrap());
                    }
                    drop(op);
                }
                // Completed but never polled again: the CQE sits in the table.
                let mut op = Op::new(OpenAt::new(&path, libc::O_RDONLY, 0).unwrap());
                if let Poll::Ready(fd) = poll_once(&mut op).await {
                    drop(fd.unwrap());
                }
                turns(3).await;
                drop(op);
                turns(3).await;
                let fd = Op::new(OpenAt::new(&path, libc::O_RDONLY, 0).unwrap())
                    .await
                    .unwrap();
                assert!(fd.as_raw_fd() >= 0);
            });
            assert_eq!(sys::open_fd_count(), fds_before, "{mode:?}: fd leak");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn connections_of_dropped_accepts_go_to_the_next_accept() {
    isolated(
        "connections_of_dropped_accepts_go_to_the_next_accept",
        || {
            for mode in modes() {
                let fds_before = sys::open_fd_count();
                runtime(mode).block_on(async {
                    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    listener.set_nonblocking(true).unwrap();
                    let addr = listener.local_addr().unwrap();
                    let listener = SharedFd::new(listener.into());
                    // In flight, then a client connects, then the accept is dropped: on
                    // io_uring the kernel may have accepted already, and the connection
                    // must wait for the next accept (on epoll it waits in the backlog).
                    let mut op = Op::new(Accept::new(listener.clone()));
                    assert!(poll_once(&mut op).await.is_pending(), "{mode:?}");
                    turns(1).await;
                    let client = std::net::TcpStream::connect(addr).unwrap();
                    turns(2).await;
                    drop(op);
                    turns(2).await;
                    let (socket, peer) = crate::wait_for(
                        Duration::from_secs(5),
                        Op::new(Accept::new(listener.clone())),
                    )
                    .await
                    .expect("the first connection is handed on")
                    .unwrap();
                    assert_eq!(
                        peer.and_then(|p| p.ip()),
                        Some(client.local_addr().unwrap())
                    );
                    drop((socket, client));
                    // Dropped while still waiting: cancelled, nothing accepted.
                    let mut op = Op::new(Accept::new(listener.clone()));
                    assert!(poll_once(&mut op).await.is_pending(), "{mode:?}");
                    turns(1).await;
                    drop(op);
                    turns(2).await;
                    // A connection queued on a listener that is then dropped is closed.
                    let mut op = Op::new(Accept::new(listener.clone()));
                    assert!(poll_once(&mut op).await.is_pending(), "{mode:?}");
                    turns(1).await;
                    let _client = std::net::TcpStream::connect(addr).unwrap();
                    turns(2).await;
                    drop(op);
                    turns(2).await;
                });
                assert_eq!(sys::open_fd_count(), fds_before, "{mode:?}: fd leak");
            }
        },
    );
}

/// A waker of its own (not `will_wake` any other), as each task's is.
fn distinct_waker() -> std::task::Waker {
    struct Nothing;
    impl std::task::Wake for Nothing {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Nothing))
}

#[test]
fn reads_waiting_for_a_cancelled_reads_result_leave_when_dropped() {
    for mode in modes() {
        runtime(mode).block_on(async {
            let (r, w) = pipe();
            // In flight, then dropped: on io_uring its result is due (the next reads
            // wait for it, each in the descriptor's list of waiters).
            let mut first = Op::new(Read::new(r.clone(), Vec::with_capacity(8), None));
            assert!(poll_once(&mut first).await.is_pending());
            drop(first);
            for _ in 0..1000 {
                let mut op = Op::new(Read::new(r.clone(), Vec::with_capacity(8), None));
                let waker = distinct_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                assert!(std::pin::Pin::new(&mut op).poll(&mut cx).is_pending());
                let waiting = usize::from(is_uring(mode));
                assert_eq!(r.state().waiting(), waiting, "{mode:?}");
                drop(op);
            }
            assert_eq!(
                r.state().waiting(),
                0,
                "{mode:?}: dropped reads left places"
            );
            // The pipe still works.
            turns(2).await;
            let (n, _) = Op::new(Write::new(w.clone(), b"ok".to_vec(), None)).await;
            assert_eq!(n.unwrap(), 2);
            let (n, buf) = Op::new(Read::new(r.clone(), Vec::with_capacity(8), None)).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (2, &b"ok"[..]), "{mode:?}");
        });
    }
}

#[test]
fn poll_add_waits_for_readiness() {
    for mode in modes() {
        runtime(mode).block_on(async {
            let (r, w) = pipe();
            let ready = crate::spawn(Op::new(PollAdd::new(r.clone(), Interest::Read)));
            turns(2).await;
            assert!(!ready.is_finished(), "{mode:?}: ready before data");
            sys::write(w.as_fd(), b"!").unwrap();
            let revents = crate::wait_for(Duration::from_secs(5), ready)
                .await
                .expect("in time")
                .unwrap()
                .unwrap();
            assert_ne!(revents & libc::POLLIN as u32, 0);
        });
    }
}

/// A receive with `MSG_DONTWAIT`: the kernel answers `-EAGAIN` instead of waiting,
/// as io_uring before 5.15 did for reads of `O_NONBLOCK` descriptors. The op must
/// then poll for readiness and resubmit, not report `EAGAIN`. (Not a read with
/// `RWF_NOWAIT`: on a pipe or a socket, 5.10 and 6.1 refuse that flag with
/// `EOPNOTSUPP`, where 6.18 answers `EAGAIN`; every kernel honours `MSG_DONTWAIT`
/// on a socket.)
struct DontwaitRecv {
    fd: SharedFd,
    buf: Vec<u8>,
}

// SAFETY: the entry points into the vector's heap buffer, stable across moves.
unsafe impl OpKind for DontwaitRecv {
    type Output = io::Result<Vec<u8>>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Nop;

    fn sqe(&mut self) -> squeue::Entry {
        let len = self.buf.capacity() as u32;
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.as_mut_ptr(), len)
            .flags(libc::MSG_DONTWAIT)
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, Interest::Read)
    }

    fn perform(&mut self) -> io::Result<u32> {
        unreachable!("only used on io_uring")
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> io::Result<Vec<u8>> {
        let n = result? as usize;
        // SAFETY: the kernel initialised `n` bytes.
        unsafe { self.buf.set_len(n) };
        Ok(self.buf)
    }
}

#[test]
fn eagain_from_the_kernel_polls_and_retries() {
    for mode in modes().filter(|&mode| is_uring(mode)) {
        runtime(mode).block_on(async {
            let (a, b) = sys::socketpair().unwrap();
            let (r, w) = (SharedFd::new(a), SharedFd::new(b));
            let read = crate::spawn(Op::new(DontwaitRecv {
                fd: r.clone(),
                buf: Vec::with_capacity(16),
            }));
            turns(3).await;
            assert!(
                !read.is_finished(),
                "{mode:?}: EAGAIN must not complete the op"
            );
            sys::write(w.as_fd(), b"late").unwrap();
            let data = crate::wait_for(Duration::from_secs(5), read)
                .await
                .expect("in time")
                .unwrap()
                .unwrap();
            assert_eq!(data, b"late");
        });
    }
}

fn uring_stats() -> super::uring::Stats {
    super::Handle::with_current(|driver| driver.io().uring_stats())
        .flatten()
        .expect("an io_uring runtime")
}

#[test]
fn msg_ring_wakes_are_received_and_failed_ones_handed_back() {
    if uring_refused() {
        return;
    }
    // The 5.10 mask and epoll send none.
    for mode in [Mode::Uring510, Mode::Epoll] {
        let driver = runtime(mode).block_on(async { super::Handle::current().unwrap() });
        assert!(!driver.msg_ring_wake(0, 1));
        assert_eq!(driver.msg_ring_counts(), (0, 0));
    }
    let sender_rt = runtime(Mode::Uring);
    if !sender_rt.features().msg_ring {
        return;
    }
    let target_rt = runtime(Mode::Uring);
    // Driven by hand from here, outside `block_on` (whose turns would hand the
    // failed tokens to the runtime).
    let sender = sender_rt.block_on(async { super::Handle::current().unwrap() });
    let target = target_rt.block_on(async { super::Handle::current().unwrap() });
    let target_fd = target.ring_fd().expect("an io_uring driver");
    // At a ring: the target's next turn reaps a MSG_WAKE, with nothing to wait for.
    assert!(sender.msg_ring_wake(target_fd, 7));
    // At a descriptor that is no ring: the kernel fails it, the token comes back.
    let not_a_ring = sys::eventfd().unwrap();
    assert!(sender.msg_ring_wake(not_a_ring.as_raw_fd(), 42));
    // A token past the tag bits is refused before anything is sent.
    assert!(!sender.msg_ring_wake(target_fd, 1 << 61));
    let mut failed = Vec::new();
    let mut woken = Vec::new();
    for _ in 0..100 {
        sender.turn(Some(Duration::ZERO), &mut woken).unwrap();
        sender.take_failed_wakes(&mut failed);
        if !failed.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(failed, [42]);
    assert_eq!(sender.msg_ring_counts(), (2, 0));
    // A wait that only the MSG_WAKE ends early.
    let start = std::time::Instant::now();
    target
        .turn(Some(Duration::from_secs(10)), &mut woken)
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(target.msg_ring_counts(), (0, 1));
    assert!(woken.is_empty());
}

#[test]
fn timed_waits_use_ext_arg_or_a_timeout_entry() {
    if uring_refused() {
        return;
    }
    let rt = runtime(Mode::Uring510);
    assert!(!rt.features().ext_arg);
    assert!(!rt.features().defer_taskrun && !rt.features().coop_taskrun);
    rt.block_on(async {
        let start = std::time::Instant::now();
        crate::sleep(Duration::from_millis(30)).await;
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(
            uring_stats().park_timeouts > 0,
            "5.10 parks through TIMEOUT entries"
        );
    });
    let rt = runtime(Mode::Uring);
    rt.block_on(async {
        crate::sleep(Duration::from_millis(30)).await;
        if crate::features().ext_arg {
            assert_eq!(uring_stats().park_timeouts, 0, "EXT_ARG needs no entry");
        }
    });
}

#[test]
fn the_probe_respects_the_5_10_mask() {
    if uring_refused() {
        return;
    }
    let native = runtime(Mode::Uring).features();
    let old = runtime(Mode::Uring510).features();
    assert_eq!(native.driver, DriverKind::IoUring);
    assert_eq!(old.kernel_compat, KernelCompat::V5_10);
    for feature in [
        old.ext_arg,
        old.single_issuer,
        old.defer_taskrun,
        old.coop_taskrun,
        old.multishot_accept(),
        old.multishot_recv(),
        old.multishot_recv_limit,
        old.buf_ring(),
        old.waitid(),
        old.msg_ring,
    ] {
        assert!(!feature, "{old:?}");
    }
    // MSG_RING wakes go by the probe's answer (5.18+), not by a kernel version.
    assert_eq!(
        native.msg_ring,
        native.supports_opcode(opcode::MsgRingData::CODE)
    );
    assert!(!crate::driver::features::Features::epoll().msg_ring);
    // The file ops of 5.10 stay (fs runs them on the ring in both modes).
    for op in [
        opcode::OpenAt::CODE,
        opcode::Statx::CODE,
        opcode::Fsync::CODE,
        opcode::Readv::CODE,
        opcode::Writev::CODE,
        opcode::Close::CODE,
    ] {
        assert!(
            old.supports_opcode(op) && native.supports_opcode(op),
            "opcode {op}"
        );
    }
    assert!(old.supports_opcode(opcode::Read::CODE));
    assert!(old.supports_opcode(opcode::Tee::CODE));
    assert!(!old.supports_opcode(opcode::Shutdown::CODE));
    assert!(native.supports_opcode(opcode::Shutdown::CODE));
    let epoll = runtime(Mode::Epoll).features();
    assert_eq!(epoll.driver, DriverKind::Epoll);
    assert!(!epoll.supports_opcode(opcode::Read::CODE));
}

#[test]
fn a_burst_larger_than_the_rings_is_submitted() {
    if uring_refused() {
        return;
    }
    // More ops at once than the submission queue holds (8 entries here): pushing
    // must submit to make room, and completions beyond the CQ size must not be lost.
    for compat in [KernelCompat::Native, KernelCompat::V5_10] {
        let rt = Runtime::builder()
            .driver(Driver::IoUring)
            .kernel_compat(compat)
            .entries(8)
            .build()
            .unwrap();
        rt.block_on(async {
            let nops: Vec<_> = (0..1_000).map(|_| crate::spawn(Op::new(Nop))).collect();
            for nop in crate::gather_all(nops).await {
                assert_eq!(nop.unwrap().unwrap(), 0);
            }
        });
    }
}

// ----- pipe writes and SIGPIPE (sigpipe.rs) ----------------------------------------

/// A pipe whose reader is gone: a pipe write fails with `EPIPE` on every driver,
/// with `SIGPIPE` at its default action (which would end the process), and leaves
/// the thread's mask as it was and no `SIGPIPE` pending. Also for a write dropped
/// while it waits on a full pipe whose reader then goes away.
#[test]
fn pipe_writes_to_a_closed_reader_fail_with_epipe() {
    isolated("pipe_writes_to_a_closed_reader_fail_with_epipe", || {
        // Rust's runtime ignores SIGPIPE before main; a library cannot count on it.
        sys::set_default_action(libc::SIGPIPE).unwrap();
        let before = sys::current_sigmask();
        assert!(!before.contains(libc::SIGPIPE));
        for mode in modes() {
            runtime(mode).block_on(async {
                let (r, w) = pipe();
                drop(r);
                // On io_uring the close goes through the ring: let it land.
                turns(1).await;
                let (res, buf) = Op::new(Write::pipe(w.clone(), b"lost".to_vec())).await;
                assert_eq!(
                    res.unwrap_err().raw_os_error(),
                    Some(libc::EPIPE),
                    "{mode:?}"
                );
                assert_eq!(buf, b"lost");
                assert_eq!(super::sigpipe::in_flight(), 0);
                assert!(!sys::current_sigmask().contains(libc::SIGPIPE), "{mode:?}");
                assert!(!sys::sigpending().contains(libc::SIGPIPE), "{mode:?}");

                // Fill a pipe, queue a write that waits, drop it, then close the
                // reader: the kernel finishes (or cancels) the write; either way no
                // SIGPIPE survives and the guard goes with the op.
                let (r, w) = pipe();
                while sys::write(w.as_fd(), &[7u8; 4096]).is_ok() {}
                let drops = Rc::new(Cell::new(0));
                let mut buf = CountedBuf::new(65536, &drops);
                buf.data.resize(65536, 1);
                let mut op = Op::new(Write::pipe(w.clone(), buf));
                assert!(poll_once(&mut op).await.is_pending(), "{mode:?}");
                assert_eq!(super::sigpipe::in_flight(), 1);
                assert!(sys::current_sigmask().contains(libc::SIGPIPE), "{mode:?}");
                turns(1).await;
                drop(op);
                // On io_uring the kernel holds the buffer until the cancellation.
                let expected = if is_uring(mode) { 0 } else { 1 };
                assert_eq!(drops.get(), expected, "{mode:?}");
                drop(r);
                turns(3).await;
                assert_eq!(drops.get(), 1, "{mode:?}: the buffer is freed once");
                assert_eq!(super::sigpipe::in_flight(), 0, "{mode:?}");
                let (res, _) = Op::new(Write::pipe(w.clone(), b"x".to_vec())).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EPIPE));
                assert!(!sys::current_sigmask().contains(libc::SIGPIPE), "{mode:?}");
                assert!(!sys::sigpending().contains(libc::SIGPIPE), "{mode:?}");
            });
        }
        // A thread that blocks SIGPIPE itself keeps it blocked (and pending: its
        // own business).
        let set = sys::SigSet::of(libc::SIGPIPE);
        sys::thread_sigmask(sys::MaskHow::Block, &set).unwrap();
        runtime(modes().next().expect("a mode")).block_on(async {
            let (r, w) = pipe();
            drop(r);
            turns(1).await;
            let (res, _) = Op::new(Write::pipe(w, b"x".to_vec())).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EPIPE));
        });
        assert!(sys::current_sigmask().contains(libc::SIGPIPE));
        assert_eq!(sys::take_pending_signal(&set), Some(libc::SIGPIPE));
        sys::thread_sigmask(sys::MaskHow::Unblock, &set).unwrap();
        assert!(!sys::current_sigmask().contains(libc::SIGPIPE));
    });
}

// ----- waiting for children (op/waitid.rs) -------------------------------------------

/// A child of this process that runs `sh -c script`, and its pidfd.
fn spawn_child(script: &str) -> (std::process::Child, SharedFd) {
    let child = std::process::Command::new("/bin/sh")
        .args(["-c", script])
        .spawn()
        .expect("spawn sh");
    let pidfd = sys::pidfd_open(child.id() as libc::pid_t).expect("pidfd_open");
    (child, SharedFd::new(pidfd))
}

/// The child wait op on every path (WAITID, pidfd poll + waitid, epoll), and
/// dropped while in flight: nothing leaks, and the child can still be reaped.
#[test]
fn child_wait_op_on_every_driver_and_dropped_in_flight() {
    isolated(
        "child_wait_op_on_every_driver_and_dropped_in_flight",
        || {
            use super::op::{WaitChild, WaitVia};
            use std::os::unix::process::ExitStatusExt;
            let base = sys::open_fd_count();
            for mode in modes() {
                for via in [WaitVia::WaitId, WaitVia::Poll] {
                    let rt = runtime(mode);
                    if via == WaitVia::WaitId && is_uring(mode) && !rt.features().waitid() {
                        continue;
                    }
                    rt.block_on(async {
                        let (_child, pidfd) = spawn_child("exit 5");
                        let status = loop {
                            match Op::new(WaitChild::new(pidfd.clone(), via, Rc::default()))
                                .await
                                .unwrap()
                            {
                                Some(status) => break status,
                                None => continue,
                            }
                        };
                        assert_eq!(status.code(), Some(5), "{mode:?} {via:?}");

                        let (mut child, pidfd) = spawn_child("exec sleep 30");
                        let mut op = Op::new(WaitChild::new(pidfd.clone(), via, Rc::default()));
                        assert!(poll_once(&mut op).await.is_pending());
                        turns(1).await;
                        drop(op);
                        turns(2).await;
                        // Cancelled before the child exited: nothing reaped it.
                        assert_eq!(
                            sys::waitid_now(sys::WaitTarget::Pidfd(pidfd.as_fd())).unwrap(),
                            None
                        );
                        child.kill().unwrap();
                        let status = loop {
                            match Op::new(WaitChild::new(pidfd.clone(), via, Rc::default()))
                                .await
                                .unwrap()
                            {
                                Some(status) => break status,
                                None => continue,
                            }
                        };
                        assert_eq!(status.signal(), Some(libc::SIGKILL), "{mode:?} {via:?}");
                    });
                    drop(rt);
                    assert_eq!(
                        sys::open_fd_count(),
                        base,
                        "{mode:?} {via:?}: descriptor leak"
                    );
                }
            }
        },
    );
}
