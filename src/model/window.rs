//! A sequence indexed by absolute position whose front can be released:
//! what the run no longer needs (event records every reader is done with,
//! a producer's sequences below its oldest unresolved batch) leaves
//! memory, so a run's memory follows its live state, not its length.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

/// Items `base..len()`; indexing below `base` is a bug and panics.
#[derive(Clone, Debug)]
pub(crate) struct Window<T> {
    base: usize,
    items: VecDeque<T>,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window {
            base: 0,
            items: VecDeque::new(),
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
        self.items.len()
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
    }
}

impl<T> Index<usize> for Window<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.items[i - self.base]
    }
}

impl<T> IndexMut<usize> for Window<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.items[i - self.base]
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
    #[should_panic]
    fn a_released_position_is_gone() {
        let mut w = Window::default();
        w.push(1u8);
        w.push(2u8);
        w.release_below(1);
        let _ = w[0];
    }
}
