//! Cancellation of queue operations: a get dropped after being woken passes its item
//! on, a put dropped after being woken passes its place on, a dropped put drops its
//! item, dropped joins leave nothing behind, tasks cancelled while woken lose
//! nothing; 1,000 producers and 1,000 consumers through a queue of one place; and
//! seeded randomized cancel schedules of put/get/join on the three queue kinds.

mod support;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::queue::{LifoQueue, PriorityQueue, Queue, QueueShutDown, TryGetError, TryPutError};
use ringloop::{wait_for, JoinError, JoinHandle};
use support::{poll_once, yield_turns, Drops, Rng};

const GUARD: Duration = Duration::from_secs(10);

any_driver_test! {
    fn dropped_woken_get_passes_its_item_on(mode) {
        mode.run(async {
            let drops = Drops::new();
            let q = Queue::new(0);
            // Two getters wait; the first is woken, then dropped before it runs.
            let mut g1 = Box::pin(q.get());
            let mut g2 = Box::pin(q.get());
            assert!(poll_once(&mut g1).is_pending());
            assert!(poll_once(&mut g2).is_pending());
            q.put_nowait(drops.token()).unwrap();
            drop(g1);
            assert_eq!(drops.count(), 0, "the item went down with the dropped get");
            assert!(matches!(poll_once(&mut g2), Poll::Ready(Ok(_))));
            assert_eq!(drops.count(), 1);

            // No getter left to pass it to: the item stays in the queue for anyone.
            let mut g = Box::pin(q.get());
            assert!(poll_once(&mut g).is_pending());
            q.put_nowait(drops.token()).unwrap();
            drop(g);
            assert_eq!(q.qsize(), 1);
            assert!(q.get_nowait().is_ok());

            // A get dropped before its first poll, or while waiting, changes nothing.
            drop(q.get());
            let mut g = Box::pin(q.get());
            assert!(poll_once(&mut g).is_pending());
            drop(g);
            q.put_nowait(drops.token()).unwrap();
            assert!(q.get_nowait().is_ok());
            assert_eq!(drops.count(), 3);
            assert!(format!("{q:?}").contains("getters: 0"), "{q:?}");
        });
    }
}

any_driver_test! {
    fn dropped_woken_put_passes_its_place_on(mode) {
        mode.run(async {
            let q = Queue::new(1);
            q.put_nowait(0).unwrap();
            let mut p1 = Box::pin(q.put(1));
            let mut p2 = Box::pin(q.put(2));
            assert!(poll_once(&mut p1).is_pending());
            assert!(poll_once(&mut p2).is_pending());
            assert_eq!(q.get_nowait(), Ok(0)); // wakes p1
            drop(p1); // ... which passes the wake-up on to p2
            assert_eq!(poll_once(&mut p2), Poll::Ready(Ok(())));
            assert_eq!(q.get_nowait(), Ok(2));

            // Woken, then the place is filled by someone else, then dropped: nothing
            // to pass on.
            q.put_nowait(3).unwrap();
            let mut p3 = Box::pin(q.put(4));
            let mut p4 = Box::pin(q.put(5));
            assert!(poll_once(&mut p3).is_pending());
            assert!(poll_once(&mut p4).is_pending());
            assert_eq!(q.get_nowait(), Ok(3)); // wakes p3
            assert_eq!(q.put_nowait(6), Ok(()));
            drop(p3);
            assert!(poll_once(&mut p4).is_pending());
            assert_eq!(q.get_nowait(), Ok(6)); // wakes p4
            assert_eq!(poll_once(&mut p4), Poll::Ready(Ok(())));
            assert_eq!(q.get_nowait(), Ok(5));

            // Nobody to pass it to: the place is free again.
            q.put_nowait(3).unwrap();
            let mut p = Box::pin(q.put(4));
            assert!(poll_once(&mut p).is_pending());
            assert_eq!(q.get_nowait(), Ok(3));
            drop(p);
            assert_eq!(q.put_nowait(5), Ok(()));
            assert!(format!("{q:?}").contains("putters: 0"), "{q:?}");
        });
    }
}

any_driver_test! {
    fn dropped_put_drops_its_item_and_a_completed_one_is_queued(mode) {
        mode.run(async {
            let drops = Drops::new();
            let q = Queue::new(1);
            // Never polled.
            drop(q.put(drops.token()));
            assert_eq!((drops.count(), q.qsize()), (1, 0));
            // Completed on its first poll: the item is in the queue.
            let mut put = Box::pin(q.put(drops.token()));
            assert!(matches!(poll_once(&mut put), Poll::Ready(Ok(()))));
            drop(put);
            assert_eq!((drops.count(), q.qsize()), (1, 1));
            // Waiting on the full queue, then dropped: its item goes with it.
            let mut put = Box::pin(q.put(drops.token()));
            assert!(poll_once(&mut put).is_pending());
            drop(put);
            assert_eq!((drops.count(), q.qsize()), (2, 1));
            // Woken (a place freed up), then dropped: same.
            let mut put = Box::pin(q.put(drops.token()));
            assert!(poll_once(&mut put).is_pending());
            drop(q.get_nowait().unwrap());
            assert_eq!(drops.count(), 3);
            drop(put);
            assert_eq!((drops.count(), q.qsize()), (4, 0));
            assert_eq!(q.unfinished_tasks(), 1);
        });
    }
}

any_driver_test! {
    fn dropped_joins_leave_nothing_behind(mode) {
        mode.run(async {
            let q = Queue::new(0);
            q.put_nowait(1).unwrap();
            for _ in 0..1000 {
                let mut join = Box::pin(q.join());
                assert!(poll_once(&mut join).is_pending());
            }
            assert!(format!("{q:?}").contains("joiners: 0"), "{q:?}");
            // A join woken and dropped before it runs takes nothing from the others.
            let mut a = Box::pin(q.join());
            let mut b = Box::pin(q.join());
            assert!(poll_once(&mut a).is_pending());
            assert!(poll_once(&mut b).is_pending());
            q.get_nowait().unwrap();
            q.task_done().unwrap();
            drop(a);
            assert_eq!(poll_once(&mut b), Poll::Ready(()));
        });
    }
}

any_driver_test! {
    fn tasks_cancelled_while_woken_lose_nothing(mode) {
        mode.run(async {
            let q = Queue::new(1);
            let received = Rc::new(RefCell::new(Vec::new()));
            let getters: Vec<JoinHandle<()>> = (0..3)
                .map(|_| {
                    let (q, received) = (q.clone(), received.clone());
                    ringloop::spawn(async move {
                        let item = q.get().await.unwrap();
                        received.borrow_mut().push(item);
                    })
                })
                .collect();
            yield_turns(2).await;
            // Wake the first getter, and cancel its task before it runs.
            q.put_nowait(10).unwrap();
            getters[0].cancel();
            yield_turns(3).await;
            assert_eq!(*received.borrow(), [10], "the item went to the next getter");
            q.put_nowait(11).unwrap();
            yield_turns(3).await;
            assert_eq!(*received.borrow(), [10, 11]);
            let mut results = Vec::new();
            for h in getters.into_iter() {
                results.push(wait_for(GUARD, h).await.unwrap());
            }
            assert_eq!(results, [Err(JoinError::Cancelled), Ok(()), Ok(())]);

            // Same for putters on a full queue.
            q.put_nowait(20).unwrap();
            let putters: Vec<JoinHandle<_>> = [21, 22]
                .into_iter()
                .map(|i| {
                    let q = q.clone();
                    ringloop::spawn(async move { q.put(i).await })
                })
                .collect();
            yield_turns(2).await;
            // Wake the first putter, and cancel its task before it runs.
            assert_eq!(q.get_nowait(), Ok(20));
            putters[0].cancel();
            yield_turns(3).await;
            assert_eq!(q.get_nowait(), Ok(22), "the place went to the next putter");
            let mut results = Vec::new();
            for h in putters.into_iter() {
                results.push(wait_for(GUARD, h).await.unwrap());
            }
            assert_eq!(results, [Err(JoinError::Cancelled), Ok(Ok(()))]);
            assert!(q.empty());
        });
    }
}

any_driver_test! {
    fn thousand_producers_and_consumers_through_one_place(mode) {
        mode.run(async {
            let q = Queue::new(1);
            let producers: Vec<_> = (0..1000u32)
                .map(|i| {
                    let q = q.clone();
                    ringloop::spawn(async move { q.put(i).await })
                })
                .collect();
            let consumers: Vec<_> = (0..1000)
                .map(|_| {
                    let q = q.clone();
                    ringloop::spawn(async move {
                        let item = q.get().await.unwrap();
                        q.task_done().unwrap();
                        item
                    })
                })
                .collect();
            wait_for(GUARD, q.join()).await.unwrap();
            let mut got = Vec::new();
            for c in consumers {
                got.push(wait_for(GUARD, c).await.unwrap().unwrap());
            }
            for p in producers {
                assert_eq!(wait_for(GUARD, p).await.unwrap().unwrap(), Ok(()));
            }
            // FIFO all the way: producers and consumers were served in arrival order.
            assert_eq!(got, (0..1000).collect::<Vec<_>>());
            assert!(q.empty() && q.get_nowait() == Err(TryGetError::Empty(ringloop::queue::QueueEmpty)));
        });
    }
}

// ----- randomized cancel schedules -------------------------------------------------

/// The three queue kinds behind one interface, for the randomized test.
trait AnyQueue: Clone + 'static {
    fn put(&self, item: u32) -> Pin<Box<dyn Future<Output = Result<(), QueueShutDown<u32>>> + '_>>;
    fn get(&self) -> Pin<Box<dyn Future<Output = Result<u32, QueueShutDown>> + '_>>;
    fn join(&self) -> Pin<Box<dyn Future<Output = ()> + '_>>;
    fn put_nowait(&self, item: u32) -> Result<(), TryPutError<u32>>;
    fn get_nowait(&self) -> Result<u32, TryGetError>;
    fn task_done(&self);
    fn qsize(&self) -> usize;
    fn unfinished_tasks(&self) -> usize;
    fn maxsize(&self) -> usize;
    fn shutdown(&self, immediate: bool);
}

macro_rules! any_queue {
    ($($name:ident),*) => {$(
        impl AnyQueue for $name<u32> {
            fn put(&self, item: u32) -> Pin<Box<dyn Future<Output = Result<(), QueueShutDown<u32>>> + '_>> {
                Box::pin($name::put(self, item))
            }
            fn get(&self) -> Pin<Box<dyn Future<Output = Result<u32, QueueShutDown>> + '_>> {
                Box::pin($name::get(self))
            }
            fn join(&self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
                Box::pin($name::join(self))
            }
            fn put_nowait(&self, item: u32) -> Result<(), TryPutError<u32>> {
                $name::put_nowait(self, item)
            }
            fn get_nowait(&self) -> Result<u32, TryGetError> {
                $name::get_nowait(self)
            }
            fn task_done(&self) {
                $name::task_done(self).expect("task_done for an item received");
            }
            fn qsize(&self) -> usize {
                $name::qsize(self)
            }
            fn unfinished_tasks(&self) -> usize {
                $name::unfinished_tasks(self)
            }
            fn maxsize(&self) -> usize {
                $name::maxsize(self)
            }
            fn shutdown(&self, immediate: bool) {
                $name::shutdown(self, immediate)
            }
        }
    )*};
}

any_queue!(Queue, LifoQueue, PriorityQueue);

/// What one seed's run shares between its tasks.
struct World {
    rng: RefCell<Rng>,
    /// Items the queue accepted (a put returned `Ok`).
    accepted: RefCell<Vec<u32>>,
    /// Items a get returned.
    received: RefCell<Vec<u32>>,
    seed: u64,
}

impl World {
    fn chance(&self, percent: u64) -> bool {
        self.rng.borrow_mut().chance(percent)
    }

    fn below(&self, n: u64) -> u64 {
        self.rng.borrow_mut().below(n)
    }

    /// Checks, between two steps of the schedule, that the queue holds exactly the
    /// items accepted and not received, and that each received item was marked done.
    fn check<Q: AnyQueue>(&self, q: &Q) {
        let (accepted, received) = (self.accepted.borrow().len(), self.received.borrow().len());
        assert!(
            received <= accepted,
            "seed {}: received more than accepted",
            self.seed
        );
        assert_eq!(q.qsize(), accepted - received, "seed {}: qsize", self.seed);
        assert_eq!(
            q.unfinished_tasks(),
            q.qsize(),
            "seed {}: unfinished",
            self.seed
        );
        if q.maxsize() > 0 {
            assert!(q.qsize() <= q.maxsize(), "seed {}: over maxsize", self.seed);
        }
    }
}

/// Polls `future` until it completes, but before each poll drops it with
/// probability `percent`% (then gives `None`). While it waits, it sometimes asks to
/// be polled again (a spurious wake), so that it can be dropped while waiting, not
/// only right after being woken.
async fn chaos<F: Future>(world: &World, percent: u64, future: F) -> Option<F::Output> {
    if world.chance(percent / 2) {
        return None; // dropped before its first poll
    }
    let mut future = pin!(Some(future));
    poll_fn(|cx| {
        if world.chance(percent) {
            future.set(None);
            return Poll::Ready(None);
        }
        let inner = future
            .as_mut()
            .as_pin_mut()
            .expect("polled after completion");
        match inner.poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending => {
                if world.chance(30) {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    })
    .await
}

async fn producer<Q: AnyQueue>(world: Rc<World>, q: Q, ids: Vec<u32>) {
    for id in ids {
        // Retry until the queue takes it; a cancelled put drops its item (a copy).
        loop {
            if world.chance(20) {
                match q.put_nowait(id) {
                    Ok(()) => break world.accepted.borrow_mut().push(id),
                    Err(e) => assert!(e.is_full(), "seed {}: {e:?}", world.seed),
                }
            } else if let Some(result) = chaos(&world, 15, q.put(id)).await {
                result.unwrap_or_else(|e| panic!("seed {}: {e:?}", world.seed));
                break world.accepted.borrow_mut().push(id);
            }
            world.check(&q);
            ringloop::yield_now().await;
        }
        world.check(&q);
        if world.chance(30) {
            ringloop::yield_now().await;
        }
    }
}

/// Takes items until the queue is shut down and drained.
async fn consumer<Q: AnyQueue>(world: Rc<World>, q: Q, percent: u64) {
    loop {
        let got = if world.chance(20) {
            match q.get_nowait() {
                Ok(item) => Some(Ok(item)),
                Err(TryGetError::Empty(_)) => None,
                Err(TryGetError::ShutDown(e)) => Some(Err(e)),
            }
        } else {
            chaos(&world, percent, q.get()).await
        };
        match got {
            Some(Ok(item)) => {
                world.received.borrow_mut().push(item);
                q.task_done();
            }
            Some(Err(QueueShutDown(()))) => return,
            None => {}
        }
        world.check(&q);
        if world.chance(40) {
            ringloop::yield_now().await;
        }
    }
}

async fn joiner<Q: AnyQueue>(world: Rc<World>, q: Q) {
    for _ in 0..5 {
        chaos(&world, 20, q.join()).await;
        ringloop::yield_now().await;
    }
}

async fn schedule<Q: AnyQueue>(seed: u64, q: Q) {
    let world = Rc::new(World {
        rng: RefCell::new(Rng::new(seed)),
        accepted: RefCell::default(),
        received: RefCell::default(),
        seed,
    });
    let nprod = 1 + world.below(4) as u32;
    let ncon = 1 + world.below(4);
    let mut producers = Vec::new();
    for p in 0..nprod {
        let ids = (0..1 + world.below(15) as u32)
            .map(|k| p * 1000 + k)
            .collect();
        producers.push(ringloop::spawn(producer(world.clone(), q.clone(), ids)));
    }
    let consumers: Vec<_> = (0..ncon)
        .map(|_| ringloop::spawn(consumer(world.clone(), q.clone(), 15)))
        .collect();
    let joiners: Vec<_> = (0..world.below(3))
        .map(|_| ringloop::spawn(joiner(world.clone(), q.clone())))
        .collect();
    // Now and then, cancel a whole task (possibly woken and not yet run).
    for _ in 0..world.below(4) {
        yield_turns(world.below(20) as usize).await;
        let victim = world.below(u64::from(nprod) + ncon) as usize;
        match producers.get(victim) {
            Some(p) => p.cancel(),
            None => consumers[victim - producers.len()].cancel(),
        };
        world.check(&q);
    }
    // A last consumer that is never cancelled: with the others it must drain the
    // queue, so that the producers finish (every consumer may have been cancelled
    // above, with a bounded queue full) and join returns (a lost item or wake-up
    // would hang it).
    let drainer = ringloop::spawn(consumer(world.clone(), q.clone(), 0));
    for p in producers {
        match wait_for(GUARD, p).await {
            Ok(Ok(())) | Ok(Err(JoinError::Cancelled)) => {}
            other => panic!("seed {seed}: producer {other:?}"),
        }
    }
    assert!(
        wait_for(GUARD, q.join()).await.is_ok(),
        "seed {seed}: join hung with {} items queued",
        q.qsize()
    );
    q.shutdown(world.chance(50));
    for task in consumers.into_iter().chain([drainer]) {
        match wait_for(GUARD, task).await {
            Ok(Ok(())) | Ok(Err(JoinError::Cancelled)) => {}
            other => panic!("seed {seed}: consumer {other:?}"),
        }
    }
    for task in joiners {
        assert_eq!(
            wait_for(GUARD, task).await,
            Ok(Ok(())),
            "seed {seed}: joiner"
        );
    }
    world.check(&q);
    let mut accepted = world.accepted.take();
    let mut received = world.received.take();
    accepted.sort_unstable();
    received.sort_unstable();
    assert_eq!(accepted, received, "seed {seed}: items lost or duplicated");
    assert_eq!(q.qsize(), 0, "seed {seed}");
}

any_driver_test! {
    fn randomized_cancel_schedules(mode) {
        mode.run(async {
            for seed in 0..200u64 {
                let maxsize = [0, 1, 2, 3, 5][(seed % 5) as usize];
                match seed % 3 {
                    0 => schedule(seed, Queue::new(maxsize)).await,
                    1 => schedule(seed, LifoQueue::new(maxsize)).await,
                    _ => schedule(seed, PriorityQueue::new(maxsize)).await,
                }
            }
        });
    }
}
