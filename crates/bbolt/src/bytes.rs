//! The one place that turns file bytes into numbers.
//!
//! Every read is bounds-checked and returns `Option`; callers turn `None`
//! into a [`Corruption`](crate::Corruption) naming the page and field.
//! Nothing here depends on the host's byte order: the file's own order is
//! passed in explicitly.

/// The byte order a bbolt file was written in.
///
/// Go's bbolt lays its structs over the mapped file, so integers use the
/// byte order of the machine that wrote the file. Almost every file in the
/// wild is little-endian; files from s390x or big-endian ppc64/mips are
/// big-endian. The order is detected from the meta magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Little-endian (amd64, arm64, ...). What boltsnap writes.
    Little,
    /// Big-endian (s390x, ppc64, mips).
    Big,
}

impl ByteOrder {
    /// Short name, as printed by `boltsnap bolt info`.
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little-endian",
            ByteOrder::Big => "big-endian",
        }
    }
}

/// `len` bytes at `off`, or `None` if that range is not inside `buf`.
#[inline]
pub(crate) fn slice(buf: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    buf.get(off..off.checked_add(len)?)
}

#[inline]
fn array<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    let s = buf.get(off..off.checked_add(N)?)?;
    s.try_into().ok()
}

#[inline]
pub(crate) fn u16_at(buf: &[u8], off: usize, order: ByteOrder) -> Option<u16> {
    let a = array::<2>(buf, off)?;
    Some(match order {
        ByteOrder::Little => u16::from_le_bytes(a),
        ByteOrder::Big => u16::from_be_bytes(a),
    })
}

#[inline]
pub(crate) fn u32_at(buf: &[u8], off: usize, order: ByteOrder) -> Option<u32> {
    let a = array::<4>(buf, off)?;
    Some(match order {
        ByteOrder::Little => u32::from_le_bytes(a),
        ByteOrder::Big => u32::from_be_bytes(a),
    })
}

#[inline]
pub(crate) fn u64_at(buf: &[u8], off: usize, order: ByteOrder) -> Option<u64> {
    let a = array::<8>(buf, off)?;
    Some(match order {
        ByteOrder::Little => u64::from_le_bytes(a),
        ByteOrder::Big => u64::from_be_bytes(a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(u16_at(&b, 0, ByteOrder::Little), Some(0x0201));
        assert_eq!(u16_at(&b, 0, ByteOrder::Big), Some(0x0102));
        assert_eq!(u32_at(&b, 4, ByteOrder::Little), Some(0x0807_0605));
        assert_eq!(u64_at(&b, 0, ByteOrder::Big), Some(0x0102_0304_0506_0708));
        assert_eq!(u32_at(&b, 5, ByteOrder::Little), None);
        assert_eq!(u64_at(&b, usize::MAX - 2, ByteOrder::Little), None);
        assert_eq!(slice(&b, 7, 2), None);
        assert_eq!(slice(&b, usize::MAX, 2), None);
        assert_eq!(slice(&b, 8, 0), Some(&[][..]));
    }
}
