//! A small log-linear latency histogram in the style of HdrHistogram.
//!
//! Values (nanoseconds here) below `2^SUB_BITS` get a bucket each; above that, every
//! power of two `[2^e, 2^(e+1))` is split into `2^SUB_BITS` equal buckets of width
//! `2^(e - SUB_BITS)`. A bucket's width is therefore at most `1 / 2^SUB_BITS` of its
//! lower bound: with `SUB_BITS = 7` the relative error of a reported value (the
//! bucket's midpoint) is below 0.4%, inside HdrHistogram's "2 significant digits"
//! (1%). Recording is a shift, a leading-zero count and an increment; the whole
//! `u64` range fits in about 7,400 buckets (58 KiB), allocated once.

/// log2 of the number of buckets per power of two.
const SUB_BITS: u32 = 7;
/// The number of buckets per power of two (128).
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Enough buckets for every `u64`: the linear range plus one group per exponent.
const BUCKETS: usize = SUB_COUNT * (64 - SUB_BITS as usize + 1);

/// A histogram of `u64` values with bounded relative error.
#[derive(Clone)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

impl Histogram {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// The bucket index of `value`.
    fn index(value: u64) -> usize {
        if value < SUB_COUNT as u64 {
            return value as usize;
        }
        let exp = 63 - value.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let sub = (value >> shift) as usize - SUB_COUNT; // 0..SUB_COUNT
        (shift as usize + 1) * SUB_COUNT + sub
    }

    /// The lowest value of bucket `index` and the bucket's width.
    fn bounds(index: usize) -> (u64, u64) {
        if index < SUB_COUNT {
            return (index as u64, 1);
        }
        let shift = (index / SUB_COUNT - 1) as u32;
        let sub = (index % SUB_COUNT + SUB_COUNT) as u64;
        (sub << shift, 1 << shift)
    }

    /// Records one value.
    #[inline]
    pub(crate) fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Forgets every recorded value (the end of a warm-up), keeping the allocation.
    pub(crate) fn reset(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// How many values were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact), or 0 when empty.
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0): the midpoint of the bucket holding the
    /// `ceil(q * count)`-th smallest value, clamped to the exact min and max. 0 when
    /// empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = Self::bounds(index);
                let mid = low + (width - 1) / 2;
                return mid.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn index_and_bounds_agree() {
        for value in (0..100_000u64).chain([u64::MAX, u64::MAX / 3, 1 << 40]) {
            let (low, width) = Histogram::bounds(Histogram::index(value));
            assert!(
                low <= value && value - low < width,
                "{value}: {low} +{width}"
            );
            assert!(width == 1 || (width as f64) / (low as f64) <= 1.0 / 128.0);
        }
    }

    #[test]
    fn quantiles_within_one_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!(h.max(), 1_000_000);
        for (q, exact) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 0.01, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.quantile(0.0), 10);
        h.reset();
        assert_eq!((h.count(), h.quantile(0.5)), (0, 0));
    }
}
