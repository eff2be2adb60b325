//! `ringloop::fs::File` and `OpenOptions` on every driver: opening with each option,
//! positional and vectored reads and writes (short reads, the end of the file,
//! holes, offsets out of range), reads and writes at the file position (a pipe),
//! sync, metadata, set_len, close, and dropping a `File` (its descriptor is closed).

mod support;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::rc::Rc;

use ringloop::buf::IoBuf;
use ringloop::fs::{File, OpenOptions};
use support::fs::{assert_errno, assert_error, TestDir};
use support::net::{fd_baseline, turns};
use support::{isolated, open_fds, pattern, within};

matrix_test! {
    fn open_options_do_what_std_does(mode) {
        let dir = TestDir::new("fs-options", mode);
        let path = dir.join("file");
        mode.run(async {
            // create: new file; write-only, so reading it fails (EBADF), as in std.
            let f = File::create(&path).await.unwrap();
            f.write_all_at(b"hello world".to_vec(), 0).await.0.unwrap();
            let (res, _) = f.read_at(Vec::with_capacity(4), 0).await;
            assert_errno(res, libc::EBADF, "read a write-only file");
            f.close().await.unwrap();
            // open: read-only.
            let f = File::open(&path).await.unwrap();
            let (res, _) = f.write_at(b"x".to_vec(), 0).await;
            assert_errno(res, libc::EBADF, "write a read-only file");
            drop(f);
            // create again truncates.
            drop(File::create(&path).await.unwrap());
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
            // create_new refuses an existing file, makes a read-write one otherwise.
            assert_error(File::create_new(&path).await, io::ErrorKind::AlreadyExists, Some(libc::EEXIST), "create_new");
            let other = dir.join("new");
            let f = File::create_new(&other).await.unwrap();
            f.write_all_at(b"rw".to_vec(), 0).await.0.unwrap();
            let (n, buf) = f.read_at(Vec::with_capacity(8), 0).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (2, &b"rw"[..]));
            // append: every write lands at the end, whatever the offset.
            std::fs::write(&path, b"start").unwrap();
            let f = OpenOptions::new().append(true).open(&path).await.unwrap();
            f.write_all_at(b"-one".to_vec(), 0).await.0.unwrap();
            f.write_all(b"-two".to_vec()).await.0.unwrap();
            drop(f);
            assert_eq!(std::fs::read(&path).unwrap(), b"start-one-two");
            // write without truncate keeps the rest; truncate empties.
            let f = OpenOptions::new().write(true).open(&path).await.unwrap();
            f.write_all_at(b"S".to_vec(), 0).await.0.unwrap();
            drop(f);
            assert_eq!(std::fs::read(&path).unwrap(), b"Start-one-two");
            drop(OpenOptions::new().write(true).truncate(true).open(&path).await.unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), b"");
            // create without truncate keeps an existing file's bytes.
            std::fs::write(&path, b"kept").unwrap();
            drop(OpenOptions::new().write(true).create(true).open(&path).await.unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), b"kept");
            // mode: the permission bits of a created file (under the umask).
            let private = dir.join("private");
            drop(OpenOptions::new().write(true).create(true).mode(0o600).open(&private).await.unwrap());
            assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
            // custom_flags reach open(2): O_NOFOLLOW on a symbolic link is ELOOP.
            let link = dir.join("link");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            let res = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&link).await;
            assert_errno(res, libc::ELOOP, "O_NOFOLLOW");
            // The close-on-exec flag is always set.
            let f = File::open(&path).await.unwrap();
            let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFD).unwrap();
            assert_ne!(flags & libc::FD_CLOEXEC, 0, "O_CLOEXEC");
            // The combinations std refuses, refused before any system call.
            for (what, options) in [
                ("no access mode", OpenOptions::new()),
                ("create without write", OpenOptions::new().read(true).create(true).clone()),
                ("truncate without write", OpenOptions::new().read(true).truncate(true).clone()),
                ("create_new without write", OpenOptions::new().read(true).create_new(true).clone()),
                ("append and truncate", OpenOptions::new().append(true).truncate(true).clone()),
            ] {
                assert_error(options.open(dir.join("never")).await, io::ErrorKind::InvalidInput, None, what);
                let std_says = options_to_std(what).open(dir.join("never"));
                assert_eq!(std_says.unwrap_err().kind(), io::ErrorKind::InvalidInput, "std agrees: {what}");
            }
            assert!(!dir.join("never").exists());
        });
    }
}

/// std's options for the refused combinations of `open_options_do_what_std_does`.
fn options_to_std(what: &str) -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    match what {
        "no access mode" => &mut o,
        "create without write" => o.read(true).create(true),
        "truncate without write" => o.read(true).truncate(true),
        "create_new without write" => o.read(true).create_new(true),
        "append and truncate" => o.append(true).truncate(true),
        _ => unreachable!(),
    };
    o
}

matrix_test! {
    fn positional_reads_and_writes(mode) {
        let dir = TestDir::new("fs-positional", mode);
        let path = dir.join("file");
        mode.run(async {
            let f = File::options().read(true).write(true).create(true).truncate(true).open(&path).await.unwrap();
            let data = pattern(3 * 65536 + 123, 1);
            let (res, back) = f.write_all_at(data.clone(), 0).await;
            res.unwrap();
            assert_eq!(back, data, "the buffer comes back");
            // Whole file, and a window.
            let (res, buf) = f.read_exact_at(Vec::with_capacity(data.len()), 0).await;
            res.unwrap();
            assert_eq!(buf, data);
            let (n, buf) = f.read_at(Vec::with_capacity(100), 1000).await;
            assert_eq!(n.unwrap(), 100);
            assert_eq!(buf, &data[1000..1100]);
            // A short read near the end, 0 at and past it.
            let len = data.len() as u64;
            let (n, buf) = f.read_at(Vec::with_capacity(100), len - 10).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (10, &data[data.len() - 10..]));
            for off in [len, len + 1, len + 1_000_000] {
                let (n, buf) = f.read_at(Vec::with_capacity(100), off).await;
                assert_eq!((n.unwrap(), buf.len()), (0, 0), "read at {off}");
            }
            // read_exact_at past the end: UnexpectedEof, the partial bytes kept, the
            // count in the message.
            let (res, buf) = f.read_exact_at(Vec::with_capacity(100), len - 30).await;
            let e = res.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(e.to_string().contains("after 30 of 100 bytes"), "{e}");
            assert_eq!(buf, &data[data.len() - 30..]);
            let (res, buf) = f.read_exact_at(Vec::with_capacity(100), len).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            assert!(buf.is_empty());
            // An empty buffer reads nothing, successfully.
            let (n, _) = f.read_at(Vec::new(), 0).await;
            assert_eq!(n.unwrap(), 0);
            let (res, _) = f.read_exact_at(Vec::new(), len + 5).await;
            res.unwrap();
            // A read into part of a buffer (a slice), at its place.
            let buf = vec![b'.'; 8];
            let (n, slice) = f.read_at(buf.slice(2..6), 0).await;
            assert_eq!(n.unwrap(), 4);
            let mut expected = b"..".to_vec();
            expected.extend_from_slice(&data[..4]);
            expected.extend_from_slice(b"..");
            assert_eq!(slice.into_inner(), expected);
            // A boxed slice: every byte counts as room.
            let (res, boxed) = f.read_exact_at(vec![0u8; 16].into_boxed_slice(), 16).await;
            res.unwrap();
            assert_eq!(&boxed[..], &data[16..32]);
            // Writing past the end leaves a hole that reads as zeros.
            f.write_all_at(b"tail".to_vec(), len + 4096).await.0.unwrap();
            let (res, buf) = f.read_exact_at(Vec::with_capacity(4100), len).await;
            res.unwrap();
            assert!(buf[..4096].iter().all(|&b| b == 0));
            assert_eq!(&buf[4096..], b"tail");
            // Overwrite in the middle; write_at may be short, write_all_at is not.
            let (n, _) = f.write_at(b"MIDDLE".to_vec(), 500).await;
            assert_eq!(n.unwrap(), 6);
            let (_, buf) = f.read_exact_at(Vec::with_capacity(8), 499).await;
            assert_eq!(buf, [&data[499..500], b"MIDDLE", &data[506..507]].concat());
            // &'static buffers and Strings write too.
            f.write_all_at(&b"static"[..], 0).await.0.unwrap();
            f.write_all_at(String::from("string"), 6).await.0.unwrap();
            let (_, buf) = f.read_exact_at(Vec::with_capacity(12), 0).await;
            assert_eq!(buf, b"staticstring");
        });
    }
}

matrix_test! {
    fn many_reads_and_writes_in_flight_on_one_file(mode) {
        let dir = TestDir::new("fs-inflight", mode);
        let path = dir.join("file");
        mode.run(async {
            let f = Rc::new(File::options().read(true).write(true).create(true).open(&path).await.unwrap());
            const CHUNK: usize = 8192;
            const CHUNKS: usize = 64;
            // 64 writes at once, each to its own range.
            let writes = (0..CHUNKS).map(|i| {
                let f = f.clone();
                async move { f.write_all_at(pattern(CHUNK, i as u32), (i * CHUNK) as u64).await.0 }
            });
            for r in ringloop::gather_all(writes).await {
                r.unwrap();
            }
            // 64 reads at once, in reverse order of offsets.
            let reads = (0..CHUNKS).rev().map(|i| {
                let f = f.clone();
                async move {
                    let (res, buf) = f.read_exact_at(Vec::with_capacity(CHUNK), (i * CHUNK) as u64).await;
                    res.map(|()| (i, buf))
                }
            });
            for r in ringloop::gather_all(reads).await {
                let (i, buf) = r.unwrap();
                assert_eq!(buf, pattern(CHUNK, i as u32), "chunk {i}");
            }
            assert_eq!(f.metadata().await.unwrap().len(), (CHUNK * CHUNKS) as u64);
        });
    }
}

matrix_test! {
    fn offsets_above_i64_max_are_refused(mode) {
        let dir = TestDir::new("fs-offsets", mode);
        let path = dir.join("file");
        std::fs::write(&path, b"data").unwrap();
        mode.run(async {
            let f = File::options().read(true).write(true).open(&path).await.unwrap();
            // u64::MAX would mean "at the file position" to io_uring: refused.
            for off in [u64::MAX, i64::MAX as u64 + 1] {
                let (res, _) = f.read_at(Vec::with_capacity(4), off).await;
                assert_error(res, io::ErrorKind::InvalidInput, None, "read_at");
                let (res, _) = f.write_at(b"x".to_vec(), off).await;
                assert_error(res, io::ErrorKind::InvalidInput, None, "write_at");
                let (res, _) = f.readv_at(vec![Vec::with_capacity(4)], off).await;
                assert_error(res, io::ErrorKind::InvalidInput, None, "readv_at");
                let (res, _) = f.writev_at(vec![b"x".to_vec()], off).await;
                assert_error(res, io::ErrorKind::InvalidInput, None, "writev_at");
                assert_error(f.set_len(off).await, io::ErrorKind::InvalidInput, None, "set_len");
            }
            // The largest offset is the kernel's to judge (offset + length overflows).
            let (res, _) = f.read_at(Vec::with_capacity(4), i64::MAX as u64).await;
            assert_errno(res, libc::EINVAL, "read at i64::MAX");
            assert_eq!(std::fs::read(&path).unwrap(), b"data", "nothing written");
        });
    }
}

matrix_test! {
    fn vectored_reads_and_writes_at_an_offset(mode) {
        let dir = TestDir::new("fs-vectored", mode);
        let path = dir.join("file");
        mode.run(async {
            let f = File::options().read(true).write(true).create(true).open(&path).await.unwrap();
            let bufs = vec![b"alpha-".to_vec(), Vec::new(), b"beta-".to_vec(), b"gamma".to_vec()];
            let (n, back) = f.writev_at(bufs.clone(), 10).await;
            assert_eq!(n.unwrap(), 16);
            assert_eq!(back, bufs, "the buffers come back, in order");
            let mut expected = vec![0u8; 10];
            expected.extend_from_slice(b"alpha-beta-gamma");
            assert_eq!(std::fs::read(&path).unwrap(), expected);
            // Read back into buffers of other sizes: filled in order.
            let (n, bufs) = f.readv_at(vec![Vec::with_capacity(3), Vec::with_capacity(8), Vec::with_capacity(64)], 10).await;
            assert_eq!(n.unwrap(), 16);
            assert_eq!(bufs[0], b"alp");
            assert_eq!(bufs[1], b"ha-beta-");
            assert_eq!(bufs[2], b"gamma");
            // Near the end: the later buffers stay empty.
            let (n, bufs) = f.readv_at(vec![Vec::with_capacity(4), Vec::with_capacity(4)], 23).await;
            assert_eq!(n.unwrap(), 3);
            assert_eq!((bufs[0].as_slice(), bufs[1].len()), (&b"mma"[..], 0));
            // Past the end, and with no buffers at all.
            let (n, _) = f.readv_at(vec![Vec::with_capacity(4)], 1000).await;
            assert_eq!(n.unwrap(), 0);
            let (n, bufs) = f.readv_at(Vec::<Vec<u8>>::new(), 0).await;
            assert_eq!((n.unwrap(), bufs.len()), (0, 0));
            let (n, _) = f.writev_at(Vec::<Vec<u8>>::new(), 0).await;
            assert_eq!(n.unwrap(), 0);
            // Large: 16 buffers of 64 KiB.
            let big: Vec<Vec<u8>> = (0..16).map(|i| pattern(65536, 100 + i)).collect();
            let (n, _) = f.writev_at(big.clone(), 0).await;
            assert_eq!(n.unwrap(), 16 * 65536);
            let (n, got) = f.readv_at((0..16).map(|_| Vec::with_capacity(65536)).collect(), 0).await;
            assert_eq!(n.unwrap(), 16 * 65536);
            assert_eq!(got, big);
        });
    }
}

matrix_test! {
    fn reads_and_writes_at_the_file_position(mode) {
        let dir = TestDir::new("fs-position", mode);
        let path = dir.join("file");
        std::fs::write(&path, b"0123456789").unwrap();
        mode.run(async {
            // A regular file read in order: the position moves on.
            let f = File::open(&path).await.unwrap();
            let mut got = Vec::new();
            loop {
                let (n, buf) = f.read(Vec::with_capacity(4)).await;
                if n.unwrap() == 0 {
                    break;
                }
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, b"0123456789");
            // Positional reads do not move it.
            let (n, _) = f.read_at(Vec::with_capacity(4), 0).await;
            assert_eq!(n.unwrap(), 4);
            let (n, _) = f.read(Vec::with_capacity(4)).await;
            assert_eq!(n.unwrap(), 0, "still at the end");
            // Writes at the position, in order.
            let out = File::create(dir.join("out")).await.unwrap();
            out.write_all(b"one ".to_vec()).await.0.unwrap();
            out.write_all(b"two".to_vec()).await.0.unwrap();
            out.close().await.unwrap();
            assert_eq!(std::fs::read(dir.join("out")).unwrap(), b"one two");
            // A pipe, made by other means (like standard input or output), in
            // non-blocking mode so that epoll waits instead of blocking.
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC).unwrap();
            let (r, w) = (Rc::new(File::from(r)), File::from(w));
            let r2 = r.clone();
            let reader = ringloop::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let (n, buf) = r2.read(Vec::with_capacity(1000)).await;
                    match n.unwrap() {
                        0 => break got,
                        _ => got.extend_from_slice(&buf),
                    }
                }
            });
            let data = pattern(300_000, 7); // more than a pipe holds
            w.write_all(data.clone()).await.0.unwrap();
            w.close().await.unwrap();
            assert_eq!(within("pipe reader", reader).await.unwrap(), data);
            // A positional op on a pipe: epoll's pread says ESPIPE; io_uring ignores
            // the offset of a stream (documented on read_at), and the pipe is at
            // its end.
            let (res, _) = r.read_at(Vec::with_capacity(4), 0).await;
            if mode == support::Mode::Epoll {
                assert_error(res, io::ErrorKind::NotSeekable, Some(libc::ESPIPE), "read_at on a pipe");
            } else {
                assert_eq!(res.unwrap(), 0, "read_at on a pipe at its end");
            }
        });
    }
}

matrix_test! {
    fn sync_metadata_and_set_len(mode) {
        let dir = TestDir::new("fs-meta", mode);
        let path = dir.join("file");
        mode.run(async {
            let before = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
            let f = File::options().read(true).write(true).create(true).open(&path).await.unwrap();
            f.write_all_at(pattern(10_000, 3), 0).await.0.unwrap();
            f.sync_all().await.unwrap();
            f.sync_data().await.unwrap();
            let meta = f.metadata().await.unwrap();
            let std_meta = std::fs::metadata(&path).unwrap();
            assert!(meta.is_file() && !meta.is_dir() && !meta.is_symlink());
            assert!(meta.file_type().is_file());
            assert_eq!(meta.len(), 10_000);
            assert_eq!(meta.size(), 10_000);
            assert_eq!(meta.ino(), std_meta.ino());
            assert_eq!(meta.dev(), std_meta.dev());
            assert_eq!(meta.mode(), std_meta.mode());
            assert_eq!(meta.permissions(), std_meta.permissions());
            assert_eq!(meta.nlink(), 1);
            assert_eq!((meta.uid(), meta.gid()), (std_meta.uid(), std_meta.gid()));
            assert_eq!(meta.blksize(), std_meta.blksize());
            assert_eq!(meta.blocks(), std_meta.blocks());
            assert_eq!(meta.modified().unwrap(), std_meta.modified().unwrap());
            assert_eq!(meta.accessed().unwrap(), std_meta.accessed().unwrap());
            assert_eq!((meta.mtime(), meta.mtime_nsec()), (std_meta.mtime(), std_meta.mtime_nsec()));
            assert_eq!((meta.ctime(), meta.ctime_nsec()), (std_meta.ctime(), std_meta.ctime_nsec()));
            assert_eq!((meta.atime(), meta.atime_nsec()), (std_meta.atime(), std_meta.atime_nsec()));
            assert!(meta.modified().unwrap() >= before);
            match (meta.created(), std_meta.created()) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind()),
                (a, b) => panic!("created: {a:?} vs std's {b:?}"),
            }
            assert_eq!(ringloop::fs::metadata(&path).await.unwrap(), meta, "by path, the same");
            let shown = format!("{meta:?}");
            assert!(shown.contains("len: 10000"), "{shown}");
            // A directory, a symbolic link, a FIFO, a character device.
            let dmeta = ringloop::fs::metadata(dir.path()).await.unwrap();
            assert!(dmeta.is_dir() && !dmeta.is_file());
            let link = dir.join("link");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert!(ringloop::fs::metadata(&link).await.unwrap().is_file(), "followed");
            let lmeta = ringloop::fs::symlink_metadata(&link).await.unwrap();
            assert!(lmeta.is_symlink() && lmeta.file_type().is_symlink());
            assert_eq!(lmeta.ino(), std::fs::symlink_metadata(&link).unwrap().ino());
            let fifo = dir.join("fifo");
            support::fs::mkfifo(&fifo);
            assert!(ringloop::fs::metadata(&fifo).await.unwrap().file_type().is_fifo());
            let null = ringloop::fs::metadata("/dev/null").await.unwrap();
            assert!(null.file_type().is_char_device());
            assert_eq!(null.rdev(), std::fs::metadata("/dev/null").unwrap().rdev());
            // set_len: shrink, then grow (zeros).
            f.set_len(100).await.unwrap();
            assert_eq!(f.metadata().await.unwrap().len(), 100);
            f.set_len(5000).await.unwrap();
            let (res, buf) = f.read_exact_at(Vec::with_capacity(5000), 0).await;
            res.unwrap();
            assert_eq!(&buf[..100], &pattern(10_000, 3)[..100]);
            assert!(buf[100..].iter().all(|&b| b == 0));
            f.set_len(0).await.unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
            // On a read-only descriptor: the kernel refuses, as for std.
            let ro = File::open(&path).await.unwrap();
            let err = ro.set_len(10).await.unwrap_err();
            let std_err = std::fs::File::open(&path).unwrap().set_len(10).unwrap_err();
            assert_eq!(err.raw_os_error(), std_err.raw_os_error(), "{err}");
            ro.sync_all().await.unwrap();
            f.close().await.unwrap();
        });
    }
}

matrix_test! {
    fn the_helpers(mode) {
        let dir = TestDir::new("fs-helpers", mode);
        mode.run(async {
            let a = dir.join("a");
            ringloop::fs::write(&a, b"first".to_vec()).await.unwrap();
            assert_eq!(ringloop::fs::read(&a).await.unwrap(), b"first");
            // Replaces what was there.
            ringloop::fs::write(&a, "second").await.unwrap();
            assert_eq!(ringloop::fs::read(&a).await.unwrap(), b"second");
            // Empty, large (not a multiple of anything), and sizeless (/proc) files.
            ringloop::fs::write(&a, Vec::new()).await.unwrap();
            assert_eq!(ringloop::fs::read(&a).await.unwrap(), b"");
            let big = pattern((1 << 20) + 1, 9);
            ringloop::fs::write(&a, big.clone()).await.unwrap();
            assert_eq!(ringloop::fs::read(&a).await.unwrap(), big);
            let status = ringloop::fs::read("/proc/self/status").await.unwrap();
            assert_eq!(ringloop::fs::metadata("/proc/self/status").await.unwrap().len(), 0);
            assert!(status.starts_with(b"Name:"), "{}", String::from_utf8_lossy(&status));
            let limits = ringloop::fs::read("/proc/self/limits").await.unwrap();
            assert!(limits.len() > 1000, "read in growing chunks: {} bytes", limits.len());
            // metadata, rename (replacing), remove_file.
            assert_eq!(ringloop::fs::metadata(&a).await.unwrap().len(), big.len() as u64);
            let b = dir.join("b");
            std::fs::write(&b, b"old b").unwrap();
            ringloop::fs::rename(&a, &b).await.unwrap();
            assert!(!a.exists());
            assert_eq!(std::fs::read(&b).unwrap(), big);
            ringloop::fs::remove_file(&b).await.unwrap();
            assert!(!b.exists());
            // create_dir, rename a directory, remove_dir.
            let d = dir.join("d");
            ringloop::fs::create_dir(&d).await.unwrap();
            assert!(std::fs::metadata(&d).unwrap().is_dir());
            ringloop::fs::write(d.join("inside"), b"x").await.unwrap();
            let e = dir.join("e");
            ringloop::fs::rename(&d, &e).await.unwrap();
            assert_eq!(std::fs::read(e.join("inside")).unwrap(), b"x");
            ringloop::fs::remove_file(e.join("inside")).await.unwrap();
            ringloop::fs::remove_dir(&e).await.unwrap();
            assert_eq!(dir.names(), Vec::<String>::new());
            // Relative paths are relative to the working directory.
            let cwd = std::env::current_dir().unwrap();
            let rel = dir.path().strip_prefix("/").unwrap();
            let up: std::path::PathBuf = cwd.components().skip(1).map(|_| "..").collect();
            let relative = up.join(rel).join("rel");
            ringloop::fs::write(&relative, b"relative").await.unwrap();
            assert_eq!(std::fs::read(dir.join("rel")).unwrap(), b"relative");
        });
    }
}

matrix_test! {
    fn dropping_and_closing_files_closes_their_descriptors(mode) {
        isolated(mode, module_path!(), || {
            let dir = TestDir::new("fs-close", mode);
            let path = dir.join("file");
            std::fs::write(&path, b"data").unwrap();
            let base = fd_baseline(mode);
            let outside = base;
            mode.run(async {
                // The runtime's own descriptors (ring or epoll instance) are open now.
                let base = open_fds();
                let files: Vec<File> = ringloop::gather_all((0..50).map(|_| File::open(&path)))
                    .await
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(open_fds(), base + 50);
                drop(files);
                // On io_uring the closes are ring entries, submitted at the next turn.
                turns(2).await;
                assert_eq!(open_fds(), base, "dropped files are closed");
                // close() is done when it returns.
                let f = File::open(&path).await.unwrap();
                let raw = f.as_raw_fd();
                assert_eq!(open_fds(), base + 1);
                f.close().await.unwrap();
                assert_eq!(open_fds(), base, "closed by close()");
                // The number is free again: the next open may get it.
                let g = File::open(&path).await.unwrap();
                assert_eq!(g.as_raw_fd(), raw);
                drop(g);
                // A File from std, closed through ringloop.
                let f = File::from_std(std::fs::File::open(&path).unwrap());
                f.close().await.unwrap();
                turns(2).await;
                assert_eq!(open_fds(), base);
            });
            // Outside a runtime: dropping closes at once.
            let f = mode.run(File::open(&path)).unwrap();
            assert_eq!(open_fds(), outside + 1);
            drop(f);
            assert_eq!(open_fds(), outside);
        });
    }
}

matrix_test! {
    fn opening_a_fifo(mode) {
        // open(2) waits for the other end of a FIFO; io_uring's OPENAT tries without
        // blocking first, which for a FIFO means O_NONBLOCK's rules (fs module docs).
        let dir = TestDir::new("fs-fifo-open", mode);
        // One FIFO per check: on epoll a timed-out open goes on waiting on its pool
        // thread, as the other end of its FIFO.
        let (fifo, for_reading, for_writing) = (dir.join("fifo"), dir.join("r"), dir.join("w"));
        for path in [&fifo, &for_reading, &for_writing] {
            support::fs::mkfifo(path);
        }
        mode.run(async {
            let short = std::time::Duration::from_millis(100);
            let read_open = ringloop::wait_for(short, File::open(&for_reading)).await;
            let write_open = ringloop::wait_for(short, OpenOptions::new().write(true).open(&for_writing)).await;
            // io_uring from 5.12 (and Debian's 5.10, which carries the 5.15
            // io_uring) tries the open without blocking first; earlier ones wait. The
            // mask cannot change that: it is the kernel's OPENAT, so ask the kernel.
            let waits = mode == support::Mode::Epoll || uring_fifo_open_waits(&dir.join("probe"));
            if waits {
                assert!(read_open.is_err(), "waits for a writer: {read_open:?}");
                assert!(write_open.is_err(), "waits for a reader: {write_open:?}");
            } else {
                let reader = read_open.expect("at once").unwrap();
                assert!(reader.metadata().await.unwrap().file_type().is_fifo());
                drop(reader);
                assert_errno(write_open.expect("at once"), libc::ENXIO, "no reader");
            }
            // With the other end open, both open at once on every driver, and data
            // goes through.
            let other = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
            let r = within("open for reading", File::open(&fifo)).await.unwrap();
            let w = within("open for writing", OpenOptions::new().write(true).open(&fifo)).await.unwrap();
            w.write_all(b"through".to_vec()).await.0.unwrap();
            let (n, buf) = within("read", r.read(Vec::with_capacity(16))).await;
            assert_eq!(&buf[..n.unwrap()], b"through");
            drop(other);
        });
        // Release the pool threads still waiting (epoll).
        for path in [&for_reading, &for_writing] {
            drop(std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap());
        }
    }
}

matrix_test! {
    fn a_task_reading_in_a_loop_lets_the_others_run(mode) {
        // On epoll a positional read completes at its first poll, without a loop
        // turn: a task reading in a loop must still yield now and then (the
        // per-poll budget of direct operations), or it would starve every other
        // task and timer of its thread.
        let dir = TestDir::new("fs-fairness", mode);
        let path = dir.join("file");
        std::fs::write(&path, pattern(65536, 4)).unwrap();
        mode.run(async {
            let f = File::open(&path).await.unwrap();
            let ticks = Rc::new(std::cell::Cell::new(0u32));
            let t = ticks.clone();
            let ticker = ringloop::spawn(async move {
                loop {
                    t.set(t.get() + 1);
                    ringloop::yield_now().await;
                }
            });
            let fired = Rc::new(std::cell::Cell::new(false));
            let fd = fired.clone();
            let timer = ringloop::spawn(async move {
                ringloop::sleep(std::time::Duration::from_millis(1)).await;
                fd.set(true);
            });
            ringloop::yield_now().await;
            let start = ticks.get();
            let began = std::time::Instant::now();
            let mut buf = Vec::with_capacity(4096);
            let mut reads = 0u32;
            while reads < 20_000 || began.elapsed() < std::time::Duration::from_millis(20) {
                let (n, b) = f.read_at(buf, u64::from(reads % 16) * 4096).await;
                assert_eq!(n.unwrap(), 4096);
                buf = b;
                reads += 1;
            }
            let ran = ticks.get() - start;
            assert!(ran >= reads / 1000, "the other task ran {ran} times during {reads} reads");
            assert!(fired.get(), "a 1 ms timer fired during {:?} of reads", began.elapsed());
            ticker.cancel();
            timer.await.unwrap();
        });
    }
}

/// Whether this kernel's io_uring OPENAT of a FIFO without a writer waits for one
/// (before 5.12) rather than opening it at once: asked of the kernel directly, with
/// a raw ring (not ringloop) and a FIFO made at `path` for the question.
fn uring_fifo_open_waits(path: &std::path::Path) -> bool {
    use io_uring::{opcode, types, IoUring};
    use std::os::unix::ffi::OsStrExt;
    support::fs::mkfifo(path);
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut ring = IoUring::new(4).expect("io_uring_setup");
    let open = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), c_path.as_ptr())
        .flags(libc::O_RDONLY | libc::O_CLOEXEC)
        .build();
    // SAFETY: `c_path` outlives the op: the ring waits for its completion below
    // (the writer opened there releases an open that waits).
    unsafe { ring.submission().push(&open) }.expect("a free entry");
    ring.submit().expect("io_uring_enter");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut result = None;
    while result.is_none() && std::time::Instant::now() < deadline {
        result = ring.completion().next().map(|c| c.result());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let waits = result.is_none();
    // A writer releases an open that waits; then its result arrives.
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let fd = result.unwrap_or_else(|| {
        ring.submit_and_wait(1).expect("io_uring_enter");
        ring.completion().next().expect("a completion").result()
    });
    assert!(
        fd >= 0,
        "OPENAT of a FIFO: {}",
        io::Error::from_raw_os_error(-fd)
    );
    // SAFETY: the kernel just opened `fd` for this function, which alone owns it.
    drop(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    drop(writer);
    waits
}

/// A file-system op awaited outside any runtime is an error the caller can match,
/// like every other op, not a panic.
#[test]
fn a_file_op_outside_a_runtime_is_an_error() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let mut cx = Context::from_waker(Waker::noop());
    let mut open = std::pin::pin!(File::open("/proc/self/status"));
    let Poll::Ready(Err(e)) = open.as_mut().poll(&mut cx) else {
        panic!("File::open outside a runtime did not fail at once");
    };
    assert!(e.to_string().contains("outside of a runtime"), "{e}");
    let mut meta = std::pin::pin!(ringloop::fs::metadata("/"));
    assert!(matches!(meta.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
}
