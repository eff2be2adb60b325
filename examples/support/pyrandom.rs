//! Python's `random` module, as far as the ported examples need it: the same
//! Mersenne Twister (MT19937), seeded the way `random.seed(int)` seeds it, and
//! `randint` drawn the way CPython draws it, so that `random.seed(444)` gives the
//! same numbers here as in the Python originals and the examples print the same
//! lines.
//!
//! Include it from an example with
//! `#[path = "support/pyrandom.rs"] mod pyrandom;`.

#![allow(dead_code)]

const N: usize = 624;
const M: usize = 397;

/// CPython's `random.Random`.
pub(crate) struct PyRandom {
    state: [u32; N],
    index: usize,
}

impl PyRandom {
    /// `random.seed(seed)` for a non-negative integer seed.
    pub(crate) fn new(seed: u64) -> PyRandom {
        // CPython splits the seed into 32-bit words, least significant first.
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        let mut rng = PyRandom::init_genrand(19_650_218);
        let state = &mut rng.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = (state[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                state[0] = state[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = (state[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                state[0] = state[N - 1];
                i = 1;
            }
        }
        state[0] = 0x8000_0000;
        rng
    }

    fn init_genrand(seed: u32) -> PyRandom {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = 1_812_433_253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        PyRandom { state, index: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % N] & 0x7fff_ffff);
            let mut next = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    /// The next 32 random bits (`genrand_uint32`).
    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 32`.
    pub(crate) fn getrandbits(&mut self, k: u32) -> u32 {
        self.next_u32() >> (32 - k)
    }

    /// `random.randint(low, high)`: uniform in `low..=high`, drawn like CPython's
    /// `_randbelow` (rejection sampling on `bit_length` bits).
    pub(crate) fn randint(&mut self, low: i64, high: i64) -> i64 {
        let n = (high - low + 1) as u32;
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return low + i64::from(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PyRandom;

    /// The values CPython 3 gives after `random.seed(444)`.
    #[test]
    fn matches_cpython() {
        let mut rng = PyRandom::new(444);
        let bits: Vec<u32> = (0..3).map(|_| rng.getrandbits(32)).collect();
        assert_eq!(bits, [1_326_692_461, 1_236_154_736, 56_854_717]);
        let mut rng = PyRandom::new(444);
        let ints: Vec<i64> = (0..12).map(|_| rng.randint(0, 10)).collect();
        assert_eq!(ints, [4, 4, 0, 4, 7, 4, 4, 8, 10, 7, 8, 4]);
    }
}
