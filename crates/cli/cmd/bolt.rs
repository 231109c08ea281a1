//! `boltsnap bolt ...`: the Go `bbolt` CLI's read commands, plus `walk`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bbolt::{BucketStats, Db, PageType, WalkItem};
use serde_json::json;

use crate::args::{BoltCommand, ByteFormat, ParseFormat};
use crate::input::{open_db, Bytes};
use crate::out::{self, format_bytes, hex, parse_arg, push_hex};
use crate::Outcome;

pub fn run(c: BoltCommand) -> Result<Outcome> {
    match c {
        BoltCommand::Info { db, json } => info(&db.path, json.json),
        BoltCommand::Buckets { db, json } => buckets(&db.path, json.json),
        BoltCommand::Keys {
            db,
            buckets,
            format,
            parse_format,
            json,
        } => keys(&db.path, &buckets, format, parse_format, json.json),
        BoltCommand::Get {
            db,
            path_and_key,
            format,
            parse_format,
            json,
        } => get(&db.path, &path_and_key, format, parse_format, json.json),
        BoltCommand::Stats { db, prefix, json } => stats(&db.path, &prefix, json.json),
        BoltCommand::Pages { db, json } => pages(&db.path, json.json),
        BoltCommand::Page {
            db,
            page_ids,
            all,
            format_value,
            json,
        } => page(&db.path, &page_ids, all, format_value, json.json),
        BoltCommand::Check { db, json } => check(&db.path, json.json),
        BoltCommand::Dump { db, page_ids, json } => dump(&db.path, &page_ids, json.json),
        BoltCommand::Walk { db, json, salvage } => walk(&db.path, json.json, salvage),
        BoltCommand::Surgery(crate::args::SurgeryCommand::RevertMeta {
            path,
            output,
            force,
        }) => revert_meta(&path, &output, force),
        BoltCommand::Compact {
            src,
            dst,
            page_size,
            fill,
            no_freelist,
            force,
            json,
        } => compact(&src, &dst, page_size, fill, no_freelist, force, json.json),
    }
}

fn ctx(path: &Path) -> impl Fn() -> String + '_ {
    move || path.display().to_string()
}

fn info(path: &Path, json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let mut w = out::stdout();
    if !json {
        writeln!(w, "Page Size: {}", db.page_size())?;
        w.flush()?;
        return Ok(Outcome::Ok);
    }
    let m = db.meta();
    let metas: Vec<_> = db
        .metas()
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(m) => json!({"slot": i, "valid": true, "txid": m.txid, "root": m.root, "freelist": freelist_json(m.freelist), "hwm": m.pgid, "page_size": m.page_size}),
            Err(e) => json!({"slot": i, "valid": false, "error": e.to_string()}),
        })
        .collect();
    let v = json!({
        "path": path.display().to_string(),
        "page_size": db.page_size(),
        "byte_order": db.byte_order().name(),
        "file_size": db.file_len(),
        "meta_slot": db.meta_slot(),
        "txid": m.txid,
        "root": m.root,
        "root_sequence": m.root_sequence,
        "freelist": freelist_json(m.freelist),
        "hwm": m.pgid,
        "metas": metas,
    });
    out::json_line(&mut w, &v)?;
    w.flush()?;
    Ok(Outcome::Ok)
}

fn freelist_json(id: u64) -> serde_json::Value {
    if id == bbolt::format::FREELIST_NONE {
        serde_json::Value::Null
    } else {
        json!(id)
    }
}

fn buckets(path: &Path, json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let mut w = out::stdout();
    let root = db.root();
    let mut c = root.cursor();
    let mut names = Vec::new();
    let mut e = c.first().with_context(ctx(path))?;
    while let Some(entry) = e {
        if json {
            names.push(hex(entry.key));
        } else {
            w.write_all(entry.key)?;
            w.write_all(b"\n")?;
        }
        e = c.next().with_context(ctx(path))?;
    }
    if json {
        out::json_line(&mut w, &json!({ "buckets": names }))?;
    }
    w.flush()?;
    Ok(Outcome::Ok)
}

fn parse_path(args: &[String], f: ParseFormat) -> Result<Vec<Vec<u8>>> {
    args.iter().map(|a| parse_arg(a, f)).collect()
}

fn keys(
    path: &Path,
    bucket: &[String],
    format: ByteFormat,
    pf: ParseFormat,
    json: bool,
) -> Result<Outcome> {
    let db = open_db(path)?;
    let names = parse_path(bucket, pf)?;
    let b = db.bucket(&names).with_context(ctx(path))?;
    let mut w = out::stdout();
    let mut c = b.cursor();
    let mut e = c.first().with_context(ctx(path))?;
    let mut line = Vec::new();
    while let Some(entry) = e {
        line.clear();
        if json {
            line.extend_from_slice(b"{\"key\":\"");
            push_hex(&mut line, entry.key);
            line.extend_from_slice(if entry.is_bucket() {
                b"\",\"bucket\":true}\n"
            } else {
                b"\",\"bucket\":false}\n"
            });
        } else {
            line.extend_from_slice(&format_bytes(entry.key, format));
            line.push(b'\n');
        }
        w.write_all(&line)?;
        e = c.next().with_context(ctx(path))?;
    }
    w.flush()?;
    Ok(Outcome::Ok)
}

fn get(
    path: &Path,
    args: &[String],
    format: ByteFormat,
    pf: ParseFormat,
    json: bool,
) -> Result<Outcome> {
    let db = open_db(path)?;
    let mut parts = parse_path(args, pf)?;
    let key = parts.pop().unwrap_or_default();
    let b = db.bucket(&parts).with_context(ctx(path))?;
    let mut w = out::stdout();
    match b.get(&key).with_context(ctx(path))? {
        Some(v) => {
            if json {
                out::json_line(&mut w, &json!({"key": hex(&key), "value": hex(v)}))?;
            } else {
                w.write_all(&format_bytes(v, format))?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
            Ok(Outcome::Ok)
        }
        None => {
            eprintln!(
                "Error key not found for key: {} hex: \"{}\"",
                out::go_quote(&key),
                hex(&key)
            );
            Ok(Outcome::Problems)
        }
    }
}

fn pct(a: u64, b: u64) -> i64 {
    if b == 0 {
        0
    } else {
        (a as f32 * 100.0 / b as f32) as i64
    }
}

fn stats(path: &Path, prefix: &str, json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let (s, n): (BucketStats, u64) = db.stats(prefix.as_bytes()).with_context(ctx(path))?;
    let mut w = out::stdout();
    if json {
        let v = json!({
            "buckets_matched": n,
            "branch_page_n": s.branch_page_n, "branch_overflow_n": s.branch_overflow_n,
            "leaf_page_n": s.leaf_page_n, "leaf_overflow_n": s.leaf_overflow_n,
            "key_n": s.key_n, "depth": s.depth,
            "branch_alloc": s.branch_alloc, "branch_inuse": s.branch_inuse,
            "leaf_alloc": s.leaf_alloc, "leaf_inuse": s.leaf_inuse,
            "bucket_n": s.bucket_n, "inline_bucket_n": s.inline_bucket_n,
            "inline_bucket_inuse": s.inline_bucket_inuse,
        });
        out::json_line(&mut w, &v)?;
    } else {
        write!(
            w,
            "Aggregate statistics for {n} buckets\n\n\
             Page count statistics\n\
             \tNumber of logical branch pages: {}\n\
             \tNumber of physical branch overflow pages: {}\n\
             \tNumber of logical leaf pages: {}\n\
             \tNumber of physical leaf overflow pages: {}\n\
             Tree statistics\n\
             \tNumber of keys/value pairs: {}\n\
             \tNumber of levels in B+tree: {}\n\
             Page size utilization\n\
             \tBytes allocated for physical branch pages: {}\n\
             \tBytes actually used for branch data: {} ({}%)\n\
             \tBytes allocated for physical leaf pages: {}\n\
             \tBytes actually used for leaf data: {} ({}%)\n\
             Bucket statistics\n\
             \tTotal number of buckets: {}\n\
             \tTotal number on inlined buckets: {} ({}%)\n\
             \tBytes used for inlined buckets: {} ({}%)\n",
            s.branch_page_n,
            s.branch_overflow_n,
            s.leaf_page_n,
            s.leaf_overflow_n,
            s.key_n,
            s.depth,
            s.branch_alloc,
            s.branch_inuse,
            pct(s.branch_inuse, s.branch_alloc),
            s.leaf_alloc,
            s.leaf_inuse,
            pct(s.leaf_inuse, s.leaf_alloc),
            s.bucket_n,
            s.inline_bucket_n,
            pct(s.inline_bucket_n, s.bucket_n),
            s.inline_bucket_inuse,
            pct(s.inline_bucket_inuse, s.leaf_inuse),
        )?;
    }
    w.flush()?;
    Ok(Outcome::Ok)
}

fn pages(path: &Path, json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let fl = db.freelist().with_context(ctx(path))?;
    let free: std::collections::HashSet<u64> = fl.ids.iter().copied().collect();
    let mut w = out::stdout();
    if !json {
        writeln!(w, "ID       TYPE       ITEMS  OVRFLW")?;
        writeln!(w, "======== ========== ====== ======")?;
    }
    let limit = db.hwm();
    let mut id = 0u64;
    let mut rows = Vec::new();
    while id < limit {
        let hdr = db.page_header(id).with_context(ctx(path))?;
        let is_free = free.contains(&id);
        let typ = if is_free {
            "free".to_string()
        } else {
            hdr.page_type().name()
        };
        if json {
            rows.push(json!({"id": id, "type": typ, "count": if is_free { None } else { Some(hdr.count) }, "overflow": if is_free { None } else { Some(hdr.overflow) }}));
        } else {
            let count = if is_free {
                String::new()
            } else {
                hdr.count.to_string()
            };
            let ovf = if !is_free && hdr.overflow > 0 {
                hdr.overflow.to_string()
            } else {
                String::new()
            };
            writeln!(w, "{:<8} {:<10} {:<6} {:<6}", id, typ, count, ovf)?;
        }
        id += 1;
        if !is_free {
            id = id.saturating_add(u64::from(hdr.overflow));
        }
    }
    if json {
        out::json_line(&mut w, &json!({ "pages": rows }))?;
    }
    w.flush()?;
    Ok(Outcome::Ok)
}

const SEPARATOR: &str = "===============================================";

fn page(path: &Path, ids: &[u64], all: bool, fv: ByteFormat, json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let ids: Vec<u64> = if all {
        let mut v = Vec::new();
        let mut id = 0;
        while id < db.hwm() {
            v.push(id);
            let ovf = db.page_header(id).map(|h| h.overflow).unwrap_or(0);
            id = id.saturating_add(1 + u64::from(ovf));
        }
        v
    } else {
        if ids.is_empty() {
            bail!("page: give one or more page ids, or --all");
        }
        ids.to_vec()
    };
    let mut w = out::stdout();
    let mut problems = false;
    let mut rows = Vec::new();
    for (n, &id) in ids.iter().enumerate() {
        if !json && n > 0 {
            writeln!(w, "{SEPARATOR}")?;
        }
        match page_one(&db, id, fv, &mut w, json) {
            Ok(Some(v)) => rows.push(v),
            Ok(None) => {}
            Err(e) => {
                problems = true;
                if json {
                    rows.push(json!({"id": id, "error": format!("{e:#}")}));
                } else {
                    writeln!(w, "Printing page {id} failed: {e:#}. Continuing...")?;
                }
            }
        }
    }
    if json {
        out::json_line(&mut w, &json!({ "pages": rows }))?;
    }
    w.flush()?;
    Ok(if problems {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}

fn page_one(
    db: &Db<Bytes>,
    id: u64,
    fv: ByteFormat,
    w: &mut impl Write,
    json: bool,
) -> Result<Option<serde_json::Value>> {
    let p = db.page(id)?;
    if p.header.id != id {
        bail!(
            "invalid value due to unexpected Page id: {} != {}",
            p.header.id,
            id
        );
    }
    let typ = p.page_type();
    let total = (u64::from(p.header.overflow) + 1) * u64::from(db.page_size());
    let mut j =
        json!({"id": id, "type": typ.name(), "total_size": total, "overflow": p.header.overflow});
    if !json {
        writeln!(w, "Page ID:    {id}")?;
        writeln!(w, "Page Type:  {}", typ.name())?;
        writeln!(w, "Total Size: {total} bytes")?;
        writeln!(w, "Overflow pages: {}", p.header.overflow)?;
    }
    match typ {
        PageType::Meta => {
            let m = p.meta().context("meta page too short")?;
            if json {
                j["meta"] = json!({"version": m.version, "page_size": m.page_size, "flags": m.flags, "root": m.root, "freelist": m.freelist, "hwm": m.pgid, "txid": m.txid, "checksum": format!("{:016x}", m.checksum)});
            } else {
                writeln!(w, "Version:    {}", m.version)?;
                writeln!(w, "Page Size:  {} bytes", m.page_size)?;
                writeln!(w, "Flags:      {:08x}", m.flags)?;
                writeln!(w, "Root:       <pgid={}>", m.root)?;
                writeln!(w, "Freelist:   <pgid={}>", m.freelist)?;
                writeln!(w, "HWM:        <pgid={}>", m.pgid)?;
                writeln!(w, "Txn ID:     {}", m.txid)?;
                writeln!(w, "Checksum:   {:016x}", m.checksum)?;
                writeln!(w)?;
            }
        }
        PageType::Leaf => {
            let items = p.leaf_entries()?;
            let mut js = Vec::new();
            if !json {
                writeln!(w, "Item Count: {}", items.len())?;
                writeln!(w)?;
            }
            for e in &items {
                let key = if out::is_printable(e.key) {
                    out::go_quote(e.key)
                } else {
                    hex(e.key)
                };
                let value = if e.is_bucket() {
                    let h = bbolt::format::BucketHeader::parse(e.value, db.byte_order())
                        .context("bucket value shorter than its header")?;
                    format!("<pgid={},seq={}>", h.root, h.sequence).into_bytes()
                } else {
                    format_bytes(e.value, fv)
                };
                if json {
                    js.push(
                        json!({"key": hex(e.key), "value": hex(e.value), "bucket": e.is_bucket()}),
                    );
                } else {
                    w.write_all(key.as_bytes())?;
                    w.write_all(b": ")?;
                    w.write_all(&value)?;
                    w.write_all(b"\n")?;
                }
            }
            if json {
                j["items"] = json!(js);
            } else {
                writeln!(w)?;
            }
        }
        PageType::Branch => {
            let items = p.branch_entries()?;
            if json {
                j["items"] = json!(items
                    .iter()
                    .map(|(k, c)| json!({"key": hex(k), "child": c}))
                    .collect::<Vec<_>>());
            } else {
                writeln!(w, "Item Count: {}", items.len())?;
                writeln!(w)?;
                for (k, c) in &items {
                    let key = if out::is_printable(k) {
                        out::go_quote(k)
                    } else {
                        hex(k)
                    };
                    writeln!(w, "{key}: <pgid={c}>")?;
                }
                writeln!(w)?;
            }
        }
        PageType::Freelist => {
            let ids = p.freelist_ids()?;
            if json {
                j["ids"] = json!(ids);
            } else {
                writeln!(w, "Item Count: {}", ids.len())?;
                writeln!(w, "Overflow: {}", p.header.overflow)?;
                writeln!(w)?;
                for i in &ids {
                    writeln!(w, "{i}")?;
                }
                writeln!(w)?;
            }
        }
        PageType::Unknown(_) => {}
    }
    Ok(json.then_some(j))
}

fn check(path: &Path, json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let r = db.check();
    let mut w = out::stdout();
    if json {
        let findings: Vec<_> = r
            .findings
            .iter()
            .map(|f| json!({"page": f.page, "message": f.message}))
            .collect();
        out::json_line(
            &mut w,
            &json!({"ok": r.is_ok(), "findings": findings, "reachable_pages": r.reachable_pages, "free_pages": r.free_pages, "buckets": r.buckets}),
        )?;
    } else {
        for f in &r.findings {
            writeln!(w, "{f}")?;
        }
        if r.is_ok() {
            writeln!(w, "OK")?;
        } else {
            writeln!(w, "{} errors found", r.findings.len())?;
        }
    }
    w.flush()?;
    Ok(if r.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}

fn dump(path: &Path, ids: &[u64], json: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    let p = u64::from(db.page_size());
    let mut w = out::stdout();
    let mut rows = Vec::new();
    for (n, &id) in ids.iter().enumerate() {
        let bytes = db.page_bytes(id).with_context(|| {
            format!(
                "{}: page {id} lies past the end of the file",
                path.display()
            )
        })?;
        let base = id * p;
        if json {
            rows.push(json!({"id": id, "offset": base, "hex": hex(bytes)}));
            continue;
        }
        if n > 0 {
            writeln!(w, "{SEPARATOR}")?;
        }
        let mut prev: Option<&[u8]> = None;
        let mut skipping = false;
        let lines = bytes.chunks(16).count();
        for (i, line) in bytes.chunks(16).enumerate() {
            let addr = base + (i as u64) * 16;
            let last = i + 1 == lines;
            if prev == Some(line) && !last {
                if !skipping {
                    writeln!(w, "{addr:07x} *")?;
                    skipping = true;
                }
                continue;
            }
            skipping = false;
            write!(w, "{addr:07x}")?;
            for pair in line.chunks(2) {
                write!(w, " ")?;
                for b in pair {
                    write!(w, "{b:02x}")?;
                }
            }
            writeln!(w)?;
            prev = Some(line);
        }
        writeln!(w)?;
    }
    if json {
        out::json_line(&mut w, &json!({ "pages": rows }))?;
    }
    w.flush()?;
    Ok(Outcome::Ok)
}

fn revert_meta(path: &Path, output: &Path, force: bool) -> Result<Outcome> {
    crate::out::check_output(output, &[path], force)?;
    let bytes = crate::input::map(path)?;
    let (fixed, txid) =
        bbolt::revert_meta(bytes.as_ref()).with_context(|| path.display().to_string())?;
    let mut f = bbolt::write::AtomicFile::create(output, force)
        .with_context(|| output.display().to_string())?;
    f.write_all(&fixed)?;
    f.commit()?;
    println!(
        "The meta page is reverted: {} now opens at txid {txid}",
        output.display()
    );
    Ok(Outcome::Ok)
}

fn walk(path: &Path, json: bool, salvage: bool) -> Result<Outcome> {
    let db = open_db(path)?;
    // Lines are built straight into one large buffer that is written out
    // whenever it passes FLUSH_AT: no per-line copies.
    const FLUSH_AT: usize = 1 << 20;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + (1 << 16));
    let mut emit = |item: WalkItem<'_, '_>| -> Result<()> {
        if json {
            walk_json_line(&mut buf, item);
        } else {
            walk_text_line(&mut buf, item);
        }
        if buf.len() >= FLUSH_AT {
            w.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    };
    if salvage {
        let damaged = db.walk_salvage(&mut emit).with_context(ctx(path))?;
        w.write_all(&buf)?;
        w.flush()?;
        for d in &damaged {
            eprintln!("boltsnap: {}: skipped: {d}", path.display());
        }
        return Ok(if damaged.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Problems
        });
    }
    let res = db.walk(&mut emit);
    // Print what was read before an error, then report it.
    w.write_all(&buf)?;
    w.flush()?;
    res.with_context(ctx(path))?;
    Ok(Outcome::Ok)
}

/// `{"bucket":[<hex>...],"seq":N}` or `{"bucket":[...],"key":"<hex>","value":"<hex>"}`.
fn walk_json_line(line: &mut Vec<u8>, item: WalkItem<'_, '_>) {
    line.extend_from_slice(b"{\"bucket\":[");
    let p = match item {
        WalkItem::Bucket { path, .. } | WalkItem::Pair { path, .. } => path,
    };
    for (i, name) in p.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.push(b'"');
        push_hex(line, name);
        line.push(b'"');
    }
    match item {
        WalkItem::Bucket { sequence, .. } => {
            line.extend_from_slice(b"],\"seq\":");
            line.extend_from_slice(sequence.to_string().as_bytes());
            line.extend_from_slice(b"}\n");
        }
        WalkItem::Pair { key, value, .. } => {
            line.extend_from_slice(b"],\"key\":\"");
            push_hex(line, key);
            line.extend_from_slice(b"\",\"value\":\"");
            push_hex(line, value);
            line.extend_from_slice(b"\"}\n");
        }
    }
}

/// An indented tree: `name/ (seq N)` for buckets, `key: value` for pairs.
fn walk_text_line(line: &mut Vec<u8>, item: WalkItem<'_, '_>) {
    match item {
        WalkItem::Bucket {
            path,
            sequence,
            inline,
        } => {
            let depth = path.len().saturating_sub(1);
            line.resize(line.len() + depth * 2, b' ');
            line.extend_from_slice(&format_bytes(
                path.last().copied().unwrap_or_default(),
                ByteFormat::Auto,
            ));
            line.extend_from_slice(
                format!(
                    "/ (seq {sequence}{})\n",
                    if inline { ", inline" } else { "" }
                )
                .as_bytes(),
            );
        }
        WalkItem::Pair { path, key, value } => {
            line.resize(line.len() + path.len() * 2, b' ');
            line.extend_from_slice(&format_bytes(key, ByteFormat::Auto));
            line.extend_from_slice(b": ");
            line.extend_from_slice(&format_bytes(value, ByteFormat::Auto));
            line.push(b'\n');
        }
    }
}

fn compact(
    src: &Path,
    dst: &Path,
    page_size: Option<u32>,
    fill: f64,
    no_freelist: bool,
    force: bool,
    json: bool,
) -> Result<Outcome> {
    let db = open_db(src)?;
    crate::out::check_output(dst, &[src], force)?;
    let opts = bbolt::write::BuilderOptions {
        page_size: page_size.unwrap_or(db.page_size()),
        fill_percent: fill,
        freelist: if no_freelist {
            bbolt::write::FreelistMode::None
        } else {
            bbolt::write::FreelistMode::Empty
        },
        ..Default::default()
    };
    let s = bbolt::write::compact(&db, dst, opts, force)
        .with_context(|| format!("compacting {} into {}", src.display(), dst.display()))?;
    let src_size = db.file_len();
    let gain = if s.file_size == 0 {
        0.0
    } else {
        src_size as f64 / s.file_size as f64
    };
    let mut w = out::stdout();
    if json {
        out::json_line(
            &mut w,
            &json!({"src": src.display().to_string(), "dst": dst.display().to_string(), "src_size": src_size, "dst_size": s.file_size, "gain": gain, "page_size": s.page_size, "pages": s.pages, "buckets": s.buckets, "inline_buckets": s.inline_buckets, "keys": s.keys}),
        )?;
    } else {
        writeln!(w, "{src_size} -> {} bytes (gain={gain:.2}x)", s.file_size)?;
    }
    w.flush()?;
    Ok(Outcome::Ok)
}
