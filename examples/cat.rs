//! `cat` through the ring: concatenates files to standard output, or into a file.
//!
//! ```text
//! cat [-o DST] [-v] [FILE...]
//! ```
//!
//! Each FILE (standard input when there is none, or for `-`) is copied in order to
//! standard output, or with `-o DST` into DST (created, or truncated). A regular
//! file is read in 256 KiB chunks with up to 4 reads in flight (`File::read_at` at
//! each chunk's offset, on tasks of their own) while the chunks before them are
//! written out in order; a pipe or a terminal is read in order (`File::read`). The
//! output goes through the ring as well (`File::write_all`, at the file position).
//! Memory stays at about 1 MiB whatever the size of the files.
//!
//! As cat does, a file that cannot be read is reported on standard error
//! (`cat: FILE: error`) and skipped, and the exit status is then 1; when the reader
//! of the output goes away (`cat big | head`), it stops quietly. `-v` reports on
//! standard error what was copied, how fast and on which driver
//! (`RINGLOOP_DRIVER=epoll` chooses the epoll one).
//!
//! ```sh
//! cargo run --release --example cat -- Cargo.toml README.md | less
//! cargo run --release --example cat -- -o /tmp/copy -v big.iso
//! ```

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Instant;

use ringloop::buf::IoBuf;
use ringloop::fs::File;

const CHUNK: usize = 256 * 1024;
const IN_FLIGHT: usize = 4;

struct Args {
    output: Option<String>,
    verbose: bool,
    files: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        output: None,
        verbose: false,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-o" => args.output = Some(it.next().ok_or("-o needs a file name")?),
            "-v" => args.verbose = true,
            "-h" | "--help" => return Err(String::new()),
            "--" => {
                args.files.extend(it.by_ref());
            }
            _ if arg.starts_with('-') && arg != "-" => return Err(format!("unknown option {arg}")),
            _ => args.files.push(arg),
        }
    }
    if args.files.is_empty() {
        args.files.push("-".into());
    }
    Ok(args)
}

/// A duplicate of one of this process's standard descriptors, as a `File`.
fn std_file(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<File> {
    Ok(File::from(fd.try_clone_to_owned()?))
}

/// Copies the regular file `src` (of `len` bytes) to `out`: up to `IN_FLIGHT`
/// chunk reads in flight, each on a task of its own, written out in order.
async fn copy_file(src: File, len: u64, out: &File) -> io::Result<u64> {
    let src = Rc::new(src);
    let mut reads = VecDeque::new();
    let mut next = 0u64;
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut copied = 0;
    loop {
        while reads.len() < IN_FLIGHT && next < len {
            let (src, offset) = (src.clone(), next);
            let want = (len - offset).min(CHUNK as u64) as usize;
            let mut buf = spare.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK));
            buf.clear();
            reads.push_back(ringloop::spawn(async move {
                let (res, slice) = src.read_exact_at(buf.slice(..want), offset).await;
                (res, slice.into_inner())
            }));
            next += want as u64;
        }
        let Some(read) = reads.pop_front() else {
            return Ok(copied);
        };
        let (res, buf) = read.await.map_err(io::Error::other)?;
        // A file that shrank while being read ends early: what was read is written.
        let end = res.is_err();
        let n = buf.len();
        let (written, buf) = out.write_all(buf).await;
        written?;
        copied += n as u64;
        spare.push(buf);
        if end {
            for read in reads {
                read.cancel();
            }
            return Ok(copied);
        }
    }
}

/// Copies a stream (a pipe, a terminal, a file without a size) to `out`, in order.
async fn copy_stream(src: &File, out: &File) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(CHUNK);
    let mut copied = 0;
    loop {
        buf.clear();
        let (n, b) = src.read(buf).await;
        match n {
            Ok(0) => return Ok(copied),
            Ok(n) => copied += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let (written, b) = out.write_all(b).await;
        written?;
        buf = b;
    }
}

async fn cat_one(name: &str, out: &File) -> io::Result<u64> {
    let src = if name == "-" {
        std_file(io::stdin().as_fd())?
    } else {
        File::open(name).await?
    };
    let meta = src.metadata().await?;
    if meta.is_file() && meta.len() > 0 {
        copy_file(src, meta.len(), out).await
    } else {
        copy_stream(&src, out).await
    }
}

async fn cat(args: &Args) -> io::Result<bool> {
    let out = match &args.output {
        Some(path) => File::create(path).await?,
        None => std_file(io::stdout().as_fd())?,
    };
    let start = Instant::now();
    let mut ok = true;
    let mut total = 0;
    for name in &args.files {
        match cat_one(name, &out).await {
            Ok(n) => total += n,
            // The reader of our output is gone (`cat big | head`): stop quietly.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(e),
            Err(e) => {
                eprintln!("cat: {name}: {e}");
                ok = false;
            }
        }
    }
    out.close().await?;
    if args.verbose {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "cat: copied {total} bytes from {} file(s) in {:.3} s ({:.0} MiB/s) on {}",
            args.files.len(),
            secs,
            total as f64 / (1 << 20) as f64 / secs.max(1e-9),
            ringloop::driver_kind()
        );
    }
    Ok(ok)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("cat: {e}");
            }
            eprintln!("usage: cat [-o DST] [-v] [FILE...]");
            std::process::exit(2);
        }
    };
    match ringloop::run(cat(&args)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(1),
        Err(e) => {
            let what = args.output.as_deref().unwrap_or("standard output");
            eprintln!("cat: {what}: {e}");
            std::process::exit(1);
        }
    }
}
