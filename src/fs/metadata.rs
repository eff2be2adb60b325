//! [`Metadata`] and [`FileType`]: what `statx(2)` says about a file, with the method
//! names of `std::fs::Metadata` (and of `std::os::unix::fs::MetadataExt`).

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

/// Information about a file, from `statx(2)`: see [`File::metadata`], [`metadata`]
/// and [`symlink_metadata`].
///
/// The methods have the names of `std::fs::Metadata`'s ([`len`](Self::len),
/// [`is_dir`](Self::is_dir), [`permissions`](Self::permissions),
/// [`modified`](Self::modified)...) and of the Unix extension trait
/// `std::os::unix::fs::MetadataExt` ([`mode`](Self::mode), [`ino`](Self::ino),
/// [`uid`](Self::uid)...), as inherent methods.
///
/// ```
/// # ringloop::run(async {
/// let path = std::env::temp_dir().join(format!("ringloop-doc-meta-{}", std::process::id()));
/// ringloop::fs::write(&path, b"twelve bytes").await?;
/// let meta = ringloop::fs::metadata(&path).await?;
/// assert!(meta.is_file() && !meta.is_dir());
/// assert_eq!(meta.len(), 12);
/// assert!(!meta.permissions().readonly());
/// assert!(meta.modified()? <= std::time::SystemTime::now());
/// assert_eq!(meta.nlink(), 1);
/// ringloop::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// [`File::metadata`]: super::File::metadata
/// [`metadata`]: super::metadata
/// [`symlink_metadata`]: super::symlink_metadata
#[derive(Clone, PartialEq, Eq)]
pub struct Metadata {
    mask: u32,
    mode: u32,
    nlink: u64,
    uid: u32,
    gid: u32,
    ino: u64,
    size: u64,
    blocks: u64,
    blksize: u64,
    dev: u64,
    rdev: u64,
    atime: (i64, u32),
    mtime: (i64, u32),
    ctime: (i64, u32),
    btime: (i64, u32),
}

/// The type of a file: a regular file, a directory, a symbolic link, or one of the
/// special files. Mirrors `std::fs::FileType` (and `std::os::unix::fs::FileTypeExt`).
///
/// ```
/// # ringloop::run(async {
/// let null = ringloop::fs::metadata("/dev/null").await?.file_type();
/// assert!(null.is_char_device() && !null.is_file());
/// assert!(ringloop::fs::metadata("/").await?.file_type().is_dir());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FileType {
    /// The `S_IFMT` bits of the mode.
    format: u32,
}

impl FileType {
    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.format == libc::S_IFDIR
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.format == libc::S_IFREG
    }

    /// A symbolic link (only [`symlink_metadata`](super::symlink_metadata) reports
    /// one; the others follow links).
    pub fn is_symlink(&self) -> bool {
        self.format == libc::S_IFLNK
    }

    /// A block device.
    pub fn is_block_device(&self) -> bool {
        self.format == libc::S_IFBLK
    }

    /// A character device.
    pub fn is_char_device(&self) -> bool {
        self.format == libc::S_IFCHR
    }

    /// A FIFO (named pipe).
    pub fn is_fifo(&self) -> bool {
        self.format == libc::S_IFIFO
    }

    /// A Unix socket.
    pub fn is_socket(&self) -> bool {
        self.format == libc::S_IFSOCK
    }
}

fn timestamp(t: &libc::statx_timestamp) -> (i64, u32) {
    (t.tv_sec, t.tv_nsec)
}

fn system_time((secs, nanos): (i64, u32)) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(nanos));
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64) + nanos
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos
    }
}

impl Metadata {
    pub(crate) fn from_statx(stx: &libc::statx) -> Metadata {
        Metadata {
            mask: stx.stx_mask,
            mode: u32::from(stx.stx_mode),
            nlink: u64::from(stx.stx_nlink),
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            ino: stx.stx_ino,
            size: stx.stx_size,
            blocks: stx.stx_blocks,
            blksize: u64::from(stx.stx_blksize),
            dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            rdev: libc::makedev(stx.stx_rdev_major, stx.stx_rdev_minor),
            atime: timestamp(&stx.stx_atime),
            mtime: timestamp(&stx.stx_mtime),
            ctime: timestamp(&stx.stx_ctime),
            btime: timestamp(&stx.stx_btime),
        }
    }

    fn time(&self, bit: u32, t: (i64, u32), what: &str) -> io::Result<SystemTime> {
        if self.mask & bit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the {what} time is not available on this filesystem"),
            ));
        }
        Ok(system_time(t))
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        FileType {
            format: self.mode & libc::S_IFMT,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// Whether this is a symbolic link (see [`FileType::is_symlink`]).
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// The size in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.size
    }

    /// The permissions, as std's type (which, like std's metadata, holds the whole
    /// mode: `std::os::unix::fs::PermissionsExt::mode` reads it back).
    pub fn permissions(&self) -> std::fs::Permissions {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(self.mode)
    }

    /// The last modification time (`stx_mtime`).
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.mtime, "modification")
    }

    /// The last access time (`stx_atime`; how often it is updated depends on the
    /// mount options, `relatime` by default).
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.atime, "access")
    }

    /// The creation (birth) time (`stx_btime`), where the filesystem records it;
    /// otherwise an `Unsupported` error, as std reports it.
    pub fn created(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_BTIME, self.btime, "creation")
    }

    /// The mode: file type and permission bits (`st_mode`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The number of hard links.
    pub fn nlink(&self) -> u64 {
        self.nlink
    }

    /// The owner's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The owner's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The id of the device that holds the file.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// The device id, for a device file.
    pub fn rdev(&self) -> u64 {
        self.rdev
    }

    /// The size in bytes (the same as [`len`](Self::len)).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The last access time, seconds since the Unix epoch.
    pub fn atime(&self) -> i64 {
        self.atime.0
    }

    /// The nanoseconds of [`atime`](Self::atime).
    pub fn atime_nsec(&self) -> i64 {
        i64::from(self.atime.1)
    }

    /// The last modification time, seconds since the Unix epoch.
    pub fn mtime(&self) -> i64 {
        self.mtime.0
    }

    /// The nanoseconds of [`mtime`](Self::mtime).
    pub fn mtime_nsec(&self) -> i64 {
        i64::from(self.mtime.1)
    }

    /// The last status change time, seconds since the Unix epoch.
    pub fn ctime(&self) -> i64 {
        self.ctime.0
    }

    /// The nanoseconds of [`ctime`](Self::ctime).
    pub fn ctime_nsec(&self) -> i64 {
        i64::from(self.ctime.1)
    }

    /// The preferred block size for I/O.
    pub fn blksize(&self) -> u64 {
        self.blksize
    }

    /// The number of 512-byte blocks allocated (less than `len() / 512` for a
    /// sparse file).
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("len", &self.size)
            .field("ino", &self.ino)
            .field("nlink", &self.nlink)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("modified", &self.modified().ok())
            .field("accessed", &self.accessed().ok())
            .field("created", &self.created().ok())
            .finish_non_exhaustive()
    }
}
