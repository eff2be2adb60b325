//! Ring creation with the best flags the kernel accepts, and the opcode probe
//! (ARCHITECTURE.md, decision 3).
//!
//! | attempt | flags                                             | kernel |
//! |---------|---------------------------------------------------|--------|
//! | 1       | `SINGLE_ISSUER \| DEFER_TASKRUN \| TASKRUN_FLAG`  | 6.1    |
//! | 2       | `COOP_TASKRUN \| TASKRUN_FLAG`                    | 5.19   |
//! | 3       | none                                              | 5.10   |
//!
//! `TASKRUN_FLAG` makes the kernel raise `IORING_SQ_TASKRUN` when completions are
//! waiting to be posted, so a loop turn with nothing to submit can tell, from shared
//! memory, whether it needs `io_uring_enter` at all. Under
//! [`KernelCompat::V5_10`] only attempt 3 is made.

use std::io;

use io_uring::{IoUring, Probe};

use crate::driver::features::{Features, KernelCompat, SetupFlags};

/// Completion queue entries per submission queue entry.
const CQ_PER_SQ: u32 = 4;

/// Creates the ring and probes what it supports.
pub(super) fn create(entries: u32, compat: KernelCompat) -> io::Result<(IoUring, Features)> {
    let entries = entries.clamp(2, 32_768).next_power_of_two();
    let cq_entries = entries.saturating_mul(CQ_PER_SQ);
    let attempts: &[SetupFlags] = match compat {
        KernelCompat::Native => &[
            SetupFlags {
                single_issuer: true,
                defer_taskrun: true,
                coop_taskrun: false,
            },
            SetupFlags {
                single_issuer: false,
                defer_taskrun: false,
                coop_taskrun: true,
            },
            SetupFlags {
                single_issuer: false,
                defer_taskrun: false,
                coop_taskrun: false,
            },
        ],
        KernelCompat::V5_10 => &[SetupFlags {
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: false,
        }],
    };
    let mut last_err = None;
    for &flags in attempts {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq_entries).setup_clamp();
        if flags.single_issuer {
            builder.setup_single_issuer();
        }
        if flags.defer_taskrun {
            builder.setup_defer_taskrun().setup_taskrun_flag();
        }
        if flags.coop_taskrun {
            builder.setup_coop_taskrun().setup_taskrun_flag();
        }
        match builder.build(entries) {
            Ok(ring) => {
                let mut probe = Probe::new();
                let probe = match ring.submitter().register_probe(&mut probe) {
                    Ok(()) => Some(&probe),
                    Err(_) => None,
                };
                let mut features = Features::uring(compat, ring.params(), flags, probe);
                // A flag of an opcode, found by trying it (once per process).
                features.multishot_recv_limit = features.multishot_recv()
                    && features.buf_ring()
                    && crate::driver::op::recv_limit_supported();
                return Ok((ring, features));
            }
            // EINVAL: this kernel does not know one of the flags; try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}
