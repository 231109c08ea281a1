//! A minimal protobuf wire reader, zero-copy: fields come out as varints or
//! slices of the buffer they were read from. Every length is checked
//! against what remains, so a damaged record gives an error, never a panic
//! or an allocation.
//!
//! The messages of the WAL and of etcd's raft requests are read with it
//! (a few dozen fields in all); unknown fields are skipped, as protobuf
//! readers do.

use std::fmt;

/// Why bytes are not the message they should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PbError(pub String);

impl fmt::Display for PbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PbError {}

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The varint, or an error naming the field.
    pub fn varint(self, field: &str) -> Result<u64, PbError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(PbError(format!("field {field}: not a varint"))),
        }
    }

    /// The bytes, or an error naming the field.
    pub fn bytes(self, field: &str) -> Result<&'a [u8], PbError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(PbError(format!("field {field}: not length-delimited"))),
        }
    }

    /// An int64 field (a varint taken as two's complement).
    pub fn int64(self, field: &str) -> Result<i64, PbError> {
        self.varint(field).map(|v| v as i64)
    }

    /// A bool field.
    pub fn bool(self, field: &str) -> Result<bool, PbError> {
        self.varint(field).map(|v| v != 0)
    }
}

/// Reads the fields of one message in order.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, PbError> {
        // Tags, lengths and small numbers: one byte; values' lengths up to
        // 16 KiB: two.
        match *self.buf {
            [b, ..] if b < 0x80 => {
                self.buf = self.buf.get(1..).unwrap_or_default();
                Ok(u64::from(b))
            }
            [b0, b1, ..] if b1 < 0x80 => {
                self.buf = self.buf.get(2..).unwrap_or_default();
                Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7))
            }
            _ => self.varint_long(),
        }
    }

    fn varint_long(&mut self) -> Result<u64, PbError> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(PbError("truncated varint".into()));
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(PbError("varint longer than 10 bytes".into()))
    }

    #[inline]
    fn take(&mut self, n: u64) -> Result<&'a [u8], PbError> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > self.buf.len() {
            return Err(PbError(format!(
                "a field of {n} bytes where {} remain",
                self.buf.len()
            )));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    /// The next field: its number and value; `None` at the end.
    #[inline]
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, PbError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number =
            u32::try_from(tag >> 3).map_err(|_| PbError("field number too large".into()))?;
        if number == 0 {
            return Err(PbError("field number 0".into()));
        }
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            w => {
                return Err(PbError(format!(
                    "field {number}: wire type {w} is not supported"
                )))
            }
        };
        Ok(Some((number, value)))
    }
}

/// Calls `f` for every field of `buf`.
pub fn for_each<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u32, Value<'a>) -> Result<(), PbError>,
) -> Result<(), PbError> {
    let mut fields = Fields::new(buf);
    while let Some((n, v)) = fields.next_field()? {
        f(n, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_refuses_overruns() {
        // field 1 varint 150, field 3 bytes "ab", field 2 fixed32
        let buf = [0x08, 0x96, 0x01, 0x1a, 0x02, b'a', b'b', 0x15, 1, 0, 0, 0];
        let mut got = Vec::new();
        for_each(&buf, |n, v| {
            got.push((n, v));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (1, Value::Varint(150)),
                (3, Value::Bytes(b"ab")),
                (2, Value::Fixed32(1))
            ]
        );
        assert!(for_each(&[0x1a, 0x05, b'a'], |_, _| Ok(())).is_err());
        assert!(for_each(&[0x08, 0xff, 0xff], |_, _| Ok(())).is_err());
        assert!(for_each(&[0x0b], |_, _| Ok(())).is_err());
        assert!(for_each(
            &[0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            |_, _| Ok(())
        )
        .is_err());
    }
}
