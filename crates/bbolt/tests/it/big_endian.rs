//! Files written on big-endian machines (s390x, ppc64, mips) lay every
//! integer out big-endian. No such machine is at hand, so this test builds
//! a small file by hand following the format, with every integer swapped.

use bbolt::{ByteOrder, Db, WalkItem};

const P: usize = 4096;

struct Be(Vec<u8>);

impl Be {
    fn u16(&mut self, off: usize, v: u16) {
        self.0[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_be_bytes());
    }
    fn header(&mut self, page: usize, id: u64, flags: u16, count: u16) {
        let o = page * P;
        self.u64(o, id);
        self.u16(o + 8, flags);
        self.u16(o + 10, count);
    }
    fn meta(&mut self, slot: usize, txid: u64) {
        let o = slot * P;
        self.header(slot, slot as u64, 0x04, 0);
        self.u32(o + 16, 0xED0C_DAED);
        self.u32(o + 20, 2);
        self.u32(o + 24, P as u32);
        self.u64(o + 32, 3); // root
        self.u64(o + 48, 2); // freelist
        self.u64(o + 56, 5); // hwm
        self.u64(o + 64, txid);
        let sum = bbolt::format::fnv1a64(&self.0[o + 16..o + 72]);
        self.u64(o + 72, sum);
    }
    /// Writes leaf elements and their packed keys/values into `buf` at `base`.
    fn leaf(&mut self, base: usize, items: &[(u32, &[u8], &[u8])]) {
        let n = items.len();
        let mut data = base + 16 + 16 * n;
        for (i, (flags, k, v)) in items.iter().enumerate() {
            let e = base + 16 + 16 * i;
            self.u32(e, *flags);
            self.u32(e + 4, (data - e) as u32);
            self.u32(e + 8, k.len() as u32);
            self.u32(e + 12, v.len() as u32);
            self.0[data..data + k.len()].copy_from_slice(k);
            self.0[data + k.len()..data + k.len() + v.len()].copy_from_slice(v);
            data += k.len() + v.len();
        }
    }
}

fn be_file() -> Vec<u8> {
    let mut f = Be(vec![0; 5 * P]);
    f.meta(0, 4);
    f.meta(1, 3);
    f.header(2, 2, 0x10, 0);
    // Inline bucket "b": header {root 0, seq 9} then a leaf image with k=v.
    let mut inline = Be(vec![0; 16 + 16 + 16 + 2]);
    inline.u64(8, 9);
    inline.u16(16 + 8, 0x02);
    inline.u16(16 + 10, 1);
    inline.leaf(16, &[(0, b"k", b"v")]);
    let mut a_hdr = Be(vec![0; 16]);
    a_hdr.u64(0, 4);
    a_hdr.u64(8, 7);
    f.header(3, 3, 0x02, 2);
    f.leaf(3 * P, &[(1, b"a", &a_hdr.0), (1, b"b", &inline.0)]);
    f.header(4, 4, 0x02, 2);
    f.leaf(4 * P, &[(0, b"k1", b"v1"), (0, b"k2", b"")]);
    f.0
}

#[test]
fn big_endian_file_reads_and_checks() {
    let bytes = be_file();
    let db = Db::open(&bytes[..]).unwrap();
    assert_eq!(db.byte_order(), ByteOrder::Big);
    assert_eq!(db.page_size(), 4096);
    assert_eq!(db.meta().txid, 4);
    let mut got = Vec::new();
    db.walk(|item| -> bbolt::Result<()> {
        got.push(match item {
            WalkItem::Bucket {
                path,
                sequence,
                inline,
            } => format!("{:?} seq={sequence} inline={inline}", path),
            WalkItem::Pair { path, key, value } => format!("{:?} {:?}={:?}", path, key, value),
        });
        Ok(())
    })
    .unwrap();
    let want = vec![
        format!("{:?} seq=7 inline=false", [b"a"]),
        format!("{:?} {:?}={:?}", [b"a"], b"k1", b"v1"),
        format!("{:?} {:?}={:?}", [b"a"], b"k2", b""),
        format!("{:?} seq=9 inline=true", [b"b"]),
        format!("{:?} {:?}={:?}", [b"b"], b"k", b"v"),
    ];
    assert_eq!(got, want);
    let r = db.check();
    assert!(r.is_ok(), "{:?}", r.findings);
    assert_eq!(
        db.bucket(&[b"a"]).unwrap().get(b"k2").unwrap(),
        Some(&b""[..])
    );
    let (s, n) = db.stats(b"").unwrap();
    assert_eq!((n, s.key_n, s.bucket_n, s.inline_bucket_n), (2, 3, 2, 1));
    // The same bytes read as little-endian would be garbage: the magic is what tells.
    assert!(bbolt::Meta::validate(&bytes[..P], ByteOrder::Little).is_err());
}
