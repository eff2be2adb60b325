//! How the compat read path moves bytes (feature `tokio-io`): a stream of 1 GiB
//! over loopback read with `tokio::io::AsyncReadExt::read` into a 64 KiB buffer.
//!
//! * `ringloop readiness (io_uring)`: what `ringloop::compat` does: a
//!   non-blocking `recv` straight into the caller's buffer, a `POLL_ADD` kept
//!   across polls on `EAGAIN`.
//! * `ringloop readiness (epoll)`: the same code on the epoll driver.
//! * `ringloop provided buffers + copy (io_uring)`: the alternative: the asyncio
//!   stream reader's multishot receive into provided buffers, then a copy of each
//!   chunk out into the 64 KiB buffer (`StreamReader::read`, which also allocates
//!   the `Vec` it returns).
//! * `tokio`: tokio's own `TcpStream` on a current-thread runtime (epoll).
//!
//! The sender is the same for all: a plain thread writing 1 MiB blocks with
//! `std::net::TcpStream`. Each round runs every contender once, in turn; the
//! table gives the median throughput over the rounds and the median of the
//! per-round ratios to tokio.
//!
//! Run: `cargo bench --features tokio-io --bench compat_read` (options after `--`:
//! `--mib N`, `--rounds N`).

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringloop::{Driver, KernelCompat};

const BUF: usize = 64 << 10;

/// Starts the sender: connects to `addr` and writes `total` bytes.
fn sender(addr: SocketAddr, total: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let block = vec![0x5a_u8; 1 << 20];
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len());
            stream.write_all(&block[..n]).unwrap();
            left -= n;
        }
    })
}

fn ringloop_run(driver: Driver, total: usize, provided: bool) -> Duration {
    let runtime = ringloop::Runtime::builder()
        .driver(driver)
        .kernel_compat(KernelCompat::Native)
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let send = sender(listener.local_addr().unwrap(), total);
        let (stream, _) = listener.accept().await.unwrap();
        let start = Instant::now();
        let mut buf = vec![0u8; BUF];
        let mut got = 0;
        if provided {
            let (mut reader, _writer) = stream.into_streams();
            loop {
                let chunk = reader.read(BUF).await.unwrap();
                if chunk.is_empty() {
                    break;
                }
                buf[..chunk.len()].copy_from_slice(&chunk);
                got += chunk.len();
            }
        } else {
            use tokio::io::AsyncReadExt;
            let mut stream = stream;
            loop {
                let n = AsyncReadExt::read(&mut stream, &mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got += n;
            }
        }
        let took = start.elapsed();
        assert_eq!(got, total);
        std::hint::black_box(&buf);
        send.join().unwrap();
        took
    })
}

fn tokio_run(total: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let send = sender(listener.local_addr().unwrap(), total);
        let (mut stream, _) = listener.accept().await.unwrap();
        let start = Instant::now();
        let mut buf = vec![0u8; BUF];
        let mut got = 0;
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got += n;
        }
        let took = start.elapsed();
        assert_eq!(got, total);
        send.join().unwrap();
        took
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut mib = 1024usize;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mib" => mib = args.next().and_then(|v| v.parse().ok()).expect("--mib N"),
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let total = mib << 20;
    let uring = ringloop::Runtime::builder()
        .driver(Driver::IoUring)
        .build()
        .is_ok();
    type Run = Box<dyn Fn(usize) -> Duration>;
    let mut contenders: Vec<(&str, Run)> = vec![("tokio", Box::new(tokio_run))];
    if uring {
        contenders.push((
            "ringloop readiness (io_uring)",
            Box::new(|t| ringloop_run(Driver::IoUring, t, false)),
        ));
        contenders.push((
            "ringloop provided buffers + copy (io_uring)",
            Box::new(|t| ringloop_run(Driver::IoUring, t, true)),
        ));
    } else {
        eprintln!("io_uring cannot be set up here: its rows are left out");
    }
    contenders.push((
        "ringloop readiness (epoll)",
        Box::new(|t| ringloop_run(Driver::Epoll, t, false)),
    ));
    let mut speeds: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in contenders.iter().enumerate() {
            let took = run(total);
            speeds[i].push(total as f64 / took.as_secs_f64() / (1u64 << 30) as f64);
        }
    }
    println!("{mib} MiB over loopback, read into 64 KiB, {rounds} rounds (medians)\n");
    println!("| reader | GiB/s | vs tokio |");
    println!("|---|---:|---:|");
    for (i, (name, _)) in contenders.iter().enumerate() {
        let ratios: Vec<f64> = speeds[i]
            .iter()
            .zip(&speeds[0])
            .map(|(s, t)| s / t)
            .collect();
        println!(
            "| {name} | {:.2} | {:.2} |",
            median(speeds[i].clone()),
            median(ratios)
        );
    }
}
