//! Radix sort for the keys publishing sorts: tens of thousands of integers per write,
//! where a comparison sort was a seventh of an LMDB write.

use std::ops::{Deref, DerefMut};

/// A vector that radix-sorts itself, keeping the second buffer a sort needs between
/// sorts: a writer sorts as many items on every publish, and allocating them afresh
/// each time costs page faults (see `Encoder::reset`).
#[derive(Debug, Default)]
pub struct SortVec<T> {
    items: Vec<T>,
    spare: Vec<T>,
}

impl<T> Deref for SortVec<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.items
    }
}

impl<T> DerefMut for SortVec<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.items
    }
}

impl<T> SortVec<T> {
    /// Empties it for the next use, keeping its buffers within the bounds `kept` sets.
    pub fn trim(&mut self) {
        let used = self.items.len();
        crate::kept::trim(&mut self.items, used);
        crate::kept::trim(&mut self.spare, used);
    }
}

impl<T: Copy> SortVec<T> {
    /// Sorts the items by `key`, whose low `bytes` bytes (at most 16) are significant: a
    /// least-significant-byte-first radix sort, so stable. A byte that is the same in
    /// every key (the zero padding of short keys, a prefix all keys share) costs no pass.
    pub fn sort_by_key(&mut self, bytes: u32, key: impl Fn(&T) -> u128) {
        debug_assert!(bytes <= 16);
        let n = self.items.len();
        if n < 2 {
            return;
        }
        let mut counts = vec![[0usize; 256]; bytes as usize];
        for x in self.items.iter() {
            let k = key(x);
            for (b, count) in counts.iter_mut().enumerate() {
                count[((k >> (8 * b)) & 0xff) as usize] += 1;
            }
        }
        // Each pass writes every slot of `spare` exactly once (`at` partitions 0..n), so
        // its initial content does not matter.
        self.spare.clear();
        self.spare.extend_from_slice(&self.items);
        for (b, count) in counts.iter().enumerate() {
            if count.contains(&n) {
                continue;
            }
            let mut at = [0usize; 256];
            let mut sum = 0;
            for (slot, &c) in at.iter_mut().zip(count) {
                *slot = sum;
                sum += c;
            }
            for x in self.items.iter() {
                let digit = ((key(x) >> (8 * b)) & 0xff) as usize;
                self.spare[at[digit]] = *x;
                at[digit] += 1;
            }
            std::mem::swap(&mut self.items, &mut self.spare);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_sort_and_is_stable() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in [0, 1, 2, 3, 100, 5000] {
            // Few distinct keys, so that ties (and stability) matter.
            let mut v = SortVec::default();
            v.extend((0..n).map(|i| ((u128::from(next() % 50) << 80) | u128::from(next() % 3), i)));
            let mut expected = v.to_vec();
            expected.sort_by_key(|x| x.0); // stable
            v.sort_by_key(16, |x| x.0);
            assert_eq!(*v, expected);
        }
    }

    #[test]
    fn uniform_bytes_are_skipped_without_harm() {
        let mut v = SortVec::default();
        v.extend([0x0500u64, 0x0300, 0x0400, 0x0300]);
        v.sort_by_key(8, |&x| u128::from(x));
        assert_eq!(*v, [0x0300, 0x0300, 0x0400, 0x0500]);
        // Used again, with what the first sort left in both buffers.
        v.clear();
        v.extend([2u64, 1]);
        v.sort_by_key(8, |&x| u128::from(x));
        assert_eq!(*v, [1, 2]);
    }
}
