//! A seccomp filter for tests: some system calls fail with an errno of our choice,
//! as under a container's profile (Docker's refuses io_uring since 2023; some
//! refuse `pidfd_open`).

/// `AUDIT_ARCH_*` of this target (linux/audit.h), checked by the filter so that a
/// syscall number is never read against the wrong table.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Offsets in `struct seccomp_data`: `int nr; __u32 arch; ...`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_eq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Installs, on the calling thread (and the threads it starts from now on), a
/// filter under which each of `syscalls` fails with `errno` and everything else
/// is allowed. It cannot be removed: call it in a child process.
pub(crate) fn refuse(syscalls: &[libc::c_long], errno: i32) {
    let n = u8::try_from(syscalls.len()).expect("a few system calls");
    let deny = libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA);
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // arch? → nr == one of them? → deny; anything else (a foreign arch
    // included: we only deny by number on our own table) → allow.
    let mut program = vec![stmt(load, ARCH_OFFSET), jump_eq(AUDIT_ARCH, 0, n + 1)];
    program.push(stmt(load, NR_OFFSET));
    for (i, &nr) in syscalls.iter().enumerate() {
        program.push(jump_eq(nr as u32, n - i as u8, 0));
    }
    program.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    program.push(stmt(ret, deny));
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: plain prctl with integer arguments; required before an unprivileged
    // process may install a filter.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "PR_SET_NO_NEW_PRIVS: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fprog` points to `program`, a valid BPF program that outlives the call
    // (the kernel copies it).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog as libc::c_ulong,
            0,
            0,
        )
    };
    assert_eq!(rc, 0, "PR_SET_SECCOMP: {}", std::io::Error::last_os_error());
}
