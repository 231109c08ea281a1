//! Files written by the Builder, given to Go bbolt 1.3.6: `Check()` OK,
//! Go's walk equal to the model, and Go can open them read-write, add and
//! delete keys, commit and check again (`gobolt rwtest`).

use bbolt::write::BuilderOptions;
use proptest::prelude::*;

use crate::peers::{gobolt, run_gobolt};
use crate::writer::{build, expected, options, root_tree, Tree};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The walk as the Go oracle prints it.
fn walk_json(root: &Tree) -> String {
    let mut flat = Vec::new();
    expected(root, &mut Vec::new(), &mut flat);
    let mut s = String::new();
    for (path, key, value) in flat {
        let p: Vec<String> = path.iter().map(|n| format!("\"{}\"", hex(n))).collect();
        match key {
            None => {
                s += &format!(
                    "{{\"bucket\":[{}],\"seq\":{}}}\n",
                    p.join(","),
                    u64::from_le_bytes(value.try_into().unwrap())
                )
            }
            Some(k) => {
                s += &format!(
                    "{{\"bucket\":[{}],\"key\":\"{}\",\"value\":\"{}\"}}\n",
                    p.join(","),
                    hex(&k),
                    hex(&value)
                )
            }
        }
    }
    s
}

fn go_accepts(root: &Tree, opts: BuilderOptions, tag: &str) {
    let bytes = build(root, opts);
    // One dir per call, removed when the call ends, passed or failed.
    struct Scratch(std::path::PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Scratch(
        std::env::temp_dir().join(format!("boltsnap-writer-go-{}-{n}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let f = dir.0.join(format!("{tag}.db"));
    std::fs::write(&f, &bytes).unwrap();
    let (code, out, err) = run_gobolt(&["check".as_ref(), f.as_os_str()]).unwrap();
    assert_eq!(
        code,
        0,
        "Go check of {}: {}{err}",
        f.display(),
        String::from_utf8_lossy(&out)
    );
    let (code, out, err) = run_gobolt(&["walk".as_ref(), f.as_os_str()]).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        String::from_utf8_lossy(&out) == walk_json(root),
        "Go reads back something else from {}",
        f.display()
    );
    let (code, out, err) = run_gobolt(&["rwtest".as_ref(), f.as_os_str()]).unwrap();
    assert_eq!(
        code,
        0,
        "Go read-write test on {}: {}{err}",
        f.display(),
        String::from_utf8_lossy(&out)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn go_accepts_builder_files(root in root_tree(), opts in options()) {
        if gobolt().is_none() {
            return Ok(());
        }
        go_accepts(&root, opts, "prop");
    }
}

/// Regression (found by the property above): the smallest files, an empty
/// database with 1 KiB pages and no freelist page, must open in Go too.
#[test]
fn go_opens_the_smallest_files() {
    if gobolt().is_none() {
        return;
    }
    for (p, fl) in [
        (1024, bbolt::write::FreelistMode::None),
        (1024, bbolt::write::FreelistMode::Empty),
        (4096, bbolt::write::FreelistMode::None),
    ] {
        go_accepts(
            &Tree::default(),
            BuilderOptions {
                page_size: p,
                freelist: fl,
                ..Default::default()
            },
            &format!("empty-{p}-{fl:?}"),
        );
    }
}
