//! Per-key state that costs what is touched.

use crate::history::KeyId;
use rustc_hash::FxHashMap;

/// Key spaces up to this size get a table (one slot per key, built up
/// front); larger ones a hash map holding only the keys that occurred.
pub(crate) const DENSE_KEYS_MAX: u64 = 1 << 16;

/// A value per key, `T::default()` for keys never written. Never iterated:
/// lookups only, so the hash map's order cannot reach an output.
#[derive(Clone, Debug)]
pub(crate) enum KeyMap<T> {
    Dense(Vec<T>),
    Sparse(FxHashMap<KeyId, T>),
}

impl<T: Copy + Default> KeyMap<T> {
    /// A map for ids `0..keys`.
    pub fn new(keys: u64) -> Self {
        if keys <= DENSE_KEYS_MAX {
            KeyMap::Dense(vec![T::default(); keys as usize])
        } else {
            KeyMap::Sparse(FxHashMap::default())
        }
    }

    #[inline]
    pub fn get(&self, key: KeyId) -> T {
        match self {
            KeyMap::Dense(v) => v.get(key as usize).copied().unwrap_or_default(),
            KeyMap::Sparse(m) => m.get(&key).copied().unwrap_or_default(),
        }
    }

    #[inline]
    pub fn get_mut(&mut self, key: KeyId) -> &mut T {
        match self {
            KeyMap::Dense(v) => {
                let i = key as usize;
                if i >= v.len() {
                    v.resize(i + 1, T::default());
                }
                &mut v[i]
            }
            KeyMap::Sparse(m) => m.entry(key).or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_maps_agree() {
        let mut dense = KeyMap::<u32>::new(100);
        let mut sparse = KeyMap::<u32>::new(u64::MAX);
        assert!(matches!(dense, KeyMap::Dense(_)));
        assert!(matches!(sparse, KeyMap::Sparse(_)));
        for k in [3u64, 99, 3, 42, 3] {
            *dense.get_mut(k) += 1;
            *sparse.get_mut(k) += 1;
        }
        for k in 0..100 {
            assert_eq!(dense.get(k), sparse.get(k), "key {k}");
        }
        assert_eq!(dense.get(3), 3);
        assert_eq!(sparse.get(u64::MAX - 1), 0);
        // Only touched keys cost memory in the sparse map.
        let KeyMap::Sparse(m) = &sparse else { panic!() };
        assert_eq!(m.len(), 3);
    }
}
