//! A line-based chat server: streams and queues together.
//!
//! Each client's first line is its nickname (an empty one: its address); every
//! line after that goes to every other client as `nickname: line`. Arrivals and
//! departures are announced (`* bob joined`, `* bob left`), and a newcomer is told
//! who is there.
//!
//! ```text
//!   client ──readline──▶ handler task ──put_nowait──▶ Queue of each other client
//!                                                        │
//!                                   writer task ◀──get───┘ ──write, drain──▶ client
//! ```
//!
//! One task per connection reads (`start_server`'s handler), and a second task per
//! client writes what its bounded `Queue` (256 messages) holds. A broadcast never
//! waits: it `put_nowait`s into each queue, so a client that reads slowly cannot
//! stall the others. When a client's queue is full, the messages for it are
//! dropped, and the next message that fits tells it how many it missed
//! (`* 17 messages dropped: you read too slowly`). Memory per client stays
//! bounded: the queue, and the writer's high-water mark. (asyncio's version would
//! be the same program: `start_server`, `asyncio.Queue(256)`, `put_nowait`.) A
//! line longer than the reader's limit (64 KiB) is not sent; its sender is told.
//!
//! Run: `cargo run --release --example chat -- [ADDR]` (default 127.0.0.1:8889;
//! port 0 picks a free one, printed in `Serving on ADDR`), then in other terminals
//! `nc 127.0.0.1 8889`. It serves until `SIGINT` (Ctrl-C) or `SIGTERM`: then it
//! closes its listener and drops the runtime before exiting, so that a server
//! restarted at once can bind the same address (see `support/shutdown.rs`).

#[path = "support/shutdown.rs"]
mod shutdown;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use ringloop::net::{start_server, ReadUntilError, Server, StreamReader, StreamWriter};
use ringloop::queue::Queue;
use shutdown::StopSignals;

/// Messages waiting for one client before further ones are dropped.
pub const QUEUE_SIZE: usize = 256;

/// One message for one client: its text, after a notice of the messages that
/// were dropped for that client just before it.
struct Message {
    text: Rc<str>,
    dropped_before: usize,
}

/// A client in the room.
struct Member {
    name: String,
    queue: Queue<Message>,
    /// Messages dropped since the last one queued.
    dropped: Cell<usize>,
}

/// Everyone connected, by arrival.
#[derive(Default)]
struct Room {
    members: RefCell<BTreeMap<u64, Rc<Member>>>,
    next_id: Cell<u64>,
}

impl Room {
    /// Queues `text` for `member` without waiting; drops it if the queue is full.
    fn send_to(member: &Member, text: &Rc<str>) {
        let message = Message {
            text: text.clone(),
            dropped_before: member.dropped.get(),
        };
        match member.queue.put_nowait(message) {
            Ok(()) => member.dropped.set(0),
            Err(_) => member.dropped.set(member.dropped.get() + 1),
        }
    }

    /// Sends `text` to everyone but `from`.
    fn broadcast(&self, from: u64, text: String) {
        let text: Rc<str> = text.into();
        for (_, member) in self.members.borrow().iter().filter(|(id, _)| **id != from) {
            Room::send_to(member, &text);
        }
    }

    fn join(&self, member: Member) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let others: Vec<String> = self
            .members
            .borrow()
            .values()
            .map(|m| m.name.clone())
            .collect();
        let welcome = if others.is_empty() {
            format!("* welcome {}; nobody else is here\n", member.name)
        } else {
            format!("* welcome {}; here: {}\n", member.name, others.join(", "))
        };
        Room::send_to(&member, &welcome.into());
        let joined = format!("* {} joined\n", member.name);
        self.members.borrow_mut().insert(id, Rc::new(member));
        self.broadcast(id, joined);
        id
    }

    fn leave(&self, id: u64) {
        let member = self.members.borrow_mut().remove(&id);
        if let Some(member) = member {
            self.broadcast(id, format!("* {} left\n", member.name));
        }
    }
}

/// The text of a line, without its line ending.
fn text_of(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// Writes what the client's queue holds until the queue is shut down.
async fn write_messages(queue: Queue<Message>, writer: StreamWriter) {
    while let Ok(message) = queue.get().await {
        if message.dropped_before > 0 {
            let notice = format!(
                "* {} messages dropped: you read too slowly\n",
                message.dropped_before
            );
            if writer.write(notice.as_bytes()).is_err() {
                break;
            }
        }
        if writer.write(message.text.as_bytes()).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
    writer.close();
    let _ = writer.wait_closed().await;
}

/// One client's connection, from its nickname to its departure.
async fn handle_client(room: Rc<Room>, mut reader: StreamReader, writer: StreamWriter) {
    if writer
        .write(b"* welcome to the chat; your nickname?\n")
        .is_err()
    {
        return;
    }
    let name = match reader.readline().await {
        Ok(line) if !line.is_empty() => text_of(&line),
        _ => return, // gone before saying who it is
    };
    let name = match (name.trim(), writer.peer_addr()) {
        ("", Ok(addr)) => addr.to_string(),
        ("", Err(_)) => "anonymous".to_string(),
        (name, _) => name.to_string(),
    };
    let queue = Queue::new(QUEUE_SIZE);
    let member = Member {
        name: name.clone(),
        queue: queue.clone(),
        dropped: Cell::new(0),
    };
    let id = room.join(member);
    // The writer half in a task of its own, fed by the queue.
    let writer_task = ringloop::spawn(write_messages(queue.clone(), writer));
    // After a line longer than the reader's limit: the rest of it, to skip.
    let mut skipping = false;
    loop {
        let line = match reader.readuntil(b"\n").await {
            Ok(line) => line,
            // The last line, without a newline; then empty at the end.
            Err(ReadUntilError::Incomplete(e)) if e.error.is_none() => e.partial,
            Err(ReadUntilError::LimitOverrun { consumed }) => {
                // readuntil leaves the data buffered: drop it. Unlike readline's
                // dropping, this leaves the newline (if it came) to end the line,
                // so the next line is always the rest of this one.
                if reader.readexactly(consumed).await.is_err() {
                    break;
                }
                if !skipping {
                    let text: Rc<str> = "* line too long, not sent\n".into();
                    if let Some(me) = room.members.borrow().get(&id) {
                        Room::send_to(me, &text);
                    }
                }
                skipping = true;
                continue;
            }
            Err(_) => break, // reset by the peer
        };
        if line.is_empty() {
            break; // the end of the stream
        }
        if std::mem::take(&mut skipping) {
            continue; // the end of an overlong line
        }
        room.broadcast(id, format!("{name}: {}\n", text_of(&line)));
        // Let the writer tasks send before the next line: a burst of lines from
        // one client must not fill the others' queues in a single turn.
        ringloop::yield_now().await;
    }
    room.leave(id);
    // What is queued is still sent, then the writer task closes the connection.
    queue.shutdown(false);
    let _ = writer_task.await;
}

/// Starts the chat server on `addr`; it serves in the background until closed.
pub async fn start_chat(addr: &str) -> io::Result<Server> {
    let room = Rc::new(Room::default());
    start_server(
        move |reader, writer| handle_client(room.clone(), reader, writer),
        addr,
    )
    .await
}

/// Serves on `addr` until `SIGINT` or `SIGTERM`; returns once the listener is
/// closed and the runtime is gone (every connection closed).
pub fn serve(addr: String) -> io::Result<()> {
    ringloop::run(async move {
        // Before the server announces itself (see `echo_server.rs`).
        let stop = StopSignals::listen()?;
        let server = start_chat(&addr).await?;
        let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
        println!("Serving on {}", addrs.join(", "));
        stop.wait().await;
        server.close();
        Ok(())
    })
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8889".to_string());
    if let Err(e) = serve(addr) {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}
