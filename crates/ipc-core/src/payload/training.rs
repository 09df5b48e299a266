//! The `training` payload: the state a trainer shares, identical to what
//! `ipc_benchmark.harness.training.generate` builds with NumPy (a test encodes both and
//! compares the bytes). docs/benchmark.md describes the layout.
//!
//! Every number comes from one SplitMix64 stream seeded with the seed: first the
//! weights, in layout order, then one number per epoch for the metrics. A weight is
//! `((z >> 40) - 2^23) * 2^-30`: a 24-bit integer times a power of two, exact in f32, so
//! that no rounding can make the two languages differ.

use crate::codec::{Array, Dtype, Key, Scalar, Value};

use super::SplitMix64;

/// 1 MiB: `--array-mb` counts these.
pub const MIB: f64 = 1_048_576.0;
/// Hidden blocks of the model: each a (hidden, hidden) weight and a (hidden,) bias.
pub const BLOCKS: usize = 4;
pub const EPOCHS: usize = 3;
pub const STEPS_PER_EPOCH: i64 = 500;
/// The smallest payload: blocks of width 1 need two floats each.
pub const MIN_FLOATS: usize = 2 * BLOCKS;
/// The largest `--array-mb` taken: a typo should be an error, not an exhausted machine.
pub const MAX_MB: f64 = 16384.0;

/// Float32 values in `array_mb` MiB, rounded down (x 2^20 / 4 is exact in binary).
pub fn float_count(array_mb: f64) -> usize {
    let n = (array_mb * MIB / 4.0).floor();
    if n > 0.0 {
        n as usize
    } else {
        0
    }
}

/// Why `array_mb` cannot be a training payload, if it cannot; the same messages as the
/// Python harness.
pub fn check_array_mb(array_mb: f64) -> Result<(), String> {
    if array_mb.is_nan() {
        return Err("array size is not a number (nan)".into());
    }
    if array_mb > MAX_MB {
        return Err(format!(
            "array size must be at most {MAX_MB} MiB, got {array_mb}"
        ));
    }
    if float_count(array_mb) < MIN_FLOATS {
        return Err(format!(
            "array size must hold at least {MIN_FLOATS} float32 values ({} bytes), got \
             {array_mb} MiB",
            MIN_FLOATS * 4
        ));
    }
    Ok(())
}

/// The largest power of two `h` whose blocks (`BLOCKS` x (h*h + h) floats) fit.
pub fn hidden_width(floats: usize) -> usize {
    let mut h = 1;
    while BLOCKS * ((2 * h) * (2 * h) + 2 * h) <= floats {
        h *= 2;
    }
    h
}

/// The weight arrays, in order: an embedding (vocab, h) that takes what the blocks leave,
/// the blocks, and `tail` for the floats that do not fill an embedding row (only when
/// the size is not a multiple of h floats: never for whole MiB). `floats` must be at
/// least [`MIN_FLOATS`].
pub fn layout(floats: usize) -> Vec<(String, Vec<usize>)> {
    assert!(floats >= MIN_FLOATS, "need at least {MIN_FLOATS} floats");
    let h = hidden_width(floats);
    let rest = floats - BLOCKS * (h * h + h);
    let mut arrays = vec![("embed.weight".to_owned(), vec![rest / h, h])];
    for i in 0..BLOCKS {
        arrays.push((format!("blocks.{i}.weight"), vec![h, h]));
        arrays.push((format!("blocks.{i}.bias"), vec![h]));
    }
    if rest % h != 0 {
        arrays.push(("tail".to_owned(), vec![rest % h]));
    }
    arrays
}

/// One weight from one output of the stream.
fn weight(z: u64) -> f32 {
    // z >> 40 has 24 bits: minus 2^23 it fits i32 and f32 exactly.
    ((z >> 40) as i32 - (1 << 23)) as f32 * (1.0 / (1u64 << 30) as f32)
}

/// The training payload with `array_mb` MiB of float32 weights; panics on a size that
/// [`check_array_mb`] refuses.
pub fn generate(array_mb: f64, seed: u64) -> Value {
    if let Err(e) = check_array_mb(array_mb) {
        panic!("{e}");
    }
    let floats = float_count(array_mb);
    let mut rng = SplitMix64::new(seed);
    let weights = layout(floats)
        .into_iter()
        .map(|(name, shape)| {
            let count: usize = shape.iter().product();
            let mut data = Vec::with_capacity(count * 4);
            for _ in 0..count {
                data.extend_from_slice(&weight(rng.next_u64()).to_le_bytes());
            }
            let array = Array::new(Dtype::F32, shape, data).expect("the layout's sizes agree");
            (Key::from(name), Value::Array(array))
        })
        .collect();
    let mut metrics = Vec::with_capacity(EPOCHS);
    let mut last_loss = 0.0;
    for epoch in 1..=EPOCHS {
        // 53 random bits as a fraction of 1/8: exact, as is every step below.
        let fraction = (rng.next_u64() >> 11) as f64 / (1u64 << 56) as f64;
        let loss = 2.0 / epoch as f64 + fraction;
        last_loss = loss;
        metrics.push((
            Key::Int(epoch as i64),
            Value::Dict(vec![
                ("loss".into(), Value::Float(loss)),
                ("accuracy".into(), Value::Float(1.0 - loss / 4.0)),
            ]),
        ));
    }
    let list_of_floats = |xs: &[f64]| Value::List(xs.iter().map(|&x| Value::Float(x)).collect());
    let config = Value::Dict(vec![
        ("model".into(), Value::Str("mlp".into())),
        ("hidden".into(), Value::Int(hidden_width(floats) as i64)),
        ("blocks".into(), Value::Int(BLOCKS as i64)),
        ("optimizer".into(), Value::Str("adamw".into())),
        ("lr".into(), Value::Float(3e-4)),
        ("betas".into(), list_of_floats(&[0.9, 0.999])),
        ("weight_decay".into(), Value::Float(0.01)),
        ("batch_size".into(), Value::Int(256)),
        ("epochs".into(), Value::Int(EPOCHS as i64)),
        (
            "milestones".into(),
            Value::List(vec![Value::Int(1), Value::Int(2)]),
        ),
        ("mixed_precision".into(), Value::Bool(true)),
        ("grad_clip".into(), Value::None),
    ]);
    Value::Dict(vec![
        (
            "step".into(),
            Value::Scalar(Scalar::i64(EPOCHS as i64 * STEPS_PER_EPOCH)),
        ),
        ("loss".into(), Value::Scalar(Scalar::f32(last_loss as f32))),
        ("weights".into(), Value::Dict(weights)),
        ("config".into(), config),
        ("metrics".into(), Value::Dict(metrics)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(v: &Value) -> &[(Key, Value)] {
        let Value::Dict(top) = v else {
            panic!("not a dict")
        };
        let Some((_, Value::Dict(w))) = top.iter().find(|(k, _)| *k == "weights") else {
            panic!("no weights")
        };
        w
    }

    #[test]
    fn whole_mib_sizes_fill_the_embedding_rows() {
        for mb in [1.0, 10.0, 100.0] {
            let floats = float_count(mb);
            let arrays = layout(floats);
            let total: usize = arrays
                .iter()
                .map(|(_, s)| s.iter().product::<usize>())
                .sum();
            assert_eq!(total * 4, (mb * MIB) as usize, "{mb} MiB");
            assert!(arrays.iter().all(|(n, _)| n != "tail"), "{mb} MiB");
            assert_eq!(arrays.len(), 1 + 2 * BLOCKS);
        }
        assert_eq!(hidden_width(float_count(1.0)), 128);
        assert_eq!(layout(float_count(1.0))[0].1, [1532, 128]);
    }

    #[test]
    fn fractional_sizes_end_with_a_tail() {
        let floats = float_count(0.01);
        assert_eq!(floats, 2621);
        let arrays = layout(floats);
        let total: usize = arrays
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(total, floats);
        assert_eq!(arrays.last().map(|(n, _)| n.as_str()), Some("tail"));
        assert_eq!(layout(MIN_FLOATS)[0].1, [0, 1], "the smallest: blocks only");
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert!(check_array_mb(f64::NAN).is_err());
        assert!(check_array_mb(0.0).is_err());
        assert!(check_array_mb(-1.0).is_err());
        assert!(check_array_mb(MAX_MB * 2.0).is_err());
        assert!(check_array_mb((MIN_FLOATS * 4) as f64 / MIB).is_ok());
    }

    #[test]
    fn weights_follow_the_stream_in_layout_order() {
        let v = generate(0.01, 42);
        let mut rng = SplitMix64::new(42);
        let mut seen = 0;
        for (_, array) in weights(&v) {
            let Value::Array(a) = array else {
                panic!("not an array")
            };
            assert_eq!(a.dtype, Dtype::F32);
            for chunk in a.data.chunks_exact(4) {
                let w = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                assert_eq!(w.to_bits(), weight(rng.next_u64()).to_bits());
                assert!(w.abs() <= 1.0 / 128.0);
                seen += 1;
            }
        }
        assert_eq!(seen, float_count(0.01));
    }

    #[test]
    fn the_same_seed_repeats_and_another_differs() {
        assert_eq!(generate(0.01, 7), generate(0.01, 7));
        assert_ne!(generate(0.01, 7), generate(0.01, 8));
    }
}
