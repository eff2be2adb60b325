//! `time::interval`: the first tick at once, tick spacing, use as a
//! `futures_core::Stream`, `interval_at`, `reset`, and what each `MissedTickBehavior`
//! does after the loop was blocked (a `std::thread::sleep` inside the loop).

mod support;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use ringloop::time::{interval, interval_at, MissedTickBehavior};

const PERIOD: Duration = Duration::from_millis(50);
/// How long the loop is blocked: three and a half periods.
const BLOCK: Duration = Duration::from_millis(175);

any_driver_test! {
    fn first_tick_is_immediate_and_ticks_are_spaced(mode) {
        mode.run(async {
            let period = Duration::from_millis(20);
            let created = Instant::now();
            let mut ticks = interval(period);
            assert_eq!(ticks.period(), period);
            assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
            let t0 = ticks.tick().await;
            assert!(t0 >= created && t0 <= Instant::now());
            assert!(
                created.elapsed() < support::scaled(Duration::from_millis(200)),
                "first tick was not immediate"
            );
            for k in 1..=5u32 {
                let t = ticks.tick().await;
                let woke = Instant::now();
                assert_eq!(t, t0 + period * k, "tick {k} is not on the schedule");
                assert!(woke >= t, "tick {k} returned {:?} early", t - woke);
            }
            let elapsed = created.elapsed();
            assert!(elapsed >= period * 5, "{elapsed:?}");
            assert!(
                elapsed < support::scaled(period * 25 + Duration::from_millis(200)),
                "{elapsed:?}"
            );
        });
    }
}

any_driver_test! {
    fn interval_is_a_stream(mode) {
        mode.run(async {
            let period = Duration::from_millis(15);
            let mut ticks = interval(period);
            let mut seen = Vec::new();
            for _ in 0..4 {
                let item = poll_fn(|cx| Pin::new(&mut ticks).poll_next(cx)).await;
                let tick = item.expect("an interval never ends");
                assert!(Instant::now() >= tick);
                seen.push(tick);
            }
            for pair in seen.windows(2) {
                assert_eq!(pair[1] - pair[0], period);
            }
        });
    }
}

any_driver_test! {
    fn interval_at_and_reset(mode) {
        mode.run(async {
            let period = Duration::from_millis(20);
            let start = Instant::now() + Duration::from_millis(30);
            let mut ticks = interval_at(start, period);
            assert_eq!(ticks.tick().await, start);
            assert!(Instant::now() >= start);
            assert_eq!(ticks.tick().await, start + period);

            let before = Instant::now();
            ticks.reset();
            let next = ticks.tick().await;
            assert!(
                next >= before + period,
                "reset did not restart the schedule"
            );
            assert!(Instant::now() >= next);
            assert_eq!(ticks.tick().await, next + period);

            let zero = std::panic::catch_unwind(|| interval(Duration::ZERO));
            assert!(zero.is_err(), "a zero period must panic");
        });
    }
}

/// Ticks once, blocks the loop for `BLOCK`, then returns the first tick, the instant
/// the block ended, and the next three ticks.
async fn ticks_after_a_block(behavior: MissedTickBehavior) -> (Instant, Instant, [Instant; 3]) {
    let mut ticks = interval(PERIOD);
    ticks.set_missed_tick_behavior(behavior);
    assert_eq!(ticks.missed_tick_behavior(), behavior);
    let t0 = ticks.tick().await;
    std::thread::sleep(BLOCK);
    let unblocked = Instant::now();
    let t1 = ticks.tick().await;
    let t2 = ticks.tick().await;
    assert!(Instant::now() >= t2);
    let t3 = ticks.tick().await;
    assert!(Instant::now() >= t3, "a tick returned early");
    (t0, unblocked, [t1, t2, t3])
}

any_driver_test! {
    fn missed_ticks_burst(mode) {
        mode.run(async {
            let (t0, _, [t1, t2, t3]) = ticks_after_a_block(MissedTickBehavior::Burst).await;
            // The missed ticks come back to back, on the original schedule.
            assert_eq!(
                [t1, t2, t3],
                [t0 + PERIOD, t0 + PERIOD * 2, t0 + PERIOD * 3]
            );
        });
    }
}

any_driver_test! {
    fn missed_ticks_delay(mode) {
        mode.run(async {
            let (t0, unblocked, [t1, t2, t3]) =
                ticks_after_a_block(MissedTickBehavior::Delay).await;
            assert_eq!(t1, t0 + PERIOD, "the late tick itself is reported");
            // The schedule restarts one period after the late tick was taken.
            assert!(t2 >= unblocked + PERIOD, "{:?}", t2 - t0);
            assert_eq!(t3, t2 + PERIOD);
        });
    }
}

any_driver_test! {
    fn missed_ticks_skip(mode) {
        mode.run(async {
            let (t0, unblocked, [t1, t2, t3]) = ticks_after_a_block(MissedTickBehavior::Skip).await;
            assert_eq!(t1, t0 + PERIOD, "the late tick itself is reported");
            // The next tick is the first one of the original grid after the block.
            let offset = (t2 - t0).as_nanos();
            assert_eq!(
                offset % PERIOD.as_nanos(),
                0,
                "{:?} is off the grid",
                t2 - t0
            );
            assert!(
                t2 > unblocked,
                "a missed tick was not skipped: {:?}",
                t2 - t0
            );
            assert!(t2 - t0 >= BLOCK, "{:?}", t2 - t0);
            assert_eq!(t3, t2 + PERIOD);
        });
    }
}
