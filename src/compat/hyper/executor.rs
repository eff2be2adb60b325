//! [`LocalExec`]: hyper's executor, spawning on the current loop.

use std::future::Future;

/// A `hyper::rt::Executor` that spawns each future as a task on the loop of the
/// thread that calls it ([`crate::spawn`]), with no `Send` bound: hyper's
/// background tasks (HTTP/2 streams and connections, a client's connection
/// driver) run beside the task that made them. The tasks are detached: they run
/// until they end or the loop shuts down.
///
/// Called outside a ringloop runtime, `execute` panics (as `ringloop::spawn`
/// does); hyper calls it from the tasks that use the connection, which are on the
/// loop.
///
/// ```
/// use hyper::rt::Executor;
/// use ringloop::compat::hyper::LocalExec;
/// ringloop::run(async {
///     let ran = std::rc::Rc::new(std::cell::Cell::new(false));
///     let flag = ran.clone(); // an `Rc`: the future is not `Send`
///     LocalExec.execute(async move { flag.set(true) });
///     ringloop::yield_now().await;
///     assert!(ran.get());
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}
