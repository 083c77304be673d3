//! A log-linear latency histogram in microseconds, in the manner of HDR:
//! values below 4096µs are kept exactly, larger ones in buckets 1/2048 of
//! their magnitude wide, so every value is known to within 0.05% (better
//! than 3 significant digits). Two histograms merge exactly (counts add
//! per bucket), so a window's percentile is the same whether it is read
//! from one interval or from many. Sparse: only buckets that saw a value
//! are kept, and `samples.jsonl` writes them as `[gap, count, ...]` pairs.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bits of a bucket's mantissa: 2^11 buckets per power of two.
const SUB_BITS: u32 = 11;
const HALF: u64 = 1 << SUB_BITS;

/// The bucket of a value (µs).
fn index_of(us: u64) -> u32 {
    if us < 2 * HALF {
        return us as u32;
    }
    let exponent = 63 - us.leading_zeros() - SUB_BITS;
    (u64::from(exponent) * HALF + (us >> exponent)) as u32
}

/// The smallest and largest values (µs) a bucket holds.
fn bounds_of(index: u32) -> (u64, u64) {
    let index = u64::from(index);
    if index < 2 * HALF {
        return (index, index);
    }
    let exponent = index / HALF - 1;
    let low = (index - exponent * HALF) << exponent;
    (low, low + (1 << exponent) - 1)
}

/// Latencies of many requests, bounded in memory by their spread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyHistogram {
    counts: BTreeMap<u32, u64>,
    total: u64,
    min_us: u64,
    max_us: u64,
}

impl LatencyHistogram {
    pub fn record_us(&mut self, us: u64) {
        *self.counts.entry(index_of(us)).or_default() += 1;
        if self.total == 0 || us < self.min_us {
            self.min_us = us;
        }
        self.max_us = self.max_us.max(us);
        self.total += 1;
    }

    pub fn record_ms(&mut self, ms: f64) {
        self.record_us((ms.max(0.0) * 1000.0).round() as u64);
    }

    /// Add `other`'s counts: exact.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if other.total == 0 {
            return;
        }
        for (index, count) in &other.counts {
            *self.counts.entry(*index).or_default() += count;
        }
        if self.total == 0 || other.min_us < self.min_us {
            self.min_us = other.min_us;
        }
        self.max_us = self.max_us.max(other.max_us);
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The nearest-rank percentile `p` (0 to 100) in ms: the largest value
    /// its bucket holds (never below the true value, at most 0.05% above),
    /// and exactly the largest recorded for `p = 100`.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in &self.counts {
            seen += count;
            if seen >= rank {
                let (low, high) = bounds_of(*index);
                let us = high.min(self.max_us).max(low.max(self.min_us));
                return Some(us as f64 / 1000.0);
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }
}

/// As written: `{"n": 3, "min": 120, "max": 900, "b": [gap, count, ...]}`,
/// each gap the distance from the previous bucket.
#[derive(Serialize, Deserialize)]
struct Written {
    n: u64,
    #[serde(default)]
    min: u64,
    #[serde(default)]
    max: u64,
    #[serde(default)]
    b: Vec<u64>,
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut b = Vec::with_capacity(self.counts.len() * 2);
        let mut previous = 0;
        for (index, count) in &self.counts {
            b.push(u64::from(index - previous));
            b.push(*count);
            previous = *index;
        }
        Written {
            n: self.total,
            min: self.min_us,
            max: self.max_us,
            b,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = Written::deserialize(d)?;
        let mut counts = BTreeMap::new();
        let mut index: u64 = 0;
        let mut total = 0u64;
        for pair in written.b.chunks(2) {
            let [gap, count] = pair else {
                return Err(serde::de::Error::custom("a bucket without its count"));
            };
            index += gap;
            let i = u32::try_from(index).map_err(serde::de::Error::custom)?;
            *counts.entry(i).or_default() += count;
            total += count;
        }
        if total != written.n {
            return Err(serde::de::Error::custom("bucket counts do not add up"));
        }
        Ok(LatencyHistogram {
            counts,
            total,
            min_us: written.min,
            max_us: written.max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), spread over 1µs to ~1h.
    fn values(n: usize) -> Vec<u64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let magnitude = x % 32;
                1 + (x >> 8) % (1u64 << magnitude.max(1))
            })
            .collect()
    }

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let mut expected_low = 0;
        for index in 0..(40 * HALF as u32) {
            let (low, high) = bounds_of(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert!(high >= low);
            assert_eq!(index_of(low), index);
            assert_eq!(index_of(high), index);
            expected_low = high + 1;
        }
    }

    #[test]
    fn percentiles_are_within_three_significant_digits() {
        let values = values(20_000);
        let mut h = LatencyHistogram::default();
        for v in &values {
            h.record_us(*v);
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for p in [1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            let exact = sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0;
            let measured = h.percentile_ms(p).unwrap();
            assert!(measured >= exact, "p{p}: {measured} below {exact}");
            assert!(
                measured <= exact * (1.0 + 1.0 / 2048.0) + 1e-9,
                "p{p}: {measured} vs {exact}"
            );
        }
        assert_eq!(
            h.percentile_ms(100.0),
            Some(sorted[sorted.len() - 1] as f64 / 1000.0)
        );
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let values = values(5_000);
        let mut whole = LatencyHistogram::default();
        let mut merged = LatencyHistogram::default();
        for chunk in values.chunks(333) {
            let mut part = LatencyHistogram::default();
            for v in chunk {
                part.record_us(*v);
                whole.record_us(*v);
            }
            merged.merge(&part);
        }
        assert_eq!(whole, merged);
        for p in [50.0, 99.0, 99.9] {
            assert_eq!(whole.percentile_ms(p), merged.percentile_ms(p));
        }
    }

    #[test]
    fn it_reads_back_what_it_writes() {
        let mut h = LatencyHistogram::default();
        for v in values(1_000) {
            h.record_us(v);
        }
        let text = serde_json::to_string(&h).unwrap();
        let back: LatencyHistogram = serde_json::from_str(&text).unwrap();
        assert_eq!(back, h);
        assert!(serde_json::from_str::<LatencyHistogram>(r#"{"n":2,"b":[5,1]}"#).is_err());
        assert!(LatencyHistogram::default().percentile_ms(50.0).is_none());
    }
}
