//! Buffers a writer keeps from one write to the next.
//!
//! Allocated and freed on every write, blob-sized buffers go back to the kernel and fault
//! in again on the next write (docs/design.md, "Writing again and again"). Kept, they
//! hold memory between writes, so they are kept within bounds: shrunk to twice what the
//! last write used, and freed past [`LIMIT`], where the faults are a small part of a
//! write that size and the memory held would be large.

/// The largest buffer kept between writes, in bytes.
pub const LIMIT: usize = 32 << 20;

/// Empties `v` for the next write, which will need about `used` items: its capacity is
/// cut to twice that, and freed altogether if it would still pass [`LIMIT`] bytes.
pub fn trim<T>(v: &mut Vec<T>, used: usize) {
    v.clear();
    v.shrink_to(used.saturating_mul(2));
    if v.capacity().saturating_mul(std::mem::size_of::<T>()) > LIMIT {
        *v = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_kept_large_ones_freed() {
        let mut v: Vec<u64> = Vec::with_capacity(1000);
        v.extend(0..100);
        trim(&mut v, 100);
        assert!(v.is_empty());
        assert!((100..=200).contains(&v.capacity()), "{}", v.capacity());

        let items = LIMIT / 8 + 1;
        let mut big: Vec<u64> = vec![0; items];
        trim(&mut big, items);
        assert_eq!(big.capacity(), 0);
    }
}
