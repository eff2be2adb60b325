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
//!   byte limit, and a bulk transfer's, below) asks for at most [`READ_AHEAD`]
//!   bytes: `chunk`, from 4 KiB, doubling while receives fill it;
//! * a multishot receive (`driver/op/recv_multi.rs`) is armed with a budget of
//!   `want - held + 48 KiB` bytes, at most [`MAX_BUDGET`]. The kernel ends it by
//!   itself once it has received the budget; the completion that reaches it may
//!   overshoot by less than one provided buffer (16 KiB). The copies out of the
//!   provided buffers happen as the completions are reaped (into the reader's own
//!   buffer while a read waits), so the shared pool never waits on a slow reader.
//!
//! **Bulk transfers.** The multishot receive is the cheaper way for a connection
//! that waits for data most of the time: its arm stays in the kernel, and no
//! receive is submitted per read. For a stream that data keeps pouring into, it
//! costs a copy (from the provided buffers into the reader's buffer) that a
//! single-shot receive into the reader's own buffer does not, and the pool's
//! buffers go round many more times. So a multishot stream changes its way of
//! receiving with the traffic ([`Mode`]):
//!
//! * when the reader, coming back for more, finds that [`BULK_AFTER`] arms in a
//!   row have received their whole budget and ended before it came back (an arm
//!   still live when it comes back, and one that the pool running dry ended,
//!   break the run), it receives single-shot, `READ_AHEAD` bytes at a time (no
//!   arm is in flight then, so the order holds);
//! * when [`QUIET_AFTER`] single-shot receives in a row come back short (the
//!   socket had less than they asked for: the reader has caught up), it arms the
//!   multishot receive again at the next read.
//!
//! The bound below holds in both ways, as each keeps to its own.
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

use super::transport::{Receive, Receiver, Transport};

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

/// How many multishot arms in a row must have received their whole budget
/// before the reader came back for more, for the stream to receive single-shot
/// (see the module docs, "Bulk transfers").
const BULK_AFTER: u8 = 2;
/// How many single-shot receives in a row must come back short before a bulk
/// stream goes back to the multishot receive.
const QUIET_AFTER: u8 = 4;

/// Which way a multishot stream receives now (see the module docs, "Bulk
/// transfers"), and the run of receives that decides when to change.
#[derive(Default, Debug, PartialEq)]
struct Mode {
    /// Single-shot receives into the reader's own buffers.
    bulk: bool,
    /// While not bulk: multishot arms in a row that the reader, coming back for
    /// more, found ended with their budget received. While bulk: single-shot
    /// receives in a row that came back short.
    streak: u8,
}

impl Mode {
    /// The reader wants more and has taken everything the multishot receive
    /// delivered; `spent`: no arm is in flight, as the last one received its
    /// whole budget (`RecvStream::spent_budget`), and the next step would be a
    /// new arm. Any other state (an arm still waiting for data, the first arm,
    /// one that the pool running dry ended) breaks the run. Returns whether the
    /// stream receives single-shot instead.
    fn before_arm(&mut self, spent: bool) -> bool {
        self.streak = if spent { self.streak + 1 } else { 0 };
        if self.streak >= BULK_AFTER {
            *self = Mode {
                bulk: true,
                streak: 0,
            };
        }
        self.bulk
    }

    /// A single-shot receive of a bulk stream delivered; `full`: as many bytes
    /// as it asked for. Returns whether the stream goes back to the multishot
    /// receive.
    fn after_single(&mut self, full: bool) -> bool {
        self.streak = if full { 0 } else { self.streak + 1 };
        if self.streak >= QUIET_AFTER {
            *self = Mode::default();
            return true;
        }
        false
    }
}

/// A reader's receiving side: its transport and the receive in flight.
pub(crate) struct Inflow {
    transport: Transport,
    /// How it receives.
    receiver: Receiver,
    /// The single-shot receive in flight, if any: on a `Single` receiver, and on
    /// a multishot stream during a bulk transfer.
    single: Option<Receive>,
    /// Which way a multishot stream receives now.
    mode: Mode,
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
            single: None,
            mode: Mode::default(),
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
        if let Receiver::Multishot(stream) = &mut self.receiver {
            if !self.mode.bulk {
                // Asked with the inbox empty: the reader reclaims what arrived
                // before it asks for more.
                if !self.mode.before_arm(stream.spent_budget()) {
                    let budget = want
                        .saturating_sub(buf.len())
                        .saturating_add(READ_AHEAD - OVERSHOOT)
                        .min(MAX_BUDGET);
                    return stream.poll_fill(buf, budget, cx);
                }
                // A bulk transfer, and no arm in flight (`spent_budget`): the
                // socket's queue is all there is, and single-shot receives take
                // it in order, as large as the bound allows from the first.
                self.chunk = READ_AHEAD;
            }
            debug_assert!(stream.is_idle(), "a bulk stream with a multishot arm");
        }
        let (n, full) = std::task::ready!(self.poll_single(buf, cx))?;
        if matches!(self.receiver, Receiver::Multishot(_)) && self.mode.after_single(full) {
            // Back to the shared pool: the spare buffer would only be kept.
            self.spare = Vec::new();
        }
        Poll::Ready(Ok(n))
    }

    /// One single-shot receive of about `chunk` bytes (the one in flight, or a
    /// new one), appended to `buf` (or swapped in, if `buf` is empty): how many
    /// bytes, and whether that is as many as it asked for.
    fn poll_single(
        &mut self,
        buf: &mut Vec<u8>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(usize, bool)>> {
        let receive = self.single.get_or_insert_with(|| {
            let mut spare = std::mem::take(&mut self.spare);
            if spare.capacity() > READ_AHEAD {
                // A buffer a large read grew, swapped out: a receive fills its
                // buffer's whole capacity, which would receive past the bound
                // (and make later receives as large). Receives stay at `chunk`.
                spare = Vec::new();
            }
            spare.clear();
            spare.reserve_exact(self.chunk);
            self.transport.receive(spare)
        });
        let (result, mut received) = std::task::ready!(receive.poll(cx));
        self.single = None;
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.spare = received;
                return Poll::Ready(Err(e));
            }
        };
        let full = n == received.capacity();
        if full && self.chunk < READ_AHEAD {
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
        // A buffer a large read grew is not kept (see above).
        self.spare = if received.capacity() > READ_AHEAD {
            Vec::new()
        } else {
            received
        };
        Poll::Ready(Ok((n, full)))
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
        if self.single.is_some() {
            return false;
        }
        match &self.receiver {
            Receiver::Multishot(stream) => {
                stream.end_arrived() || (stream.is_idle() && self.transport.end_waiting())
            }
            Receiver::Single | Receiver::Unchosen => self.transport.end_waiting(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, BULK_AFTER, QUIET_AFTER};

    #[test]
    fn bulk_after_a_run_of_spent_arms_only() {
        let mut mode = Mode::default();
        // A live arm (or one the pool ended) between spent ones breaks the run.
        for _ in 0..10 {
            for _ in 1..BULK_AFTER {
                assert!(!mode.before_arm(true));
            }
            assert!(!mode.before_arm(false));
        }
        for _ in 1..BULK_AFTER {
            assert!(!mode.before_arm(true));
        }
        assert!(mode.before_arm(true));
        assert_eq!(
            mode,
            Mode {
                bulk: true,
                streak: 0
            }
        );
    }

    #[test]
    fn quiet_after_a_run_of_short_receives_only() {
        let mut mode = Mode {
            bulk: true,
            streak: 0,
        };
        // A full receive between short ones breaks the run.
        for _ in 0..10 {
            for _ in 1..QUIET_AFTER {
                assert!(!mode.after_single(false));
            }
            assert!(!mode.after_single(true));
        }
        for _ in 1..QUIET_AFTER {
            assert!(!mode.after_single(false));
        }
        assert!(mode.after_single(false));
        assert_eq!(mode, Mode::default());
    }
}
