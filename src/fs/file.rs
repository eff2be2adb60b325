//! [`File`]: an open file with owned-buffer operations at explicit offsets.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use super::{Metadata, OpenOptions};
use crate::buf::write_all_with;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::blocking;
use crate::driver::op::{Close, Fsync, Ftruncate, Op, OpenAt, Read, ReadV, Statx, Write, WriteV};
use crate::driver::sys::Flush;

/// An open file.
///
/// Reads and writes take the buffer by value and give it back with the result
/// ([`BufResult`]), like the socket types: on io_uring the kernel uses the buffer
/// after the operation is submitted, so the operation owns it until the kernel is
/// done, even if its future is dropped. Positional operations ([`read_at`],
/// [`write_at`] and their variants) name their offset and never move the file
/// position, so any number of them may run at once on one `File` (its methods take
/// `&self`; share it between tasks with an `Rc`).
///
/// Dropping a `File` closes its descriptor: through the ring (an unawaited
/// `CLOSE` entry, no system call of its own) on a running io_uring runtime,
/// with `close(2)` elsewhere. A descriptor stays open while an operation on it
/// is in the kernel, even one whose future was dropped. [`close`](Self::close)
/// closes it explicitly and reports the error.
///
/// ```
/// use ringloop::fs::File;
/// # ringloop::run(async {
/// let path = std::env::temp_dir().join(format!("ringloop-doc-file-{}", std::process::id()));
/// let file = File::options().read(true).write(true).create(true).truncate(true).open(&path).await?;
/// file.write_all_at(b"hello, world".to_vec(), 0).await.0?;
/// file.sync_all().await?;
/// // Two reads in flight at once, at their own offsets.
/// let (a, b) = ringloop::gather!(
///     file.read_at(Vec::with_capacity(5), 0),
///     file.read_at(Vec::with_capacity(5), 7),
/// )
/// .await;
/// assert_eq!((a.0?, a.1.as_slice()), (5, &b"hello"[..]));
/// assert_eq!((b.0?, b.1.as_slice()), (5, &b"world"[..]));
/// file.close().await?;
/// ringloop::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// [`read_at`]: Self::read_at
/// [`write_at`]: Self::write_at
#[derive(Debug)]
pub struct File {
    fd: SharedFd,
}

/// `InvalidInput` for an offset the kernel would misread: on io_uring an offset of
/// `u64::MAX` (-1) means "at the file position", and anything above `i64::MAX` is
/// negative to `pread(2)`.
fn check_offset(offset: u64) -> io::Result<()> {
    if offset > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file offset out of range (above i64::MAX)",
        ));
    }
    Ok(())
}

impl File {
    /// Opens `path` for reading (`O_RDONLY`).
    ///
    /// Errors as for [`OpenOptions::open`] (for example `NotFound`); cancel-safe
    /// in the same way.
    ///
    /// ```
    /// # ringloop::run(async {
    /// let file = ringloop::fs::File::open("/etc/hostname").await?;
    /// assert!(file.metadata().await?.is_file());
    /// let missing = ringloop::fs::File::open("/no/such/file").await;
    /// assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for writing, creating it when it does not exist and truncating
    /// it when it does (`O_WRONLY | O_CREAT | O_TRUNC`).
    ///
    /// Errors as for [`OpenOptions::open`] (for example `IsADirectory`);
    /// cancel-safe in the same way (a dropped create may still have created or
    /// truncated the file).
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Creates `path` for reading and writing, failing with `AlreadyExists` when it
    /// exists (`O_RDWR | O_CREAT | O_EXCL`).
    ///
    /// Cancel-safe as for [`OpenOptions::open`].
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// A new [`OpenOptions`], as `std::fs::File::options()`.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(crate) async fn open_with(path: CString, flags: i32, mode: u32) -> io::Result<File> {
        let fd = blocking::run(OpenAt::from_cstring(path, flags, mode)).await?;
        let file = File::from(fd);
        // Known flags spare the first read's `fcntl`: an `O_DIRECT` read would
        // wait for the device, so it never tries the page cache first.
        file.fd.nowait().set_allowed(flags & libc::O_DIRECT == 0);
        Ok(file)
    }

    /// Takes over a standard-library file (or anything opened by other means). The
    /// positional operations need a file that can seek; [`read`](Self::read) and
    /// [`write`](Self::write) work on pipes and terminals too.
    pub fn from_std(file: std::fs::File) -> File {
        File::from(OwnedFd::from(file))
    }

    /// Reads at `offset` into `buf`'s spare room, from its start (for a `Vec`, up to
    /// its capacity), like `pread(2)`; returns the number of bytes read: 0 at or
    /// past the end of the file, and possibly fewer than asked near it. The first
    /// `n` bytes of the buffer are marked initialised (for a `Vec`, its length
    /// becomes at least `n`).
    ///
    /// An offset above `i64::MAX` is `InvalidInput`. The file must be able to
    /// seek: on a pipe or socket `pread(2)` fails with `ESPIPE` (epoll), while
    /// io_uring ignores the offset of such a stream and reads in order.
    ///
    /// Cancel-safe: a positional read changes nothing, so a dropped one loses only
    /// its buffer (freed once the kernel is done with it); the same read again
    /// gives the same bytes.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-read-at-{}", std::process::id()));
    /// ringloop::fs::write(&path, b"0123456789").await?;
    /// let file = ringloop::fs::File::open(&path).await?;
    /// let (n, buf) = file.read_at(Vec::with_capacity(4), 8).await;
    /// assert_eq!((n?, buf.as_slice()), (2, &b"89"[..])); // short near the end
    /// let (n, _) = file.read_at(Vec::with_capacity(4), 10).await;
    /// assert_eq!(n?, 0); // at the end of the file
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<usize, B> {
        if let Err(e) = check_offset(offset) {
            return (Err(e), buf);
        }
        Op::new(Read::new(self.fd.clone(), buf, Some(offset))).await
    }

    /// Reads at `offset` until `buf` is full (its whole capacity: `bytes_total()`).
    ///
    /// At the end of the file before the buffer is full, the result is an
    /// `UnexpectedEof` error, and the buffer holds the bytes read so far at its
    /// start: their number is in the error's message, and for a buffer that
    /// started empty (a `Vec` of length 0) it is the buffer's length.
    ///
    /// Cancel-safe like [`read_at`](Self::read_at): dropped midway, it loses only
    /// the buffer and what was read into it.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-exact-{}", std::process::id()));
    /// ringloop::fs::write(&path, b"0123456789").await?;
    /// let file = ringloop::fs::File::open(&path).await?;
    /// let (res, buf) = file.read_exact_at(Vec::with_capacity(4), 2).await;
    /// res?;
    /// assert_eq!(buf, b"2345");
    /// // Past the end: UnexpectedEof, with the 3 bytes that were there.
    /// let (res, buf) = file.read_exact_at(Vec::with_capacity(8), 7).await;
    /// assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    /// assert_eq!(buf, b"789");
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        let total = buf.bytes_total();
        let mut filled = 0;
        let mut buf = buf;
        while filled < total {
            let at = offset.saturating_add(filled as u64);
            let (result, slice) = self.read_at(buf.slice(filled..), at).await;
            buf = slice.into_inner();
            match result {
                Ok(0) => {
                    let message = format!(
                        "end of file after {filled} of {total} bytes (read_exact_at at offset {offset})"
                    );
                    return (
                        Err(io::Error::new(io::ErrorKind::UnexpectedEof, message)),
                        buf,
                    );
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes `buf`'s initialised bytes at `offset`, like `pwrite(2)`; returns how
    /// many were written, which may be fewer (see
    /// [`write_all_at`](Self::write_all_at)). Writing past the end extends the
    /// file (the gap reads as zeros). An offset above `i64::MAX` is
    /// `InvalidInput`.
    ///
    /// Not cancel-safe: a write dropped in flight may still write all or part of
    /// the buffer.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<usize, B> {
        if let Err(e) = check_offset(offset) {
            return (Err(e), buf);
        }
        Op::new(Write::new(self.fd.clone(), buf, Some(offset))).await
    }

    /// Writes all of `buf`'s initialised bytes at `offset`, in as many writes as it
    /// takes; a write of 0 bytes is a `WriteZero` error.
    ///
    /// Not cancel-safe: dropped midway, an unknown prefix has been written.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-write-all-{}", std::process::id()));
    /// let file = ringloop::fs::File::create(&path).await?;
    /// let (res, buf) = file.write_all_at(b"world".to_vec(), 6).await;
    /// res?;
    /// file.write_all_at(b"hello ", 0).await.0?; // a &'static buffer
    /// assert_eq!(buf, b"world"); // the buffer comes back, for reuse
    /// assert_eq!(ringloop::fs::read(&path).await?, b"hello world");
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        write_all_with(buf, |rest, written| {
            self.write_at(rest, offset.saturating_add(written as u64))
        })
        .await
    }

    /// Reads at `offset` into several buffers in order, each to its full capacity
    /// (`preadv(2)`, one `READV` entry); returns the total read. The buffers are
    /// marked initialised in order, as far as the bytes went.
    ///
    /// Cancel-safe, like [`read_at`](Self::read_at).
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-readv-{}", std::process::id()));
    /// ringloop::fs::write(&path, b"headerbody").await?;
    /// let file = ringloop::fs::File::open(&path).await?;
    /// let (n, bufs) = file.readv_at(vec![Vec::with_capacity(6), Vec::with_capacity(64)], 0).await;
    /// assert_eq!(n?, 10);
    /// assert_eq!((bufs[0].as_slice(), bufs[1].as_slice()), (&b"header"[..], &b"body"[..]));
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn readv_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        offset: u64,
    ) -> BufResult<usize, Vec<B>> {
        if let Err(e) = check_offset(offset) {
            return (Err(e), bufs);
        }
        Op::new(ReadV::new(self.fd.clone(), bufs, offset)).await
    }

    /// Writes the initialised bytes of several buffers in order at `offset`
    /// (`pwritev(2)`, one `WRITEV` entry); returns the total written, which may be
    /// fewer than all.
    ///
    /// Not cancel-safe, like [`write_at`](Self::write_at).
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-writev-{}", std::process::id()));
    /// let file = ringloop::fs::File::create(&path).await?;
    /// let (n, _bufs) = file.writev_at(vec![b"head ".to_vec(), b"tail".to_vec()], 0).await;
    /// assert_eq!(n?, 9);
    /// assert_eq!(ringloop::fs::read(&path).await?, b"head tail");
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn writev_at<B: IoBuf>(&self, bufs: Vec<B>, offset: u64) -> BufResult<usize, Vec<B>> {
        if let Err(e) = check_offset(offset) {
            return (Err(e), bufs);
        }
        Op::new(WriteV::new(self.fd.clone(), bufs, offset)).await
    }

    /// Reads at the file position (`read(2)`), which moves on by the bytes read:
    /// for pipes, terminals and files read in order (`cat`'s input). Do not mix
    /// with another `read` or `write` in flight on the same file: the position is
    /// shared.
    ///
    /// Cancel-safe: bytes a dropped read received go to the next `read` (as for
    /// sockets).
    ///
    /// On the epoll driver the call is made directly: on a pipe or terminal that
    /// is not `O_NONBLOCK` it blocks the loop until data comes.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-read-{}", std::process::id()));
    /// ringloop::fs::write(&path, b"abcdef").await?;
    /// let file = ringloop::fs::File::open(&path).await?;
    /// let (_, first) = file.read(Vec::with_capacity(4)).await;
    /// let (_, rest) = file.read(Vec::with_capacity(4)).await;
    /// assert_eq!((first.as_slice(), rest.as_slice()), (&b"abcd"[..], &b"ef"[..]));
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Read::new(self.fd.clone(), buf, None)).await
    }

    /// Writes at the file position (`write(2)`; at the end for an `O_APPEND` file),
    /// which moves on by the bytes written; may write fewer than all. See
    /// [`read`](Self::read) about the position and about epoll.
    ///
    /// Not cancel-safe: a dropped write may still write all or part of the buffer.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Write::new(self.fd.clone(), buf, None)).await
    }

    /// Writes all of `buf`'s bytes at the file position, in as many writes as it
    /// takes (for example to standard output, or to a log opened with `append`).
    ///
    /// Not cancel-safe: dropped midway, an unknown prefix has been written.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// # ringloop::run(async {
    /// // Standard output, through the ring.
    /// let stdout = ringloop::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    /// stdout.write_all(b"hello\n").await.0?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        write_all_with(buf, |rest, _| self.write(rest)).await
    }

    /// Flushes the file's data and metadata to the device (`fsync(2)`: an `FSYNC`
    /// entry on io_uring, the blocking pool on epoll).
    ///
    /// It covers the writes that completed before it was called; a write still in
    /// flight may land after it.
    ///
    /// Cancel-safe: a dropped sync may still run to its end, which does no harm;
    /// call it again to know it completed.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-sync-{}", std::process::id()));
    /// let file = ringloop::fs::File::create(&path).await?;
    /// file.write_all_at(b"durable", 0).await.0?;
    /// file.sync_all().await?; // on the device now, metadata included
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn sync_all(&self) -> io::Result<()> {
        self.sync(Flush::All).await
    }

    /// Like [`sync_all`](Self::sync_all), but flushes the metadata only where it is
    /// needed to read the data back (`fdatasync(2)`; `IORING_FSYNC_DATASYNC`).
    ///
    /// Cancel-safe like [`sync_all`](Self::sync_all).
    pub async fn sync_data(&self) -> io::Result<()> {
        self.sync(Flush::Data).await
    }

    async fn sync(&self, flush: Flush) -> io::Result<()> {
        blocking::run(Fsync::new(self.fd.clone(), flush)).await
    }

    /// The file's [`Metadata`] (`statx(2)` on the descriptor: a `STATX` entry on
    /// io_uring, the blocking pool on epoll).
    ///
    /// Cancel-safe: it changes nothing.
    ///
    /// ```
    /// # ringloop::run(async {
    /// let file = ringloop::fs::File::open("/etc/hostname").await?;
    /// let meta = file.metadata().await?;
    /// assert!(meta.is_file());
    /// assert_eq!(meta.len(), std::fs::metadata("/etc/hostname")?.len());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let stx = blocking::run(Statx::fd(self.fd.clone())).await?;
        Ok(Metadata::from_statx(&stx))
    }

    /// Truncates or extends the file to `len` bytes (`ftruncate(2)`; the file must
    /// be open for writing). An extension reads as zeros.
    ///
    /// io_uring has an `FTRUNCATE` entry from Linux 6.9, used where the probe finds
    /// it; elsewhere (older kernels, the 5.10 mask, epoll) it runs on the blocking
    /// pool: a truncation frees blocks and may wait for the filesystem's journal,
    /// which must not stall the loop.
    ///
    /// Not cancel-safe: a dropped call may still change the size.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-set-len-{}", std::process::id()));
    /// let file = ringloop::fs::File::create(&path).await?;
    /// file.write_all_at(b"0123456789", 0).await.0?;
    /// file.set_len(4).await?;
    /// assert_eq!(ringloop::fs::read(&path).await?, b"0123");
    /// file.set_len(6).await?;
    /// assert_eq!(ringloop::fs::read(&path).await?, b"0123\0\0");
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        if len > i64::MAX as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "file size out of range (above i64::MAX)",
            ));
        }
        blocking::run(Ftruncate::new(self.fd.clone(), len)).await
    }

    /// Closes the file and reports the error `close(2)` gives (on some
    /// filesystems, NFS for one, a write error shows only there). On io_uring it
    /// is a `CLOSE` entry, on epoll the call itself (it does not wait for the
    /// data to reach the device: [`sync_all`](Self::sync_all) does).
    ///
    /// If an operation whose future was dropped is still in the kernel, the close
    /// waits for it to finish first (the descriptor must not be closed under it).
    ///
    /// Not cancel-safe: dropped midway, the descriptor is still closed, but its
    /// error is lost.
    ///
    /// ```
    /// # ringloop::run(async {
    /// # let path = std::env::temp_dir().join(format!("ringloop-doc-close-{}", std::process::id()));
    /// let file = ringloop::fs::File::create(&path).await?;
    /// file.write_all_at(b"done", 0).await.0?;
    /// file.close().await?; // the error close(2) reports, if any
    /// # ringloop::fs::remove_file(&path).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn close(self) -> io::Result<()> {
        let mut fd = self.fd;
        let owned = loop {
            match fd.try_into_owned() {
                Ok(owned) => break owned,
                Err(shared) => {
                    // A dropped op's CQE is due: its turn comes within a few loop
                    // turns, so poll for it gently rather than add a wake-up path
                    // to every descriptor for this rare case.
                    fd = shared;
                    crate::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        Op::new(Close::new(owned)).await
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File {
            fd: SharedFd::new(fd),
        }
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
