//! Unix stream sockets: a listener on a path and on an abstract name, accept and
//! connect, addresses, pairs, half-close, vectored I/O, `from_std`, 16 MB through a
//! pair, and the path errors (missing, not a socket, too long, NUL, taken).

mod support;

use std::io;
use std::net::Shutdown;
use std::os::linux::net::SocketAddrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ringloop::net::{UnixListener, UnixStream};
use support::net::turns;
use support::{eventually_ok, pattern, within};

/// A fresh directory for this test's socket files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ringloop-unix-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn read_all(stream: &UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (n, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        if n.unwrap() == 0 {
            return out;
        }
        out.extend_from_slice(&buf);
    }
}

async fn round_trip(listener: &UnixListener, path: &Path) {
    let (client, accepted) = within("connect and accept", async {
        ringloop::gather!(UnixStream::connect(path), listener.accept()).await
    })
    .await;
    let client = client.unwrap();
    let (server, peer) = accepted.unwrap();
    // The client did not bind: its address is unnamed, as the server sees it.
    assert!(peer.is_unnamed(), "{peer:?}");
    assert!(client.local_addr().unwrap().is_unnamed());
    assert!(server.peer_addr().unwrap().is_unnamed());
    client.write_all(b"ping".to_vec()).await.0.unwrap();
    let (n, buf) = within("server read", server.read(Vec::with_capacity(16))).await;
    assert_eq!((n.unwrap(), buf.as_slice()), (4, &b"ping"[..]));
    server.write_all(b"pong".to_vec()).await.0.unwrap();
    let (n, buf) = within("client read", client.read(Vec::with_capacity(16))).await;
    assert_eq!((n.unwrap(), buf.as_slice()), (4, &b"pong"[..]));
}

matrix_test! {
    fn listener_on_a_path(mode) {
        let dir = TempDir::new("path");
        let path = dir.path("s.sock");
        mode.run(async {
            let listener = UnixListener::bind(&path).unwrap();
            assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
            round_trip(&listener, &path).await;
            // The client's view of the peer is the listener's path.
            let client = within("connect", UnixStream::connect(&path)).await.unwrap();
            assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
            let (server, _) = within("accept", listener.accept()).await.unwrap();
            assert_eq!(server.local_addr().unwrap().as_pathname(), Some(path.as_path()));
            // The file stays after the listener is dropped (as with std); connecting
            // to it then is refused, and binding it is AddrInUse. (On io_uring the
            // listener is closed through the ring at the next loop turn.)
            drop(listener);
            turns(1).await;
            assert!(path.exists());
            let e = within("connect to a dead socket", UnixStream::connect(&path)).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            let e = UnixListener::bind(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        });
    }
}

matrix_test! {
    fn listener_on_an_abstract_name(mode) {
        let name = format!("\0ringloop-test-{}-{:?}", std::process::id(), std::thread::current().id());
        mode.run(async {
            let listener = UnixListener::bind(&name).unwrap();
            let local = listener.local_addr().unwrap();
            assert_eq!(local.as_abstract_name(), Some(&name.as_bytes()[1..]));
            assert_eq!(local.as_pathname(), None);
            round_trip(&listener, Path::new(&name)).await;
            // No file appears for an abstract name, and the name is free again once
            // the listener is gone (on io_uring: once its close reached the kernel).
            drop(listener);
            let again = eventually_ok("rebind the name", || UnixListener::bind(&name)).await;
            round_trip(&again, Path::new(&name)).await;
        });
    }
}

matrix_test! {
    fn path_errors(mode) {
        let dir = TempDir::new("errors");
        mode.run(async {
            // Nothing at the path.
            let missing = dir.path("missing.sock");
            let e = within("connect to nothing", UnixStream::connect(&missing)).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
            // A regular file is not a socket.
            let file = dir.path("plain");
            std::fs::write(&file, b"not a socket").unwrap();
            let e = within("connect to a file", UnixStream::connect(&file)).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
            // Too long (sun_path holds 108 bytes with the NUL), or with a NUL inside.
            let long = format!("/tmp/{}", "x".repeat(120));
            let e = within("connect long", UnixStream::connect(&long)).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let e = UnixListener::bind(&long).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let e = within("connect NUL", UnixStream::connect("/tmp/a\0b")).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let e = UnixListener::bind("/tmp/a\0b").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let e = UnixListener::bind("").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            // The longest path that fits (107 bytes) works.
            let base = dir.path("");
            let room = 107 - base.as_os_str().len();
            let longest = base.join("y".repeat(room));
            assert_eq!(longest.as_os_str().len(), 107);
            let listener = UnixListener::bind(&longest).unwrap();
            round_trip(&listener, &longest).await;
            // A directory that does not exist.
            let e = UnixListener::bind(dir.path("no/such/dir.sock")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        });
    }
}

matrix_test! {
    fn pair_half_close_and_vectored(mode) {
        mode.run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (n, bufs) = a.writev(vec![b"ab".to_vec(), b"".to_vec(), b"cdef".to_vec()]).await;
            assert_eq!(n.unwrap(), 6);
            assert_eq!(bufs[2], b"cdef");
            a.shutdown(Shutdown::Write).unwrap();
            let (n, bufs) = within("readv", b.readv(vec![Vec::with_capacity(1), Vec::with_capacity(10)])).await;
            assert_eq!(n.unwrap(), 6);
            assert_eq!((bufs[0].as_slice(), bufs[1].as_slice()), (&b"a"[..], &b"bcdef"[..]));
            let (n, _) = within("EOF", b.read(Vec::with_capacity(4))).await;
            assert_eq!(n.unwrap(), 0);
            // The other direction still works after the half-close.
            b.write_all(b"reply".to_vec()).await.0.unwrap();
            drop(b);
            assert_eq!(within("reply", read_all(&a)).await, b"reply");
            let (res, _) = a.write(b"x".to_vec()).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        });
    }
}

matrix_test! {
    fn from_std_conversions(mode) {
        let dir = TempDir::new("std");
        let path = dir.path("std.sock");
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (std_a, std_b) = std::os::unix::net::UnixStream::pair().unwrap();
        mode.run(async {
            let listener = UnixListener::from_std(std_listener).unwrap();
            round_trip(&listener, &path).await;
            let a = UnixStream::from_std(std_a).unwrap();
            let b = Rc::new(UnixStream::from_std(std_b).unwrap());
            let b2 = b.clone();
            let reader = ringloop::spawn(async move { b2.read(Vec::with_capacity(8)).await });
            ringloop::sleep(std::time::Duration::from_millis(10)).await;
            assert!(!reader.is_finished(), "a read waits, it does not block the loop");
            a.write_all(b"std".to_vec()).await.0.unwrap();
            let (n, buf) = within("read", reader).await.unwrap();
            assert_eq!((n.unwrap(), buf.as_slice()), (3, &b"std"[..]));
        });
    }
}

matrix_test! {
    fn sixteen_megabytes_through_a_listener(mode) {
        let dir = TempDir::new("large");
        let path = dir.path("large.sock");
        mode.run(async {
            const LARGE: usize = 16 * 1024 * 1024;
            let listener = UnixListener::bind(&path).unwrap();
            let (client, accepted) = within("connect", async {
                ringloop::gather!(UnixStream::connect(&path), listener.accept()).await
            })
            .await;
            let (client, server) = (client.unwrap(), accepted.unwrap().0);
            let data = pattern(LARGE, 3);
            let expected = data.clone();
            let writer = ringloop::spawn(async move {
                let (res, buf) = client.write_all(data).await;
                res.unwrap();
                assert_eq!(buf.len(), LARGE);
            });
            let got = within("16 MB", read_all(&server)).await;
            within("writer", writer).await.unwrap();
            assert_eq!(got.len(), LARGE);
            assert!(got == expected, "corrupted");
        });
    }
}
