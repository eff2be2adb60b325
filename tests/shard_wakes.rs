//! Wakes between runtimes on different threads, on every driver: a parked target is
//! woken through `IORING_OP_MSG_RING` from the caller's ring where both runtimes'
//! probes have it (native io_uring), and through its eventfd everywhere else (the
//! 5.10 mask, epoll, a mix of the two, the option turned off by the builder or by
//! `RINGLOOP_MSG_RING=0`, a plain thread). Which path ran is counted
//! (`ringloop::msg_ring_wake_counts`, per runtime), and in every mode 2,000 calls
//! awaited from another runtime all complete: no wake is lost either way.

mod support;

use ringloop::shard::{self, Shards};
use ringloop::Builder;
use support::{in_child, is_child, within, Mode};

/// Sequential calls from shard 0 to shard 1, each awaited before the next.
const CALLS: u64 = 2_000;

/// What one shard saw: whether its probe has `MSG_RING`, and its `MSG_RING` wakes
/// sent and received.
#[derive(Debug, Clone, Copy)]
struct Seen {
    probe: bool,
    sent: u64,
    received: u64,
}

fn seen() -> Seen {
    let (sent, received) = ringloop::msg_ring_wake_counts();
    Seen {
        probe: ringloop::features().msg_ring,
        sent,
        received,
    }
}

/// Two shards built by `builder(shard)`: shard 0 awaits [`CALLS`]
/// `run_coroutine_threadsafe` calls on shard 1 (one at a time, so that shard 1
/// parks between them and shard 0 parks while each runs), a plain thread then
/// makes a few more with `wait_blocking`; returns what each shard saw.
fn calls_between(shards: Shards) -> [Seen; 2] {
    let outputs = shards
        .run(|id| async move {
            if id == 1 {
                // A finished shard still serves calls until every shard is done.
                return None;
            }
            let target = shard::handle(1);
            within("2,000 calls to shard 1", async {
                for i in 0..CALLS {
                    let out = target
                        .run_coroutine_threadsafe(move || async move {
                            ringloop::yield_now().await;
                            i * 3
                        })
                        .await;
                    assert_eq!(out, Ok(i * 3), "call {i}");
                }
            })
            .await;
            // From a thread without a runtime: always the eventfd.
            let plain = std::thread::spawn(move || {
                (0..50u64)
                    .map(|i| {
                        target
                            .run_coroutine_threadsafe(move || async move { i + 1 })
                            .wait_blocking()
                            .unwrap()
                    })
                    .sum::<u64>()
            });
            while !plain.is_finished() {
                ringloop::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!(plain.join().unwrap(), (1..=50).sum::<u64>());
            let theirs = shard::submit_to(1, || async { seen() }).await.unwrap();
            Some([seen(), theirs])
        })
        .expect("two shards start");
    let mut outputs = outputs.into_iter();
    let first = outputs.next().unwrap().expect("shard 0 finished");
    assert!(matches!(outputs.next(), Some(Ok(None))));
    first.expect("shard 0 reports")
}

/// Asserts that no wake went through `MSG_RING`.
fn all_by_eventfd(seen: [Seen; 2]) {
    for (i, s) in seen.iter().enumerate() {
        assert_eq!((s.sent, s.received), (0, 0), "shard {i}: {seen:?}");
    }
}

/// Asserts that the parked shards were woken through `MSG_RING` (both ways: shard
/// 1 parks waiting for calls, shard 0 waiting for their results), or, where the
/// probe has no `MSG_RING`, through the eventfd.
fn by_msg_ring_where_probed(seen: [Seen; 2]) {
    if !(seen[0].probe && seen[1].probe) {
        all_by_eventfd(seen);
        return;
    }
    // At least one way (the other way may find its target not yet parked every
    // time, on a busy machine).
    assert!(
        seen.iter().any(|s| s.sent > 0),
        "no wake sent by MSG_RING: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.received > 0),
        "no wake received by MSG_RING: {seen:?}"
    );
}

matrix_test! {
    fn calls_wake_a_parked_target_by_msg_ring_or_eventfd(mode) {
        let seen = calls_between(mode.shards(2));
        match mode {
            Mode::Uring => by_msg_ring_where_probed(seen),
            Mode::Uring510 | Mode::Epoll => {
                assert!(!seen[0].probe && !seen[1].probe, "{seen:?}");
                all_by_eventfd(seen);
            }
        }
    }
}

matrix_test! {
    fn turned_off_by_the_builder_calls_wake_by_eventfd(mode) {
        let seen = calls_between(
            Shards::new(2).configure(move |_, _| mode.builder().msg_ring_wakes(false)),
        );
        if mode != Mode::Uring {
            assert!(!seen[0].probe && !seen[1].probe, "{seen:?}");
        }
        all_by_eventfd(seen);
    }
}

matrix_test! {
    fn turned_off_by_the_environment_calls_wake_by_eventfd(mode) {
        // The environment is process-wide: the body runs in a child of its own.
        if in_child(mode, module_path!(), &[("RINGLOOP_MSG_RING", "0")]) {
            return;
        }
        assert!(is_child());
        all_by_eventfd(calls_between(mode.shards(2)));
        // An unknown value is refused.
        std::env::set_var("RINGLOOP_MSG_RING", "maybe");
        let err = Builder::new().build().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}

matrix_test! {
    fn with_a_runtime_of_another_mode_calls_wake_by_eventfd(mode) {
        // Shard 1 is `mode`; shard 0 is native io_uring (epoll if `mode` is
        // native io_uring): one of the two has no MSG_RING, so neither uses it.
        let other = if mode == Mode::Uring { Mode::Epoll } else { Mode::Uring };
        if other == Mode::Uring && support::uring_refused().is_some() {
            return;
        }
        let seen = calls_between(
            Shards::new(2).configure(move |i, _| if i == 1 { mode.builder() } else { other.builder() }),
        );
        all_by_eventfd(seen);
    }
}
