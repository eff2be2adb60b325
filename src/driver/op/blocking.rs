//! The blocking form of a file-system op: the same system call on the blocking
//! pool, where the ring lacks the op's opcode (an older kernel, the 5.10 mask) and
//! on epoll (a file-system call never waits for readiness: made on the loop's
//! thread it would stall every task). The driver makes the choice, so a caller just
//! runs the op (compio's `OpEntry::Blocking` has the same role).
//!
//! The pool itself is not the driver's: the runtime gives its driver an
//! [`Offload`] function when it creates it (`to_thread` on the process-wide pool).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Op, OpKind};
use crate::driver::Handle;

/// Runs a job on the blocking pool; resolves once it has run (an error when the
/// pool could not run it, or it panicked).
pub(crate) type Offload =
    fn(Box<dyn FnOnce() + Send>) -> Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// An op with a blocking form.
pub(crate) trait Blocking: OpKind<Output = io::Result<Self::Value>> {
    /// What the op gives.
    type Value: Send + 'static;
    /// The opcode the ring must have for the op to go there.
    const OPCODE: u8;
    /// The system call as a job for another thread, with what it needs taken by
    /// value: a duplicate of the descriptor (the op's `SharedFd` stays on this
    /// thread), a copy of the path.
    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<Self::Value> + Send + 'static>;
}

/// Runs `op` on the ring when the current driver's probe has its opcode, else its
/// blocking form on the pool.
///
/// Not cancel-safe beyond what the op itself is: dropped, a job already on the pool
/// still runs (as asyncio's `to_thread`), and a ring op is cancelled as any op.
pub(crate) async fn run<T: Blocking>(op: T) -> io::Result<T::Value> {
    let offload = Handle::with_current(|driver| {
        (!driver.features().supports_opcode(T::OPCODE)).then(|| driver.offload())
    })
    .flatten();
    let Some(offload) = offload else {
        // On the ring; or outside a runtime, which the op reports.
        return Op::new(op).await;
    };
    let job = op.job()?;
    drop(op);
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    offload(Box::new(move || {
        let result = job();
        *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }))
    .await?;
    let result = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    result.unwrap_or_else(|| Err(io::Error::other("the blocking pool lost a job")))
}
