//! Clients whose process dies under them, in bursts: a child process (this test
//! binary again, with [`BURST_ENV`] set) opens [`BURST`] connections to the server
//! from as many threads, each caught in one of the things a client does (sending a
//! request larger than the server takes at once, waiting for an echo it read part
//! of, having sent half a line, having half-closed, exchanging in a loop, nothing
//! yet), and at a random moment (0 to 400 ms) calls `_exit`. The kernel then
//! closes every socket of the process at once: a reset where the echo was not
//! read, an end of stream elsewhere, whatever the server's receive or send was
//! doing. The server must close each of these connections like any other (the
//! soak's descriptor count after each round).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::Rng;

/// In a burst child: the server's address and the burst's seed (`ADDR,SEED`).
const BURST_ENV: &str = "RINGLOOP_SOAK_BURST";
/// Connections (and client threads) of one burst.
pub(crate) const BURST: usize = 30;
/// When the process dies, after its threads started.
const MOMENTS_MS: [u64; 7] = [0, 5, 20, 50, 100, 200, 400];

/// In a burst child: runs the burst and ends the process (never returns); does
/// nothing elsewhere.
pub(crate) fn burst_if_child() {
    let Ok(spec) = std::env::var(BURST_ENV) else {
        return;
    };
    let (addr, seed) = spec.split_once(',').expect("ADDR,SEED");
    let addr: SocketAddr = addr.parse().unwrap();
    let seed: u64 = seed.parse().unwrap();
    for t in 0..BURST as u64 {
        let seed = seed * 100 + t;
        std::thread::spawn(move || client(addr, seed));
    }
    let mut rng = Rng::new(seed);
    let moment = MOMENTS_MS[rng.below(MOMENTS_MS.len() as u64) as usize];
    std::thread::sleep(Duration::from_millis(moment));
    // SAFETY: `_exit` ends the process without running anything of it (no
    // destructor, no atexit handler, no flush), as a killed client's ends; the
    // threads blocked in socket calls end with it.
    unsafe { libc::_exit(0) }
}

/// One client of a burst: does one thing, then waits for its process to end.
fn client(addr: SocketAddr, seed: u64) {
    let mut rng = Rng::new(seed);
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let mut scratch = vec![0u8; 4096];
    match rng.below(6) {
        // More than the socket buffers hold while the server echoes to a client
        // that does not read: blocks in the write.
        0 => {
            let _ = stream.write_all(&vec![1u8; 1 + rng.below(2 << 20) as usize]);
        }
        // Reads part of the echo.
        1 => {
            let _ = stream.write_all(&vec![2u8; 1 + rng.below(64 << 10) as usize]);
            let _ = stream.read(&mut scratch[..1 + rng.below(4096) as usize]);
        }
        // Half a line (the server waits for the rest).
        2 => {
            let _ = stream.write_all(b"half a li");
        }
        // Half-closes without reading the echo.
        3 => {
            let _ = stream.write_all(&vec![3u8; 1 + rng.below(256 << 10) as usize]);
            let _ = stream.shutdown(Shutdown::Write);
        }
        // Exchanges in a loop, reading less than it sends.
        4 => {
            let chunk = vec![4u8; 16 << 10];
            while stream.write_all(&chunk).is_ok() && stream.read(&mut scratch[..1024]).is_ok() {}
        }
        // Connected, nothing more.
        _ => {}
    }
    std::thread::sleep(Duration::from_secs(60));
}

/// Runs one burst (seed `seed`) against the server at `addr`; returns once its
/// process has ended.
pub(crate) fn burst(addr: SocketAddr, seed: u64) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "soak_the_echo_server",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(BURST_ENV, format!("{addr},{seed}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .unwrap();
    assert!(status.success(), "a burst's process failed: {status}");
}
