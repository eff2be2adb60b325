//! Starting the shards all or none, running each one's main future under the
//! stop protocol, and [`ShardSet`], the running program.
//!
//! ```text
//!   start                                  shard thread i
//!   ─────                                  ──────────────
//!   spawn n threads ─────────────────────▶ pin to its CPU, build its runtime
//!   collect n reports ◀── Ok(handle) / Err ┘
//!   any Err? ── Abort ───────────────────▶ drop the runtime, exit
//!   all Ok:  ── Run(every handle) ───────▶ block_on: main(i) until it ends or a
//!                                            stop comes; then main gets the grace
//!                                            period; the runtime's drop cancels
//!                                            the rest and completes every op
//! ```

use std::future::{poll_fn, Future};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use super::builder::Shards;
use super::stop::{self, LocalStop, StopState};
use crate::driver::features::DriverKind;
use crate::driver::sys;
use crate::runtime::{Builder, LoopHandle};
use crate::task::{panic_message, JoinError};

/// What the starter tells the shards once every one has reported.
#[derive(Clone)]
enum Go {
    Run(Arc<[LoopHandle]>),
    Abort,
}

#[derive(Default)]
struct StartGate {
    go: Mutex<Option<Go>>,
    cv: Condvar,
}

impl StartGate {
    fn open(&self, go: Go) {
        *self.go.lock().unwrap_or_else(|e| e.into_inner()) = Some(go);
        self.cv.notify_all();
    }

    fn wait(&self) -> Go {
        let mut go = self.go.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(go) = &*go {
                return go.clone();
            }
            go = self.cv.wait(go).unwrap_or_else(|e| e.into_inner());
        }
    }
}

type Report = (usize, io::Result<(LoopHandle, DriverKind)>);

/// A running sharded program (see [`Shards::start`]).
///
/// Dropping it without [`join`](Self::join) requests a stop and waits for the
/// shards, so no shard outlives it.
#[must_use = "dropping a ShardSet stops the shards"]
pub struct ShardSet<T> {
    threads: Vec<thread::JoinHandle<Result<T, JoinError>>>,
    handles: Arc<[LoopHandle]>,
    drivers: Vec<DriverKind>,
    cpus: Vec<Option<usize>>,
    stop: Arc<StopState>,
}

/// A `Send + Sync` handle that requests the stop of a sharded program (from a
/// signal-handling thread, say); see [`ShardSet::stopper`].
#[derive(Clone)]
pub struct StopHandle(Arc<StopState>);

impl StopHandle {
    /// Requests the stop, as [`ShardSet::request_stop`] does.
    pub fn request_stop(&self) -> bool {
        self.0.request()
    }

    /// Whether a stop was requested (by anyone, or by the last main's end).
    pub fn is_stop_requested(&self) -> bool {
        self.0.is_requested()
    }
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle")
            .field("requested", &self.0.is_requested())
            .finish()
    }
}

impl<T> ShardSet<T> {
    /// How many shards run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether there are no shards (never: a start makes at least one).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Shard `i`'s handle, for calls into it from any thread.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`len`](Self::len).
    pub fn handle(&self, i: usize) -> LoopHandle {
        self.handles[i]
    }

    /// Every shard's handle, in shard order.
    pub fn handles(&self) -> &[LoopHandle] {
        &self.handles
    }

    /// The driver each shard runs (each chose on its own).
    pub fn drivers(&self) -> &[DriverKind] {
        &self.drivers
    }

    /// The CPU each shard is pinned to (`None`: unpinned).
    pub fn cpus(&self) -> &[Option<usize>] {
        &self.cpus
    }

    /// Requests a graceful stop of every shard: their servers stop accepting,
    /// [`stop_requested`](super::stop_requested) returns, and each main future
    /// has the [grace period](Shards::grace_period) to finish before it is
    /// cancelled; then each runtime cancels its remaining tasks and completes its
    /// operations. Returns `false` if a stop was requested already (a second
    /// request changes nothing).
    pub fn request_stop(&self) -> bool {
        self.stop.request()
    }

    /// A snapshot of each shard's runtime counters, in shard order, taken on
    /// each shard's thread (a call through [`handle`](Self::handle)); blocks the
    /// calling thread until every shard has answered or `timeout` has passed.
    /// `None` for a shard that has stopped or did not answer in time.
    ///
    /// For the thread that started the shards; inside a shard, await
    /// [`shard::metrics`](super::metrics) instead (this would block the
    /// shard's loop, which could then not answer its own call).
    ///
    /// ```
    /// use std::time::Duration;
    /// let set = ringloop::shard::Shards::new(2)
    ///     .start(|_| async { ringloop::shard::stop_requested().await })
    ///     .unwrap();
    /// let all = set.metrics(Duration::from_secs(10));
    /// assert_eq!(all.len(), 2);
    /// assert!(all.iter().all(|m| m.is_some()));
    /// set.request_stop();
    /// set.join();
    /// ```
    pub fn metrics(&self, timeout: Duration) -> Vec<Option<crate::metrics::RuntimeMetrics>> {
        let (tx, rx) = mpsc::channel();
        let mut asked = vec![false; self.handles.len()];
        for (i, handle) in self.handles.iter().enumerate() {
            let tx = tx.clone();
            asked[i] = handle
                .call_soon_threadsafe(move || {
                    let _ = tx.send((i, crate::metrics::try_current()));
                })
                .is_ok();
        }
        drop(tx);
        let deadline = std::time::Instant::now() + timeout;
        let mut out: Vec<Option<crate::metrics::RuntimeMetrics>> = vec![None; self.handles.len()];
        let mut left = asked.iter().filter(|a| **a).count();
        while left > 0 {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(wait) {
                Ok((i, metrics)) => {
                    out[i] = metrics;
                    left -= 1;
                }
                Err(_) => break,
            }
        }
        out
    }

    /// A handle that requests the stop from anywhere.
    pub fn stopper(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Waits for every shard to end and returns each one's output, in shard order:
    /// `Err(JoinError::Panicked)` for a shard whose main future panicked (the
    /// others are not affected; calls to it fail with
    /// [`CallError::Stopped`](crate::CallError::Stopped)), and
    /// `Err(JoinError::Cancelled)` for one whose main future did not finish within
    /// the grace period of a stop.
    pub fn join(mut self) -> Vec<Result<T, JoinError>> {
        self.join_all()
    }

    fn join_all(&mut self) -> Vec<Result<T, JoinError>> {
        self.threads
            .drain(..)
            .map(|t| {
                t.join()
                    .unwrap_or_else(|p| Err(JoinError::Panicked(panic_message(&*p))))
            })
            .collect()
    }
}

impl<T> Drop for ShardSet<T> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop.request();
            drop(self.join_all());
        }
    }
}

impl<T> std::fmt::Debug for ShardSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSet")
            .field("drivers", &self.drivers)
            .field("cpus", &self.cpus)
            .field("stop_requested", &self.stop.is_requested())
            .finish()
    }
}

pub(super) fn start<F, Fut>(shards: Shards, main: F) -> io::Result<ShardSet<Fut::Output>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let n = shards.resolved_count()?;
    let cpus = shards.placement.cpus(n)?;
    let main = Arc::new(main);
    let stop = StopState::new(n);
    let gate = Arc::new(StartGate::default());
    let (tx, rx) = mpsc::channel::<Report>();
    let mut threads = Vec::with_capacity(n);
    let mut failure: Option<io::Error> = None;
    for (i, &cpu) in cpus.iter().enumerate() {
        let builder = match &shards.configure {
            Some(f) => f(i, shards.runtime.clone()),
            None => shards.runtime.clone(),
        };
        let shard = ShardThread {
            id: i,
            cpu,
            on_start: shards.on_start.clone(),
            builder,
            grace: shards.grace,
            signals: shards.stop_on_signals && i == 0,
            tx: tx.clone(),
            gate: gate.clone(),
            stop: stop.clone(),
        };
        let main = main.clone();
        let spawned = thread::Builder::new()
            .name(format!("{}-{i}", shards.name))
            .spawn(move || shard.run(move |id| main(id)));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                failure = Some(io::Error::new(
                    e.kind(),
                    format!("shard {i}: cannot start its thread: {e}"),
                ));
                break;
            }
        }
    }
    drop(tx);

    let mut handles: Vec<Option<(LoopHandle, DriverKind)>> = vec![None; threads.len()];
    for _ in 0..threads.len() {
        match rx.recv() {
            Ok((i, Ok(report))) => handles[i] = Some(report),
            Ok((i, Err(e))) => {
                failure.get_or_insert_with(|| {
                    io::Error::new(
                        e.kind(),
                        format!("shard {i}: cannot set up its runtime: {e}"),
                    )
                });
            }
            // A thread ended without reporting (it panicked while setting up).
            Err(_) => {
                failure.get_or_insert_with(|| {
                    io::Error::other("a shard's thread died while starting")
                });
                break;
            }
        }
    }
    if let Some(e) = failure {
        gate.open(Go::Abort);
        for t in threads {
            let _ = t.join();
        }
        return Err(e);
    }
    let (handles, drivers): (Vec<LoopHandle>, Vec<DriverKind>) = handles
        .into_iter()
        .map(|h| h.expect("every shard reported"))
        .unzip();
    let handles: Arc<[LoopHandle]> = handles.into();
    stop.set_handles(handles.clone());
    gate.open(Go::Run(handles.clone()));
    Ok(ShardSet {
        threads,
        handles,
        drivers,
        cpus,
        stop,
    })
}

/// What one shard's thread needs.
struct ShardThread {
    id: usize,
    cpu: Option<usize>,
    on_start: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    builder: Builder,
    grace: Duration,
    signals: bool,
    tx: mpsc::Sender<Report>,
    gate: Arc<StartGate>,
    stop: Arc<StopState>,
}

impl ShardThread {
    fn run<Fut: Future>(self, main: impl FnOnce(usize) -> Fut) -> Result<Fut::Output, JoinError> {
        let setup = match self.cpu {
            Some(cpu) => sys::pin_current_thread(cpu)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot pin it to CPU {cpu}: {e}"))),
            None => Ok(()),
        }
        .and_then(|()| {
            if let Some(f) = &self.on_start {
                f(self.id);
            }
            self.builder.build()
        });
        let rt = match setup {
            Ok(rt) => {
                let _ = self.tx.send((self.id, Ok((rt.handle(), rt.driver_kind()))));
                rt
            }
            Err(e) => {
                let _ = self.tx.send((self.id, Err(e)));
                return Err(JoinError::Cancelled);
            }
        };
        drop(self.tx);
        let handles = match self.gate.wait() {
            Go::Run(handles) => handles,
            Go::Abort => return Err(JoinError::Cancelled),
        };
        let _context = stop::enter(self.id, handles, self.stop.clone());
        let local = stop::with_context(|ctx| ctx.local.clone()).expect("entered above");
        let (id, grace, signals) = (self.id, self.grace, self.signals);
        let stop = self.stop.clone();
        let ran = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async move {
                if signals {
                    drop(crate::spawn(stop_on_signals()));
                }
                // Counted before `main` is called: a `main` that panics when
                // called has ended too.
                let ended = Ended(&stop);
                supervise(main(id), local, grace, ended).await
            })
        }));
        // Cancels what is left and completes every op before the thread ends.
        drop(rt);
        ran.unwrap_or_else(|payload| {
            let msg = panic_message(&*payload);
            eprintln!("ringloop: shard {id} panicked: {msg}");
            Err(JoinError::Panicked(msg))
        })
    }
}

/// Runs a shard's main future until it ends or a stop is requested; then gives it
/// `grace` to end on its own. A shard whose main ended keeps running (its tasks,
/// calls from other shards) until the stop, which the last main to end requests.
async fn supervise<Fut: Future>(
    main: Fut,
    local: Rc<LocalStop>,
    grace: Duration,
    ended: Ended<'_>,
) -> Result<Fut::Output, JoinError> {
    let mut main = pin!(main);
    let mut stopping = pin!(local.stopping().wait());
    let early = poll_fn(|cx| {
        if let Poll::Ready(out) = main.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        stopping.as_mut().poll(cx).map(|_| None)
    })
    .await;
    match early {
        Some(out) => {
            drop(ended);
            local.stopping().wait().await;
            Ok(out)
        }
        None => crate::wait_for(grace, main.as_mut())
            .await
            .map_err(|_| JoinError::Cancelled),
    }
}

/// Counts a shard's main future as ended however it ends (a panic too, in the
/// call that makes it or in a poll).
struct Ended<'a>(&'a StopState);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.main_ended();
    }
}

/// Requests a stop at the first SIGINT or SIGTERM.
async fn stop_on_signals() {
    use crate::signal::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("ringloop: cannot listen for SIGINT/SIGTERM; stop_on_signals is off");
        return;
    };
    poll_fn(|cx| {
        if int.poll_recv(cx).is_ready() || term.poll_recv(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    super::request_stop();
}
