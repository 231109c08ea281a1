//! Every read command on damaged files ends cleanly: exit 1 or 2 with a
//! message naming the file, or a correct result; never a panic or a hang.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{boltsnap, tempdir, testdata};

const P: usize = 4096;

fn variants() -> Vec<(&'static str, Vec<u8>)> {
    let good = std::fs::read(testdata("milvus-2.3.5/small.db")).unwrap();
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();
    v.push(("empty", Vec::new()));
    v.push(("truncated-3000", good[..3000].to_vec()));
    v.push(("truncated-half", good[..good.len() / 2].to_vec()));
    let mut b = good.clone();
    b[72] ^= 0xff;
    b[P + 72] ^= 0xff;
    v.push(("both-metas-bad", b));
    let mut b = good.clone();
    b[64] ^= 1;
    v.push(("meta0-bad", b));
    let mut x: u32 = 12345;
    v.push((
        "random",
        (0..200_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect(),
    ));
    // Zero each of the first tree pages, one at a time.
    for (name, p) in [
        ("zero-2", 2usize),
        ("zero-5", 5),
        ("zero-10", 10),
        ("zero-17", 17),
    ] {
        let mut b = good.clone();
        b[p * P..(p + 1) * P].fill(0);
        v.push((name, b));
    }
    // Every page's count set to 65535, and every page's first element pos past the end.
    let mut b = good.clone();
    for p in 2..good.len() / P {
        b[p * P + 10..p * P + 12].copy_from_slice(&0xffffu16.to_le_bytes());
    }
    v.push(("counts-65535", b));
    let mut b = good.clone();
    for p in 2..good.len() / P {
        b[p * P + 20..p * P + 24].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    }
    v.push(("pos-past-end", b));
    v
}

fn commands(db: &Path) -> Vec<Vec<String>> {
    let d = db.display().to_string();
    let mut v = Vec::new();
    for c in ["info", "buckets", "stats", "pages", "check", "walk"] {
        v.push(vec!["bolt".into(), c.into(), d.clone()]);
        v.push(vec!["bolt".into(), c.into(), "--json".into(), d.clone()]);
    }
    v.push(vec!["bolt".into(), "keys".into(), d.clone(), "key".into()]);
    v.push(vec![
        "bolt".into(),
        "get".into(),
        d.clone(),
        "meta".into(),
        "consistent_index".into(),
    ]);
    v.push(vec![
        "bolt".into(),
        "page".into(),
        "--all".into(),
        d.clone(),
    ]);
    v.push(vec![
        "bolt".into(),
        "dump".into(),
        d.clone(),
        "0".into(),
        "3".into(),
    ]);
    v
}

#[test]
fn damaged_files_end_cleanly() {
    let dir = tempdir("damaged");
    for (name, bytes) in variants() {
        let path = dir.join(format!("{name}.db"));
        std::fs::write(&path, &bytes).unwrap();
        for args in commands(&path) {
            let t = Instant::now();
            let out = boltsnap(&args);
            let took = t.elapsed();
            let code = out.status.code();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(code, Some(0..=2)),
                "{name}: {args:?} exit {code:?} (panic?)\n{stderr}"
            );
            assert!(
                !stderr.contains("panicked"),
                "{name}: {args:?} panicked:\n{stderr}"
            );
            if code == Some(2) {
                assert!(
                    stderr.contains(&format!("{name}.db")),
                    "{name}: {args:?}: the error must name the file:\n{stderr}"
                );
            }
            assert!(
                took < Duration::from_secs(20),
                "{name}: {args:?} took {took:?}"
            );
        }
    }
    // A few exact expectations.
    let check = |name: &str| {
        boltsnap([
            "bolt",
            "check",
            dir.join(format!("{name}.db")).to_str().unwrap(),
        ])
    };
    assert_eq!(
        check("meta0-bad").status.code(),
        Some(1),
        "a bad meta is a finding"
    );
    assert_eq!(
        check("both-metas-bad").status.code(),
        Some(2),
        "no valid meta: unusable input"
    );
    assert_eq!(check("empty").status.code(), Some(2));
    let out = check("zero-17"); // the root bucket page
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("errors found"));
    let _ = std::fs::remove_dir_all(dir);
}
