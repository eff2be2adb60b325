//! CPU affinity: which CPUs the calling thread may run on, and pinning it to one.
//!
//! The masks are arrays of 64-bit words of the size the kernel wants, not libc's
//! fixed `cpu_set_t` (1024 CPUs): a host with more CPUs than that refuses a
//! `sched_getaffinity` whose mask is too small for its CPU count (`EINVAL`), so the
//! mask doubles until it fits.

use std::io;

/// Bits per mask word.
const WORD: usize = u64::BITS as usize;

/// The largest mask tried, in words: 2^20 CPUs, far above any kernel's `NR_CPUS`.
const MAX_WORDS: usize = (1 << 20) / WORD;

/// The CPUs the calling thread may run on (`sched_getaffinity`), in ascending
/// order: the process's allowed set as a cgroup, `taskset` or a container leaves
/// it.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // libc's `cpu_set_t` size first: the kernel's mask on nearly every host.
    let mut words = libc::CPU_SETSIZE as usize / WORD;
    loop {
        let mut mask = vec![0u64; words];
        // The kernel's cpumask is an array of `unsigned long` (64 bits here, as
        // `u64`), which is what `cpu_set_t` is too; glibc passes the size through.
        match syscall!(sched_getaffinity(
            0,
            words * std::mem::size_of::<u64>(),
            mask.as_mut_ptr().cast::<libc::cpu_set_t>()
        )) {
            Ok(_) => return Ok(cpus_of(&mask)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && words < MAX_WORDS => words *= 2,
            Err(e) => return Err(e),
        }
    }
}

/// The CPU numbers whose bits are set in `mask`, in ascending order.
fn cpus_of(mask: &[u64]) -> Vec<usize> {
    let mut cpus = Vec::new();
    for (i, &word) in mask.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            cpus.push(i * WORD + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    cpus
}

/// Pins the calling thread to `cpu` (`sched_setaffinity`). Fails with `EINVAL`
/// when `cpu` is not one the process may use (or not a CPU of this host).
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= MAX_WORDS * WORD {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // A mask just long enough for `cpu`: the kernel reads what it is given and
    // takes the rest as zeroes.
    let mut mask = vec![0u64; cpu / WORD + 1];
    mask[cpu / WORD] |= 1 << (cpu % WORD);
    syscall!(sched_setaffinity(
        0,
        mask.len() * std::mem::size_of::<u64>(),
        mask.as_ptr().cast::<libc::cpu_set_t>()
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_bits_map_to_cpu_numbers() {
        assert_eq!(cpus_of(&[0b1011, 0, 1 << 63]), vec![0, 1, 3, 191]);
        assert!(cpus_of(&[0, 0]).is_empty());
    }

    #[test]
    fn allowed_cpus_agree_with_the_kernel_and_pinning_round_trips() {
        let before = allowed_cpus().unwrap();
        assert!(!before.is_empty());
        // Pinning is per thread: do it on a thread of its own.
        let first = before[0];
        let after = std::thread::spawn(move || {
            pin_current_thread(first).unwrap();
            allowed_cpus().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(after, vec![first]);
        // A CPU this host lacks (past the mask the kernel wants), and one past the
        // largest mask: both refused, the thread left as it was.
        for cpu in [1 << 19, MAX_WORDS * WORD] {
            let err = std::thread::spawn(move || pin_current_thread(cpu))
                .join()
                .unwrap()
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "cpu {cpu}");
        }
    }
}
