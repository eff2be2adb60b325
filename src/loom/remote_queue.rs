//! The remote-wake queue of `runtime/inbox.rs`: every push made while its runtime
//! owns the inbox is taken exactly once; a push after `close` (a wake after
//! shutdown) is dropped on the spot; an inbox reused by a new runtime never hands it
//! a wake meant for the previous one.

use ::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use ::loom::sync::Arc;
use ::loom::thread;

use crate::runtime::inbox::Inbox;

/// A queued wake: says which runtime it was meant for, counts its drops.
struct Item {
    owner: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// Spawns a thread that pushes one item for runtime `owner`.
fn pusher(
    inbox: &Arc<Inbox<Item>>,
    owner: u64,
    drops: &Arc<AtomicUsize>,
) -> thread::JoinHandle<()> {
    let inbox = inbox.clone();
    let drops = drops.clone();
    thread::spawn(move || {
        // The eventfd is not modelled here (see `park.rs`).
        let _ = inbox.push(owner, Item { owner, drops });
    })
}

#[test]
fn every_push_is_taken_exactly_once() {
    super::check(|| {
        let inbox = Arc::new(Inbox::new());
        inbox.open(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let pushers = [pusher(&inbox, 1, &drops), pusher(&inbox, 1, &drops)];
        // The owner takes while the pushes land, as the loop does each turn ...
        let mut taken = Vec::new();
        for _ in 0..2 {
            let mut buf = Vec::new();
            inbox.take(&mut buf);
            taken.append(&mut buf);
        }
        for pusher in pushers {
            pusher.join().unwrap();
        }
        // ... and `pending` still announces whatever it has not taken yet.
        let mut buf = Vec::new();
        inbox.take(&mut buf);
        taken.append(&mut buf);
        assert_eq!(taken.len(), 2);
        assert_eq!(drops.load(SeqCst), 0);
        assert!(inbox.close().is_empty());
    });
}

#[test]
fn a_push_racing_close_is_returned_or_dropped() {
    super::check(|| {
        let inbox = Arc::new(Inbox::new());
        inbox.open(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let late = pusher(&inbox, 1, &drops);
        let leftovers = inbox.close();
        late.join().unwrap();
        // Either `close` handed the item back, or the push found the inbox closed
        // and dropped it; it is not left in the queue.
        assert_eq!(leftovers.len() + drops.load(SeqCst), 1);
        let mut buf = Vec::new();
        inbox.take(&mut buf);
        assert!(buf.is_empty());
        assert!(inbox.close().is_empty());
        drop(leftovers);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn a_reused_inbox_gets_no_wake_of_its_previous_owner() {
    super::check(|| {
        let inbox = Arc::new(Inbox::new());
        inbox.open(1);
        let drops = Arc::new(AtomicUsize::new(0));
        // A waker of runtime 1 and the main waker of runtime 1 wake late ...
        let stale = pusher(&inbox, 1, &drops);
        let stale_main = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                let _ = inbox.wake_main(1);
            })
        };
        // ... while runtime 1 shuts down and runtime 2 takes the inbox.
        drop(inbox.close());
        inbox.open(2);
        let fresh = pusher(&inbox, 2, &drops);
        for handle in [stale, stale_main, fresh] {
            handle.join().unwrap();
        }
        let mut buf = Vec::new();
        inbox.take(&mut buf);
        assert_eq!(buf.len(), 1);
        assert!(buf.iter().all(|item| item.owner == 2));
        // The stale item went with `close` or was dropped by its push. (The stale
        // main wake may have set the new owner's flag: one spurious poll, allowed.)
        assert_eq!(drops.load(SeqCst), 1);
        drop(buf);
        drop(inbox.close());
        assert_eq!(drops.load(SeqCst), 2);
    });
}
