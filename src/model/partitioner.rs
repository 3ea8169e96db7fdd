//! Partitioners: which partition of a topic a record goes to.
//!
//! `murmur2` reproduces Kafka's default partitioner for keyed records
//! (`toPositive(murmur2(keyBytes)) % numPartitions`), so a key lands on the
//! same partition here as in a real cluster with the same partition count.

use crate::history::{KeyId, KeySpace};
use crate::kernel::Rng;
use crate::model::variates;
use crate::scenario::Partitioner;
use std::sync::Arc;

/// Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's partition for a keyed record under the default partitioner.
pub fn murmur2_partition(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

/// Slots of the murmur2 cache: key spaces up to this size are cached
/// whole, larger ones in a direct-mapped cache of this many keys.
const HASH_CACHE_MAX: u64 = 1 << 12;

/// Partitioner state of one producer for one topic.
#[derive(Clone, Debug)]
pub struct PartitionChooser {
    kind: Partitioner,
    partitions: u32,
    /// The producer's keys are ids `first..first + keys` of `space`.
    space: Arc<KeySpace>,
    first: KeyId,
    keys: u64,
    /// murmur2 partitions of recently used keys: (key id, partition),
    /// direct-mapped by the key's number; `KeyId::MAX` marks an empty slot.
    /// A key's partition is computed from its text when first needed, so
    /// a key space of any size costs nothing up front.
    cache: Vec<(KeyId, u32)>,
    text: Vec<u8>,
    counter: u32,
    sticky: u32,
    sticky_bytes: u64,
    batch_size: u64,
}

impl PartitionChooser {
    /// A chooser over keys `first..first + keys` of `space`.
    pub fn new(
        kind: Partitioner,
        partitions: u32,
        space: Arc<KeySpace>,
        first: KeyId,
        keys: u64,
        batch_size: u64,
        rng: &mut Rng,
    ) -> Self {
        let cache = if kind == Partitioner::Murmur2 {
            let slots = keys.clamp(1, HASH_CACHE_MAX).next_power_of_two();
            vec![(KeyId::MAX, 0); slots as usize]
        } else {
            Vec::new()
        };
        PartitionChooser {
            kind,
            partitions,
            space,
            first,
            keys,
            cache,
            text: Vec::new(),
            counter: 0,
            sticky: variates::below(rng, u64::from(partitions)) as u32,
            sticky_bytes: 0,
            batch_size,
        }
    }

    #[inline]
    fn murmur2_of(&mut self, key: KeyId) -> u32 {
        let slot = (key.wrapping_sub(self.first) as usize) & (self.cache.len() - 1);
        let (cached, p) = self.cache[slot];
        if cached == key {
            return p;
        }
        let p = murmur2_partition(self.space.write_text(key, &mut self.text), self.partitions);
        self.cache[slot] = (key, p);
        p
    }

    /// The partition (0-based within the topic) of a record with key `key`.
    #[inline]
    pub fn choose(&mut self, key: KeyId, size_bytes: u64, rng: &mut Rng) -> u32 {
        match self.kind {
            Partitioner::Murmur2 => self.murmur2_of(key),
            Partitioner::RoundRobin => {
                let p = self.counter % self.partitions;
                self.counter = self.counter.wrapping_add(1);
                p
            }
            Partitioner::Random => variates::below(rng, u64::from(self.partitions)) as u32,
            Partitioner::KeyRange => {
                let n = key
                    .saturating_sub(self.first)
                    .min(self.keys.saturating_sub(1));
                ((n as u128 * self.partitions as u128) / self.keys.max(1) as u128) as u32
            }
            Partitioner::Sticky => {
                // Kafka's sticky partitioner: fill a batch on one partition,
                // then move to another chosen at random.
                if self.sticky_bytes + size_bytes > self.batch_size && self.sticky_bytes > 0 {
                    self.sticky_bytes = 0;
                    if self.partitions > 1 {
                        let next = variates::below(rng, u64::from(self.partitions - 1)) as u32;
                        self.sticky = if next >= self.sticky { next + 1 } else { next };
                    }
                }
                self.sticky_bytes += size_bytes;
                self.sticky
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng_stream;

    #[test]
    fn murmur2_matches_kafka_reference_values() {
        // From Kafka's UtilsTest#testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    fn chooser(kind: Partitioner, partitions: u32, keys: u64) -> (PartitionChooser, Rng) {
        let mut rng = rng_stream(0, "p");
        let space = Arc::new(KeySpace::new([("key-", keys)]));
        let c = PartitionChooser::new(kind, partitions, space, 0, keys, 1000, &mut rng);
        (c, rng)
    }

    #[test]
    fn murmur2_sends_equal_keys_to_one_partition() {
        let (mut c, mut rng) = chooser(Partitioner::Murmur2, 12, 50);
        for k in 0..50 {
            let first = c.choose(k, 100, &mut rng);
            for _ in 0..5 {
                assert_eq!(c.choose(k, 100, &mut rng), first);
            }
            assert_eq!(first, murmur2_partition(format!("key-{k}").as_bytes(), 12));
        }
    }

    #[test]
    fn murmur2_is_kafkas_for_keys_past_the_cache_and_far_into_huge_spaces() {
        // Two prefixes: the second producer's keys start after the first's.
        let space = Arc::new(KeySpace::new([
            ("user-", 1 << 40),
            ("order-", u64::MAX / 4),
        ]));
        let first = space.base("order-");
        let mut rng = rng_stream(0, "p");
        let mut c = PartitionChooser::new(
            Partitioner::Murmur2,
            1000,
            space.clone(),
            first,
            u64::MAX / 4,
            1000,
            &mut rng,
        );
        for n in [0u64, 1, 4096, 8192, 1 << 33, u64::MAX / 4 - 1, 4096, 0] {
            let want = murmur2_partition(format!("order-{n}").as_bytes(), 1000);
            assert_eq!(c.choose(first + n, 1, &mut rng), want, "order-{n}");
        }
        assert_eq!(space.text(first + 17), "order-17");
        assert_eq!(space.find("order-17"), Some(first + 17));
        assert_eq!(space.find("order-017"), None);
        assert_eq!(space.find("user-1099511627776"), None, "past user's n");
    }

    #[test]
    fn round_robin_cycles_and_key_range_is_contiguous() {
        let (mut c, mut rng) = chooser(Partitioner::RoundRobin, 3, 10);
        let got: Vec<u32> = (0..6).map(|_| c.choose(0, 1, &mut rng)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
        let (mut c, mut rng) = chooser(Partitioner::KeyRange, 4, 8);
        let got: Vec<u32> = (0..8).map(|k| c.choose(k, 1, &mut rng)).collect();
        assert_eq!(got, vec![0, 0, 1, 1, 2, 2, 3, 3]);
    }

    #[test]
    fn sticky_fills_a_batch_before_switching() {
        let (mut c, mut rng) = chooser(Partitioner::Sticky, 4, 10);
        let got: Vec<u32> = (0..20).map(|_| c.choose(0, 100, &mut rng)).collect();
        // batch_size 1000 / 100 bytes = 10 records per sticky batch.
        assert!(got[..10].iter().all(|&p| p == got[0]));
        assert!(got[10..].iter().all(|&p| p == got[10]));
        assert_ne!(got[0], got[10]);
    }
}
