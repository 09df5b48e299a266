//! Format 2's NumPy values: arrays (every dtype, 0-d, empty, large), scalars and pickles
//! round trip through `Value` and `Doc`; array data sits on 64-byte offsets from the blob's
//! start wherever the array is; and blobs that lie about an array fail to decode.

use ipc_core::codec::{
    decode_value, format, Array, Blob, DecodeError, Doc, Dtype, Encoder, Item, Scalar, Sink, Table,
    Value, ValueSink, ALIGN,
};

mod common;
use common::{d, s, sample};

/// Bytes that differ from element to element, `n` of them.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

fn array(dtype: Dtype, shape: &[usize]) -> Value {
    let n: usize = shape.iter().product::<usize>() * dtype.itemsize();
    Value::Array(Array::new(dtype, shape.to_vec(), pattern(n)).unwrap())
}

/// Decodes `v`'s blob as a Value and as a Doc, both must give `v` back.
#[track_caller]
fn round_trip(v: &Value) {
    let blob = v.encode().unwrap();
    assert_eq!(&Value::decode(&blob).unwrap(), v);
    let mut doc = Doc::new();
    doc.decode(&blob).unwrap();
    assert!(doc.root().unwrap().identical(v));
    assert_eq!(doc.to_value().as_ref(), Some(v));
}

#[test]
fn every_dtype_round_trips() {
    for dtype in Dtype::ALL {
        round_trip(&array(dtype, &[5]));
        round_trip(&d(&[("a", array(dtype, &[2, 3])), ("b", Value::Int(1))]));
        let le = pattern(dtype.itemsize());
        let scalar = Value::Scalar(Scalar::new(dtype, le).unwrap());
        round_trip(&Value::List(vec![scalar.clone(), s("after")]));
        round_trip(&d(&[("s", scalar)]));
    }
}

#[test]
fn zero_d_empty_and_large_arrays_round_trip() {
    for shape in [
        &[][..],
        &[0],
        &[2, 0, 3],
        &[1; 64],
        &[1 << 20],
        &[3, 1, 1 << 14],
    ] {
        round_trip(&array(Dtype::U8, shape));
        round_trip(&d(&[("x", s("odd")), ("a", array(Dtype::C128, shape))]));
    }
    // The 0-d one holds one element; the empty ones none.
    let Value::Array(a) = array(Dtype::F64, &[]) else {
        unreachable!()
    };
    assert_eq!((a.len(), a.data.len()), (1, 8));
}

#[test]
fn scalars_and_pickles_round_trip() {
    let v = d(&[
        ("f32", Value::Scalar(Scalar::f32(-1.25))),
        ("f64", Value::Scalar(Scalar::f64(f64::NAN))),
        ("i64", Value::Scalar(Scalar::i64(i64::MIN))),
        ("bool", Value::Scalar(Scalar::bool(false))),
        ("pickle", Value::Pickle(vec![0x80, 5, b'N', b'.'])),
        ("empty pickle", Value::Pickle(vec![])),
    ]);
    round_trip(&v);
    let blob = v.encode().unwrap();
    let mut doc = Doc::new();
    assert!(doc.decode_key(&blob, "f32").unwrap());
    assert!(
        matches!(doc.root(), Some(Item::Scalar(Dtype::F32, le)) if le == (-1.25f32).to_le_bytes())
    );
    assert!(doc.decode_key(&blob, "pickle").unwrap());
    assert!(matches!(
        doc.root(),
        Some(Item::Pickle([0x80, 5, b'N', b'.']))
    ));
}

#[test]
fn doc_views_an_array() {
    let v = d(&[("w", array(Dtype::F32, &[2, 3]))]);
    let mut doc = Doc::new();
    doc.decode(&v.encode().unwrap()).unwrap();
    let Some(Item::Dict(root)) = doc.root() else {
        panic!("a dict")
    };
    let Some(Item::Array(a)) = root.get("w") else {
        panic!("an array")
    };
    assert_eq!(a.dtype, Dtype::F32);
    assert_eq!((a.ndim(), a.shape().collect::<Vec<_>>()), (2, vec![2, 3]));
    assert_eq!(a.data, pattern(24));
}

/// Records where each array's data starts, relative to the blob.
struct Offsets {
    base: usize,
    found: Vec<usize>,
}

impl<'a> Sink<'a> for Offsets {
    type Value = ();
    type Key = ();
    type Seq = ();
    type Map = ();
    type Error = DecodeError;

    fn none(&mut self) -> Result<(), DecodeError> {
        Ok(())
    }
    fn bool(&mut self, _: bool) -> Result<(), DecodeError> {
        Ok(())
    }
    fn int(&mut self, _: i64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn big_int(&mut self, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn float(&mut self, _: f64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn str(&mut self, _: &'a str, _: bool, _: Option<u32>) -> Result<(), DecodeError> {
        Ok(())
    }
    fn bytes(&mut self, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn array(&mut self, _: Dtype, _: &[usize], data: &'a [u8]) -> Result<(), DecodeError> {
        self.found.push(data.as_ptr() as usize - self.base);
        Ok(())
    }
    fn scalar(&mut self, _: Dtype, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn pickle(&mut self, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn seq(&mut self, _: usize, _: bool) -> Result<(), DecodeError> {
        Ok(())
    }
    fn seq_push(&mut self, _: &mut (), _: usize, _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn seq_end(&mut self, _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn map(&mut self, _: usize) -> Result<(), DecodeError> {
        Ok(())
    }
    fn key(&mut self, _: &'a str, _: bool, _: Option<u32>) -> Result<(), DecodeError> {
        Ok(())
    }
    fn int_key(&mut self, _: i64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn map_insert(&mut self, _: &mut (), _: (), _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn map_end(&mut self, _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// The offsets of the array data in `blob`, in order, checked to be aligned.
#[track_caller]
fn aligned_offsets(blob: &[u8]) -> Vec<usize> {
    let mut sink = Offsets {
        base: blob.as_ptr() as usize,
        found: Vec::new(),
    };
    Blob::parse(blob).unwrap().decode(&mut sink).unwrap();
    for &at in &sink.found {
        assert_eq!(at % ALIGN, 0, "array data at offset {at}");
    }
    sink.found
}

#[test]
fn array_data_is_aligned_at_the_root_and_nested() {
    let nested = d(&[
        ("k", s("abc")),
        (
            "layer",
            d(&[
                ("w", array(Dtype::F32, &[3, 5])),
                ("name", s("a longer string of odd length")),
                ("b", array(Dtype::F64, &[7])),
                ("s", Value::Scalar(Scalar::f32(1.0))),
            ]),
        ),
        (
            "list",
            Value::List(vec![
                Value::Int(300),
                array(Dtype::I8, &[1]),
                array(Dtype::C64, &[0]),
                Value::Tuple(vec![array(Dtype::U16, &[2, 2])]),
            ]),
        ),
    ]);
    let cases = [
        (array(Dtype::F32, &[4]), 1),
        (d(&[("a", array(Dtype::U8, &[3]))]), 1),
        (nested, 5),
        (sample(), 3),
    ];
    for (v, arrays) in cases {
        let blob = v.encode().unwrap();
        assert_eq!(aligned_offsets(&blob).len(), arrays);
        // One root key at a time: the index finds the same, aligned, data.
        if let Value::Dict(entries) = &v {
            for (k, _) in entries {
                let mut sink = Offsets {
                    base: blob.as_ptr() as usize,
                    found: Vec::new(),
                };
                Blob::parse(&blob).unwrap().get(k, &mut sink).unwrap();
                assert!(sink.found.iter().all(|at| at % ALIGN == 0));
            }
        }
    }
}

#[test]
fn alignment_survives_a_miscounted_index() {
    // Announcing fewer entries than are written makes `complete` move the entries to
    // fit a larger slot table: the array data must stay aligned.
    let mut enc = Encoder::new();
    enc.begin_index(1);
    for i in 0..40 {
        enc.index_key(&format!("k{i}"), true);
        enc.array(Dtype::U8, &[i + 1], &pattern(i + 1)).unwrap();
    }
    let blob = enc.finish().unwrap();
    assert_eq!(aligned_offsets(&blob).len(), 40);
    assert_eq!(
        Value::decode_key(&blob, "k39").unwrap(),
        Some(array(Dtype::U8, &[40]))
    );
}

#[test]
fn arrays_decode_apart_from_their_blob() {
    // An LMDB record is a root entry's value alone: its offsets are not the blob's, so
    // only the alignment check is left out.
    let v = d(&[("x", s("ab")), ("w", array(Dtype::F32, &[3]))]);
    let blob = v.encode().unwrap();
    let b = Blob::parse(&blob).unwrap();
    let entries = b.entries().unwrap();
    let table = Table::parse(b.table().as_bytes()).unwrap();
    let value = decode_value(entries[1].value, table, &mut ValueSink::default()).unwrap();
    assert_eq!(value, array(Dtype::F32, &[3]));
}

#[test]
fn the_encoder_refuses_arrays_that_do_not_add_up() {
    let mut enc = Encoder::new();
    let e = enc.array(Dtype::F32, &[2, 2], &[0; 15]).unwrap_err();
    assert!(e.to_string().contains("needs 16 bytes, 15 given"), "{e}");
    let e = enc.array(Dtype::U8, &[usize::MAX, 2], &[]).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    let e = enc.scalar(Dtype::F64, &[0; 4]).unwrap_err();
    assert!(e.to_string().contains("takes 8 bytes, 4 given"), "{e}");
    let bad = Value::List(vec![Value::Array(Array {
        dtype: Dtype::I32,
        shape: vec![2],
        data: vec![0; 7],
    })]);
    let e = bad.encode().unwrap_err();
    assert_eq!(e.path_string(), "data[0]");
}

/// A blob whose root is `value`, written by hand: nothing is checked on the way in.
fn raw_blob(value: &[u8]) -> Vec<u8> {
    let table_at = format::HEADER_LEN + value.len();
    let total = table_at + 4;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&format::MAGIC);
    b.extend_from_slice(&[format::FORMAT_VERSION, 0, 0, 0]);
    b.extend_from_slice(&(total as u64).to_le_bytes());
    b.extend_from_slice(&(table_at as u64).to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(value);
    b.extend_from_slice(&[0; 4]);
    b
}

/// An array value at offset 40 (the root of a raw blob): tag, dtype, ndim, the shape's
/// one-byte varints, the pad that aligns the data (given), and `data`.
fn raw_array(code: u8, shape: &[u8], pad: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = vec![format::tag::ARRAY, code, shape.len() as u8];
    v.extend_from_slice(shape);
    v.push(pad.len() as u8);
    v.extend_from_slice(pad);
    v.extend_from_slice(data);
    v
}

/// The pad that puts data at offset 64 after a header-rooted array of `ndim` one-byte
/// dimensions: 40 + 3 + ndim + 1 + pad = 64.
fn pad_for(ndim: usize) -> Vec<u8> {
    vec![0; 64 - 44 - ndim]
}

#[track_caller]
fn refused(value: &[u8], why: &str) {
    let blob = raw_blob(value);
    let err = Value::decode(&blob).unwrap_err();
    assert!(err.reason().contains(why), "{err}");
    // The other decoders agree.
    assert_eq!(Doc::new().decode(&blob).unwrap_err(), err);
    assert!(Blob::parse(&blob)
        .unwrap()
        .decode(&mut ipc_core::codec::Skip)
        .is_err());
}

#[test]
fn a_well_formed_raw_array_decodes() {
    let v = raw_array(Dtype::U8.code(), &[2, 3], &pad_for(2), &pattern(6));
    assert_eq!(
        Value::decode(&raw_blob(&v)).unwrap(),
        array(Dtype::U8, &[2, 3])
    );
}

#[test]
fn blobs_that_lie_about_an_array_are_refused() {
    let data = pattern(6);
    refused(
        &raw_array(0, &[6], &pad_for(1), &data),
        "unknown dtype code 0",
    );
    refused(
        &raw_array(15, &[6], &pad_for(1), &data),
        "unknown dtype code 15",
    );
    refused(
        &raw_array(Dtype::U8.code(), &[1; 65], &[], &data),
        "65 dimensions",
    );
    // More data than remains.
    refused(
        &raw_array(Dtype::U8.code(), &[7], &pad_for(1), &data),
        "runs past the end",
    );
    // Fewer: the rest reads as trailing bytes.
    refused(
        &raw_array(Dtype::U8.code(), &[5], &pad_for(1), &data),
        "unexpected bytes after the root value",
    );
    // A pad that is not zero, too long, or that leaves the data misaligned.
    let mut pad = pad_for(1);
    pad[3] = 1;
    refused(&raw_array(Dtype::U8.code(), &[6], &pad, &data), "not zero");
    refused(
        &raw_array(Dtype::U8.code(), &[6], &[0; 64], &data),
        "pad of 64 bytes",
    );
    refused(
        &raw_array(Dtype::U8.code(), &[6], &pad_for(2), &data),
        "not a multiple of 64",
    );
    // Cut off anywhere inside the header fields.
    let good = raw_array(Dtype::U8.code(), &[2, 3], &pad_for(2), &data);
    for cut in 1..good.len() {
        assert!(Value::decode(&raw_blob(&good[..cut])).is_err(), "cut {cut}");
    }
}

#[test]
fn shapes_that_overflow_are_refused() {
    // Two dimensions of 2^62 (10-byte varints): their product overflows.
    let mut v = vec![format::tag::ARRAY, Dtype::F32.code(), 2];
    for _ in 0..2 {
        format::put_varint(&mut v, 1 << 62);
    }
    let pad = 64 - (40 + v.len() + 1);
    v.push(pad as u8);
    v.resize(v.len() + pad, 0);
    refused(&v, "too large");
    // One dimension whose byte size passes isize::MAX.
    let mut v = vec![format::tag::ARRAY, Dtype::C128.code(), 1];
    format::put_varint(&mut v, 1 << 60);
    refused(&v, "too large");
    // A shape that fits in memory but not in the blob: refused before anything is
    // allocated for it (a terabyte would not be).
    let mut v = vec![format::tag::ARRAY, Dtype::U8.code(), 1];
    format::put_varint(&mut v, 1 << 40);
    let pad = 64 - (40 + v.len() + 1);
    v.push(pad as u8);
    v.resize(v.len() + pad, 0);
    v.extend_from_slice(&[1, 2, 3]);
    refused(
        &v,
        "length 1099511627776 runs past the end of the data (3 left)",
    );
    // A dimension that is not a varint at all.
    let v = [format::tag::ARRAY, Dtype::U8.code(), 1, 0xff, 0xff];
    refused(&v, "varint");
}

#[test]
fn lying_scalars_and_pickles_are_refused() {
    refused(
        &[format::tag::SCALAR, 99, 0, 0, 0, 0],
        "unknown dtype code 99",
    );
    refused(
        &[format::tag::SCALAR, Dtype::F64.code(), 1, 2],
        "runs past the end",
    );
    refused(&[format::tag::PICKLE, 9, 1, 2], "exceeds the remaining");
    refused(&[format::tag::PICKLE], "cut off");
}
