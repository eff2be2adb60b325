use std::cell::RefCell; use std::rc::Rc; use std::task::{Waker,Poll,Context}; use std::pin::Pin; use std::future::Future;
struct S<T>(Rc<RefCell<(Option<T>, Option<Waker>)>>); struct R<T>(Rc<RefCell<(Option<T>, Option<Waker>)>>);
fn os<T>() -> (S<T>, R<T>) { let s = Rc::new(RefCell::new((None, None))); (S(s.clone()), R(s)) }
impl<T> S<T> { fn send(self, v: T) { let mut s = self.0.borrow_mut(); s.0 = Some(v); if let Some(w) = s.1.take() { w.wake() } } }
impl<T> Future for R<T> { type Output = T; fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> { let mut s = self.0.borrow_mut(); match s.0.take() { Some(v) => Poll::Ready(v), None => { s.1 = Some(cx.waker().clone()); Poll::Pending } } } }
fn main() {
    let rt = ringloop::Runtime::new().unwrap();
    let mut v = vec![];
    for _ in 0..15 {
    let t = std::time::Instant::now();
    for _ in 0..300 {
        rt.block_on(async {
            let rounds: Vec<_> = (0..1000).map(|_| ringloop::spawn(async {
                let (tx1, rx1) = os::<()>(); let (tx2, rx2) = os::<()>();
                ringloop::spawn(async move { rx1.await; tx2.send(()); });
                tx1.send(()); rx2.await;
            })).collect();
            for r in rounds { r.await.unwrap(); }
        });
    }
    v.push(t.elapsed() / 300_000);
    }
    v.sort();
    println!("min {:?} median {:?}", v[0], v[7]);
}
