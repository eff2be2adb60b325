//! Calls between runtimes and from plain threads, on every driver:
//! `call_soon_threadsafe`, `run_coroutine_threadsafe` awaited on another runtime
//! and waited for from a thread without one, `submit_to` and `invoke_on_all`; a
//! call cancelled while queued and while running; a handle used after its runtime
//! stopped; panics in calls; and back-pressure: 10,000 calls to a slow target keep
//! no more than its capacity queued or running, and a caller waiting for room
//! leaves no waiter when dropped.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ringloop::shard;
use ringloop::sync::threadsafe::Event;
use ringloop::{CallError, LoopHandle};
use support::{within, Mode};

/// Counts its drops across threads.
struct Count(Arc<AtomicUsize>);

impl Drop for Count {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A runtime of `mode` on a thread of its own, running until `stop` is set; its
/// handle, and the thread to join.
fn serve(mode: Mode, stop: Event) -> (LoopHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = mode.runtime();
        tx.send(rt.handle()).unwrap();
        rt.block_on(async move { stop.wait().await });
    });
    (rx.recv().unwrap(), thread)
}

matrix_test! {
    fn calls_from_plain_threads_and_other_runtimes(mode) {
        let stop = Event::new();
        let (target, thread) = serve(mode, stop.clone());

        // A plain thread: a callback, then a coroutine waited for.
        let ran_on = Arc::new(std::sync::Mutex::new(None));
        let r = ran_on.clone();
        target
            .call_soon_threadsafe(move || *r.lock().unwrap() = std::thread::current().id().into())
            .unwrap();
        let answer = target
            .run_coroutine_threadsafe(|| async {
                ringloop::sleep(Duration::from_millis(1)).await;
                (std::thread::current().id(), ringloop::driver_kind())
            })
            .wait_blocking()
            .unwrap();
        assert_eq!(answer.0, thread.thread().id());
        assert_eq!(answer.1, mode.driver_kind());
        assert_eq!(*ran_on.lock().unwrap(), Some(thread.thread().id()));

        // Another runtime awaits it; the future built there need not be Send.
        let out = mode.run(async {
            let handle = target.run_coroutine_threadsafe(|| async {
                let local = std::rc::Rc::new(5);
                ringloop::yield_now().await;
                *local * 2
            });
            within("a remote call", handle).await
        });
        assert_eq!(out, Ok(10));

        stop.set();
        thread.join().unwrap();
        assert!(target.is_closed());
        // Used after its runtime stopped: an error, nothing runs.
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        assert_eq!(target.call_soon_threadsafe(move || r.store(true, SeqCst)), Err(CallError::Stopped));
        assert_eq!(target.run_coroutine_threadsafe(|| async { 1 }).wait_blocking(), Err(CallError::Stopped));
        assert!(!ran.load(SeqCst));
    }
}

matrix_test! {
    fn submit_to_and_invoke_on_all_across_shards(mode) {
        let results = mode
            .shards(2)
            .run(|i| async move {
                let other = 1 - i;
                let there = shard::submit_to(other, || async { shard::shard_id() }).await.unwrap();
                let all = shard::invoke_on_all(|| async { shard::shard_id() * 10 }).await;
                (there, all)
            })
            .unwrap();
        assert_eq!(results[0], Ok((1, vec![Ok(0), Ok(10)])));
        assert_eq!(results[1], Ok((0, vec![Ok(0), Ok(10)])));
        // A plain runtime is a program of one shard.
        let own = Mode::Epoll.run(async {
            (shard::shard_id(), shard::shard_count(), shard::submit_to(0, || async { 7 }).await)
        });
        assert_eq!(own, (0, 1, Ok(7)));
    }
}

matrix_test! {
    fn a_call_cancelled_while_queued_never_runs_and_one_cancelled_while_running_is_dropped(mode) {
        let stop = Event::new();
        let (target, thread) = serve(mode, stop.clone());
        let made = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));

        // Queued: the target is busy (blocked in a callback) when the call is
        // queued and cancelled; when it gets to it, it does not build the future.
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        target
            .call_soon_threadsafe(move || {
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .unwrap();
        entered.recv().unwrap();
        let m = made.clone();
        let mut queued = target.run_coroutine_threadsafe(move || {
            m.fetch_add(1, SeqCst);
            async {}
        });
        assert!(queued.cancel());
        release.send(()).unwrap();
        assert_eq!(queued.wait_blocking(), Err(CallError::Cancelled));

        // Running: the remote future waits forever; cancelling drops it there.
        let (m, d) = (made.clone(), dropped.clone());
        let (started_tx, started) = mpsc::channel();
        let mut running = target.run_coroutine_threadsafe(move || {
            m.fetch_add(1, SeqCst);
            let token = Count(d);
            async move {
                let _token = token;
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            }
        });
        started.recv().unwrap();
        assert!(running.cancel());
        assert_eq!(running.wait_blocking(), Err(CallError::Cancelled));
        assert_eq!(made.load(SeqCst), 1, "the queued call built its future");
        // The target drops the future at its next turn.
        let deadline = std::time::Instant::now() + support::step();
        while dropped.load(SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "the cancelled future was never dropped");
            std::thread::sleep(Duration::from_millis(1));
        }

        // Dropping a handle cancels too.
        let d = dropped.clone();
        let (started_tx, started) = mpsc::channel();
        let handle = target.run_coroutine_threadsafe(move || {
            let token = Count(d);
            async move {
                let _token = token;
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            }
        });
        started.recv().unwrap();
        drop(handle);
        let deadline = std::time::Instant::now() + support::step();
        while dropped.load(SeqCst) < 2 {
            assert!(std::time::Instant::now() < deadline, "the dropped handle's future lives on");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(target.calls_in_flight(), 0);

        stop.set();
        thread.join().unwrap();
    }
}

matrix_test! {
    fn a_runtime_that_stops_cancels_its_remote_tasks_and_refuses_its_queued_calls(mode) {
        let stop = Event::new();
        let (target, thread) = serve(mode, stop.clone());
        let (started_tx, started) = mpsc::channel();
        let running = target.run_coroutine_threadsafe(move || async move {
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        });
        started.recv().unwrap();
        // Block the target, queue a call behind the block, then stop it.
        let (release, release_rx) = mpsc::channel::<()>();
        let (entered_tx, entered) = mpsc::channel();
        target
            .call_soon_threadsafe(move || {
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .unwrap();
        entered.recv().unwrap();
        let queued = target.run_coroutine_threadsafe(|| async { 1 });
        stop.set();
        release.send(()).unwrap();
        thread.join().unwrap();
        assert_eq!(running.wait_blocking(), Err(CallError::Cancelled));
        // The queued call either ran before the stop was seen or was refused.
        let queued = queued.wait_blocking();
        assert!(matches!(queued, Ok(1) | Err(CallError::Stopped) | Err(CallError::Cancelled)), "{queued:?}");
        // (Its permits were all given back, but the slot may already serve another
        // test's runtime, whose calls `calls_in_flight` would count.)
    }
}

matrix_test! {
    fn panics_in_calls_are_reported_to_the_caller(mode) {
        let stop = Event::new();
        let (target, thread) = serve(mode, stop.clone());
        let in_future = target.run_coroutine_threadsafe(|| async {
            ringloop::yield_now().await;
            panic!("remote boom")
        });
        assert_eq!(in_future.wait_blocking(), Err(CallError::Panicked("remote boom".into())));
        let in_make = target.run_coroutine_threadsafe(|| -> std::future::Ready<()> { panic!("make boom") });
        assert_eq!(in_make.wait_blocking(), Err(CallError::Panicked("make boom".into())));
        // A panicking callback is reported on stderr; the loop goes on.
        target.call_soon_threadsafe(|| panic!("callback boom")).unwrap();
        assert_eq!(target.run_coroutine_threadsafe(|| async { 3 }).wait_blocking(), Ok(3));
        stop.set();
        thread.join().unwrap();
    }
}

matrix_test! {
    fn ten_thousand_calls_to_a_slow_target_stay_within_its_capacity(mode) {
        const CALLS: usize = 10_000;
        const CAPACITY: usize = 64;
        let results = mode
            .shards(2)
            .call_capacity(CAPACITY)
            .configure(move |_, _| mode.builder().call_capacity(CAPACITY))
            .run(|i| async move {
                if i == 1 {
                    return (0, 0);
                }
                let target = shard::handle(1);
                let done = Arc::new(AtomicUsize::new(0));
                let peak = std::rc::Rc::new(std::cell::Cell::new(0));
                let gate = Event::new();
                // Every call is created at once; each one's body is slow, and
                // none ends before the gate opens.
                let handles: Vec<_> = (0..CALLS)
                    .map(|n| {
                        let (done, gate) = (done.clone(), gate.clone());
                        target.run_coroutine_threadsafe(move || async move {
                            gate.wait().await;
                            ringloop::sleep(Duration::from_micros(200)).await;
                            done.fetch_add(1, SeqCst);
                            n
                        })
                    })
                    .collect();
                peak.set(target.calls_in_flight());
                // A non-blocking call is refused while the target is full.
                assert_eq!(target.call_soon_threadsafe(|| ()), Err(CallError::Full));
                gate.set();
                let mut sum = 0;
                for handle in handles {
                    peak.set(peak.get().max(target.calls_in_flight()));
                    sum += within("a call", handle).await.unwrap();
                }
                assert_eq!(done.load(SeqCst), CALLS);
                assert_eq!(sum, CALLS * (CALLS - 1) / 2);
                assert_eq!(target.callers_waiting(), 0);
                (peak.get(), target.calls_in_flight())
            })
            .unwrap();
        let (peak, left) = results[0].clone().unwrap();
        assert!(peak <= CAPACITY, "{peak} calls queued or running at once");
        assert_eq!(peak, CAPACITY, "the calls were not queued up to the capacity");
        assert_eq!(left, 0);
    }
}

matrix_test! {
    fn a_caller_waiting_for_room_leaves_when_dropped(mode) {
        let results = mode
            .shards(2)
            .configure(move |_, _| mode.builder().call_capacity(1))
            .run(|i| async move {
                if i == 1 {
                    return true;
                }
                let target = shard::handle(1);
                let gate = Arc::new(Event::new());
                let g = gate.clone();
                // Takes the target's only slot until the gate opens.
                let first = target.run_coroutine_threadsafe(move || async move { g.wait().await });
                let mut second = Box::pin(target.run_coroutine_threadsafe(|| async { 2 }));
                assert!(support::poll_in_task(&mut second).await.is_pending());
                assert_eq!(target.callers_waiting(), 1);
                drop(second);
                assert_eq!(target.callers_waiting(), 0);
                // The same for a reservation, and a non-blocking call is refused.
                let mut reserve = Box::pin(target.reserve());
                assert!(support::poll_in_task(&mut reserve).await.is_pending());
                assert_eq!(target.callers_waiting(), 1);
                assert_eq!(target.call_soon_threadsafe(|| ()), Err(CallError::Full));
                drop(reserve);
                assert_eq!(target.callers_waiting(), 0);
                // A third waits, then gets the slot when the first finishes.
                let third = target.run_coroutine_threadsafe(|| async { 3 });
                let ran = Arc::new(AtomicBool::new(false));
                let r = ran.clone();
                let fourth = async {
                    let slot = within("a reservation", target.reserve()).await.unwrap();
                    slot.call_soon_threadsafe(move || r.store(true, SeqCst)).unwrap();
                };
                gate.set();
                assert_eq!(within("first", first).await, Ok(()));
                assert_eq!(within("third", third).await, Ok(3));
                fourth.await;
                support::eventually("the reserved call ran", || ran.load(SeqCst)).await;
                // The reserved call's slot is given back just after it ran.
                support::eventually("the slots given back", || target.calls_in_flight() == 0).await;
                target.callers_waiting() == 0
            })
            .unwrap();
        assert_eq!(results, [Ok(true), Ok(true)]);
    }
}

matrix_test! {
    fn every_caller_waiting_on_a_target_that_stops_returns(mode) {
        let stop = Event::new();
        let (tx, rx) = mpsc::channel();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = mode.builder().call_capacity(1).build().unwrap();
            tx.send(rt.handle()).unwrap();
            rt.block_on(async move { s.wait().await });
        });
        let target = rx.recv().unwrap();
        // The only slot is taken by a call that never ends; three callers wait.
        let (started_tx, started) = mpsc::channel();
        let running = target.run_coroutine_threadsafe(move || async move {
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        });
        started.recv().unwrap();
        let callers: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(move || target.run_coroutine_threadsafe(|| async { 1 }).wait_blocking()))
            .collect();
        let deadline = std::time::Instant::now() + support::step();
        while target.callers_waiting() < 3 {
            assert!(std::time::Instant::now() < deadline, "the callers never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.set();
        thread.join().unwrap();
        assert_eq!(running.wait_blocking(), Err(CallError::Cancelled));
        // Each woken caller finds the target stopped and passes the wake on.
        let deadline = std::time::Instant::now() + support::step();
        while callers.iter().any(|c| !c.is_finished()) {
            assert!(std::time::Instant::now() < deadline, "callers stranded: {} waiting", target.callers_waiting());
            std::thread::sleep(Duration::from_millis(1));
        }
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Err(CallError::Stopped));
        }
        // (Not `callers_waiting() == 0`: the stopped runtime's slot may already
        // serve another test's runtime, whose callers it would count.)
    }
}

/// Counts its wakes.
struct CountWaker(AtomicUsize);

impl std::task::Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting() -> (Arc<CountWaker>, std::task::Waker) {
    let w = Arc::new(CountWaker(AtomicUsize::new(0)));
    (w.clone(), std::task::Waker::from(w))
}

any_driver_test! {
    fn a_call_cancelled_while_waiting_for_room_resolves_cancelled(mode) {
        let rt = mode.builder().call_capacity(1).build().unwrap();
        let h = rt.handle();
        let _first = h.run_coroutine_threadsafe(std::future::pending::<()>);
        assert_eq!(h.calls_in_flight(), 1);
        let mut second = h.run_coroutine_threadsafe(|| async { 1 });
        assert!(second.cancel());
        assert_eq!(second.wait_blocking(), Err(CallError::Cancelled));
    }
}

any_driver_test! {
    fn a_woken_caller_beaten_by_a_newcomer_keeps_its_place_in_line(mode) {
        use std::future::Future;
        use std::task::{Context, Poll};
        let rt = mode.builder().call_capacity(1).build().unwrap();
        let h = rt.handle();
        let (_c, w) = counting();
        let mut cx = Context::from_waker(&w);
        // The only slot, reserved.
        let mut r = Box::pin(h.reserve());
        let Poll::Ready(Ok(slot)) = r.as_mut().poll(&mut cx) else { panic!("no room") };
        drop(r);
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        let mut a = h.run_coroutine_threadsafe(|| async { 1 });
        let mut b = h.run_coroutine_threadsafe(|| async { 2 });
        assert!(std::pin::Pin::new(&mut a).poll(&mut Context::from_waker(&w1)).is_pending());
        assert!(std::pin::Pin::new(&mut b).poll(&mut Context::from_waker(&w2)).is_pending());
        assert_eq!(h.callers_waiting(), 2);
        drop(slot); // wakes the first in line, a
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (1, 0));
        // A newcomer takes the slot before a polls again.
        let mut n = Box::pin(h.reserve());
        let Poll::Ready(Ok(slot)) = n.as_mut().poll(&mut cx) else { panic!("no room") };
        drop(n);
        assert!(std::pin::Pin::new(&mut a).poll(&mut Context::from_waker(&w1)).is_pending());
        drop(slot); // the next release wakes a again, not b
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (2, 0));
    }
}

any_driver_test! {
    fn a_queued_call_whose_destructor_panics_does_not_cut_shutdown_short(mode) {
        struct PanicOnDrop;
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                if !std::thread::panicking() {
                    panic!("a queued call's destructor panics");
                }
            }
        }
        let rt = mode.runtime();
        let h = rt.handle();
        let guard = PanicOnDrop;
        h.call_soon_threadsafe(move || drop(guard)).unwrap();
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(rt)));
        assert!(dropped.is_ok(), "the runtime's drop panicked");
        assert!(h.is_closed());
    }
}
