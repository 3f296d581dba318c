//! Deterministic hashing and pseudo-random numbers.
//!
//! Everything the simulator generates is derived from these primitives so that
//! the same request and the same `--seed` always produce the same answer,
//! independent of the platform and of the Rust standard library's hasher:
//! FNV-1a for hashing, Xoshiro256++ (a portable stream) for random numbers.

use std::hash::Hasher;

use fnv::FnvHasher;
use rand::distr::Alphanumeric;
use rand::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// 64-bit FNV-1a hash of a byte string.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hasher = FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// Combines two 64-bit values into one (order matters): the FNV-1a hash of their
/// little-endian bytes.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut hasher = FnvHasher::default();
    hasher.write(&a.to_le_bytes());
    hasher.write(&b.to_le_bytes());
    hasher.finish()
}

/// A seeded pseudo-random generator with the helpers the simulator draws from.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    inner: Xoshiro256PlusPlus,
}

impl Rng {
    /// Creates a generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self { inner: Xoshiro256PlusPlus::seed_from_u64(seed) }
    }

    /// Returns a value in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.inner.random_range(0..n)
        }
    }

    /// Returns a value in the inclusive range `lo..=hi` (`lo` when the range is empty).
    pub(crate) fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.inner.random_range(lo..=hi)
        }
    }

    /// Returns a value in the inclusive range `lo..=hi` for unsigned bounds.
    pub(crate) fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.inner.random_range(lo..=hi)
        }
    }

    /// Returns a float in `[0, 1)`.
    pub(crate) fn unit_f64(&mut self) -> f64 {
        self.inner.random()
    }

    /// Returns `true` with probability `p` (never for `p <= 0`, always for `p >= 1`).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }

    /// Picks one element of a non-empty slice; `None` for an empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// Returns `len` characters drawn from `[A-Za-z0-9]`.
    pub(crate) fn alnum(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(self.inner.sample(Alphanumeric))).collect()
    }

    /// Returns a UUID-shaped lowercase hexadecimal string (version 4 layout).
    pub(crate) fn uuid(&mut self) -> String {
        let a: u64 = self.inner.random();
        let b: u64 = self.inner.random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_in_bounds() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let v = rng.range_i64(-3, 5);
            assert!((-3..=5).contains(&v));
            let u = rng.range_u64(10, 12);
            assert!((10..=12).contains(&u));
            let f = rng.unit_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(rng.below(3) < 3);
        }
        assert_eq!(rng.range_i64(i64::MIN, i64::MIN), i64::MIN);
        assert_eq!(rng.below(0), 0);
        assert!(rng.pick::<u8>(&[]).is_none());
        let _ = rng.range_i64(i64::MIN, i64::MAX);
        let _ = rng.range_u64(0, u64::MAX);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..10 {
            assert_eq!(a.uuid(), b.uuid());
        }
        assert_ne!(Rng::new(1).alnum(16), Rng::new(2).alnum(16));
        assert_eq!(fnv1a(b"abc"), fnv1a(b"abc"));
        assert_ne!(mix(1, 2), mix(2, 1));
    }

    #[test]
    fn fnv1a_is_the_standard_64_bit_hash() {
        // Published FNV-1a test vectors: the empty string hashes to the offset basis.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn uuid_shape() {
        let id = Rng::new(1).uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.chars().filter(|c| *c == '-').count(), 4);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
