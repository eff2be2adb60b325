//! Copying a large file with bounded memory, on every driver: a generated file is
//! copied in 256 KiB chunks with 4 reads (and writes) in flight, the copy is checked
//! against the source's checksum, and a counting allocator shows that the heap never
//! grows by more than a few MB, whatever the file's size.
//!
//! The file is 1 GiB, as in the edge case: about 35 s for the three drivers
//! side by side in a debug build on the 2-core development VM (most of it the
//! checksums), within the CI budget.
//!
//! Each test runs alone in a child process, so the allocator counts only its own
//! allocations. The three drivers' tests run at once and each needs 2 GiB of disk
//! (in `TMPDIR`): each reserves its two files' blocks before it starts, waits (within
//! a bound) for the others to end when the disk has no room for it, and says it is
//! skipped, and why, if the room never comes.

mod support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use ringloop::buf::IoBuf;
use ringloop::fs::File;
use support::alloc::Counting;
use support::fs::{reserve, TestDir};
use support::{isolated, Mode};

#[global_allocator]
static ALLOC: Counting = Counting;

const CHUNK: usize = 256 * 1024;
const IN_FLIGHT: usize = 4;
/// What the copy may add to the heap: the chunks in flight (1 MiB) and the
/// runtime's bookkeeping, with room to spare.
const HEAP_LIMIT: usize = 4 << 20;

/// The checksum of a stream of 8-byte words (order-sensitive, cheap).
#[derive(Default)]
struct Checksum {
    sum: u64,
    words: u64,
}

impl Checksum {
    fn update(&mut self, bytes: &[u8]) {
        for word in bytes.chunks_exact(8) {
            let w = u64::from_le_bytes(word.try_into().unwrap());
            self.words += 1;
            self.sum = self.sum.rotate_left(5) ^ w.wrapping_mul(self.words | 1);
        }
    }
}

/// Writes `size` bytes (a multiple of 8) of a pattern that differs in every word,
/// so that a chunk copied to the wrong place shows; returns its checksum.
fn generate(path: &Path, size: u64) -> u64 {
    // Into the blocks `reserve` gave the file: no truncation.
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let mut sum = Checksum::default();
    let mut block = vec![0u8; 1 << 20];
    let mut word: u64 = 0;
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        for w in block[..n].chunks_exact_mut(8) {
            word += 1;
            w.copy_from_slice(&(word.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes());
        }
        sum.update(&block[..n]);
        file.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    sum.sum
}

fn checksum_of(path: &Path) -> (u64, u64) {
    let mut file = std::fs::File::open(path).unwrap();
    let mut sum = Checksum::default();
    let mut block = vec![0u8; 1 << 20];
    let mut len = 0;
    loop {
        let n = file.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        // Reads of a regular file come in whole multiples of 8 here (1 MiB blocks).
        sum.update(&block[..n]);
        len += n as u64;
    }
    (sum.sum, len)
}

/// Copies `src` to `dst` in `CHUNK`s, `IN_FLIGHT` at a time: each worker reads a
/// chunk at its offset and writes it at the same offset of the copy, so order does
/// not matter and memory is `IN_FLIGHT` buffers.
async fn copy(src: &Path, dst: &Path) -> std::io::Result<u64> {
    let src = File::open(src).await?;
    // Into the blocks `reserve` gave the copy, every byte of which is written.
    let dst = File::options().write(true).open(dst).await?;
    let len = src.metadata().await?.len();
    let next = Cell::new(0u64);
    let workers = (0..IN_FLIGHT).map(|_| async {
        let mut buf = Vec::with_capacity(CHUNK);
        loop {
            let offset = next.get();
            if offset >= len {
                return Ok::<(), std::io::Error>(());
            }
            next.set(offset + CHUNK as u64);
            let want = (len - offset).min(CHUNK as u64) as usize;
            buf.clear();
            let (res, slice) = src.read_exact_at(buf.slice(..want), offset).await;
            buf = slice.into_inner();
            res?;
            let (res, b) = dst.write_all_at(buf, offset).await;
            buf = b;
            res?;
        }
    });
    for result in ringloop::gather_all(workers).await {
        result?;
    }
    dst.close().await?;
    Ok(len)
}

/// How long a test waits for the disk to have room for its files, while the other
/// drivers' copies run (about 35 s each here): within the 150 s a child may take.
const RESERVE_WAIT: Duration = Duration::from_secs(60);

/// Reserves the blocks of the source and of the copy, retrying each second while the
/// other drivers' tests hold the disk; the free bytes when the time is up.
fn reserve_both(src: &Path, dst: &Path, size: u64) -> Result<(), u64> {
    let deadline = Instant::now() + support::scaled(RESERVE_WAIT);
    loop {
        let result = reserve(src, size).and_then(|()| {
            reserve(dst, size).inspect_err(|_| {
                let _ = std::fs::remove_file(src);
            })
        });
        match result {
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_secs(1)),
            result => return result,
        }
    }
}

fn copy_test(mode: Mode, size: u64, name: &str) {
    let dir = TestDir::new(name, mode);
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    if let Err(free) = reserve_both(&src, &dst, size) {
        // Past libtest's capture, as `support::skip_uring` does: the test is then
        // reported passed, and this line tells the two apart.
        let line = format!(
            "SKIPPED: fs_copy {mode:?}: the copy needs {} MiB in {} and {} MiB were \
             still free after {:?} (free some disk, or set TMPDIR elsewhere)\n",
            (2 * size) >> 20,
            dir.path().display(),
            free >> 20,
            support::scaled(RESERVE_WAIT)
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        return;
    }
    let expected = generate(&src, size);
    let rt = mode.runtime();
    let before = support::alloc::reset_peak();
    let start = Instant::now();
    let copied = rt.block_on(copy(&src, &dst)).unwrap();
    let elapsed = start.elapsed();
    let grown = support::alloc::peak() - before;
    drop(rt);
    assert_eq!(copied, size);
    let (sum, len) = checksum_of(&dst);
    assert_eq!(len, size, "the copy's length");
    assert_eq!(sum, expected, "the copy's checksum");
    eprintln!(
        "{mode:?}: copied {} MiB in {elapsed:?} ({:.0} MiB/s); heap grew by at most {} KiB",
        size >> 20,
        size as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        grown >> 10
    );
    assert!(
        grown < HEAP_LIMIT,
        "{mode:?}: the heap grew by {grown} bytes while copying (limit {HEAP_LIMIT})"
    );
}

matrix_test! {
    fn copy_1_gib_with_bounded_memory(mode) {
        isolated(mode, module_path!(), || copy_test(mode, 1 << 30, "fs-copy-1g"));
    }
}
