//! A page bitmap sized by the file, not by numbers read from it.

use crate::format::PageId;

/// One bit per page below a limit; ids at or past the limit are never set.
#[derive(Clone, Debug)]
pub(crate) struct PageSet {
    bits: Vec<u64>,
    limit: u64,
}

impl PageSet {
    /// `limit` must already be bounded by the file size.
    pub fn new(limit: u64) -> Self {
        PageSet {
            bits: vec![0; limit.div_ceil(64) as usize],
            limit,
        }
    }

    pub fn contains(&self, id: PageId) -> bool {
        id < self.limit
            && self
                .bits
                .get((id / 64) as usize)
                .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Sets the bit; returns whether it was already set. Ids past the limit
    /// are ignored (and reported as not set).
    pub fn insert(&mut self, id: PageId) -> bool {
        if id >= self.limit {
            return false;
        }
        match self.bits.get_mut((id / 64) as usize) {
            Some(w) => {
                let was = *w & (1 << (id % 64)) != 0;
                *w |= 1 << (id % 64);
                was
            }
            None => false,
        }
    }
}

/// Pages seen by one cursor pass: a short list while it is short (most
/// buckets have few leaves), a bitmap once it grows.
#[derive(Clone, Debug, Default)]
pub(crate) struct VisitSet {
    small: Vec<PageId>,
    big: Option<PageSet>,
}

const SMALL: usize = 32;

impl VisitSet {
    pub fn clear(&mut self) {
        self.small.clear();
        self.big = None;
    }

    /// Records `id`; returns whether it was already there.
    pub fn insert(&mut self, id: PageId, limit: u64) -> bool {
        if let Some(big) = &mut self.big {
            return big.insert(id);
        }
        if self.small.contains(&id) {
            return true;
        }
        if self.small.len() < SMALL {
            self.small.push(id);
            return false;
        }
        let mut big = PageSet::new(limit);
        for &p in &self.small {
            big.insert(p);
        }
        let was = big.insert(id);
        self.big = Some(big);
        was
    }
}
