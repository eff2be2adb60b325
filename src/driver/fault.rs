//! Fault injection, for tests only (cargo feature `fault-injection`; without it
//! none of this is compiled).
//!
//! A seeded injector per thread decides, for each operation the driver starts,
//! whether it fails instead of running, or runs shortened:
//!
//! ```text
//!   op starts ──[allowed faults of its kind, rate, seed]──▶ run as asked
//!                                                        ├─▶ an error, nothing done
//!                                                        └─▶ a short count (len capped)
//!   io_uring: the error comes back through a NOP entry whose CQE carries it, so it
//!             takes the whole CQE path (the op table, wakers, a dropped op's stash)
//!   epoll:    the error replaces the op's system call (EINTR is retried there, as
//!             a real one is)
//! ```
//!
//! The errors are the ones the kernel really gives such an op (`OpKind::faults`),
//! and an injected one has no side effect: no byte moved, nothing accepted. A short
//! count is a real short read or write: the op's length is capped before it runs.
//! So under injection, a correct runtime still loses or duplicates no byte, and
//! hands every error other than `EINTR` and `EAGAIN` (which it retries) to its
//! caller. `EAGAIN` is only injected on io_uring (where it means "poll, then
//! retry"): on epoll a false `EAGAIN` for a ready descriptor would wait for an edge
//! that never comes, which no kernel does.
//!
//! The injector is configured per thread with [`set`] (tests), or from
//! `RINGLOOP_FAULT_SEED` and `RINGLOOP_FAULT_RATE` (per mille, default 50) when a
//! thread first asks; [`stats`] says what it injected. A test that needs one
//! chosen operation to fail, whatever the seed, asks for it with
//! [`fail_next_send`].

use std::cell::RefCell;
use std::collections::VecDeque;

/// Faults an operation may be given (a small bit set).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Faults(u8);

impl Faults {
    pub(crate) const NONE: Faults = Faults(0);
    pub(crate) const EINTR: Faults = Faults(1 << 0);
    /// io_uring only (see the module docs).
    pub(crate) const EAGAIN: Faults = Faults(1 << 1);
    pub(crate) const ECANCELED: Faults = Faults(1 << 2);
    pub(crate) const ENOBUFS: Faults = Faults(1 << 3);
    pub(crate) const ENOMEM: Faults = Faults(1 << 4);
    pub(crate) const ECONNRESET: Faults = Faults(1 << 5);
    /// A short count (the op must support [`OpKind::shorten`](super::op::OpKind)).
    pub(crate) const SHORT: Faults = Faults(1 << 6);

    /// What any operation may get: interrupted, cancelled, out of memory.
    pub(crate) const ANY: Faults = Faults(Self::EINTR.0 | Self::ECANCELED.0 | Self::ENOMEM.0);
    /// What a socket's transfer may get besides: not ready, no buffer space, reset.
    pub(crate) const SOCKET: Faults =
        Faults(Self::ANY.0 | Self::EAGAIN.0 | Self::ENOBUFS.0 | Self::ECONNRESET.0);

    pub(crate) const fn with(self, other: Faults) -> Faults {
        Faults(self.0 | other.0)
    }

    pub(crate) const fn without(self, other: Faults) -> Faults {
        Faults(self.0 & !other.0)
    }

    fn has(self, other: Faults) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The errors, in the order of their bits.
const ERRORS: [(Faults, i32); 6] = [
    (Faults::EINTR, libc::EINTR),
    (Faults::EAGAIN, libc::EAGAIN),
    (Faults::ECANCELED, libc::ECANCELED),
    (Faults::ENOBUFS, libc::ENOBUFS),
    (Faults::ENOMEM, libc::ENOMEM),
    (Faults::ECONNRESET, libc::ECONNRESET),
];

/// What the injector decided for one operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fault {
    /// Fail with this errno, doing nothing.
    Error(i32),
    /// Run with the length capped by this random number (see
    /// `OpKind::shorten`).
    Short(u32),
}

/// What an injector did so far on this thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    /// Operations that were failed or shortened.
    pub injected: u64,
    /// Errors injected that the caller must see: every one but `EINTR` and
    /// `EAGAIN`, which the runtime retries.
    pub errors: u64,
    /// The errno of the last such error.
    pub last_error: Option<i32>,
}

struct Injector {
    /// xorshift64* state.
    state: u64,
    /// Chance of a fault per operation, per mille.
    per_mille: u32,
    stats: Stats,
}

impl Injector {
    fn new(seed: u64, per_mille: u32) -> Injector {
        Injector {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            per_mille: per_mille.min(1000),
            stats: Stats::default(),
        }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn decide(&mut self, allowed: Faults) -> Option<Fault> {
        if allowed == Faults::NONE || self.per_mille == 0 {
            return None;
        }
        if self.next() % 1000 >= u64::from(self.per_mille) {
            return None;
        }
        let choices: Vec<Fault> = ERRORS
            .iter()
            .filter(|(f, _)| allowed.has(*f))
            .map(|(_, errno)| Fault::Error(*errno))
            .chain(allowed.has(Faults::SHORT).then_some(Fault::Short(0)))
            .collect();
        let pick = choices[(self.next() % choices.len() as u64) as usize];
        let fault = match pick {
            Fault::Short(_) => Fault::Short(self.next() as u32),
            error => error,
        };
        self.stats.injected += 1;
        if let Fault::Error(errno) = fault {
            if errno != libc::EINTR && errno != libc::EAGAIN {
                self.stats.errors += 1;
                self.stats.last_error = Some(errno);
            }
        }
        Some(fault)
    }
}

thread_local! {
    /// `None` inside: not configured yet (the environment decides at first use).
    static INJECTOR: RefCell<Option<Option<Injector>>> = const { RefCell::new(None) };
}

/// The injector the environment asks for, if any.
fn from_env() -> Option<Injector> {
    let seed = std::env::var("RINGLOOP_FAULT_SEED")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let per_mille = std::env::var("RINGLOOP_FAULT_RATE")
        .ok()
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(50);
    Some(Injector::new(seed, per_mille))
}

thread_local! {
    /// The errors the next stream sends started on this thread fail with
    /// ([`fail_next_send`]), the first first.
    static FORCED_SENDS: RefCell<VecDeque<i32>> = const { RefCell::new(VecDeque::new()) };
}

/// Makes the next send on a stream socket that this thread starts fail with
/// `errno`, doing nothing, as an injected error does, whatever [`set`] asked;
/// several calls fail as many sends, in order. For a test that needs a chosen
/// send to fail (a stream writer's, while its reader waits). Not counted in
/// [`stats`].
pub fn fail_next_send(errno: i32) {
    let _ = FORCED_SENDS.try_with(|f| f.borrow_mut().push_back(errno));
}

/// The error a test forced on the stream send about to start, if any (taken).
pub(crate) fn forced_send() -> Option<Fault> {
    FORCED_SENDS
        .try_with(|f| f.borrow_mut().pop_front())
        .ok()
        .flatten()
        .map(Fault::Error)
}

/// Whether an injector is configured on this thread (by [`set`] or the
/// environment): ops then take the paths where faults are injected.
pub(crate) fn active() -> bool {
    INJECTOR
        .try_with(|injector| injector.borrow_mut().get_or_insert_with(from_env).is_some())
        .unwrap_or(false)
}

/// Whether the op about to start (allowed `allowed` faults) fails or is shortened.
/// `uring`: the driver is io_uring (else `EAGAIN` is never injected).
pub(crate) fn decide(allowed: Faults, uring: bool) -> Option<Fault> {
    let allowed = if uring {
        allowed
    } else {
        allowed.without(Faults::EAGAIN)
    };
    INJECTOR
        .try_with(|injector| {
            let mut injector = injector.borrow_mut();
            injector
                .get_or_insert_with(from_env)
                .as_mut()
                .and_then(|i| i.decide(allowed))
        })
        .ok()
        .flatten()
}

/// The length an op capped by random number `r` moves, out of `len` (at least 1
/// when `len` is, less than `len` when it is more than 1).
pub(crate) fn short_len(len: u32, r: u32) -> u32 {
    if len <= 1 {
        len
    } else {
        1 + r % (len - 1)
    }
}

/// Injects faults into the operations this thread starts from now on: each fails
/// or is shortened with probability `per_mille / 1000`, as drawn from `seed`.
/// Replaces what the environment (`RINGLOOP_FAULT_SEED`, `RINGLOOP_FAULT_RATE`)
/// asked for, and resets the [`stats`].
pub fn set(seed: u64, per_mille: u32) {
    let _ = INJECTOR.try_with(|i| *i.borrow_mut() = Some(Some(Injector::new(seed, per_mille))));
}

/// Stops injecting faults on this thread (the environment is not read again),
/// and forgets the sends [`fail_next_send`] asked to fail that did not start.
pub fn clear() {
    let _ = INJECTOR.try_with(|i| *i.borrow_mut() = Some(None));
    let _ = FORCED_SENDS.try_with(|f| f.borrow_mut().clear());
}

/// What was injected on this thread since [`set`] (zeros when nothing is set).
pub fn stats() -> Stats {
    INJECTOR
        .try_with(|i| {
            i.borrow()
                .as_ref()
                .and_then(|i| i.as_ref())
                .map(|i| i.stats)
                .unwrap_or_default()
        })
        .unwrap_or_default()
}
