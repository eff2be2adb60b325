//! `IORING_OP_NOP`: completes at once; measures the submission path.

use std::io;

use io_uring::{opcode, squeue};

use super::{OpKind, Readiness};

/// Does nothing, through the whole op path.
pub(crate) struct Nop;

// SAFETY: a nop entry holds no pointers.
unsafe impl OpKind for Nop {
    type Output = io::Result<u32>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Nop;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Never
    }

    fn perform(&mut self) -> io::Result<u32> {
        Ok(0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<u32> {
        result
    }
}
