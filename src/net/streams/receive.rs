//! How a [`StreamReader`](super::StreamReader) receives from its transport, and
//! how much: the reader's flow control.
//!
//! asyncio's transport reads whenever data arrives and pauses reading once its
//! reader holds more than twice the limit. A ringloop reader receives only for a
//! read that needs more than the reader holds, and only so much:
//!
//! * each read says how many bytes it needs buffered (`want`): `read(n)` one (any
//!   data will do), `readexactly(n)` n, `readuntil`/`readline` the limit plus the
//!   longest separator (holding that many without a separator is a
//!   `LimitOverrun`), `read_to_end` everything;
//! * a receive starts only while the reader holds fewer than `want` bytes;
//! * a single-shot receive (epoll, pipes, io_uring without the multishot receive's
//!   byte limit) asks for at most [`READ_AHEAD`] bytes: `chunk`, from 4 KiB,
//!   doubling while receives fill it;
//! * a multishot receive (`driver/op/recv_multi.rs`) is armed with a budget of
//!   `want - held + 48 KiB` bytes, at most [`MAX_BUDGET`]. The kernel ends it by
//!   itself once it has received the budget; the completion that reaches it may
//!   overshoot by less than one provided buffer (16 KiB). The copies out of the
//!   provided buffers happen as the completions are reaped (into the reader's own
//!   buffer while a read waits), so the shared pool never waits on a slow reader.
//!
//! **The bound.** What a reader holds (received and not yet read: its buffer and,
//! on the multishot path, what arrived in its inbox) stays below `want + 64 KiB`
//! ([`READ_AHEAD`]), where `want` is that of the read that started the last
//! receive. Whatever the timing: nothing is received once the bound is reached,
//! because no receive is running then. A read dropped before its bytes came
//! leaves less than 256 KiB to arrive. Nothing is lost by stopping: what is not
//! received stays in the kernel's socket buffer, and the peer's sends wait (TCP's
//! window, a full Unix socket). `read_to_end` asks for everything, and gets it:
//! its bound is the stream.

use std::io;
use std::task::{Context, Poll};

use super::transport::{Receiver, Transport};

/// How far past what a read needs the reader may receive (see the module docs).
pub(crate) const READ_AHEAD: usize = 64 * 1024;
/// The most a multishot receive's last completion overshoots its budget: one
/// provided buffer (`driver/uring/buf_ring.rs`).
const OVERSHOOT: usize = 16 * 1024;
/// The largest budget of one multishot arm (with its overshoot, 256 KiB): a read
/// that wants more re-arms.
const MAX_BUDGET: usize = 256 * 1024 - OVERSHOOT;
/// The first single-shot receive size; it doubles up to [`READ_AHEAD`] while
/// receives fill it (idle connections hold little).
const MIN_CHUNK: usize = 4 * 1024;

/// Below this size a reader's buffer grows to what it holds exactly, above it by
/// doubling (for large reads): doubling would make a buffer up to twice what it
/// holds, and a reallocation briefly holds both blocks.
const GROW_EXACTLY_BELOW: usize = 1024 * 1024;

/// Makes room in `buf` for `n` more bytes (see [`GROW_EXACTLY_BELOW`]).
fn reserve(buf: &mut Vec<u8>, n: usize) {
    if buf.len() + n <= GROW_EXACTLY_BELOW {
        buf.reserve_exact(n);
    } else {
        buf.reserve(n);
    }
}

/// A reader's receiving side: its transport and the receive in flight.
pub(crate) struct Inflow {
    transport: Transport,
    /// How it receives, and the receive in flight.
    receiver: Receiver,
    /// An empty buffer for the next single-shot receive.
    spare: Vec<u8>,
    /// The size of the next single-shot receive.
    chunk: usize,
}

impl Inflow {
    pub(crate) fn new(transport: Transport) -> Inflow {
        Inflow {
            transport,
            receiver: Receiver::Unchosen,
            spare: Vec::new(),
            chunk: MIN_CHUNK,
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Receives once more into `buf` (all of whose bytes the reader holds) for a
    /// read that needs `want` bytes buffered: `Ok(n)` bytes were appended, `Ok(0)`
    /// the end of the stream arrived. The caller holds fewer than `want` bytes.
    pub(crate) fn poll_fill(
        &mut self,
        buf: &mut Vec<u8>,
        want: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if matches!(self.receiver, Receiver::Unchosen) {
            self.receiver = self.transport.receiver();
        }
        match &mut self.receiver {
            Receiver::Multishot(stream) => {
                let budget = want
                    .saturating_sub(buf.len())
                    .saturating_add(READ_AHEAD - OVERSHOOT)
                    .min(MAX_BUDGET);
                stream.poll_fill(buf, budget, cx)
            }
            Receiver::Single(receive) => {
                let receive = receive.get_or_insert_with(|| {
                    let mut spare = std::mem::take(&mut self.spare);
                    if spare.capacity() > READ_AHEAD {
                        // A buffer a large read grew, swapped out: receiving into
                        // its whole capacity would receive past the bound (and make
                        // later receives as large). Receives stay at `chunk`.
                        spare = Vec::new();
                    }
                    spare.clear();
                    spare.reserve_exact(self.chunk);
                    self.transport.receive(spare)
                });
                let (result, mut received) = std::task::ready!(receive.poll(cx));
                self.receiver = Receiver::Single(None);
                let n = match result {
                    Ok(n) => n,
                    Err(e) => {
                        self.spare = received;
                        return Poll::Ready(Err(e));
                    }
                };
                if n == received.capacity() && self.chunk < READ_AHEAD {
                    self.chunk *= 2;
                }
                if buf.is_empty() {
                    // The common case: hand the received buffer over, keep the old one.
                    std::mem::swap(buf, &mut received);
                } else {
                    reserve(buf, received.len());
                    buf.extend_from_slice(&received);
                }
                received.clear();
                self.spare = received;
                Poll::Ready(Ok(n))
            }
            Receiver::Unchosen => unreachable!("chosen above"),
        }
    }

    /// Bytes received and not yet in the reader's buffer (its buffer itself while
    /// a multishot receive holds it, see `recv_multi.rs`).
    pub(crate) fn held(&self) -> usize {
        match &self.receiver {
            Receiver::Multishot(stream) => stream.held(),
            _ => 0,
        }
    }

    /// Moves what a multishot receive delivered (and the reader's buffer, if it
    /// lent it) into `buf`, before the reader looks at its buffer.
    pub(crate) fn reclaim(&mut self, buf: &mut Vec<u8>) {
        if let Receiver::Multishot(stream) = &mut self.receiver {
            stream.take(buf);
        }
    }

    /// Whether the end of the stream has arrived, with no received byte left
    /// before it, found without receiving: in a multishot receive's inbox, or
    /// waiting in the kernel while no receive is in flight (`poll` and
    /// `FIONREAD`, see `Transport::end_waiting`). With a single-shot receive in flight the
    /// answer is `false` until it completes: its bytes may already be on the way.
    pub(crate) fn end_arrived(&self) -> bool {
        match &self.receiver {
            Receiver::Multishot(stream) => {
                stream.end_arrived() || (stream.is_idle() && self.transport.end_waiting())
            }
            Receiver::Single(Some(_)) => false,
            Receiver::Single(None) | Receiver::Unchosen => self.transport.end_waiting(),
        }
    }
}
