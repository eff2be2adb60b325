//! ringloop in a sandbox that refuses io_uring, like Docker's default seccomp
//! profile (since 2023) or `kernel.io_uring_disabled=2`.
//!
//! Each test re-runs itself in a child process (a seccomp filter cannot be removed
//! once installed), installs a filter that makes `io_uring_setup`, `io_uring_enter`
//! and `io_uring_register` fail with `EPERM` (or `ENOSYS`, as on a kernel without
//! io_uring), and checks that `Driver::Auto` falls back to epoll and does real work
//! there (tasks, timers, cross-thread wakes, and one operation of each kind: TCP
//! streams, UDP, Unix streams, files, a child through pipes, the blocking pool, a
//! signal), while an explicit `Driver::IoUring` reports the error.

mod support;

use std::time::Duration;

use ringloop::{Driver, DriverKind, Runtime};
use support::{is_child, run_child};

/// Makes the io_uring system calls fail with `errno` on this thread.
fn refuse_io_uring(errno: i32) {
    support::seccomp::refuse(
        &[
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ],
        errno,
    );
    // The filter is in force: without it this call fails with EFAULT (null params).
    // SAFETY: io_uring_setup with a null `params` touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, std::ptr::null_mut::<u8>()) };
    let error = std::io::Error::last_os_error();
    assert_eq!((rc, error.raw_os_error()), (-1, Some(errno)), "{error}");
}

/// Real work on whatever driver runs: tasks, timers, a wake from another thread,
/// and a callback.
fn some_work() -> u32 {
    ringloop::run(async {
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let set = flag.clone();
        let thread = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            set.store(true, std::sync::atomic::Ordering::SeqCst);
            waker.wake();
        });
        let waiter = ringloop::spawn(std::future::poll_fn(move |cx| {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                std::task::Poll::Ready(1)
            } else {
                let _ = tx.send(cx.waker().clone());
                std::task::Poll::Pending
            }
        }));
        let sleepers: Vec<_> = (0..10u32)
            .map(|i| {
                ringloop::spawn(async move {
                    ringloop::sleep(Duration::from_millis(u64::from(i))).await;
                    i
                })
            })
            .collect();
        let called = std::rc::Rc::new(std::cell::Cell::new(0));
        let c = called.clone();
        ringloop::call_later(Duration::from_millis(5), move || c.set(1));
        let total: u32 = ringloop::gather_all(sleepers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        let woken = ringloop::wait_for(Duration::from_secs(10), waiter)
            .await
            .expect("a wake from another thread reached the parked loop")
            .unwrap();
        thread.join().unwrap();
        assert_eq!(ringloop::driver_kind(), DriverKind::Epoll);
        total + woken + called.get()
    })
}

/// Real I/O on whatever driver runs, one of each kind of operation ringloop offers:
/// a TCP echo through `start_server`/`open_connection`, UDP datagrams, a Unix
/// stream pair, a
/// file written, read and removed, a child with piped stdin and stdout, a blocking
/// job on the pool and a signal delivered to a listener.
fn some_io() {
    use ringloop::net::{start_server, UdpSocket, UnixStream};
    use ringloop::process::{create_subprocess_exec, Stdio};
    use ringloop::signal::{signal, SignalKind};

    ringloop::run(async {
        // TCP streams: a line echoed by a server task.
        let server = start_server(
            |mut reader, writer| async move {
                let line = reader.readline().await.unwrap();
                writer.write(&line).unwrap();
                writer.drain().await.unwrap();
                writer.close();
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut reader, writer) = ringloop::net::open_connection(server.local_addr().unwrap())
            .await
            .unwrap();
        writer.write(b"through epoll\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"through epoll\n");
        assert!(reader.read_to_end().await.unwrap().is_empty());
        server.close();
        server.wait_closed().await;

        // UDP datagrams, and a Unix stream pair.
        let (a, b) = (
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        );
        let (res, _) = a
            .send_to(b"datagram".to_vec(), b.local_addr().unwrap())
            .await;
        assert_eq!(res.unwrap(), 8);
        let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = res.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"datagram"[..], a.local_addr().unwrap())
        );
        let (x, y) = UnixStream::pair().unwrap();
        let (res, _) = x.write_all(b"unix".to_vec()).await;
        res.unwrap();
        let (res, buf) = y.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"unix");

        // Files.
        let path = std::env::temp_dir().join(format!("ringloop-seccomp-{}", std::process::id()));
        ringloop::fs::write(&path, b"file bytes".to_vec())
            .await
            .unwrap();
        assert_eq!(ringloop::fs::read(&path).await.unwrap(), b"file bytes");
        assert_eq!(ringloop::fs::metadata(&path).await.unwrap().len(), 10);
        ringloop::fs::remove_file(&path).await.unwrap();

        // A child through pipes, waited for.
        let mut child = create_subprocess_exec("cat", std::iter::empty::<&str>())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child
            .communicate(Some(b"to the child and back"))
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"to the child and back");

        // The blocking pool.
        assert_eq!(ringloop::to_thread(|| 6 * 7).await.unwrap(), 42);

        // A signal, sent to the whole process.
        let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
        let pid = std::process::id() as libc::pid_t;
        // SAFETY: kill(2) on our own pid with a signal that has a listener.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR2) }, 0);
        ringloop::wait_for(Duration::from_secs(10), usr2.recv())
            .await
            .expect("SIGUSR2 reached its listener");

        assert_eq!(ringloop::driver_kind(), DriverKind::Epoll);
    })
}

fn sandboxed(test: &str, errno: i32) {
    if !is_child() {
        let output = run_child(test, &[]);
        assert!(output.success, "{output:#?}");
        return;
    }
    refuse_io_uring(errno);
    // Driver::Auto falls back to epoll, and says so.
    let rt = Runtime::new().expect("Driver::Auto builds under the filter");
    assert_eq!(rt.driver_kind(), DriverKind::Epoll);
    assert!(!rt.features().ext_arg);
    drop(rt);
    assert_eq!(some_work(), 45 + 1 + 1);
    some_io();
    // An explicit io_uring request fails with the error, not a panic or a fallback.
    let err = Runtime::builder()
        .driver(Driver::IoUring)
        .build()
        .expect_err("io_uring cannot be set up under the filter");
    assert_eq!(err.raw_os_error(), Some(errno), "{err}");
}

#[test]
fn io_uring_refused_with_eperm_falls_back_to_epoll() {
    sandboxed(
        "io_uring_refused_with_eperm_falls_back_to_epoll",
        libc::EPERM,
    );
}

#[test]
fn io_uring_missing_enosys_falls_back_to_epoll() {
    sandboxed("io_uring_missing_enosys_falls_back_to_epoll", libc::ENOSYS);
}

#[test]
fn the_environment_cannot_force_io_uring_under_the_filter() {
    const NAME: &str = "the_environment_cannot_force_io_uring_under_the_filter";
    if !is_child() {
        let output = run_child(NAME, &[("RINGLOOP_DRIVER", "uring")]);
        assert!(output.success, "{output:#?}");
        return;
    }
    refuse_io_uring(libc::EPERM);
    // RINGLOOP_DRIVER=uring asks for io_uring explicitly: building fails cleanly.
    let err = Runtime::new().expect_err("RINGLOOP_DRIVER=uring under the filter");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    // The builder's own choice wins over the environment.
    let rt = Runtime::builder().driver(Driver::Auto).build().unwrap();
    assert_eq!(rt.driver_kind(), DriverKind::Epoll);
}
