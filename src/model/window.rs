//! A sequence indexed by absolute position whose front can be released:
//! what the run no longer needs (event records every reader is done with,
//! a producer's sequences below its oldest unresolved batch) leaves
//! memory, so a run's memory follows its live state, not its length.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

/// Items `base..len()`, and below `base` the few kept aside by
/// [`Window::release_except`]; indexing anything else below `base` is a
/// bug and panics.
#[derive(Clone, Debug)]
pub(crate) struct Window<T> {
    base: usize,
    items: VecDeque<T>,
    /// Items below `base` still held (a straggler: one slow partition's
    /// records must not pin every later record of every other partition).
    /// Looked up by position only, never iterated into an output.
    aside: rustc_hash::FxHashMap<usize, T>,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window {
            base: 0,
            items: VecDeque::new(),
            aside: Default::default(),
        }
    }
}

impl<T> Window<T> {
    /// One past the last position ever pushed.
    #[inline]
    pub fn len(&self) -> usize {
        self.base + self.items.len()
    }
    /// The first position still held.
    #[cfg(test)]
    pub fn base(&self) -> usize {
        self.base
    }
    /// Items still held.
    #[inline]
    pub fn live(&self) -> usize {
        self.items.len() + self.aside.len()
    }
    #[inline]
    pub fn push(&mut self, item: T) {
        self.items.push_back(item);
    }
    /// The items held, from `base` on.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
    /// Forget every item below `floor`.
    pub fn release_below(&mut self, floor: usize) {
        let n = floor.saturating_sub(self.base).min(self.items.len());
        self.items.drain(..n);
        self.base += n;
        self.aside.retain(|&i, _| i >= floor);
    }

    /// Forget every item below `cut` except those at `keep` (ascending
    /// positions; those below `cut` are set aside), and every item set
    /// aside before that is not in `keep`.
    pub fn release_except(&mut self, cut: usize, keep: &[usize]) {
        let below = &keep[..keep.partition_point(|&i| i < cut)];
        let mut aside = rustc_hash::FxHashMap::default();
        aside.reserve(below.len());
        let n = cut.saturating_sub(self.base).min(self.items.len());
        for (i, item) in self.items.drain(..n).enumerate() {
            let at = self.base + i;
            if below.binary_search(&at).is_ok() {
                aside.insert(at, item);
            }
        }
        for &i in below {
            if let Some(item) = self.aside.remove(&i) {
                aside.insert(i, item);
            }
        }
        self.aside = aside;
        self.base += n;
    }
}

impl<T> Index<usize> for Window<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        if i >= self.base {
            &self.items[i - self.base]
        } else {
            &self.aside[&i]
        }
    }
}

impl<T> IndexMut<usize> for Window<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        if i >= self.base {
            &mut self.items[i - self.base]
        } else {
            self.aside.get_mut(&i).expect("a position held")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_stay_absolute_after_a_release() {
        let mut w = Window::default();
        for i in 0..10u32 {
            w.push(i * 10);
        }
        w.release_below(4);
        assert_eq!((w.base(), w.len(), w.live()), (4, 10, 6));
        assert_eq!(w[4], 40);
        assert_eq!(w[9], 90);
        w.push(100);
        assert_eq!(w[10], 100);
        // Releasing below what is already gone, or past the end, is safe.
        w.release_below(2);
        assert_eq!(w.base(), 4);
        w.release_below(50);
        assert_eq!((w.base(), w.len(), w.live()), (11, 11, 0));
        w.push(7);
        assert_eq!(w[11], 7);
    }

    #[test]
    fn items_kept_aside_stay_reachable_until_no_longer_kept() {
        let mut w = Window::default();
        for i in 0..10u32 {
            w.push(i * 10);
        }
        // Hold 2 and 5 below the cut at 8: everything else below goes.
        w.release_except(8, &[2, 5, 9]);
        assert_eq!((w.base(), w.len(), w.live()), (8, 10, 4));
        assert_eq!((w[2], w[5], w[8], w[9]), (20, 50, 80, 90));
        w[5] += 1;
        assert_eq!(w[5], 51);
        // The next pass keeps only 5.
        w.push(100);
        w.release_except(10, &[5, 10]);
        assert_eq!((w.base(), w.live()), (10, 2));
        assert_eq!((w[5], w[10]), (51, 100));
        // A plain release drops what was set aside below it.
        w.release_below(6);
        assert_eq!(w.live(), 1);
    }

    #[test]
    #[should_panic]
    fn a_position_not_kept_aside_is_gone() {
        let mut w = Window::default();
        for i in 0..5u8 {
            w.push(i);
        }
        w.release_except(4, &[1]);
        let _ = w[2];
    }

    #[test]
    #[should_panic]
    fn a_released_position_is_gone() {
        let mut w = Window::default();
        w.push(1u8);
        w.push(2u8);
        w.release_below(1);
        let _ = w[0];
    }
}
