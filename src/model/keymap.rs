//! Per-key state that costs what is touched.

use crate::history::KeyId;
use rustc_hash::FxHashMap;

/// Key spaces up to this size get a table (one slot per key, built up
/// front); larger ones a hash map holding only the keys that occurred.
pub(crate) const DENSE_KEYS_MAX: u64 = 1 << 16;

/// A hash map turns into a table once it holds this share of the key
/// space, where its entries (key, value, control byte, spare capacity)
/// cost about as much as a slot for every key: a long run drawing most
/// of ten million keys keeps 4 bytes per key instead of about 24 per key
/// drawn. Key spaces whose table would not fit in memory stay hash maps.
const DENSE_SHARE: u64 = 5;
const DENSE_TABLE_MAX: u64 = 1 << 31;

/// A value per key, `T::default()` for keys never written. Never iterated
/// except to move into a table: lookups only, so the hash map's order
/// cannot reach an output.
#[derive(Clone, Debug)]
pub(crate) enum KeyMap<T> {
    Dense(Vec<T>),
    Sparse { keys: u64, map: FxHashMap<KeyId, T> },
}

impl<T: Copy + Default> KeyMap<T> {
    /// A map for ids `0..keys`.
    pub fn new(keys: u64) -> Self {
        if keys <= DENSE_KEYS_MAX {
            KeyMap::Dense(vec![T::default(); keys as usize])
        } else {
            KeyMap::Sparse {
                keys,
                map: FxHashMap::default(),
            }
        }
    }

    #[inline]
    pub fn get(&self, key: KeyId) -> T {
        match self {
            KeyMap::Dense(v) => v.get(key as usize).copied().unwrap_or_default(),
            KeyMap::Sparse { map, .. } => map.get(&key).copied().unwrap_or_default(),
        }
    }

    #[inline]
    #[allow(clippy::disallowed_methods)] // fills a table by key: order does not matter
    pub fn get_mut(&mut self, key: KeyId) -> &mut T {
        if let KeyMap::Sparse { keys, map } = self
            && *keys <= DENSE_TABLE_MAX
            && map.len() as u64 >= *keys / DENSE_SHARE
            && !map.contains_key(&key)
        {
            let mut table = vec![T::default(); *keys as usize];
            for (&k, &v) in map.iter() {
                table[k as usize] = v;
            }
            *self = KeyMap::Dense(table);
        }
        match self {
            KeyMap::Dense(v) => {
                let i = key as usize;
                if i >= v.len() {
                    v.resize(i + 1, T::default());
                }
                &mut v[i]
            }
            KeyMap::Sparse { map, .. } => map.entry(key).or_default(),
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
        assert!(matches!(sparse, KeyMap::Sparse { .. }));
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
        let KeyMap::Sparse { map, .. } = &sparse else {
            panic!()
        };
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn a_map_holding_a_fifth_of_its_key_space_becomes_a_table_with_the_same_values() {
        let keys = DENSE_KEYS_MAX * 4;
        let mut m = KeyMap::<u32>::new(keys);
        let touched: Vec<u64> = (0..keys / DENSE_SHARE).map(|i| i * 3 % keys).collect();
        for (n, &k) in touched.iter().enumerate() {
            *m.get_mut(k) += n as u32 + 1;
        }
        assert!(matches!(m, KeyMap::Sparse { .. }), "not yet");
        *m.get_mut(keys - 1) += 7;
        assert!(matches!(m, KeyMap::Dense(_)), "a fifth reached");
        for (n, &k) in touched.iter().enumerate() {
            assert_eq!(m.get(k), n as u32 + 1, "key {k}");
        }
        assert_eq!(m.get(keys - 1), 7);
        assert_eq!(m.get(1), 0);
        // Huge key spaces never get a table.
        let mut huge = KeyMap::<u32>::new(u64::MAX);
        for k in 0..10 {
            *huge.get_mut(k) += 1;
        }
        assert!(matches!(huge, KeyMap::Sparse { .. }));
    }
}
