//! [`OpenOptions`]: how to open a file, as `std::fs::OpenOptions` says it.

use std::future::Future;
use std::io;
use std::path::Path;

use super::{path_cstring, File};

/// Options for opening a file, the builder of `std::fs::OpenOptions` (with the Unix
/// extensions [`mode`](Self::mode) and [`custom_flags`](Self::custom_flags)).
///
/// The combinations std refuses are refused here too, with `InvalidInput`: no
/// access mode at all, `truncate`/`create`/`create_new` without `write` or
/// `append`, and `truncate` with `append` (unless `create_new`).
///
/// ```
/// use ringloop::fs::OpenOptions;
/// # ringloop::run(async {
/// let path = std::env::temp_dir().join(format!("ringloop-doc-opts-{}", std::process::id()));
/// let log = OpenOptions::new().append(true).create(true).open(&path).await?;
/// log.write_all(b"one\n").await.0?;
/// log.write_all(b"two\n").await.0?;
/// log.close().await?;
/// assert_eq!(ringloop::fs::read(&path).await?, b"one\ntwo\n");
/// ringloop::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

impl OpenOptions {
    /// Everything off, mode `0o666` (before the umask).
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for appending (`O_APPEND`): every write goes to the end of the file,
    /// whatever offset [`write_at`](File::write_at) is given (Linux ignores the
    /// offset of a positional write on such a file).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncate the file to 0 bytes when it exists (`O_TRUNC`).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create the file when it does not exist (`O_CREAT`).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` when it exists
    /// (`O_CREAT | O_EXCL`; `create` and `truncate` are then ignored).
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// The permission bits of a created file (before the umask); `0o666` by default.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (`O_DIRECT`, `O_NOATIME`, `O_SYNC`...); the access mode
    /// bits are ignored. `O_CLOEXEC` is always set.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// The `open(2)` flags, or `InvalidInput` for a combination std refuses.
    pub(crate) fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid(
                    "no access mode: set read, write or append to open a file",
                ))
            }
        };
        if !self.write && !self.append && (self.truncate || self.create || self.create_new) {
            return Err(invalid(
                "truncate, create and create_new need write or append access",
            ));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("truncate and append cannot both be set"));
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
        };
        Ok(access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }

    /// Opens `path` with these options (`openat(2)`: an `OPENAT` entry on io_uring,
    /// the blocking pool on epoll).
    ///
    /// Errors are `open(2)`'s, with their kinds: `NotFound`, `PermissionDenied`,
    /// `AlreadyExists` (`create_new`), `IsADirectory` (a directory opened for
    /// writing); a path containing a NUL byte, or options std refuses, are
    /// `InvalidInput` (checked before anything reaches the kernel).
    ///
    /// The future does not borrow the options or the path (both are read when
    /// `open` is called), so it can be stored or spawned.
    ///
    /// Cancel-safe as far as descriptors go: if the future is dropped and the open
    /// still succeeds, the new descriptor is closed. A dropped `create` may still
    /// have created the file.
    pub fn open(&self, path: impl AsRef<Path>) -> impl Future<Output = io::Result<File>> + 'static {
        let prepared = self
            .flags()
            .and_then(|flags| Ok((path_cstring(path.as_ref())?, flags, self.mode)));
        async move {
            let (path, flags, mode) = prepared?;
            File::open_with(path, flags, mode).await
        }
    }
}
