//! `gather!` and [`gather_all`]: run futures concurrently inside the current task and
//! collect their outputs in argument order, like `asyncio.gather`.
//!
//! Unlike asyncio, the futures are not turned into separate tasks: they are polled by
//! the gathering future itself, so they may borrow from the caller, and dropping the
//! gather drops (cancels) all of them. Spawn them first and gather the
//! [`JoinHandle`](super::JoinHandle)s to get asyncio's detached behaviour.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Runs the given futures concurrently and resolves to a tuple of their outputs, in
/// argument order: asyncio's `await gather(a, b, c)` is
/// `ringloop::gather!(a, b, c).await`.
///
/// Each argument may be anything that implements `IntoFuture` (futures, join
/// handles). The arguments are evaluated in order when the macro is evaluated; the
/// futures start running when the result is first awaited. Dropping the gather before
/// it completes drops every unfinished future.
///
/// ```
/// use std::time::Duration;
/// async fn add_after(ms: u64, a: u32, b: u32) -> u32 {
///     ringloop::sleep(Duration::from_millis(ms)).await;
///     a + b
/// }
/// ringloop::run(async {
///     let (x, y, z) = ringloop::gather!(add_after(30, 1, 1), add_after(10, 2, 2), async { 9 }).await;
///     assert_eq!((x, y, z), (2, 4, 9));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::__gather_impl!(@acc () () $($fut,)+)
    };
}

/// Implementation detail of [`gather!`]: pairs each future with the list of `_`
/// patterns that skips the tuple fields before it, then builds the future.
#[doc(hidden)]
#[macro_export]
macro_rules! __gather_impl {
    (@acc ($($skip:tt)*) ($([($($s:tt)*) $f:expr])*) $next:expr, $($rest:expr,)*) => {
        $crate::__gather_impl!(@acc ($($skip)* _) ($([($($s)*) $f])* [($($skip)*) $next]) $($rest,)*)
    };
    (@acc ($($skip:tt)*) ($([($($s:tt)*) $f:expr])*)) => {{
        let futures = ($(::core::future::IntoFuture::into_future($f),)*);
        async move {
            let mut slots = ($(
                (
                    ::core::pin::pin!({
                        let ($($s,)* future, ..) = futures;
                        future
                    }),
                    ::core::option::Option::None,
                ),
            )*);
            ::core::future::poll_fn(|cx| {
                let mut pending = false;
                $(
                    let ($($s,)* (future, output), ..) = &mut slots;
                    if output.is_none() {
                        $crate::task::poll_gather_slot(future.as_mut(), output, cx, &mut pending);
                    }
                )*
                if pending {
                    return ::core::task::Poll::Pending;
                }
                ::core::task::Poll::Ready(($({
                    let ($($s,)* (_, output), ..) = &mut slots;
                    output.take().expect("gather! output taken twice")
                },)*))
            })
            .await
        }
    }};
}

/// Implementation detail of [`gather!`].
#[doc(hidden)]
pub fn poll_gather_slot<F: Future>(
    future: Pin<&mut F>,
    output: &mut Option<F::Output>,
    cx: &mut Context<'_>,
    pending: &mut bool,
) {
    match future.poll(cx) {
        Poll::Ready(value) => *output = Some(value),
        Poll::Pending => *pending = true,
    }
}

/// Up to this many futures, every unfinished one is polled on each wake-up; above it,
/// each future gets its own waker so that only the woken ones are polled.
const TRACK_WAKES_ABOVE: usize = 16;

/// Runs every future of `futures` concurrently and resolves to their outputs in input
/// order, like `asyncio.gather(*aws)`.
///
/// A wake-up polls only the futures that were woken (for more than a handful of
/// futures), so gathering ten thousand futures stays linear. Dropping the returned
/// future drops every unfinished one.
///
/// ```
/// ringloop::run(async {
///     let squares = ringloop::gather_all((1..=4u32).map(|n| async move {
///         ringloop::yield_now().await;
///         n * n
///     }))
///     .await;
///     assert_eq!(squares, [1, 4, 9, 16]);
/// });
/// ```
pub fn gather_all<I>(futures: I) -> GatherAll<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let children: Vec<Child<_>> = futures
        .into_iter()
        .map(|f| Child::Pending(Box::pin(f.into_future())))
        .collect();
    let remaining = children.len();
    GatherAll {
        children,
        remaining,
        wakes: None,
    }
}

enum Child<F: Future> {
    Pending(Pin<Box<F>>),
    Done(F::Output),
    Taken,
}

/// The future returned by [`gather_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct GatherAll<F: Future> {
    children: Vec<Child<F>>,
    remaining: usize,
    wakes: Option<WakeTracking>,
}

struct WakeTracking {
    set: Arc<WakeSet>,
    wakers: Vec<Waker>,
}

/// Which children were woken since the last poll, one bit each, and the gathering
/// task's waker.
struct WakeSet {
    bits: Box<[AtomicU64]>,
    parent: Mutex<Option<Waker>>,
}

struct ChildWaker {
    index: usize,
    set: Arc<WakeSet>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.set.bits[self.index / 64].fetch_or(1 << (self.index % 64), Ordering::AcqRel);
        let parent = self.set.parent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waker) = parent.as_ref() {
            waker.wake_by_ref();
        }
    }
}

fn poll_child<F: Future>(child: &mut Child<F>, remaining: &mut usize, cx: &mut Context<'_>) {
    if let Child::Pending(future) = child {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            *child = Child::Done(value);
            *remaining -= 1;
        }
    }
}

impl<F: Future> GatherAll<F> {
    fn tracking(&mut self) -> &mut WakeTracking {
        let n = self.children.len();
        self.wakes.get_or_insert_with(|| {
            // Every child starts out "woken", so that each is polled once.
            let bits = (0..n.div_ceil(64))
                .map(|_| AtomicU64::new(u64::MAX))
                .collect();
            let set = Arc::new(WakeSet {
                bits,
                parent: Mutex::new(None),
            });
            let wakers = (0..n)
                .map(|index| {
                    Waker::from(Arc::new(ChildWaker {
                        index,
                        set: set.clone(),
                    }))
                })
                .collect();
            WakeTracking { set, wakers }
        })
    }
}

// The futures are boxed and their outputs are never pinned.
impl<F: Future> Unpin for GatherAll<F> {}

impl<F: Future> Future for GatherAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.children.len() <= TRACK_WAKES_ABOVE {
            for child in &mut this.children {
                poll_child(child, &mut this.remaining, cx);
            }
        } else {
            let tracking = this.tracking();
            {
                let mut parent = tracking
                    .set
                    .parent
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *parent = Some(cx.waker().clone());
                }
            }
            let tracking = this.wakes.as_ref().expect("wake tracking was just set up");
            for (word_index, word) in tracking.set.bits.iter().enumerate() {
                let mut bits = word.swap(0, Ordering::AcqRel);
                while bits != 0 {
                    let index = word_index * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(child) = this.children.get_mut(index) {
                        let mut cx = Context::from_waker(&tracking.wakers[index]);
                        poll_child(child, &mut this.remaining, &mut cx);
                    }
                }
            }
        }
        if this.remaining > 0 {
            return Poll::Pending;
        }
        let outputs = this
            .children
            .iter_mut()
            .map(|child| match std::mem::replace(child, Child::Taken) {
                Child::Done(value) => value,
                _ => panic!("gather_all polled after completion"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}
