//! What the kernel offers: the [`Features`] the probe found, and the 5.10 mask.

use std::fmt;

use io_uring::opcode;

/// Which driver runs a runtime, as [`driver_kind`](crate::driver_kind) reports it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DriverKind {
    /// Completions from an io_uring instance.
    IoUring,
    /// Readiness from epoll, with the operations performed as plain system calls.
    Epoll,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::IoUring => "io_uring",
            DriverKind::Epoll => "epoll",
        })
    }
}

/// Which kernel's io_uring feature set the runtime may use (ARCHITECTURE.md, decision 4).
///
/// `V5_10` makes the probe report only what Linux 5.10 offers, so that every fallback
/// path (timed waits through a `TIMEOUT` entry, no task-run flags, no multishot
/// operations...) runs on a newer kernel too. Also set by
/// `RINGLOOP_KERNEL_COMPAT=5.10` when the builder does not choose.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum KernelCompat {
    /// Use whatever the running kernel supports.
    #[default]
    Native,
    /// Pretend the kernel is Linux 5.10.
    V5_10,
}

/// The highest opcode Linux 5.10 knows (`IORING_OP_TEE`).
const LAST_OPCODE_5_10: u8 = opcode::Tee::CODE;

/// What the running driver can use, as found by the probe at startup (see
/// [`features`](crate::features)).
///
/// On the epoll driver every io_uring feature is `false`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Features {
    /// The driver in use.
    pub driver: DriverKind,
    /// The feature mask in force.
    pub kernel_compat: KernelCompat,
    /// Submission queue entries.
    pub sq_entries: u32,
    /// Completion queue entries.
    pub cq_entries: u32,
    /// The ring was set up with `IORING_SETUP_SINGLE_ISSUER` (6.0).
    pub single_issuer: bool,
    /// The ring was set up with `IORING_SETUP_DEFER_TASKRUN` (6.1).
    pub defer_taskrun: bool,
    /// The ring was set up with `IORING_SETUP_COOP_TASKRUN` (5.19).
    pub coop_taskrun: bool,
    /// Timed waits pass a timeout to `io_uring_enter` (`IORING_FEAT_EXT_ARG`, 5.11);
    /// without it the runtime queues a `TIMEOUT` entry before it parks.
    pub ext_arg: bool,
    /// A multishot receive can be given a total byte limit (the entry's `optlen`,
    /// 6.17), after which it ends. Found by trying one (older kernels refuse the
    /// field). Stream readers receive this way only where the limit exists: it is
    /// what keeps what they receive bounded (`net/streams/receive.rs`).
    pub multishot_recv_limit: bool,
    /// The probe reports `IORING_OP_MSG_RING` (5.18): one loop can post a completion
    /// straight into another loop's ring. A runtime then wakes a parked runtime of
    /// another thread this way instead of writing its eventfd (unless turned off,
    /// [`Builder::msg_ring_wakes`](crate::Builder::msg_ring_wakes)). Never under
    /// [`KernelCompat::V5_10`] (5.10 has no such opcode) nor on epoll.
    pub msg_ring: bool,
    /// Positional file reads first try `preadv2(RWF_NOWAIT)`, which finishes at
    /// once, without the ring, when the bytes are in the page cache; the others go
    /// to the ring as before (ARCHITECTURE.md, "Fast paths"). On io_uring without
    /// the 5.10 mask (which keeps the ring's path tested) unless
    /// `RINGLOOP_NOWAIT_READS=0`; never on epoll, whose reads are plain calls.
    pub nowait_reads: bool,
    /// A descriptor that many reads go through gets a slot in the ring's table of
    /// registered files, which its reads then name (`IOSQE_FIXED_FILE`), sparing
    /// the kernel a descriptor lookup per request. Sparse tables came in 5.19,
    /// but an emptied slot lets its file go at once only from 6.13 (before, a
    /// closed file could stay open behind a request in flight): dated by
    /// `IORING_OP_READV_FIXED` (6.15). Never under [`KernelCompat::V5_10`] nor on
    /// epoll, where the reads name the descriptor; `RINGLOOP_FIXED_FILES=0` turns
    /// it off.
    pub fixed_files: bool,
    /// Supported opcodes, one bit each.
    opcodes: [u64; 4],
}

impl Features {
    pub(crate) fn epoll() -> Features {
        Features {
            driver: DriverKind::Epoll,
            kernel_compat: KernelCompat::Native,
            sq_entries: 0,
            cq_entries: 0,
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: false,
            ext_arg: false,
            multishot_recv_limit: false,
            msg_ring: false,
            nowait_reads: false,
            fixed_files: false,
            opcodes: [0; 4],
        }
    }

    /// Whether the kernel supports io_uring opcode `op` (as `IORING_OP_*`), after the
    /// compat mask. Always `false` on epoll.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let f = ringloop::features();
    ///     if f.driver == ringloop::DriverKind::IoUring {
    ///         assert!(f.supports_opcode(io_uring::opcode::Read::CODE));
    ///     }
    /// });
    /// ```
    pub fn supports_opcode(&self, op: u8) -> bool {
        self.opcodes[usize::from(op / 64)] & (1 << (op % 64)) != 0
    }

    // Features without an opcode of their own: each came in the same release as an
    // opcode, whose presence dates the kernel.

    /// Multishot accept (5.19, dated by `IORING_OP_SOCKET`).
    pub fn multishot_accept(&self) -> bool {
        self.supports_opcode(opcode::Socket::CODE)
    }

    /// Provided-buffer rings (5.19, dated by `IORING_OP_SOCKET`).
    pub fn buf_ring(&self) -> bool {
        self.supports_opcode(opcode::Socket::CODE)
    }

    /// Multishot receive (6.0, dated by `IORING_OP_SEND_ZC`).
    pub fn multishot_recv(&self) -> bool {
        self.supports_opcode(opcode::SendZc::CODE)
    }

    /// `IORING_OP_WAITID` (6.7): a child's exit awaited on the ring.
    pub fn waitid(&self) -> bool {
        self.supports_opcode(opcode::WaitId::CODE)
    }

    /// Builds the io_uring features from what setup and the probe reported.
    pub(crate) fn uring(
        compat: KernelCompat,
        params: &io_uring::Parameters,
        setup: SetupFlags,
        probe: Option<&io_uring::Probe>,
    ) -> Features {
        let mut opcodes = [0u64; 4];
        for op in 0..=u8::MAX {
            let supported = match probe {
                Some(probe) => probe.is_supported(op),
                // No probe (before 5.6): only what every supported kernel has.
                None => op <= LAST_OPCODE_5_10,
            };
            let allowed = compat == KernelCompat::Native || op <= LAST_OPCODE_5_10;
            if supported && allowed {
                opcodes[usize::from(op / 64)] |= 1 << (op % 64);
            }
        }
        let mut features = Features {
            driver: DriverKind::IoUring,
            kernel_compat: compat,
            sq_entries: params.sq_entries(),
            cq_entries: params.cq_entries(),
            single_issuer: setup.single_issuer,
            defer_taskrun: setup.defer_taskrun,
            coop_taskrun: setup.coop_taskrun,
            ext_arg: params.is_feature_ext_arg() && compat == KernelCompat::Native,
            multishot_recv_limit: false,
            msg_ring: false,
            nowait_reads: compat == KernelCompat::Native
                && std::env::var_os("RINGLOOP_NOWAIT_READS").is_none_or(|v| v != "0"),
            fixed_files: false,
            opcodes,
        };
        // Sparse tables came in 5.19, but an emptied slot lets its file go at
        // once only from 6.13 (`uring/fixed.rs`), dated by the next opcode.
        features.fixed_files = features.supports_opcode(opcode::ReadvFixed::CODE)
            && std::env::var_os("RINGLOOP_FIXED_FILES").is_none_or(|v| v != "0");
        // What the probe reports (after the mask), not what the kernel's version
        // suggests.
        features.msg_ring = features.supports_opcode(opcode::MsgRingData::CODE);
        features
    }
}

/// The setup flags a ring was created with.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct SetupFlags {
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
}
