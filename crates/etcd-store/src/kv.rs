//! `mvccpb.KeyValue`, the value of every `key`-bucket entry.
//!
//! | field | no. | wire | meaning |
//! |---|---|---|---|
//! | key | 1 | bytes | the user key |
//! | create_revision | 2 | varint int64 | main revision that created this generation |
//! | mod_revision | 3 | varint int64 | main revision of this change |
//! | version | 4 | varint int64 | 1 on creation, +1 per put |
//! | value | 5 | bytes | the value |
//! | lease | 6 | varint int64 | attached lease id, 0 for none |
//!
//! [`KeyValue`] is the owned message (prost derive, for encoding);
//! [`KeyValueRef`] decodes without copying, its byte fields borrowing from
//! the mapped file.

/// The owned message. Go: `mvccpb.KeyValue`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct KeyValue {
    /// The user key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// Main revision of the put that created this generation of the key.
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    /// Main revision of this put.
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    /// 1 on creation, +1 per put.
    #[prost(int64, tag = "4")]
    pub version: i64,
    /// The value.
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    /// Attached lease id, 0 for none.
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// A KeyValue whose key and value borrow from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyValueRef<'a> {
    /// The user key.
    pub key: &'a [u8],
    /// Main revision that created this generation.
    pub create_revision: i64,
    /// Main revision of this change.
    pub mod_revision: i64,
    /// Version.
    pub version: i64,
    /// The value.
    pub value: &'a [u8],
    /// Lease id, 0 for none.
    pub lease: i64,
}

/// Why a buffer is not a KeyValue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

#[inline]
fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    // Tags, lengths and small numbers take one byte, revisions up to
    // 2^21 three: those without a loop.
    if let Some(&[a, b, c]) = buf.get(*pos..).and_then(|r| r.first_chunk::<3>()) {
        if a < 0x80 {
            *pos += 1;
            return Ok(u64::from(a));
        }
        if b < 0x80 {
            *pos += 2;
            return Ok(u64::from(a & 0x7f) | u64::from(b) << 7);
        }
        if c < 0x80 {
            *pos += 3;
            return Ok(u64::from(a & 0x7f) | u64::from(b & 0x7f) << 7 | u64::from(c) << 14);
        }
    }
    varint_slow(buf, pos)
}

fn varint_slow(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| DecodeError(format!("varint cut short at byte {}", *pos)))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(DecodeError(format!(
        "varint longer than 10 bytes ending at byte {}",
        *pos
    )))
}

#[inline]
fn bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], DecodeError> {
    let len = varint(buf, pos)?;
    let start = *pos;
    let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l));
    match end.and_then(|e| buf.get(start..e)) {
        Some(s) => {
            *pos = start + s.len();
            Ok(s)
        }
        None => Err(DecodeError(format!(
            "field of {len} bytes at byte {start} runs past the end ({} bytes)",
            buf.len()
        ))),
    }
}

impl<'a> KeyValueRef<'a> {
    /// Decodes a KeyValue, borrowing its byte fields. Unknown fields are
    /// skipped; for a repeated scalar field the last one wins (proto3).
    pub fn decode(buf: &'a [u8]) -> Result<KeyValueRef<'a>, DecodeError> {
        match Self::decode_in_order(buf) {
            Some(kv) => Ok(kv),
            None => Self::decode_any(buf),
        }
    }

    /// The fast path: the fields as etcd writes them, each at most once,
    /// in field order (zero fields left out). None sends the buffer to
    /// the general decoder, which also says what is wrong.
    #[inline]
    fn decode_in_order(buf: &'a [u8]) -> Option<KeyValueRef<'a>> {
        let mut kv = KeyValueRef::default();
        let mut pos = 0;
        let tag = |want: u8, pos: &mut usize| {
            let hit = buf.get(*pos) == Some(&want);
            *pos += usize::from(hit);
            hit
        };
        if tag(0x0a, &mut pos) {
            kv.key = bytes(buf, &mut pos).ok()?;
        }
        if tag(0x10, &mut pos) {
            kv.create_revision = varint(buf, &mut pos).ok()? as i64;
        }
        if tag(0x18, &mut pos) {
            kv.mod_revision = varint(buf, &mut pos).ok()? as i64;
        }
        if tag(0x20, &mut pos) {
            kv.version = varint(buf, &mut pos).ok()? as i64;
        }
        if tag(0x2a, &mut pos) {
            kv.value = bytes(buf, &mut pos).ok()?;
        }
        if tag(0x30, &mut pos) {
            kv.lease = varint(buf, &mut pos).ok()? as i64;
        }
        (pos == buf.len()).then_some(kv)
    }

    fn decode_any(buf: &'a [u8]) -> Result<KeyValueRef<'a>, DecodeError> {
        let mut kv = KeyValueRef::default();
        let mut pos = 0;
        while pos < buf.len() {
            let tag = varint(buf, &mut pos)?;
            let (field, wire) = (tag >> 3, tag & 7);
            match (field, wire) {
                (1, 2) => kv.key = bytes(buf, &mut pos)?,
                (5, 2) => kv.value = bytes(buf, &mut pos)?,
                (2, 0) => kv.create_revision = varint(buf, &mut pos)? as i64,
                (3, 0) => kv.mod_revision = varint(buf, &mut pos)? as i64,
                (4, 0) => kv.version = varint(buf, &mut pos)? as i64,
                (6, 0) => kv.lease = varint(buf, &mut pos)? as i64,
                (0, _) => return Err(DecodeError(format!("field number 0 at byte {pos}"))),
                (1..=6, _) => {
                    return Err(DecodeError(format!("field {field} with wire type {wire}")))
                }
                (_, 0) => {
                    varint(buf, &mut pos)?;
                }
                (_, 1) => pos = skip(buf, pos, 8)?,
                (_, 2) => {
                    bytes(buf, &mut pos)?;
                }
                (_, 5) => pos = skip(buf, pos, 4)?,
                _ => {
                    return Err(DecodeError(format!(
                        "unsupported wire type {wire} for field {field}"
                    )))
                }
            }
        }
        Ok(kv)
    }

    /// Only the user key (field 1): the key [`decode`](Self::decode)
    /// gives, and an error where it fails, so every reader agrees on which
    /// key an entry belongs to (a later field 1 overrides an earlier one,
    /// and garbage after the key makes the entry unreadable).
    #[inline]
    pub fn decode_key(buf: &'a [u8]) -> Result<&'a [u8], DecodeError> {
        Ok(KeyValueRef::decode(buf)?.key)
    }

    /// Appends this KeyValue as `etcdctl get -w json` prints an entry of
    /// `kvs`: base64 key and value, decimal revisions, zero fields (an
    /// empty value, lease 0) left out; `with_value` false drops the value
    /// (`--keys-only`).
    pub fn write_etcdctl_json(&self, with_value: bool, out: &mut Vec<u8>) {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        out.extend_from_slice(b"{\"key\":\"");
        out.extend_from_slice(b64.encode(self.key).as_bytes());
        out.extend_from_slice(
            format!(
                "\",\"create_revision\":{},\"mod_revision\":{},\"version\":{}",
                self.create_revision, self.mod_revision, self.version
            )
            .as_bytes(),
        );
        if with_value && !self.value.is_empty() {
            out.extend_from_slice(b",\"value\":\"");
            out.extend_from_slice(b64.encode(self.value).as_bytes());
            out.push(b'"');
        }
        if self.lease != 0 {
            out.extend_from_slice(format!(",\"lease\":{}", self.lease).as_bytes());
        }
        out.push(b'}');
    }

    /// Appends the protobuf encoding to `out`, byte for byte as etcd (Go's
    /// protobuf) and prost write it: fields in number order, zero numbers
    /// and empty bytes left out.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let bytes = |out: &mut Vec<u8>, tag: u8, b: &[u8]| {
            if !b.is_empty() {
                out.push(tag);
                varint(out, b.len() as u64);
                out.extend_from_slice(b);
            }
        };
        let number = |out: &mut Vec<u8>, tag: u8, n: i64| {
            if n != 0 {
                out.push(tag);
                // int64: a negative number is its two's complement, 10 bytes.
                varint(out, n as u64);
            }
        };
        bytes(out, 0x0a, self.key);
        number(out, 0x10, self.create_revision);
        number(out, 0x18, self.mod_revision);
        number(out, 0x20, self.version);
        bytes(out, 0x2a, self.value);
        number(out, 0x30, self.lease);
    }

    /// An owned copy.
    pub fn to_owned(&self) -> KeyValue {
        KeyValue {
            key: self.key.to_vec(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            value: self.value.to_vec(),
            lease: self.lease,
        }
    }
}

fn skip(buf: &[u8], pos: usize, n: usize) -> Result<usize, DecodeError> {
    let end = pos + n;
    if end > buf.len() {
        return Err(DecodeError(format!(
            "fixed field runs past the end at byte {pos}"
        )));
    }
    Ok(end)
}

impl KeyValue {
    /// The protobuf encoding, as etcd writes it.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> KeyValueRef<'_> {
        KeyValueRef {
            key: &self.key,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            value: &self.value,
            lease: self.lease,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    #[test]
    fn etcd_example_bytes() {
        // (4,0): key "a" holds "11", created at 2, version 2 (verified on etcd 3.4.23).
        let b = [
            0x0a, 0x01, 0x61, 0x10, 0x02, 0x18, 0x04, 0x20, 0x02, 0x2a, 0x02, 0x31, 0x31,
        ];
        let kv = KeyValueRef::decode(&b).unwrap();
        assert_eq!(
            (
                kv.key,
                kv.create_revision,
                kv.mod_revision,
                kv.version,
                kv.value,
                kv.lease
            ),
            (&b"a"[..], 2, 4, 2, &b"11"[..], 0)
        );
        assert_eq!(kv.to_owned().encode_to_vec(), b);
        // A tombstone holds only the key.
        let t = KeyValueRef::decode(&[0x0a, 0x02, 0x70, 0x31]).unwrap();
        assert_eq!((t.key, t.mod_revision), (&b"p1"[..], 0));
        // A later key field wins, for the key alone too (found in review:
        // the key-only path once stopped at the first).
        let twice = [0x0a, 0x00, 0x10, 0x01, 0x0a, 0x01, b'x'];
        assert_eq!(KeyValueRef::decode_key(&twice).unwrap(), b"x");
        // The --bump-revision marker: an empty value, an empty key.
        assert_eq!(KeyValueRef::decode_key(&[]).unwrap(), b"");
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            KeyValueRef::decode(&[0x0a, 0x05, 0x61]).is_err(),
            "key past the end"
        );
        assert!(KeyValueRef::decode(&[0x10]).is_err(), "cut varint");
        assert!(KeyValueRef::decode(&[0xff; 11]).is_err(), "overlong varint");
        assert!(KeyValueRef::decode(&[0x0b]).is_err(), "field 1 as a group");
        assert!(KeyValueRef::decode(&[0x00]).is_err(), "field 0");
    }

    proptest! {
        #[test]
        fn ours_equals_prost(key in proptest::collection::vec(any::<u8>(), 0..40), value in proptest::collection::vec(any::<u8>(), 0..300),
                             c in any::<i64>(), m in any::<i64>(), v in any::<i64>(), l in any::<i64>()) {
            let kv = KeyValue { key, create_revision: c, mod_revision: m, version: v, value, lease: l };
            let b = kv.encode_to_vec();
            let ours = KeyValueRef::decode(&b).unwrap();
            prop_assert_eq!(ours.to_owned(), kv.clone());
            prop_assert_eq!(KeyValueRef::decode_key(&b).unwrap(), &kv.key[..]);
            prop_assert_eq!(KeyValue::decode(&b[..]).unwrap(), kv.clone());
            let mut enc = vec![7u8];
            kv.as_ref().encode(&mut enc);
            prop_assert_eq!(&enc[1..], &b[..], "encode appends prost's bytes");
        }

        #[test]
        fn small_numbers_equal_prost(key in proptest::collection::vec(any::<u8>(), 0..200), value in proptest::collection::vec(any::<u8>(), 0..300),
                                     c in 0i64..1 << 22, m in 0i64..1 << 22, v in 0i64..300, l in prop_oneof![Just(0i64), 0i64..1 << 22, any::<i64>()]) {
            // Varints of one to four bytes: the fast paths and their edges.
            let kv = KeyValue { key, create_revision: c, mod_revision: m, version: v, value, lease: l };
            let b = kv.encode_to_vec();
            prop_assert_eq!(KeyValueRef::decode(&b).unwrap().to_owned(), kv.clone());
            let mut enc = Vec::new();
            kv.as_ref().encode(&mut enc);
            prop_assert_eq!(enc, b);
        }

        #[test]
        fn in_order_path_agrees_with_the_general_one(b in proptest::collection::vec(
            prop_oneof![Just(0x0au8), Just(0x10), Just(0x18), Just(0x20), Just(0x2a), Just(0x30), Just(0x80), Just(0x81), Just(0x01), Just(0x02), any::<u8>()], 0..48)) {
            // Repeated, missing, reordered and unknown fields, cut varints.
            if let Some(fast) = KeyValueRef::decode_in_order(&b) {
                prop_assert_eq!(Ok(fast), KeyValueRef::decode_any(&b));
            }
        }

        #[test]
        fn key_only_agrees_with_the_whole_decode(b in proptest::collection::vec(
            prop_oneof![Just(0x0au8), Just(0x10), Just(0x2a), Just(0x00), Just(0x01), Just(b'x'), any::<u8>()], 0..24)) {
            match KeyValueRef::decode(&b) {
                Ok(kv) => prop_assert_eq!(KeyValueRef::decode_key(&b), Ok(kv.key)),
                Err(_) => prop_assert!(KeyValueRef::decode_key(&b).is_err()),
            }
        }

        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = KeyValueRef::decode(&b);
            let theirs = KeyValue::decode(&b[..]);
            // Where prost accepts, we agree with it.
            if let (Ok(o), Ok(t)) = (ours, theirs) {
                prop_assert_eq!(o.to_owned(), t);
            }
        }
    }
}
