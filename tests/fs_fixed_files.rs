//! Registered (fixed) files on every driver: on io_uring (not under the 5.10
//! mask) a descriptor that many reads go through gets a slot in the ring's file
//! table, which holds its own reference to the file; elsewhere the reads name the
//! descriptor. Either way the reads give the right bytes, a full table falls back
//! to the descriptor, and the file is really closed (a socket's peer sees the
//! end) when the `File` is dropped, closed with `close`, or dropped while a read
//! on it is still in the kernel (whose last reference goes inside the driver's
//! reap, so the slot is emptied at the next turn). Each test counts descriptors,
//! so each runs alone in a child process.

mod support;

use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use ringloop::fs::File;
use support::fs::TestDir;
use support::net::{fd_baseline, turns};
use support::{isolated, open_fds, pattern, poll_in_task};

/// A socket pair: one end a ringloop `File`, the other a non-blocking std socket.
fn pair() -> (File, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (File::from(OwnedFd::from(a)), b)
}

/// Reads through `file` often enough for it to get a slot (where it can).
async fn many_reads(file: &File, mut peer: &UnixStream) {
    for i in 0..20u8 {
        peer.write_all(&[i]).unwrap();
        let (n, buf) = file.read(Vec::with_capacity(1)).await;
        assert_eq!((n.unwrap(), buf[0]), (1, i));
    }
}

/// Whether the peer of a dropped end sees the end of the stream (0), not
/// `WouldBlock` (the end still open somewhere, such as a ring's file table).
fn sees_end(mut peer: &UnixStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(peer.read(&mut byte), Ok(0))
}

matrix_test! {
    fn a_registered_descriptor_is_closed_when_dropped_or_closed(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            let rt = mode.runtime();
            let off = std::env::var_os("RINGLOOP_FIXED_FILES").is_some_and(|v| v == "0");
            // Only where an emptied slot lets its file go at once (6.13), which
            // the probe dates by `IORING_OP_READV_FIXED` (`uring/fixed.rs`).
            let readv_fixed = rt.features().supports_opcode(io_uring::opcode::ReadvFixed::CODE);
            assert_eq!(
                rt.features().fixed_files,
                mode == support::Mode::Uring && readv_fixed && !off
            );
            rt.block_on(async {
                let inside = open_fds();
                // Dropped.
                let (file, peer) = pair();
                many_reads(&file, &peer).await;
                drop(file);
                turns(2).await;
                assert!(sees_end(&peer), "dropped: the peer sees the end");
                drop(peer);
                // Closed explicitly: at once.
                let (file, peer) = pair();
                many_reads(&file, &peer).await;
                file.close().await.unwrap();
                assert!(sees_end(&peer), "closed: the peer sees the end");
                drop(peer);
                // Again, on slots given back.
                for _ in 0..3 {
                    let (file, peer) = pair();
                    many_reads(&file, &peer).await;
                    drop(file);
                    turns(2).await;
                    assert!(sees_end(&peer), "a reused slot's file closed too");
                }
                turns(2).await;
                assert_eq!(open_fds(), inside, "descriptor leak");
            });
            drop(rt);
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn a_registered_descriptor_dropped_with_a_read_in_the_kernel_is_closed(mode) {
        isolated(mode, module_path!(), || {
            let base = fd_baseline(mode);
            mode.run(async {
                let inside = open_fds();
                let (file, peer) = pair();
                many_reads(&file, &peer).await;
                // A read waiting for data (on io_uring: in the kernel), dropped;
                // then the file: the read's op holds the last reference until
                // its cancellation completes.
                let mut read = Box::pin(file.read(Vec::with_capacity(8)));
                assert!(poll_in_task(&mut read).await.is_pending());
                drop(read);
                drop(file);
                turns(4).await;
                assert!(sees_end(&peer), "the peer sees the end once the read is cancelled");
                drop(peer);
                turns(2).await;
                assert_eq!(open_fds(), inside, "descriptor leak");
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}

matrix_test! {
    fn more_files_than_slots_read_right(mode) {
        isolated(mode, module_path!(), || {
            // Through the ring: one read at a time would finish without it
            // (`RWF_NOWAIT`, tests/fs_cached_reads.rs). This child runs this test
            // alone, before its runtime is built.
            std::env::set_var("RINGLOOP_NOWAIT_READS", "0");
            let dir = TestDir::new("fs-fixed-many", mode);
            let path = dir.join("data");
            let data = pattern(64 * 1024, 3);
            std::fs::write(&path, &data).unwrap();
            let base = fd_baseline(mode);
            mode.run(async {
                // 80 files (the table has 64 slots), each read often enough to
                // earn one, all open at once; then dropped, and 80 again.
                for round in 0..2 {
                    let mut files = Vec::new();
                    for _ in 0..80 {
                        files.push(Rc::new(File::open(&path).await.unwrap()));
                    }
                    for (i, file) in files.iter().enumerate() {
                        for j in 0..12 {
                            let off = ((i * 7 + j * 13 + round) % 60) * 1024;
                            let (n, buf) = file.read_at(Vec::with_capacity(1024), off as u64).await;
                            assert_eq!(n.unwrap(), 1024);
                            assert_eq!(buf, &data[off..off + 1024], "file {i}, read {j}");
                        }
                    }
                    drop(files);
                    turns(2).await;
                }
            });
            assert_eq!(open_fds(), base, "descriptor leak");
        });
    }
}
