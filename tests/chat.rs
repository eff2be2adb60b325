//! `examples/chat.rs`, in process on every driver: nicknames, the welcome with
//! who is there, joins and departures announced, lines broadcast to every other
//! client with the sender's name, a client's half line cut by a reset never sent
//! on as a line, and a client that does not read: the others
//! are served meanwhile, and it is told exactly how many messages it missed.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;
mod support;

use std::time::Duration;

use std::os::fd::AsRawFd;

use nix::sys::socket::{setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType};
use ringloop::net::{open_connection, StreamReader, StreamWriter, TcpStream};
use support::step;

/// A connected chat client.
struct Client {
    reader: StreamReader,
    writer: StreamWriter,
}

impl Client {
    /// Connects and sends `name` after the prompt; returns the client and its
    /// welcome line.
    async fn join(addr: std::net::SocketAddr, name: &str) -> (Client, String) {
        let (reader, writer) = open_connection(addr).await.unwrap();
        Client::from_streams(reader, writer, name).await
    }

    async fn from_streams(
        reader: StreamReader,
        writer: StreamWriter,
        name: &str,
    ) -> (Client, String) {
        let mut client = Client { reader, writer };
        assert_eq!(client.line().await, "* welcome to the chat; your nickname?");
        client.say(name);
        let welcome = client.line().await;
        (client, welcome)
    }

    fn say(&self, text: &str) {
        self.writer.write(format!("{text}\n").as_bytes()).unwrap();
    }

    /// The next line, without its newline.
    async fn line(&mut self) -> String {
        let line = ringloop::wait_for(step(), self.reader.readline())
            .await
            .expect("no line from the chat server")
            .unwrap();
        assert!(line.ends_with(b"\n"), "{line:?}");
        String::from_utf8(line[..line.len() - 1].to_vec()).unwrap()
    }

    /// Asserts that no line comes within a short while.
    async fn quiet(&mut self) {
        let r = ringloop::wait_for(Duration::from_millis(50), self.reader.readline()).await;
        assert!(r.is_err(), "unexpected line: {r:?}");
    }
}

matrix_test! {
    fn three_clients_chat(mode) {
        mode.run(async {
            let server = chat::start_chat("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let (mut alice, welcome) = Client::join(addr, "alice").await;
            assert_eq!(welcome, "* welcome alice; nobody else is here");
            let (mut bob, welcome) = Client::join(addr, "bob").await;
            assert_eq!(welcome, "* welcome bob; here: alice");
            assert_eq!(alice.line().await, "* bob joined");
            let (mut carol, welcome) = Client::join(addr, "carol").await;
            carol.reader.set_limit(1 << 20);
            assert_eq!(welcome, "* welcome carol; here: alice, bob");
            assert_eq!(alice.line().await, "* carol joined");
            assert_eq!(bob.line().await, "* carol joined");

            // A line goes to every other client, with its sender's name.
            alice.say("hello everyone");
            assert_eq!(bob.line().await, "alice: hello everyone");
            assert_eq!(carol.line().await, "alice: hello everyone");
            alice.quiet().await;
            bob.writer.write(b"hi alice\r\n").unwrap();
            assert_eq!(alice.line().await, "bob: hi alice");
            assert_eq!(carol.line().await, "bob: hi alice");
            carol.say("");
            assert_eq!(alice.line().await, "carol: ");
            assert_eq!(bob.line().await, "carol: ");

            // A departure is announced.
            bob.writer.close();
            assert_eq!(alice.line().await, "* bob left");
            assert_eq!(carol.line().await, "* bob left");
            let rest = ringloop::wait_for(step(), bob.reader.read_to_end()).await.unwrap().unwrap();
            assert_eq!(rest, b"", "bob got more after leaving");

            // An empty nickname: the client's address.
            let (dave, _) = Client::join(addr, "").await;
            let dave_addr = dave.writer.local_addr().unwrap();
            assert_eq!(alice.line().await, format!("* {dave_addr} joined"));
            drop(dave);
            assert_eq!(alice.line().await, format!("* {dave_addr} left"));
            assert_eq!(carol.line().await, format!("* {dave_addr} joined"));
            assert_eq!(carol.line().await, format!("* {dave_addr} left"));

            // A line over the reader's limit is refused, to its sender only, and
            // the lines after it go on as before.
            for len in [65_537, 100_000, 300_000] {
                alice.writer.write(&vec![b'x'; len]).unwrap();
                alice.say("");
                alice.say("after");
                assert_eq!(alice.line().await, "* line too long, not sent");
                assert_eq!(carol.line().await, "alice: after", "after a {len}-byte line");
            }
            // At the limit exactly, a line is sent.
            alice.say(&"z".repeat(65_536));
            assert_eq!(carol.line().await, format!("alice: {}", "z".repeat(65_536)));
            alice.quiet().await;

            drop((alice, carol));
            server.close();
            ringloop::wait_for(step(), server.wait_closed()).await.expect("handlers left running");
        });
    }
}

/// A TCP connection with a small receive buffer, set before the connect so that
/// the window is small from the start (a buffer shrunk after the connect makes
/// the kernel drop what the larger window let in, and retransmit for minutes).
fn small_window_connection(addr: std::net::SocketAddr) -> TcpStream {
    let std::net::SocketAddr::V4(addr) = addr else {
        panic!("an IPv4 address")
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    setsockopt(&fd, sockopt::RcvBuf, &4096).unwrap();
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket, and the pointer and length describe `sin`,
    // a valid sockaddr_in that outlives the call.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            len,
        )
    };
    assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
    TcpStream::from_std(std::net::TcpStream::from(fd)).unwrap()
}

matrix_test! {
    fn a_client_that_does_not_read_does_not_stall_the_others(mode) {
        const LINES: usize = 8000;
        mode.run(async {
            let server = chat::start_chat("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            // A client with a small receive buffer, which then stops reading.
            let (reader, writer) = small_window_connection(addr).into_streams();
            let (mut slow, _) = Client::from_streams(reader, writer, "slow").await;
            let (mut alice, _) = Client::join(addr, "alice").await;
            let (mut carol, _) = Client::join(addr, "carol").await;
            assert_eq!(alice.line().await, "* carol joined");
            assert_eq!(slow.line().await, "* alice joined");
            assert_eq!(slow.line().await, "* carol joined");

            // alice sends 8 MB of lines (more than the kernel's buffers hold); carol reads every one of them meanwhile.
            let body = "y".repeat(1000);
            let sender = ringloop::spawn(async move {
                for i in 0..LINES {
                    alice.say(&format!("{i} {body}"));
                    alice.writer.drain().await.unwrap();
                }
                alice
            });
            for i in 0..LINES {
                let line = carol.line().await;
                assert!(line.starts_with(&format!("alice: {i} ")), "line {i}: {line:.40}");
            }
            let alice = sender.await.unwrap();

            // Now the slow client reads what was queued for it (and what the
            // kernel's buffers held), until nothing more comes.
            let (mut got, mut dropped, mut notices) = (0, 0, 0);
            let mut count = |line: &str| {
                if let Some(n) = line
                    .strip_prefix("* ")
                    .and_then(|l| l.strip_suffix(" messages dropped: you read too slowly"))
                {
                    dropped += n.parse::<usize>().unwrap();
                    notices += 1;
                } else {
                    assert!(line.starts_with("alice: "), "{line:.40}");
                    got += 1;
                }
            };
            while let Ok(line) = ringloop::wait_for(Duration::from_millis(500), slow.reader.readline()).await {
                let line = line.unwrap();
                count(std::str::from_utf8(&line).unwrap().trim_end());
            }
            // Its queue is empty now: the next message comes with the count of
            // those dropped since the last one it got.
            alice.say("end");
            assert_eq!(carol.line().await, "alice: end");
            loop {
                let line = slow.line().await;
                if line == "alice: end" {
                    break;
                }
                count(&line);
            }
            eprintln!("the slow client got {got} lines; {dropped} dropped, in {notices} notices");
            assert!(dropped > 0, "nothing was dropped: the test did not make a slow client");
            assert_eq!(got + dropped, LINES, "every line either sent or counted as dropped");
            drop((alice, carol, slow));
            server.close();
            ringloop::wait_for(step(), server.wait_closed()).await.expect("handlers left running");
        });
    }
}

/// A chat client on a raw socket that resets its connection when dropped (no
/// end of stream first, as a stream writer's drop would send).
struct Resetter {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Resetter {
    async fn join(addr: std::net::SocketAddr, name: &str) -> Resetter {
        let std_stream = std::net::TcpStream::connect(addr).unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        setsockopt(&std_stream, sockopt::Linger, &linger).unwrap();
        let mut client = Resetter {
            stream: TcpStream::from_std(std_stream).unwrap(),
            pending: Vec::new(),
        };
        assert_eq!(client.line().await, "* welcome to the chat; your nickname?");
        client.send(&format!("{name}\n")).await;
        assert!(client.line().await.starts_with("* welcome"));
        client
    }

    async fn send(&self, text: &str) {
        self.stream
            .write_all(text.as_bytes().to_vec())
            .await
            .0
            .unwrap();
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                return String::from_utf8(line[..at].to_vec()).unwrap();
            }
            let (n, buf) = ringloop::wait_for(step(), self.stream.read(Vec::with_capacity(4096)))
                .await
                .expect("no line from the chat server");
            assert!(n.unwrap() > 0, "the chat server closed the connection");
            self.pending.extend_from_slice(&buf);
        }
    }
}

matrix_test! {
    fn a_reset_clients_half_line_is_not_broadcast(mode) {
        const RESETTERS: usize = 25;
        const MAX_LINES: usize = 50_000;
        mode.run(async {
            let server = chat::start_chat("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let (mut alice, _) = Client::join(addr, "alice").await;
            let mut resetters = Vec::new();
            for i in 0..RESETTERS {
                let client = Resetter::join(addr, &format!("r{i}")).await;
                assert_eq!(alice.line().await, format!("* r{i} joined"));
                // Half a line: no newline before the reset.
                client.send(&format!("half from r{i}")).await;
                resetters.push(client);
            }
            // bob talks all the time: the server's writers send to every client.
            let (bob, _) = Client::join(addr, "bob").await;
            assert_eq!(alice.line().await, "* bob joined");
            let talking = std::rc::Rc::new(std::cell::Cell::new(true));
            let talker = {
                let talking = talking.clone();
                ringloop::spawn(async move {
                    let mut n = 0;
                    while talking.get() && n < MAX_LINES {
                        bob.say(&format!("tick {n}"));
                        bob.writer.drain().await.unwrap();
                        n += 1;
                        ringloop::yield_now().await;
                    }
                    bob.say("done");
                    bob
                })
            };
            for client in &mut resetters {
                while !client.line().await.starts_with("bob: tick") {}
            }
            // Reset, while bob's lines are being sent to them.
            drop(resetters);
            ringloop::sleep(Duration::from_millis(200)).await;
            talking.set(false);
            let (mut half_lines, mut left) = (Vec::new(), 0);
            loop {
                let line = alice.line().await;
                if line == "bob: done" {
                    break;
                }
                if line.contains("half from") {
                    half_lines.push(line);
                } else if line.ends_with(" left") {
                    left += 1;
                }
            }
            let _bob = talker.await.unwrap();
            eprintln!("{left} of {RESETTERS} departures seen");
            assert!(half_lines.is_empty(), "reset clients' half lines were broadcast: {half_lines:?}");
            drop(alice);
            server.close();
        });
    }
}
