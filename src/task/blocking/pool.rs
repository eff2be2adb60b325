//! The process-wide blocking pool behind [`to_thread`](super::to_thread).
//!
//! ```text
//!   runtime threads                 Pool (one per process)               worker threads
//!   ───────────────   submit    ┌──────────────────────────────┐   pop    ("ringloop-pool")
//!   to_thread(f) ──────────────▶│ Mutex<State>                 │────────▶ run job, unlocked
//!   to_thread(g) ──────────────▶│   queue: VecDeque<job> FIFO  │────────▶ run job, unlocked
//!                               │   threads, idle, notified    │    ▲        │
//!                               │ Condvar `work`               │────┘        │ result: Job cell,
//!                               └──────────────────────────────┘  wait ≤     │ then Waker::wake
//!                                                                 keep-alive ▼ (remote queue +
//!                                                                            eventfd of the runtime)
//! ```
//!
//! * **Bounded.** At most `bound` worker threads live at once (default
//!   [`DEFAULT_THREADS`], `RINGLOOP_BLOCKING_THREADS` overrides). Jobs beyond the
//!   bound wait in the queue, first in first out; nothing else limits the queue.
//! * **On demand.** `submit` hands a job to an idle thread when there is one
//!   (claiming it: `idle -= 1, notified += 1`, then `notify_one`), else starts a new
//!   thread while below the bound, else only queues it. A worker runs jobs until the
//!   queue is empty, then waits on the condvar.
//! * **Retiring.** A worker that waited `keep_alive` (default [`DEFAULT_KEEP_ALIVE`],
//!   `RINGLOOP_BLOCKING_KEEP_ALIVE_MS` overrides) without being claimed exits.
//! * **Signal mask.** Workers start with the submitting thread's mask minus the
//!   signals ringloop blocked there (listened signals, `SIGPIPE` while a pipe write
//!   is in flight), so a process a job starts does not inherit those blocked; a
//!   process-directed signal that lands on a worker is forwarded to the listeners
//!   (see `driver/signal.rs`).
//! * **Daemon-like.** Workers are detached and never joined: when `main` returns
//!   or the process calls `exit`, they are killed with it, whatever they run.
//!
//! The `notified` count makes claims exact: each notification is consumed by one
//! waking worker, so two quick submissions start a second thread instead of both
//! counting on the same idle one. A worker that wakes with no claim to consume
//! either timed out (it retires) or woke spuriously (it waits again).
//!
//! Locks are fine here: this is the one place where threads meet, and the lock is
//! held for a few pointer moves, never while a job runs.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::job::Runnable;

/// The default bound on live pool threads.
pub(super) const DEFAULT_THREADS: usize = 64;

/// How long an idle pool thread waits for work before it exits, by default.
pub(super) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The name of the pool's threads (15 bytes at most: Linux truncates longer names).
pub(super) const THREAD_NAME: &str = "ringloop-pool";

const THREADS_ENV: &str = "RINGLOOP_BLOCKING_THREADS";
const KEEP_ALIVE_ENV: &str = "RINGLOOP_BLOCKING_KEEP_ALIVE_MS";

type Task = Arc<dyn Runnable>;

struct State {
    queue: VecDeque<Task>,
    /// Live worker threads, counting those being started.
    threads: usize,
    /// Workers waiting on the condvar that no submission has claimed.
    idle: usize,
    /// Claims made by `submit` that no worker has consumed yet.
    notified: usize,
}

pub(super) struct Pool {
    state: Mutex<State>,
    work: Condvar,
    bound: usize,
    keep_alive: Duration,
}

/// The pool, created (reading its environment variables) on first use.
pub(super) fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let bound = env_number(THREADS_ENV)
            .filter(|&n| n > 0)
            .map_or(DEFAULT_THREADS, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        let keep_alive =
            env_number(KEEP_ALIVE_ENV).map_or(DEFAULT_KEEP_ALIVE, Duration::from_millis);
        Pool::new(bound, keep_alive)
    })
}

/// The value of `name` as a number; a value that is not one is reported on stderr
/// and ignored (the pool cannot return an error to anyone).
fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match value.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("ringloop: ignoring {name}={value:?}: expected a non-negative integer");
            None
        }
    }
}

impl Pool {
    fn new(bound: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
            }),
            work: Condvar::new(),
            bound,
            keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain counters and a queue, consistent at every unlock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `task` and makes sure a thread will run it.
    pub(super) fn submit(&'static self, task: Task) {
        let mut state = self.lock();
        state.queue.push_back(task);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.work.notify_one();
        } else if state.threads < self.bound {
            state.threads += 1;
            drop(state);
            self.start_thread();
        }
        // Else every thread is busy: the first to finish takes the job.
    }

    fn start_thread(&'static self) {
        // Without the signals ringloop blocked on this thread (listened signals,
        // SIGPIPE during a pipe write): jobs run user code, which may start
        // processes, and those inherit the mask (`driver/signal.rs`).
        let spawned = crate::driver::signal::spawn_user_thread(
            std::thread::Builder::new().name(THREAD_NAME.to_owned()),
            move || self.work(),
        );
        if let Err(e) = spawned {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads > 0 {
                // The running threads will get to the queued jobs.
                return;
            }
            // No thread will ever pop these jobs: fail them rather than hang.
            let stranded = std::mem::take(&mut state.queue);
            drop(state);
            let message = format!("ringloop::to_thread: cannot start a pool thread: {e}");
            for task in stranded {
                task.fail(&message);
            }
        }
    }

    /// A worker thread's life: run queued jobs, wait for more, retire when idle.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            while let Some(task) = state.queue.pop_front() {
                drop(state);
                task.run();
                drop(task);
                state = self.lock();
            }
            state.idle += 1;
            let (guard, wait) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            if state.notified > 0 {
                // Claimed by a submission (which already took us off `idle`).
                state.notified -= 1;
            } else if wait.timed_out() {
                state.idle -= 1;
                if state.queue.is_empty() {
                    state.threads -= 1;
                    return;
                }
            } else {
                // Spurious wake-up: still idle, wait again.
                state.idle -= 1;
            }
        }
    }
}
