//! Random damage to real files: open, walk, check, stats and freelist must
//! end cleanly (a result or an error), never panic or hang.

use proptest::prelude::*;

use crate::{fixtures, flatten};

fn exercise(bytes: &[u8]) {
    let Ok(db) = bbolt::Db::open(bytes) else {
        return;
    };
    let _ = flatten(&db);
    let _ = db.check();
    let _ = db.stats(b"");
    let _ = db.freelist();
    for id in 0..db.hwm().min(64) {
        if let Ok(p) = db.page(id) {
            let _ = p.leaf_entries();
            let _ = p.branch_entries();
            let _ = p.freelist_ids();
        }
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, bit: u8 },
    Word { at: usize, value: u64 },
    Zero { page: usize },
    Truncate { to: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        4 => (any::<usize>(), prop_oneof![Just(0u64), Just(1), Just(2), Just(0xffff), Just(u64::MAX), any::<u64>(), 0u64..64])
            .prop_map(|(at, value)| Damage::Word { at, value }),
        1 => any::<usize>().prop_map(|page| Damage::Zero { page }),
        1 => any::<usize>().prop_map(|to| Damage::Truncate { to }),
    ]
}

fn apply(mut b: Vec<u8>, ds: &[Damage]) -> Vec<u8> {
    for d in ds {
        if b.is_empty() {
            break;
        }
        let n = b.len();
        match *d {
            Damage::Flip { at, bit } => b[at % n] ^= 1 << bit,
            Damage::Word { at, value } => {
                // Aim at header-ish places: the first 64 bytes of some page.
                let page = (at / 64) % (n / 4096).max(1);
                let off = (page * 4096 + (at % 64)).min(n.saturating_sub(8));
                let w = value.to_le_bytes();
                let end = (off + 8).min(n);
                b[off..end].copy_from_slice(&w[..end - off]);
            }
            Damage::Zero { page } => {
                let p = page % (n / 4096).max(1);
                let end = ((p + 1) * 4096).min(n);
                b[p * 4096..end].fill(0);
            }
            Damage::Truncate { to } => b.truncate(to % n),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_fixtures_never_panic(which in any::<usize>(), ds in proptest::collection::vec(damage(), 1..6)) {
        let fx = fixtures();
        let (_, bytes) = &fx[which % fx.len()];
        let damaged = apply(bytes.clone(), &ds);
        exercise(&damaged);
    }
}

#[test]
fn every_single_page_zeroed() {
    for (_, bytes) in fixtures().into_iter().filter(|(n, _)| n.contains("milvus")) {
        for p in 0..bytes.len() / 4096 {
            let mut b = bytes.clone();
            b[p * 4096..(p + 1) * 4096].fill(0);
            exercise(&b);
        }
    }
}
