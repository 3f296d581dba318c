//! The interpreter's one pseudo-random source: seeded generators for retry jitter and
//! `States.MathRandom`, so the same seed always gives the same numbers.

use rand::rngs::SmallRng;
use rand::SeedableRng;

/// A small, fast generator whose stream is fixed by `seed`.
pub(crate) fn seeded(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

/// A seed drawn from the operating system's randomness (through a version 4 UUID).
pub(crate) fn entropy_seed() -> u64 {
    let random = uuid::Uuid::new_v4().as_u128();
    (random as u64) ^ ((random >> 64) as u64)
}
