//! Support for the file tests (`tests/fs_*.rs`): a fresh directory per test, FIFOs
//! (whose opens and reads really wait in the kernel), and the checks every file test
//! repeats. The file tests use [`super::net`] too (for `CountedBuf`, `isolated`,
//! `turns`, `within`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Mode;

/// A directory of its own for one test and mode, removed (with what is in it) when
/// dropped.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// A fresh, empty directory named after the test and the mode.
    pub fn new(name: &str, mode: Mode) -> TestDir {
        let path = std::env::temp_dir().join(format!(
            "ringloop-{name}-{}-{}",
            mode.test_fn(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test directory");
        TestDir { path }
    }

    /// `name` in the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .expect("read the test directory")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Makes a FIFO (named pipe) at `path`.
pub fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// Opens the reading end of the FIFO at `path` without waiting (`O_NONBLOCK`), for
/// a test that must release an open waiting for a reader, then learn when that
/// open is over: see [`hung_up`].
pub fn fifo_reader(path: &Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open the FIFO for reading")
}

/// Whether a writer opened the FIFO of `reader` and closed it again since the
/// reader opened it (`poll` then reports a hang-up): an open for writing that was
/// waiting for this reader (on a pool thread, or an io-wq worker) has finished,
/// and its descriptor is closed.
pub fn hung_up(reader: &std::fs::File) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::ZERO);
    fds[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLHUP))
}

/// [`hung_up`], waited for up to `limit` on a runtime (its loop goes on turning).
pub async fn hangs_up(reader: &std::fs::File, limit: Duration) -> bool {
    super::sleep_until_cond(limit, || hung_up(reader)).await
}

/// Asserts that `result` failed with `kind` (and, when given, the OS error `errno`).
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: io::Result<T>,
    kind: io::ErrorKind,
    errno: Option<i32>,
    what: &str,
) {
    match result {
        Ok(v) => panic!("{what}: expected {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: {e}");
            if let Some(errno) = errno {
                assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}");
            }
        }
    }
}

/// Asserts that `result` failed with the OS error `errno` (for the errors whose
/// `ErrorKind` is not stable, such as `EBADF`).
#[track_caller]
pub fn assert_errno<T: std::fmt::Debug>(result: io::Result<T>, errno: i32, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected OS error {errno}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}"),
    }
}

/// Creates `path` and gives it `len` bytes of disk at once (`posix_fallocate`), for
/// a test that writes a large file: it learns before it starts whether the disk has
/// room, rather than failing with `ENOSPC` half way. Returns the free bytes of the
/// file system as the error when it has not (the file is removed then).
///
/// tmpfs gives up a large allocation with `EINTR` when a signal is pending (seen
/// in the CI's VMs); the call is made again, the blocks it got kept, up to 100
/// times.
pub fn reserve(path: &Path, len: u64) -> Result<(), u64> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::create(path).expect("create the file to reserve");
    let mut tries = 0;
    let rc = loop {
        // SAFETY: `file` is open for writing, and its descriptor stays open for
        // the call, which only asks the file system for blocks.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
        tries += 1;
        if rc != libc::EINTR || tries == 100 {
            break rc;
        }
    };
    drop(file);
    match rc {
        0 => Ok(()),
        libc::ENOSPC | libc::EINTR => {
            let _ = std::fs::remove_file(path);
            Err(free_bytes(path.parent().unwrap_or(Path::new("/"))))
        }
        err => panic!(
            "posix_fallocate({}): {}",
            path.display(),
            io::Error::from_raw_os_error(err)
        ),
    }
}

/// The bytes an unprivileged user may still write on the file system of `dir`.
pub fn free_bytes(dir: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(dir).expect("statvfs");
    st.blocks_available() as u64 * st.fragment_size() as u64
}
