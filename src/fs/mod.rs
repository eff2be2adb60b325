//! Files: [`File`] with owned-buffer operations at explicit offsets, [`OpenOptions`],
//! [`Metadata`], and the helpers [`read`], [`write()`], [`metadata`],
//! [`remove_file`], [`rename`], [`create_dir`] (asyncio itself has no file API;
//! these follow `std::fs`).
//!
//! ```
//! # ringloop::run(async {
//! let dir = std::env::temp_dir().join(format!("ringloop-doc-fs-{}", std::process::id()));
//! ringloop::fs::create_dir(&dir).await?;
//! let path = dir.join("greeting");
//! ringloop::fs::write(&path, b"hello").await?;
//! assert_eq!(ringloop::fs::read(&path).await?, b"hello");
//! assert_eq!(ringloop::fs::metadata(&path).await?.len(), 5);
//! ringloop::fs::rename(&path, dir.join("renamed")).await?;
//! ringloop::fs::remove_file(dir.join("renamed")).await?;
//! ringloop::fs::remove_dir(&dir).await?;
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```
//!
//! # Where each operation runs
//!
//! On io_uring every operation is one submission entry, where the kernel has the
//! opcode (the probe decides, after the `KernelCompat` mask); without it, the
//! operation runs on the blocking pool ([`to_thread`](crate::to_thread)'s):
//!
//! | operation | io_uring | without the opcode | epoll driver |
//! |---|---|---|---|
//! | `read_at`, `write_at`, `read`, `write` | `READ`, `WRITE` (5.6) | – | direct `pread`/`pwrite`/`read`/`write` |
//! | `readv_at`, `writev_at` | `READV`, `WRITEV` (5.1) | – | direct `preadv`/`pwritev` |
//! | open ([`File::open`], [`OpenOptions::open`]) | `OPENAT` (5.6) | – | pool |
//! | [`File::metadata`], [`metadata`], [`symlink_metadata`] | `STATX` (5.6) | – | pool |
//! | [`File::sync_all`], [`File::sync_data`] | `FSYNC` (5.1) | – | pool |
//! | [`File::set_len`] | `FTRUNCATE` (6.9) | pool | pool |
//! | [`remove_file`], [`remove_dir`], [`rename`] | `UNLINKAT`, `RENAMEAT` (5.11) | pool (5.10) | pool |
//! | [`create_dir`] | `MKDIRAT` (5.15) | pool (5.10) | pool |
//! | [`File::close`] | `CLOSE` (5.6) | – | direct `close` |
//!
//! On epoll, reads and writes are made directly on the loop's thread: on the 2-core
//! development VM a page-cached `pread` of 4 KiB takes about 1.3 µs, while a round
//! trip through the pool (queue, wake a worker, wake the loop back) takes 20 to
//! 40 µs, so the pool would cut the throughput of cached reads tenfold or more
//! (`benches/fs.rs`: a direct `pread` loop against tokio's pool-based file I/O).
//! The price is that a read of uncached data waits for the disk on the loop
//! thread, which io_uring avoids. (A task that reads in a loop still yields to the
//! others: a poll completes at most 128 operations without waiting.) Everything that
//! walks a path or may wait for the device or the journal goes to the pool, where
//! it cannot stall the loop: `openat` and `statx` look up paths (and may read
//! directories from disk, or ask a network filesystem's server), `fsync` waits for
//! the device (milliseconds), `ftruncate`, `unlink`, `rename` and `mkdir` change
//! metadata and may wait for the journal. `close` is direct: it only drops a
//! reference (writeback is not waited for).
//!
//! One difference between the drivers comes from the kernel: from Linux 5.12,
//! io_uring's `OPENAT` first tries to open without blocking, and for a FIFO (named
//! pipe) that means `O_NONBLOCK`'s rules: opened for reading, it does not wait for
//! a writer; opened for writing while nobody reads, it fails with `ENXIO`
//! (`open(2)`, on epoll and on older kernels, waits for the other end in both
//! cases). An open with `create` runs as `open(2)` does everywhere. Regular files,
//! directories and devices open the same everywhere.
//!
//! Operations on the pool that act on an open file work on a duplicate of its
//! descriptor (`F_DUPFD_CLOEXEC`), so that a `File` closed while a job still
//! runs cannot have its descriptor number reused under the job.
//!
//! # Cancellation
//!
//! Dropping an operation's future cancels it. What the kernel holds (a buffer, a
//! path, the descriptor) stays alive until it is done: on io_uring until the CQE
//! of the cancelled entry, on the pool until the job ends; a descriptor from a
//! dropped open is closed. Each method says whether it is cancel-safe; in short,
//! what only reads is, what changes a file or a name may have happened anyway.

mod file;
mod metadata;
mod open_options;

use std::io;
use std::path::Path;

pub use file::File;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;

use crate::buf::IoBuf;
use crate::driver::op::blocking;
use crate::driver::op::path::cstring;
use crate::driver::op::statx::Links;
use crate::driver::op::{MkDirAt, RenameAt, Statx, UnlinkAt};

/// `path` as a C string (`InvalidInput` for a NUL byte).
fn path_cstring(path: &Path) -> io::Result<std::ffi::CString> {
    cstring(path)
}

/// Reads the whole file at `path` into a `Vec`, like `std::fs::read`: one open,
/// a `statx` for the size (so that the vector is allocated once), reads until the
/// end of the file, and a close.
///
/// Errors as for [`File::open`]: `NotFound`, `PermissionDenied`, `InvalidInput` for
/// a path with a NUL byte; `IsADirectory` when `path` is a directory (from the
/// first read).
///
/// Cancel-safe: it changes nothing (a dropped call's descriptor is closed).
///
/// ```
/// # ringloop::run(async {
/// let hostname = ringloop::fs::read("/etc/hostname").await?;
/// assert_eq!(hostname, std::fs::read("/etc/hostname")?);
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    // A size hint; files such as /proc's say 0 and are read in growing chunks.
    let hint = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let hint = usize::try_from(hint).unwrap_or(0);
    let mut buf: Vec<u8> = Vec::with_capacity(hint.saturating_add(1).max(64));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(8192));
        }
        let len = buf.len();
        let (result, slice) = file.read_at(buf.slice(len..), len as u64).await;
        buf = slice.into_inner();
        match result {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

/// Writes `contents` to the file at `path`, creating it or replacing what it held
/// (`File::create`, then one `write_all_at`), like `std::fs::write`. Takes an owned
/// buffer (`Vec<u8>`, `String`, `&'static [u8]`...), which is dropped once written.
///
/// Not cancel-safe: a dropped call may have created or truncated the file and
/// written part of `contents`.
///
/// ```
/// # ringloop::run(async {
/// # let path = std::env::temp_dir().join(format!("ringloop-doc-write-{}", std::process::id()));
/// ringloop::fs::write(&path, String::from("text")).await?;
/// ringloop::fs::write(&path, vec![1, 2, 3]).await?; // replaces it
/// assert_eq!(ringloop::fs::read(&path).await?, [1, 2, 3]);
/// # ringloop::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl IoBuf) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0?;
    file.close().await
}

/// The [`Metadata`] of the file at `path`, following symbolic links (`statx(2)`: a
/// `STATX` entry on io_uring, the pool on epoll).
///
/// Errors: `NotFound`, `PermissionDenied`, `NotADirectory` (a path through a
/// file), `InvalidInput` (a NUL byte).
///
/// Cancel-safe: it changes nothing.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat_path(path.as_ref(), Links::Follow).await
}

/// Like [`metadata`], but a symbolic link is described itself, not followed
/// (`AT_SYMLINK_NOFOLLOW`), like `std::fs::symlink_metadata`.
///
/// Cancel-safe: it changes nothing.
///
/// ```
/// # ringloop::run(async {
/// let dir = std::env::temp_dir().join(format!("ringloop-doc-symlink-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// ringloop::fs::create_dir(&dir).await?;
/// std::os::unix::fs::symlink("/etc/hostname", dir.join("link"))?;
/// assert!(ringloop::fs::symlink_metadata(dir.join("link")).await?.is_symlink());
/// assert!(ringloop::fs::metadata(dir.join("link")).await?.is_file());
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat_path(path.as_ref(), Links::Keep).await
}

async fn stat_path(path: &Path, links: Links) -> io::Result<Metadata> {
    let path = path_cstring(path)?;
    let stx = blocking::run(Statx::path(path, links)).await?;
    Ok(Metadata::from_statx(&stx))
}

/// Removes the file (or symbolic link) at `path`, like `std::fs::remove_file`
/// (`unlinkat(2)`: an `UNLINKAT` entry from Linux 5.11, else the pool).
///
/// Errors: `NotFound`, `PermissionDenied`, `IsADirectory` (use [`remove_dir`]),
/// `InvalidInput` (a NUL byte).
///
/// Not cancel-safe: a dropped call may still remove the file.
///
/// ```
/// # ringloop::run(async {
/// # let path = std::env::temp_dir().join(format!("ringloop-doc-remove-{}", std::process::id()));
/// ringloop::fs::write(&path, b"").await?;
/// ringloop::fs::remove_file(&path).await?;
/// assert!(ringloop::fs::metadata(&path).await.is_err());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    unlink(path.as_ref(), 0).await
}

/// Removes the empty directory at `path`, like `std::fs::remove_dir`
/// (`unlinkat(2)` with `AT_REMOVEDIR`; where it runs as for [`remove_file`]).
///
/// Errors: `NotFound`, `DirectoryNotEmpty`, `NotADirectory`, `InvalidInput`.
///
/// Not cancel-safe: a dropped call may still remove the directory.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    unlink(path.as_ref(), libc::AT_REMOVEDIR).await
}

async fn unlink(path: &Path, flags: i32) -> io::Result<()> {
    let path = path_cstring(path)?;
    blocking::run(UnlinkAt::new(path, flags)).await
}

/// Renames `from` to `to`, replacing `to` if it exists, like `std::fs::rename`
/// (`renameat(2)`: a `RENAMEAT` entry from Linux 5.11, else the pool).
///
/// Errors: `NotFound` (no `from`), `IsADirectory`/`NotADirectory`/
/// `DirectoryNotEmpty` for mismatched kinds, `CrossesDevices` across filesystems,
/// `InvalidInput` (a NUL byte in either path).
///
/// Not cancel-safe: a dropped call may still rename.
///
/// ```
/// # ringloop::run(async {
/// # let dir = std::env::temp_dir().join(format!("ringloop-doc-rename-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # ringloop::fs::create_dir(&dir).await?;
/// ringloop::fs::write(dir.join("new"), b"new").await?;
/// ringloop::fs::write(dir.join("old"), b"old").await?;
/// ringloop::fs::rename(dir.join("new"), dir.join("old")).await?; // replaces "old"
/// assert_eq!(ringloop::fs::read(dir.join("old")).await?, b"new");
/// let gone = ringloop::fs::rename(dir.join("new"), dir.join("x")).await;
/// assert_eq!(gone.unwrap_err().kind(), std::io::ErrorKind::NotFound);
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let from = path_cstring(from.as_ref())?;
    let to = path_cstring(to.as_ref())?;
    blocking::run(RenameAt::new(from, to)).await
}

/// Creates a directory at `path` (mode `0o777` before the umask), like
/// `std::fs::create_dir` (`mkdirat(2)`: a `MKDIRAT` entry from Linux 5.15, else
/// the pool).
///
/// Errors: `AlreadyExists`, `NotFound` (a missing parent), `PermissionDenied`,
/// `InvalidInput` (a NUL byte).
///
/// Not cancel-safe: a dropped call may still create the directory.
///
/// ```
/// # ringloop::run(async {
/// let dir = std::env::temp_dir().join(format!("ringloop-doc-mkdir-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// ringloop::fs::create_dir(&dir).await?;
/// let again = ringloop::fs::create_dir(&dir).await;
/// assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
/// ringloop::fs::remove_dir(&dir).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path_cstring(path.as_ref())?;
    blocking::run(MkDirAt::new(path, 0o777)).await
}
