//! Lists the revision keys of etcd's `key` bucket in a real Milvus etcd db
//! and checks the file: the library snippet of the README.
//!
//! ```text
//! cargo run --example list_revisions
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/milvus-2.3.5/small.db"
        )
        .into()
    });
    let bytes = std::fs::read(path)?; // or a memory map
    let db = bbolt::Db::open(bytes)?;
    let key = db.bucket(&[b"key"])?;
    let mut cursor = key.cursor();
    let mut entry = cursor.first()?;
    while let Some(e) = entry {
        println!("revision key {:02x?}: {} bytes", e.key, e.value.len());
        entry = cursor.next()?;
    }
    for finding in db.check().findings {
        eprintln!("{finding}");
    }
    Ok(())
}
