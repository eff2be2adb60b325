//! Positional reads of a page-cached file on every driver: on io_uring (not under
//! the 5.10 mask) they first try `preadv2(RWF_NOWAIT)` and finish without the
//! ring while few reads are in it; under the 5.10 mask and with many reads in
//! flight they go to the ring; on epoll they are plain `pread`s. Whatever the
//! path, a read gives what `pread(2)` gives (full blocks, a short read at the end
//! of the file, 0 past it, a range only partly cached, a slice in the middle of
//! a buffer), counts as a
//! started op, and a task whose reads all finish at once still lets the others run.

mod support;

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use ringloop::buf::IoBuf;
use ringloop::fs::File;
use ringloop::metrics::OpCode;
use support::fs::TestDir;
use support::{pattern, Rng};

const BLOCK: usize = 4096;
const BLOCKS: usize = 64;

/// Writes `BLOCKS` blocks plus a tail of 100 bytes (read back once, so cached).
fn make_file(dir: &TestDir) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("data");
    let data = pattern(BLOCKS * BLOCK + 100, 11);
    std::fs::write(&path, &data).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    (path, data)
}

matrix_test! {
    fn cached_reads_give_what_pread_gives(mode) {
        let dir = TestDir::new("fs-cached-reads", mode);
        let (path, data) = make_file(&dir);
        let std_file = std::fs::File::open(&path).unwrap();
        let expect = |off: u64, len: usize| {
            let mut buf = vec![0u8; len];
            let n = std_file.read_at(&mut buf, off).unwrap();
            buf.truncate(n);
            buf
        };
        let rt = mode.runtime();
        let f = rt.features();
        assert_eq!(
            f.nowait_reads,
            mode == support::Mode::Uring && std::env::var_os("RINGLOOP_NOWAIT_READS").is_none_or(|v| v != "0"),
            "nowait_reads on {mode:?}"
        );
        rt.block_on(async {
            let file = File::open(&path).await.unwrap();
            let before = ringloop::metrics::current().driver.ops_started(OpCode::Read);
            let mut reads = 0;
            // One read at a time: each alone in the ring.
            let mut rng = Rng::new(5);
            for _ in 0..200 {
                let off = rng.below(data.len() as u64 + 200);
                let len = 1 + rng.below(2 * BLOCK as u64) as usize;
                let buf = Vec::with_capacity(len);
                let cap = buf.capacity();
                let (n, buf) = file.read_at(buf, off).await;
                reads += 1;
                assert_eq!(n.unwrap(), buf.len());
                assert_eq!(buf, expect(off, cap), "read of {cap} at {off}");
            }
            // The end of the file: short, then 0 at and past it.
            let end = data.len() as u64;
            let (n, buf) = file.read_at(Vec::with_capacity(BLOCK), end - 10).await;
            assert_eq!((n.unwrap(), buf.as_slice()), (10, &data[data.len() - 10..]));
            let (n, _) = file.read_at(Vec::with_capacity(BLOCK), end).await;
            assert_eq!(n.unwrap(), 0);
            let (n, _) = file.read_at(Vec::with_capacity(BLOCK), end + (1 << 20)).await;
            assert_eq!(n.unwrap(), 0);
            reads += 3;
            // A range whose second half left the page cache (where the file system
            // drops clean pages on request; tmpfs keeps them): the first half may
            // be read at once and the rest through the ring, one read either way.
            std_file.sync_all().unwrap();
            // SAFETY: advice on an open descriptor; no memory is involved.
            unsafe {
                libc::posix_fadvise(
                    std_file.as_raw_fd(),
                    (8 * BLOCK) as libc::off_t,
                    (8 * BLOCK) as libc::off_t,
                    libc::POSIX_FADV_DONTNEED,
                )
            };
            let (n, buf) = file.read_at(Vec::with_capacity(12 * BLOCK), (4 * BLOCK) as u64).await;
            reads += 1;
            assert_eq!(n.unwrap(), 12 * BLOCK);
            assert_eq!(&buf[..], &data[4 * BLOCK..16 * BLOCK]);
            // Into a slice in the middle of a buffer: the bytes around it stay.
            let buf = vec![0xAAu8; 3 * BLOCK];
            let (n, slice) = file.read_at(buf.slice(BLOCK..2 * BLOCK), 5).await;
            reads += 1;
            assert_eq!(n.unwrap(), BLOCK);
            let buf = slice.into_inner();
            assert!(buf[..BLOCK].iter().all(|&b| b == 0xAA));
            assert_eq!(&buf[BLOCK..2 * BLOCK], &data[5..5 + BLOCK]);
            assert!(buf[2 * BLOCK..].iter().all(|&b| b == 0xAA));
            // Many at once (some in the ring, some not): every block right.
            let file = Rc::new(file);
            let tasks: Vec<_> = (0..32)
                .map(|t| {
                    let (file, data) = (file.clone(), data.clone());
                    ringloop::spawn(async move {
                        let mut buf = Vec::with_capacity(BLOCK);
                        for i in 0..BLOCKS {
                            let block = (i * 7 + t) % BLOCKS;
                            let (n, b) = file.read_at(buf, (block * BLOCK) as u64).await;
                            assert_eq!(n.unwrap(), BLOCK);
                            assert_eq!(&b[..], &data[block * BLOCK..][..BLOCK]);
                            buf = b;
                            buf.clear();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            reads += 32 * BLOCKS as u64;
            // Every read counts as a started op, whichever way it went.
            let started = ringloop::metrics::current().driver.ops_started(OpCode::Read) - before;
            assert_eq!(started, reads);
            assert_eq!(ringloop::metrics::current().driver.ops_in_flight(OpCode::Read), 0);
        });
    }
}

matrix_test! {
    fn a_task_whose_reads_finish_at_once_lets_others_run(mode) {
        let dir = TestDir::new("fs-cached-budget", mode);
        let (path, _) = make_file(&dir);
        mode.run(async {
            let file = File::open(&path).await.unwrap();
            let ticks = Rc::new(Cell::new(0u32));
            let done = Rc::new(Cell::new(false));
            let ticker = {
                let (ticks, done) = (ticks.clone(), done.clone());
                ringloop::spawn(async move {
                    while !done.get() {
                        ticks.set(ticks.get() + 1);
                        ringloop::task::yield_now().await;
                    }
                })
            };
            // Let the ticker start.
            ringloop::task::yield_now().await;
            let start = ticks.get();
            let mut buf = Vec::with_capacity(BLOCK);
            for i in 0..2_000 {
                let (n, b) = file.read_at(buf, ((i % BLOCKS) * BLOCK) as u64).await;
                assert_eq!(n.unwrap(), BLOCK);
                buf = b;
                buf.clear();
            }
            // The reader yielded at least once per 128 reads (the op budget) where
            // its reads did not wait for the ring, and at every read where they did.
            assert!(
                ticks.get() - start >= 2_000 / 128 / 2,
                "the ticker ran {} times while 2000 reads were made",
                ticks.get() - start
            );
            done.set(true);
            ticker.await.unwrap();
        });
    }
}
