//! A set of small indices for the hot loop.

/// A set of indices as a two-level bitmap: insert, remove and "the next
/// member at or after `i`" cost a few word operations (a summary word
/// covers 4,096 indices), and nothing allocates once the set has grown to
/// its largest index.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdxSet {
    words: Vec<u64>,
    /// Bit `w` is set when `words[w]` is not zero.
    summary: Vec<u64>,
}

impl IdxSet {
    #[inline]
    pub fn insert(&mut self, i: u32) {
        let w = (i >> 6) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
            self.summary.resize(self.words.len().div_ceil(64), 0);
        }
        self.words[w] |= 1 << (i & 63);
        self.summary[w >> 6] |= 1 << (w & 63);
    }

    #[inline]
    pub fn remove(&mut self, i: u32) {
        let w = (i >> 6) as usize;
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << (i & 63));
            if *word == 0 {
                self.summary[w >> 6] &= !(1 << (w & 63));
            }
        }
    }

    pub fn clear(&mut self) {
        self.words.fill(0);
        self.summary.fill(0);
    }

    /// The smallest member at or after `i`.
    #[inline]
    pub fn next_from(&self, i: u32) -> Option<u32> {
        let w = (i >> 6) as usize;
        let here = self.words.get(w)? & (!0u64 << (i & 63));
        if here != 0 {
            return Some(((w << 6) as u32) + here.trailing_zeros());
        }
        let next = w + 1;
        let mut s = next >> 6;
        let mut mask = !0u64 << (next & 63);
        while s < self.summary.len() {
            let m = self.summary[s] & mask;
            if m != 0 {
                let w = (s << 6) + m.trailing_zeros() as usize;
                return Some(((w << 6) as u32) + self.words[w].trailing_zeros());
            }
            s += 1;
            mask = !0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Against a BTreeSet: any sequence of inserts and removes, then
        /// "next at or after" from every point.
        #[test]
        fn agrees_with_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u32..20_000), 0..300)) {
            let mut set = IdxSet::default();
            let mut reference = BTreeSet::new();
            for (insert, i) in ops {
                if insert {
                    set.insert(i);
                    reference.insert(i);
                } else {
                    set.remove(i);
                    reference.remove(&i);
                }
            }
            for from in (0..20_100).step_by(37).chain([0, 63, 64, 4095, 4096, 4097]) {
                prop_assert_eq!(set.next_from(from), reference.range(from..).next().copied());
            }
            set.clear();
            prop_assert_eq!(set.next_from(0), None);
        }
    }
}
