//! The errors of the file API on every driver, with clear `io::ErrorKind`s and the
//! OS error kept: a missing file (`NotFound`), a directory opened for writing
//! (`IsADirectory`, `EISDIR`), a path containing a NUL byte (`InvalidInput`, before
//! anything reaches the kernel), and the other mistakes a caller can make.

mod support;

use std::io::ErrorKind;

use ringloop::fs::{self, File, OpenOptions};
use support::fs::{assert_errno, assert_error, TestDir};

matrix_test! {
    fn a_missing_file_is_not_found(mode) {
        let dir = TestDir::new("fs-err-missing", mode);
        let missing = dir.join("missing");
        let e = Some(libc::ENOENT);
        mode.run(async {
            assert_error(File::open(&missing).await, ErrorKind::NotFound, e, "File::open");
            assert_error(OpenOptions::new().write(true).open(&missing).await, ErrorKind::NotFound, e, "write without create");
            assert_error(fs::read(&missing).await, ErrorKind::NotFound, e, "fs::read");
            assert_error(fs::metadata(&missing).await, ErrorKind::NotFound, e, "fs::metadata");
            assert_error(fs::symlink_metadata(&missing).await, ErrorKind::NotFound, e, "fs::symlink_metadata");
            assert_error(fs::remove_file(&missing).await, ErrorKind::NotFound, e, "fs::remove_file");
            assert_error(fs::remove_dir(&missing).await, ErrorKind::NotFound, e, "fs::remove_dir");
            assert_error(fs::rename(&missing, dir.join("to")).await, ErrorKind::NotFound, e, "fs::rename");
            // A missing parent directory.
            let deep = dir.join("no/such/dir");
            assert_error(File::create(&deep).await, ErrorKind::NotFound, e, "File::create in a missing dir");
            assert_error(fs::write(&deep, b"x").await, ErrorKind::NotFound, e, "fs::write in a missing dir");
            assert_error(fs::create_dir(&deep).await, ErrorKind::NotFound, e, "fs::create_dir in a missing dir");
            // A dangling symbolic link: not found through it, found itself.
            let link = dir.join("dangling");
            std::os::unix::fs::symlink(&missing, &link).unwrap();
            assert_error(File::open(&link).await, ErrorKind::NotFound, e, "a dangling link");
            assert!(fs::symlink_metadata(&link).await.unwrap().is_symlink());
            // A path through a regular file.
            std::fs::write(dir.join("file"), b"").unwrap();
            let through = dir.join("file/inside");
            assert_error(File::open(&through).await, ErrorKind::NotADirectory, Some(libc::ENOTDIR), "through a file");
            assert_error(fs::metadata(&through).await, ErrorKind::NotADirectory, Some(libc::ENOTDIR), "metadata through a file");
        });
    }
}

matrix_test! {
    fn a_directory_for_writing_is_a_directory(mode) {
        let dir = TestDir::new("fs-err-dir", mode);
        let d = dir.path();
        let e = Some(libc::EISDIR);
        mode.run(async {
            assert_error(File::create(d).await, ErrorKind::IsADirectory, e, "File::create");
            assert_error(OpenOptions::new().write(true).open(d).await, ErrorKind::IsADirectory, e, "write");
            assert_error(OpenOptions::new().read(true).write(true).open(d).await, ErrorKind::IsADirectory, e, "read-write");
            assert_error(OpenOptions::new().append(true).open(d).await, ErrorKind::IsADirectory, e, "append");
            assert_error(fs::write(d, b"data").await, ErrorKind::IsADirectory, e, "fs::write");
            // Opening one for reading works (as in std), reading from it does not.
            let f = File::open(d).await.unwrap();
            assert!(f.metadata().await.unwrap().is_dir());
            let (res, _) = f.read_at(Vec::with_capacity(16), 0).await;
            assert_error(res, ErrorKind::IsADirectory, e, "read_at on a directory");
            let (res, _) = f.readv_at(vec![Vec::with_capacity(16)], 0).await;
            assert_error(res, ErrorKind::IsADirectory, e, "readv_at on a directory");
            let (res, _) = f.read(Vec::with_capacity(16)).await;
            assert_error(res, ErrorKind::IsADirectory, e, "read on a directory");
            assert_error(fs::read(d).await, ErrorKind::IsADirectory, e, "fs::read");
            // remove_file on a directory, create_dir on an existing one, and
            // removing a directory that is not empty.
            assert_error(fs::remove_file(d).await, ErrorKind::IsADirectory, e, "fs::remove_file");
            assert_error(fs::create_dir(d).await, ErrorKind::AlreadyExists, Some(libc::EEXIST), "fs::create_dir");
            std::fs::write(dir.join("file"), b"").unwrap();
            let sub = dir.join("sub");
            std::fs::create_dir(&sub).unwrap();
            std::fs::write(sub.join("x"), b"").unwrap();
            assert_error(fs::remove_dir(&sub).await, ErrorKind::DirectoryNotEmpty, Some(libc::ENOTEMPTY), "fs::remove_dir");
            assert_error(fs::remove_dir(dir.join("file")).await, ErrorKind::NotADirectory, Some(libc::ENOTDIR), "remove_dir on a file");
            // Renaming a directory over a file, a file over a directory.
            assert_error(fs::rename(&sub, dir.join("file")).await, ErrorKind::NotADirectory, Some(libc::ENOTDIR), "dir over file");
            assert_error(fs::rename(dir.join("file"), &sub).await, ErrorKind::IsADirectory, e, "file over dir");
        });
    }
}

matrix_test! {
    fn a_path_with_a_nul_byte_is_invalid_input(mode) {
        let dir = TestDir::new("fs-err-nul", mode);
        // The part before the NUL names a real place: nothing must be created there.
        let bad = dir.join("bad\0name");
        let good = dir.join("good");
        std::fs::write(&good, b"x").unwrap();
        let k = ErrorKind::InvalidInput;
        mode.run(async {
            assert_error(File::open(&bad).await, k, None, "File::open");
            assert_error(File::create(&bad).await, k, None, "File::create");
            assert_error(File::create_new(&bad).await, k, None, "File::create_new");
            assert_error(OpenOptions::new().append(true).create(true).open(&bad).await, k, None, "OpenOptions");
            assert_error(fs::read(&bad).await, k, None, "fs::read");
            assert_error(fs::write(&bad, b"x").await, k, None, "fs::write");
            assert_error(fs::metadata(&bad).await, k, None, "fs::metadata");
            assert_error(fs::symlink_metadata(&bad).await, k, None, "fs::symlink_metadata");
            assert_error(fs::remove_file(&bad).await, k, None, "fs::remove_file");
            assert_error(fs::remove_dir(&bad).await, k, None, "fs::remove_dir");
            assert_error(fs::create_dir(&bad).await, k, None, "fs::create_dir");
            assert_error(fs::rename(&good, &bad).await, k, None, "fs::rename to");
            assert_error(fs::rename(&bad, &good).await, k, None, "fs::rename from");
            let e = fs::read(&bad).await.unwrap_err();
            assert!(e.to_string().contains("NUL"), "a clear message: {e}");
            assert_eq!(e.raw_os_error(), None, "refused before any system call");
        });
        assert_eq!(dir.names(), ["good"], "nothing was created, renamed or removed");
    }
}

matrix_test! {
    fn other_mistakes(mode) {
        let dir = TestDir::new("fs-err-other", mode);
        let path = dir.join("file");
        std::fs::write(&path, b"data").unwrap();
        mode.run(async {
            // Permission denied (a file without permissions; root ignores them).
            let locked = dir.join("locked");
            std::fs::write(&locked, b"").unwrap();
            std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
            // SAFETY: geteuid has no preconditions and cannot fail.
            let root = unsafe { libc::geteuid() } == 0;
            if root {
                File::open(&locked).await.unwrap();
            } else {
                assert_error(File::open(&locked).await, ErrorKind::PermissionDenied, Some(libc::EACCES), "no permission");
            }
            // Reading a write-only file, writing a read-only one, syncing fine.
            let wo = OpenOptions::new().write(true).open(&path).await.unwrap();
            let (res, _) = wo.read_at(Vec::with_capacity(4), 0).await;
            assert_errno(res, libc::EBADF, "read_at on a write-only file");
            let (res, _) = wo.readv_at(vec![Vec::with_capacity(4)], 0).await;
            assert_errno(res, libc::EBADF, "readv_at on a write-only file");
            let ro = File::open(&path).await.unwrap();
            let (res, _) = ro.write_at(b"x".to_vec(), 0).await;
            assert_errno(res, libc::EBADF, "write_at on a read-only file");
            let (res, _) = ro.writev_at(vec![b"x".to_vec()], 0).await;
            assert_errno(res, libc::EBADF, "writev_at on a read-only file");
            let (res, _) = ro.write_all_at(b"x".to_vec(), 0).await;
            assert_errno(res, libc::EBADF, "write_all_at on a read-only file");
            let (res, _) = ro.write_all(b"x".to_vec()).await;
            assert_errno(res, libc::EBADF, "write_all on a read-only file");
            // Writes to a full device: ENOSPC, as StorageFull.
            let full = OpenOptions::new().write(true).open("/dev/full").await.unwrap();
            let (res, _) = full.write_all_at(b"x".to_vec(), 0).await;
            assert_error(res, ErrorKind::StorageFull, Some(libc::ENOSPC), "/dev/full");
            // The file is unchanged by all this.
            assert_eq!(fs::read(&path).await.unwrap(), b"data");
        });
    }
}
