//! The benchmark's test data, identical to `ipc_benchmark.utils.generate_test_dict`.
//!
//! Seed 0 reproduces the original benchmark exactly:
//! `{f"key_{i}": {"value": i, "squared": i * i, "text": f"test_value_{i}", "float": i / 3}}`.
//! Any other seed draws each entry's integer from SplitMix64, seeded with the seed, as a
//! 31-bit number so that its square still fits in i64.
//!
//! [`training`] is the other payload: a trainer's state with float32 weight arrays.

pub mod training;

use crate::codec::Value;

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, and easy to reproduce in Python.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The test dict with `size` entries.
pub fn generate(size: usize, seed: u64) -> Value {
    let mut rng = SplitMix64::new(seed);
    let entries = (0..size)
        .map(|i| {
            let v = if seed == 0 {
                i as i64
            } else {
                (rng.next_u64() >> 33) as i64
            };
            let entry = Value::Dict(vec![
                ("value".into(), Value::Int(v)),
                ("squared".into(), Value::Int(v * v)),
                (
                    "text".into(),
                    Value::Str(compact_str::format_compact!("test_value_{v}")),
                ),
                ("float".into(), Value::Float(v as f64 / 3.0)),
            ]);
            (compact_str::format_compact!("key_{i}").into(), entry)
        })
        .collect();
    Value::Dict(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_zero_is_the_original_data() {
        let Value::Dict(entries) = generate(3, 0) else {
            panic!("not a dict")
        };
        assert_eq!(entries[2].0, "key_2");
        assert_eq!(
            entries[2].1,
            Value::Dict(vec![
                ("value".into(), Value::Int(2)),
                ("squared".into(), Value::Int(4)),
                ("text".into(), Value::Str("test_value_2".into())),
                ("float".into(), Value::Float(2.0 / 3.0)),
            ])
        );
    }

    #[test]
    fn splitmix_matches_reference_sequence() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn other_seeds_differ_and_repeat() {
        assert_eq!(generate(50, 7), generate(50, 7));
        assert_ne!(generate(50, 7), generate(50, 8));
    }
}
