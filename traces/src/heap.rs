//! A min-heap of events ordered by (time, sequence number), the queue both the
//! generator and the simulation engine run on.
//!
//! The two keys are packed in one `u128` (time in the high half), so a comparison is a
//! single integer compare. Sequence numbers are unique, so the order is total: events at the
//! same time come out in the order they were scheduled, whatever the heap's shape.

/// The packed (time, sequence) key of an event.
#[inline]
pub fn event_key(time_ns: u64, seq: u64) -> u128 {
    (u128::from(time_ns) << 64) | u128::from(seq)
}

/// The time half of a key.
#[inline]
pub fn key_time(key: u128) -> u64 {
    (key >> 64) as u64
}

/// A 4-ary min-heap of `(key, payload)`.
#[derive(Clone, Debug, Default)]
pub struct EventHeap<T: Copy> {
    h: Vec<(u128, T)>,
}

impl<T: Copy> EventHeap<T> {
    /// An empty heap with room for `n` events.
    pub fn with_capacity(n: usize) -> Self {
        EventHeap {
            h: Vec::with_capacity(n),
        }
    }

    /// Events queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.h.len()
    }

    /// Whether no event is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The smallest key, if any.
    #[inline]
    pub fn peek_key(&self) -> Option<u128> {
        self.h.first().map(|e| e.0)
    }

    /// The earliest event, without taking it.
    #[inline]
    pub fn peek(&self) -> Option<(u128, &T)> {
        self.h.first().map(|e| (e.0, &e.1))
    }

    /// Queues an event.
    #[inline]
    pub fn push(&mut self, key: u128, v: T) {
        let mut i = self.h.len();
        self.h.push((key, v));
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let p = self.h[parent];
            if p.0 <= key {
                break;
            }
            self.h[i] = p;
            i = parent;
        }
        self.h[i] = (key, v);
    }

    /// Removes and returns the event with the smallest key.
    #[inline]
    pub fn pop(&mut self) -> Option<(u128, T)> {
        let last = self.h.pop()?;
        let h = &mut self.h[..];
        let n = h.len();
        if n == 0 {
            return Some(last);
        }
        let top = h[0];
        // Sift `last` down from the root: at each level move the smallest child up until
        // `last` is no larger than it.
        let mut i = 0;
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let end = (first + ARITY).min(n);
            let mut c = first;
            let mut ck = h[first].0;
            for (j, e) in h[first + 1..end].iter().enumerate() {
                if e.0 < ck {
                    ck = e.0;
                    c = first + 1 + j;
                }
            }
            if last.0 <= ck {
                break;
            }
            h[i] = h[c];
            i = c;
        }
        h[i] = last;
        Some(top)
    }
}

/// Children per node: a 4-ary heap is half as deep as a binary one, and a node's children
/// share a cache line or two.
const ARITY: usize = 4;

#[cfg(test)]
mod test {
    use super::*;

    /// Pops come out in key order, equal times in scheduling order, like a sorted list.
    #[test]
    fn pops_in_key_order() {
        let mut h = EventHeap::with_capacity(4);
        let mut want = Vec::new();
        let mut x = 12345u64;
        for seq in 0..2000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = (x >> 40) % 50;
            h.push(event_key(t, seq), seq as u32);
            want.push((t, seq));
            if seq % 3 == 0 {
                // Interleave pops with pushes.
                want.sort_unstable();
                let (k, v) = h.pop().unwrap();
                let (wt, ws) = want.remove(0);
                assert_eq!((key_time(k), u64::from(v)), (wt, ws));
            }
        }
        want.sort_unstable();
        for (wt, ws) in want {
            let (k, v) = h.pop().unwrap();
            assert_eq!((key_time(k), u64::from(v)), (wt, ws));
        }
        assert!(h.pop().is_none() && h.is_empty());
    }
}
