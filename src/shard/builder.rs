//! [`Shards`]: the options of a sharded program, and [`Placement`].

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::launch::{self, ShardSet};
use crate::driver::sys;
use crate::runtime::{Builder, Driver};
use crate::task::JoinError;
use crate::KernelCompat;

/// Where the shards' threads run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// Wherever the scheduler puts them (the default).
    #[default]
    Unpinned,
    /// Shard `i` pinned to the `i`-th CPU of this list, intersected with the CPUs
    /// the process may use (`sched_getaffinity`), wrapping around when there are
    /// more shards than CPUs. Starting fails with `InvalidInput` if none of them
    /// is allowed.
    Pinned(Vec<usize>),
    /// Each shard pinned to its own allowed CPU, spread evenly over them (shard
    /// `i` of `n` on CPU number `i * cpus / n` of the allowed list), so that two
    /// shards on a many-core machine do not share a core's neighbours; wrapping
    /// around when there are more shards than CPUs.
    Spread,
}

impl Placement {
    /// The CPU of each of `n` shards (`None`: unpinned).
    pub(crate) fn cpus(&self, n: usize) -> io::Result<Vec<Option<usize>>> {
        match self {
            Placement::Unpinned => Ok(vec![None; n]),
            Placement::Pinned(wanted) => {
                let allowed = sys::allowed_cpus()?;
                let cpus: Vec<usize> = wanted
                    .iter()
                    .copied()
                    .filter(|c| allowed.contains(c))
                    .collect();
                if cpus.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("Placement::Pinned({wanted:?}): none of these CPUs is allowed (allowed: {allowed:?})"),
                    ));
                }
                Ok((0..n).map(|i| Some(cpus[i % cpus.len()])).collect())
            }
            Placement::Spread => {
                let allowed = sys::allowed_cpus()?;
                let m = allowed.len().max(1);
                Ok((0..n)
                    .map(|i| {
                        let at = if n <= m { i * m / n } else { i % m };
                        allowed.get(at).copied()
                    })
                    .collect())
            }
        }
    }
}

type Configure = Arc<dyn Fn(usize, Builder) -> Builder + Send + Sync>;
type OnStart = Arc<dyn Fn(usize) + Send + Sync>;

/// Options for a sharded program: `n` threads, each with its own runtime (its
/// own ring, ready queue and timer heap), started together.
///
/// ```
/// use ringloop::shard::{Placement, Shards};
/// let set = Shards::new(2)
///     .name("worker")
///     .entries(128)
///     .placement(Placement::Unpinned)
///     .start(|shard| async move { shard * 10 })
///     .unwrap();
/// assert_eq!(set.len(), 2);
/// let results: Vec<usize> = set.join().into_iter().map(Result::unwrap).collect();
/// assert_eq!(results, [0, 10]);
/// ```
#[must_use = "a Shards builder does nothing until `start` or `run` is called"]
#[derive(Clone)]
pub struct Shards {
    pub(crate) count: usize,
    pub(crate) name: String,
    pub(crate) runtime: Builder,
    pub(crate) configure: Option<Configure>,
    pub(crate) on_start: Option<OnStart>,
    pub(crate) placement: Placement,
    pub(crate) grace: Duration,
    pub(crate) stop_on_signals: bool,
}

impl Shards {
    /// `n` shards; `0` means one per CPU the process may use.
    pub fn new(n: usize) -> Shards {
        Shards {
            count: n,
            name: "ringloop-shard".to_owned(),
            runtime: Builder::new(),
            configure: None,
            on_start: None,
            placement: Placement::Unpinned,
            grace: Duration::from_secs(10),
            stop_on_signals: false,
        }
    }

    /// The threads' names: `{prefix}-{i}`. Default `ringloop-shard`.
    pub fn name(mut self, prefix: impl Into<String>) -> Shards {
        self.name = prefix.into();
        self
    }

    /// Every shard's driver ([`Builder::driver`]); with [`Driver::Auto`] each shard
    /// falls back to epoll on its own.
    pub fn driver(mut self, driver: Driver) -> Shards {
        self.runtime = self.runtime.driver(driver);
        self
    }

    /// Every shard's io_uring submission queue size ([`Builder::entries`]).
    pub fn entries(mut self, entries: u32) -> Shards {
        self.runtime = self.runtime.entries(entries);
        self
    }

    /// Every shard's kernel compatibility ([`Builder::kernel_compat`]).
    pub fn kernel_compat(mut self, compat: KernelCompat) -> Shards {
        self.runtime = self.runtime.kernel_compat(compat);
        self
    }

    /// How many calls from other shards and threads may be queued or running on
    /// each shard ([`Builder::call_capacity`]).
    pub fn call_capacity(mut self, capacity: usize) -> Shards {
        self.runtime = self.runtime.call_capacity(capacity);
        self
    }

    /// Adjusts one shard's runtime options: `f(shard, builder)` gets the options
    /// set so far and returns that shard's.
    ///
    /// ```
    /// use ringloop::{shard::Shards, Driver, DriverKind};
    /// let set = Shards::new(2)
    ///     .configure(|shard, rt| if shard == 1 { rt.driver(Driver::Epoll) } else { rt })
    ///     .start(|_| async {})
    ///     .unwrap();
    /// assert_eq!(set.drivers()[1], DriverKind::Epoll);
    /// set.join();
    /// ```
    pub fn configure(
        mut self,
        f: impl Fn(usize, Builder) -> Builder + Send + Sync + 'static,
    ) -> Shards {
        self.configure = Some(Arc::new(f));
        self
    }

    /// Runs `f(shard)` on each shard's thread as it starts, after its pinning and
    /// before its runtime is built (to set a thread's scheduling policy, a seccomp
    /// filter, a thread-local).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// ringloop::shard::Shards::new(2)
    ///     .on_thread_start(move |_shard| {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .run(|_| async {})
    ///     .unwrap();
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Shards {
        self.on_start = Some(Arc::new(f));
        self
    }

    /// Where the threads run. Default [`Placement::Unpinned`].
    pub fn placement(mut self, placement: Placement) -> Shards {
        self.placement = placement;
        self
    }

    /// How long, after a stop is requested, each shard's main future may take to
    /// finish on its own before it is cancelled. Default 10 s.
    pub fn grace_period(mut self, grace: Duration) -> Shards {
        self.grace = grace;
        self
    }

    /// Requests a stop when the process gets SIGINT or SIGTERM (shard 0 listens
    /// for them while it runs). Off by default.
    pub fn stop_on_signals(mut self, on: bool) -> Shards {
        self.stop_on_signals = on;
        self
    }

    /// The number of shards `n = 0` stands for here: the CPUs the process may use.
    pub(crate) fn resolved_count(&self) -> io::Result<usize> {
        match self.count {
            0 => Ok(sys::allowed_cpus()?.len().max(1)),
            n => Ok(n),
        }
    }

    /// Starts every shard, each running `main(shard)` on its own thread, and
    /// returns once all have started: either every shard starts or none does (the
    /// first shard that fails to set up fails the start with its error, naming
    /// the shard, and the others are torn down).
    ///
    /// `main` is called once per shard, on that shard's thread; the future it
    /// returns need not be `Send`, only its output.
    pub fn start<F, Fut>(self, main: F) -> io::Result<ShardSet<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        launch::start(self, main)
    }

    /// [`start`](Self::start), then [`join`](ShardSet::join): each shard's output,
    /// or the [`JoinError`] of a shard whose main future panicked or was cancelled
    /// by a stop.
    pub fn run<F, Fut>(self, main: F) -> io::Result<Vec<Result<Fut::Output, JoinError>>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        Ok(self.start(main)?.join())
    }
}

impl fmt::Debug for Shards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shards")
            .field("count", &self.count)
            .field("name", &self.name)
            .field("runtime", &self.runtime)
            .field("placement", &self.placement)
            .field("grace", &self.grace)
            .field("stop_on_signals", &self.stop_on_signals)
            .finish_non_exhaustive()
    }
}
