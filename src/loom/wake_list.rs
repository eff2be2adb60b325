//! The per-child wakers of `task/wake_list.rs` (gather, wait, as_completed over
//! more than 16 futures), woken from other threads: the atomic bit that keeps a
//! child listed once, and the list under its lock. A child woken while its parent
//! polls is either polled by that poll or wakes the parent, which then finds it.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use ::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use ::loom::thread;

use crate::task::WakeList;

/// Enough children for the list to track wakes one by one.
const CHILDREN: usize = 17;

/// The parent task's waker: counts its wakes.
struct Parent {
    wakes: AtomicUsize,
}

impl Wake for Parent {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// A child woken from another thread: how many times so far.
struct Child {
    index: usize,
    wakes: Arc<AtomicUsize>,
}

/// One poll of the parent: for each child it polls, how many times that child
/// had been woken when it was polled (0 for the others). Keeps the wakers the
/// children are polled with in `wakers`.
fn poll(
    list: &mut WakeList,
    parent: &Waker,
    children: &[Child],
    wakers: &mut [Option<Waker>],
) -> Vec<(usize, usize)> {
    let mut cx = Context::from_waker(parent);
    let mut polled = Vec::new();
    let flow = list.for_each_woken(&mut cx, |index, child_cx| {
        let seen = children
            .iter()
            .find(|child| child.index == index)
            .map_or(0, |child| child.wakes.load(SeqCst));
        polled.push((index, seen));
        wakers[index] = Some(child_cx.waker().clone());
        ControlFlow::<()>::Continue(())
    });
    assert!(flow.is_continue());
    polled
}

/// Children `woken` are each woken twice, on a thread of their own, while the
/// parent polls again. Afterwards each was polled after its last wake by that
/// poll, or else the parent was woken and its next poll polls the child.
fn check_wakes_during_a_poll(woken: &'static [usize]) {
    super::check(move || {
        let parent = Arc::new(Parent {
            wakes: AtomicUsize::new(0),
        });
        let parent_waker = Waker::from(parent.clone());
        let children: Vec<Child> = woken
            .iter()
            .map(|&index| Child {
                index,
                wakes: Arc::new(AtomicUsize::new(0)),
            })
            .collect();
        let mut wakers: Vec<Option<Waker>> = vec![None; CHILDREN];
        let mut list = WakeList::new(CHILDREN);
        // The first poll polls every child and hands out their wakers.
        assert_eq!(
            poll(&mut list, &parent_waker, &children, &mut wakers).len(),
            CHILDREN
        );
        let threads: Vec<_> = children
            .iter()
            .map(|child| {
                let waker = wakers[child.index].take().unwrap();
                let wakes = child.wakes.clone();
                thread::spawn(move || {
                    for n in 1..=2 {
                        wakes.store(n, SeqCst);
                        waker.wake_by_ref();
                    }
                })
            })
            .collect();
        let parent_wakes_before = parent.wakes.load(SeqCst);
        let during = poll(&mut list, &parent_waker, &children, &mut wakers);
        for thread in threads {
            thread.join().unwrap();
        }
        let missed: Vec<usize> = woken
            .iter()
            .copied()
            .filter(|&index| !during.contains(&(index, 2)))
            .collect();
        if !missed.is_empty() {
            assert!(
                parent.wakes.load(SeqCst) > parent_wakes_before,
                "the parent was not woken for {missed:?}"
            );
            let after = poll(&mut list, &parent_waker, &children, &mut wakers);
            for index in missed {
                assert!(after.contains(&(index, 2)), "lost the last wake of {index}");
            }
        }
    });
}

#[test]
fn a_child_woken_during_a_poll() {
    check_wakes_during_a_poll(&[3]);
}

#[test]
fn two_children_woken_during_a_poll() {
    check_wakes_during_a_poll(&[3, 16]);
}
