//! Counter-based random streams keyed by (seed, patient, purpose).
//!
//! Every draw is a pure function of its key and position: the generator is Philox4x32-10
//! (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a
//! 10-round keyed bijection of a 128-bit counter, the generator of Random123, cuRAND, JAX and
//! NumPy's `Philox`. The 64-bit seed is the key; the counter holds
//!
//! ```text
//! word 0: block number within the stream (each block gives four 32-bit outputs = two u64)
//! word 1: purpose tag (high 16 bits) | sub-stream index (low 16 bits)
//! words 2–3: patient index (low, high)
//! ```
//!
//! so distinct (patient, purpose, sub-stream, block) never share a counter and streams never
//! overlap; a stream has 2³² blocks (2³³ u64 values) before it would wrap. Nothing is shared
//! between streams, so patient k's values are bit-identical whatever the thread count, shard, or
//! which other patients are generated.
//!
//! Uniforms are 53-bit: u = (⌊x / 2¹¹⌋ + ½) · 2⁻⁵³ for a u64 x, strictly inside (0, 1). Normals
//! are drawn by inversion, z = Φ⁻¹(u) with Wichura's AS 241 ([`stats::normal_quantile`]): one
//! uniform per normal, which keeps draw positions simple and lets truncated draws reuse the same
//! uniform.

use super::stats;

/// What a stream is for. Each purpose has its own streams, so adding draws for one purpose never
/// shifts another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The patient's ancestry.
    Ancestry,
    /// Covariate draws (sub-stream = covariate index).
    Covariates,
    /// Genotype draws (sub-stream = genotype variable index).
    Genotypes,
    /// Random effects η (sub-stream = effect index).
    Etas,
    /// Per-occasion random effects of one effect (index; sub-stream = occasion, 0-based).
    OccasionEtas(u8),
    /// Residual error of sampled observations (sub-stream free for the runner, e.g. observable).
    ResidualError,
    /// Arm assignment of randomized trials (keyed by randomization block, not patient).
    Randomization,
    /// The cohort row a resampled patient replays.
    CohortRow,
    /// Residual error of the measurements at a protocol's visits (sub-stream = arm).
    Measurement,
    /// Anything else a caller needs, numbered by the caller.
    Other(u8),
}

impl Purpose {
    /// The 16-bit tag stored in the counter.
    fn tag(self) -> u32 {
        match self {
            Purpose::Ancestry => 1,
            Purpose::Covariates => 2,
            Purpose::Genotypes => 3,
            Purpose::Etas => 4,
            Purpose::ResidualError => 5,
            Purpose::Randomization => 6,
            Purpose::CohortRow => 7,
            Purpose::Measurement => 8,
            Purpose::Other(n) => 0x100 | u32::from(n),
            Purpose::OccasionEtas(k) => 0x200 | u32::from(k),
        }
    }
}

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: the 10-round keyed bijection of `ctr` under `key`. Each round
/// multiplies words 0 and 2 by fixed constants, exchanges and XORs the high halves with words 1
/// and 3 and the round key; the key is bumped by the Weyl constants between rounds. Matches the
/// Random123 known-answer vectors.
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// A stream of random numbers for one (seed, patient, purpose, sub-stream).
#[derive(Debug, Clone)]
pub struct Stream {
    key: [u32; 2],
    ctr: [u32; 4],
    buf: [u32; 4],
    used: usize,
}

impl Stream {
    /// The stream of `purpose` for patient `patient` (sub-stream 0).
    pub fn new(seed: u64, patient: u64, purpose: Purpose) -> Stream {
        Stream::substream(seed, patient, purpose, 0)
    }

    /// Sub-stream `sub` of `purpose` for patient `patient`: e.g. one per covariate, so that the
    /// draws of one covariate do not depend on how many values others consumed.
    pub fn substream(seed: u64, patient: u64, purpose: Purpose, sub: u16) -> Stream {
        Stream {
            key: [seed as u32, (seed >> 32) as u32],
            ctr: [
                0,
                (purpose.tag() << 16) | u32::from(sub),
                patient as u32,
                (patient >> 32) as u32,
            ],
            buf: [0; 4],
            used: 4,
        }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.buf = philox4x32_10(self.ctr, self.key);
            self.ctr[0] = self.ctr[0].wrapping_add(1);
            self.used = 0;
        }
        let v = self.buf[self.used];
        self.used += 1;
        v
    }

    /// The next 64 random bits (two 32-bit outputs, first in the high half).
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (hi << 32) | lo
    }

    /// A uniform number strictly inside (0, 1) with 53 random bits: (⌊x/2¹¹⌋ + ½)·2⁻⁵³.
    pub fn uniform(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        ((self.next_u64() >> 11) as f64 + 0.5) * SCALE
    }

    /// A standard normal number, Φ⁻¹(u) of one uniform (|z| < 8.3).
    pub fn normal(&mut self) -> f64 {
        stats::normal_quantile(self.uniform())
    }

    /// A uniform integer in 0..n (0 for n = 0), unbiased: 64-bit values in the incomplete top
    /// range are rejected (probability < n/2⁶⁴ per draw).
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // Accept x < k·n, the largest multiple of n up to 2⁶⁴, i.e. x ≤ 2⁶⁴ − 1 − (2⁶⁴ mod n).
        let zone = u64::MAX - (u64::MAX % n + 1) % n;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return x % n;
            }
        }
    }
}
