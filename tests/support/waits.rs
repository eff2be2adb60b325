//! Waiting in a test: fixed bounds scaled for a slow machine ([`scaled`], [`step`],
//! [`within`]), loop turns ([`yield_turns`], [`yield_until`]), conditions checked
//! until they hold ([`sleep_until_cond`], [`eventually`], [`eventually_ok`]), and
//! futures polled by hand ([`poll_once`], [`poll_in_task`], [`next`]).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_core::Stream;

/// The environment variable that says how many times slower than a normal machine
/// this one runs the tests: a whole number, 1 when unset. `ci/kernels.sh` sets it
/// in a VM under emulation (TCG), where everything takes about 7 times longer.
pub const TIME_SCALE_ENV: &str = "RINGLOOP_TEST_TIME_SCALE";

/// `d` times [`TIME_SCALE_ENV`]: for a test's fixed deadline, which must not fail
/// only because the machine is slow (timing assertions that something happens
/// *late enough* stay as they are).
pub fn scaled(d: Duration) -> Duration {
    let scale = std::env::var(TIME_SCALE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    d * scale
}

/// How long any single step of a test that should happen "soon" may take on a
/// loaded machine before it counts as hung (times the machine's slowness: [`step`]).
pub const STEP: Duration = Duration::from_secs(10);

/// [`STEP`], [`scaled`] for a slow machine.
pub fn step() -> Duration {
    scaled(STEP)
}

/// Awaits `fut`, failing the test (naming `what`) if it takes longer than [`step`].
pub async fn within<F: IntoFuture>(what: &str, fut: F) -> F::Output {
    match ringloop::wait_for(step(), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: did not finish within {:?}", step()),
    }
}

/// Lets the loop make `n` turns (yields `n` times).
pub async fn yield_turns(n: usize) {
    for _ in 0..n {
        ringloop::yield_now().await;
    }
}

/// Yields (a whole loop turn each time) until `cond` holds, at most `max_turns` times;
/// returns whether it held.
pub async fn yield_until(max_turns: usize, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..max_turns {
        if cond() {
            return true;
        }
        ringloop::yield_now().await;
    }
    cond()
}

/// Sleeps 1 ms at a time until `cond` holds, at most `limit`; returns whether it held.
pub async fn sleep_until_cond(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        ringloop::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

/// [`sleep_until_cond`] for at most [`step`]; panics naming `what` if `cond` never
/// held. For what the blocking pool or the kernel finishes on its own time.
pub async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        sleep_until_cond(step(), cond).await,
        "{what}: not within {:?}",
        step()
    );
}

/// Retries `attempt` every millisecond until it succeeds, for at most [`step`];
/// panics naming `what` with the last error otherwise.
///
/// For what happens "soon" rather than at once: on io_uring a dropped socket is
/// closed through the ring (driver/fd.rs), so its address is free only after the
/// loop's next turn, when the `CLOSE` entry reaches the kernel.
pub async fn eventually_ok<T, E: std::fmt::Debug>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + step();
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => {
                panic!("{what}: still failing after {:?}: {e:?}", step())
            }
            Err(_) => ringloop::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// Polls `future` once with a no-op waker (no runtime needed). Pass `&mut future`
/// (or `&mut handle`: awaiting a borrowed join handle never cancels its task).
pub fn poll_once<F: Future + Unpin>(mut future: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(&mut future).poll(&mut cx)
}

/// Polls `fut` once with the calling task's waker (so that an op is submitted and
/// its completion wakes this task), unlike [`poll_once`].
pub async fn poll_in_task<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// The next item of a stream.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}
