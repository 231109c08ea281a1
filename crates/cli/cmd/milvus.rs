//! `export`, `verify`, `inspect`, `diff`: the Milvus rescue commands.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use milvus_meta::backup::{self, BackupWriter, Manifest, Record, SourceInfo};
use milvus_meta::catalog::Catalog;
use milvus_meta::rename;
use milvus_meta::select::{self, ExportOptions};
use serde_json::json;
use sha2::Digest;

use crate::args::{BackupFormat, ExportArgs, RestoreArgs, WalArgs};
use crate::input::map;
use crate::out;
use crate::Outcome;

fn sha256_hex(b: &[u8]) -> String {
    out::hex(&sha2::Sha256::digest(b))
}

fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

pub fn export(a: ExportArgs) -> Result<Outcome> {
    let to_stdout = a.output.as_os_str() == "-";
    if to_stdout {
        crate::out::check_stdout(&[&a.db])?;
    } else {
        crate::out::check_output(&a.output, &[&a.db], a.force)?;
    }
    // The manifest records the source's SHA-256 (of the db file read, before
    // any WAL replay): hash it on another core while this one reads the keys.
    if a.salvage && !a.wal.members.is_empty() {
        bail!("--salvage reads one damaged db; several members are merged without it (a member that cannot be read is named)");
    }
    let (db_path, whole) = if a.salvage {
        let p = crate::input::salvage_db_path(&a.db)?;
        let b = map(&p)?;
        crate::input::not_a_backup(&p, &b)?;
        (p, Some(b))
    } else {
        (a.db.clone(), None)
    };
    let input = match &whole {
        Some(_) => None,
        None => Some(crate::input::open_input(&a.db, &a.wal).map_err(crate::input::salvage_hint)?),
    };
    let edb = match &input {
        Some(i) => Some(i.reader().map_err(crate::input::salvage_hint)?),
        None => None,
    };
    let file_bytes: &[u8] = match (&whole, &input) {
        (Some(b), _) => b.as_ref(),
        (None, Some(i)) => i.base.as_ref(),
        (None, None) => &[],
    };
    let file_len = file_bytes.len() as u64;
    let (read, source_sha) = std::thread::scope(|s| {
        let h = s.spawn(|| sha256_hex(file_bytes));
        let r = match (&edb, &whole) {
            (Some(db), _) => db
                .live(a.rev)
                .map(|v| (v, None))
                .with_context(|| format!("{}: cannot read as an etcd db", a.db.display()))
                .map_err(crate::input::salvage_hint),
            (None, Some(b)) => {
                crate::input::salvaged_view(b, &db_path, a.exclude_stale).map(|(v, r)| (v, Some(r)))
            }
            (None, None) => Err(anyhow::anyhow!("{}: nothing to read", a.db.display())),
        };
        (r, h.join())
    });
    let (view, salvage_report) = read?;
    let source_sha =
        source_sha.map_err(|_| anyhow::anyhow!("hashing {} failed", db_path.display()))?;
    let wal_report = match &input {
        Some(i) => i.wal()?.cloned(),
        None => None,
    };
    let merge_report = input.as_ref().and_then(|i| i.merge.clone());
    let source_name = match &input {
        Some(i) if i.merge.is_some() => format!(
            "{} merged with {} (source.sha256 and size are of {})",
            a.db.display(),
            a.wal
                .members
                .iter()
                .map(|m| m.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            i.db_path.display()
        ),
        Some(i) if i.db_path != a.db => format!("{} ({})", a.db.display(), i.db_path.display()),
        _ => db_path.display().to_string(),
    };
    let opts = ExportOptions {
        roots: a.roots.clone(),
        keep_session_id: a.keep_session_id,
        include_leased: a.include_leased,
        drop_snapshots: a.drop_snapshots,
    };
    let (kept, report) =
        select::select(&view, &opts).with_context(|| a.db.display().to_string())?;
    let manifest = Manifest {
        format_version: backup::FORMAT_VERSION,
        tool: format!("boltsnap {}", env!("CARGO_PKG_VERSION")),
        created_at: backup::now_rfc3339(),
        source: SourceInfo {
            file_name: source_name,
            size: file_len,
            sha256: source_sha,
        },
        revision: view.revision,
        compact_revision: view.compact_revision,
        roots: report.roots_found.clone(),
        filters: opts.clone(),
        records: kept.len() as u64,
        bytes: report.kept_bytes,
        selection: report.clone(),
        extra: salvage_report
            .iter()
            .map(|r| ("salvage".to_string(), r.to_json()))
            .chain(
                wal_report
                    .iter()
                    .filter_map(|w| Some(("wal".to_string(), serde_json::to_value(w).ok()?))),
            )
            .chain(
                merge_report
                    .iter()
                    .filter_map(|m| Some(("merge".to_string(), serde_json::to_value(m).ok()?))),
            )
            .collect(),
    };
    let pb = progress(kept.len() as u64, "exporting");
    let write_all = |w: &mut dyn Write| -> Result<()> {
        match a.format {
            BackupFormat::Bsnap => {
                let mut bw = BackupWriter::new(w, &manifest)?;
                bw.write_view(&view, &kept, |n| pb.set_position(n))?;
                bw.finish()?;
            }
            BackupFormat::Jsonl => {
                backup::write_jsonl_view(w, &manifest, &view, &kept, |n| pb.set_position(n))?;
            }
        }
        Ok(())
    };
    if to_stdout {
        let stdout = std::io::stdout();
        let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
        write_all(&mut w)?;
        w.flush()?;
    } else {
        let mut f = bbolt::write::AtomicFile::create(&a.output, a.force)
            .with_context(|| format!("{}: cannot create", a.output.display()))?;
        {
            let mut w = BufWriter::with_capacity(1 << 16, &mut f);
            write_all(&mut w).with_context(|| format!("writing {}", a.output.display()))?;
            w.flush()?;
        }
        f.commit()
            .with_context(|| format!("{}: cannot commit", a.output.display()))?;
    }
    pb.finish_and_clear();
    // The summary: never silent about what was left out.
    let summary = json!({
        "output": a.output.display().to_string(),
        "revision": view.revision,
        "compact_revision": view.compact_revision,
        "live_keys": view.keys.len(),
        "kept": report.kept,
        "kept_bytes": report.kept_bytes,
        "left_out": report.left_out,
        "left_out_bytes": report.left_out_bytes,
        "roots": report.per_root,
        "salvage": salvage_report,
        "wal": wal_report,
    });
    if a.json {
        let mut o: Box<dyn Write> = if to_stdout {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        out::json_line(&mut o, &summary)?;
    } else {
        let mut e = std::io::stderr();
        writeln!(
            e,
            "exported {} keys ({} bytes) at revision {} from {}",
            report.kept,
            report.kept_bytes,
            view.revision,
            a.db.display()
        )?;
        for (reason, n) in &report.left_out {
            let why = match reason.as_str() {
                "session" => "under <root>/meta/session/ (liveness records)",
                "leased" => "attached to a lease (--include-leased keeps them)",
                "outside_roots" => "outside the --root selection",
                "snapshots" => "under <root>/meta/snapshots/ (older copies and dropped objects' copies, --drop-snapshots; the newest copy of each live object kept)",
                other => other,
            };
            let bytes = report.left_out_bytes.get(reason).copied().unwrap_or(0);
            writeln!(e, "left out {n} keys ({bytes} bytes) {why}")?;
        }
        for (root, rc) in &report.per_root {
            let name = if root.is_empty() {
                "(no Milvus root)"
            } else {
                root
            };
            let areas: Vec<String> = rc.areas.iter().map(|(a, n)| format!("{a} {n}")).collect();
            writeln!(
                e,
                "  {name}: kept {}{}",
                rc.kept,
                if areas.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", areas.join(", "))
                }
            )?;
        }
        if let Some(r) = &salvage_report {
            writeln!(e, "salvage: {}", salvage_summary(r))?;
            if let Some(cut) = r.consistent_up_to {
                writeln!(e, "salvage: the newest revisions are lost: this is the store as it was at revision {cut} ({} later entries left out)", r.dropped_after_cut)?;
            }
        }
        if !to_stdout {
            writeln!(e, "wrote {}", a.output.display())?;
        }
    }
    Ok(crate::input::salvage_outcome(
        salvage_report.as_ref(),
        report.kept,
    ))
}

pub fn verify(path: &Path, json_out: bool) -> Result<Outcome> {
    let f = crate::input::open_file(path)?;
    let mut o = out::stdout();
    match backup::verify(std::io::BufReader::new(f)) {
        Ok(r) => {
            if json_out {
                out::json_line(
                    &mut o,
                    &json!({
                        "ok": true,
                        "format": r.format,
                        "checksummed": r.checksummed,
                        "records": r.records,
                        "bytes": r.bytes,
                        "manifest": r.manifest,
                    }),
                )?;
            } else {
                writeln!(
                    o,
                    "OK: {} records, {} bytes of keys and values, revision {}, roots [{}], written {} by {}",
                    r.records,
                    r.bytes,
                    r.manifest.revision,
                    r.manifest.roots.join(", "),
                    r.manifest.created_at,
                    r.manifest.tool
                )?;
                if !r.checksummed {
                    writeln!(
                        o,
                        "note: a {} backup has no checksum: every line's JSON and base64, the key order and the manifest's counts were checked, but a changed value that is still valid cannot be detected",
                        r.format
                    )?;
                }
            }
            o.flush()?;
            Ok(Outcome::Ok)
        }
        Err(
            e @ (milvus_meta::Error::Damaged(_)
            | milvus_meta::Error::NewerFormat { .. }
            | milvus_meta::Error::NotABackup),
        ) => {
            if json_out {
                out::json_line(&mut o, &json!({"ok": false, "error": e.to_string()}))?;
                o.flush()?;
            }
            eprintln!("boltsnap: {}: {e}", path.display());
            Ok(Outcome::Problems)
        }
        Err(e) => Err(anyhow::Error::new(e).context(path.display().to_string())),
    }
}

/// A db, a snapshot file or a backup, as records.
enum Source {
    Db(Box<crate::input::EtcdInput>),
    Backup(Box<Manifest>, Vec<Record>),
}

/// A backup by its magic, or by its trailer's (a backup whose first bytes
/// are damaged is still reported as a damaged backup, not as a db).
fn is_backup(path: &Path) -> Result<bool> {
    let mut f = crate::input::open_file(path)?;
    let mut m = [0u8; 8];
    let n = f.read(&mut m)?;
    if n == 8
        && (&m == backup::MAGIC || m.starts_with(backup::JSONL_PREFIX.get(..8).unwrap_or_default()))
    {
        return Ok(true);
    }
    // A bbolt file (its first meta page's magic) is never taken for a
    // backup, whatever its last bytes hold.
    let mut magic = [0u8; 4];
    f.seek(std::io::SeekFrom::Start(16))?;
    if f.read(&mut magic)? == 4
        && [u32::from_le_bytes(magic), u32::from_be_bytes(magic)].contains(&bbolt::format::MAGIC)
    {
        return Ok(false);
    }
    let len = f.metadata()?.len();
    if len < (16 + backup::TRAILER_LEN) as u64 {
        return Ok(false);
    }
    f.seek(std::io::SeekFrom::Start(len - backup::TRAILER_LEN as u64))?;
    f.read_exact(&mut m)?;
    Ok(&m == backup::TRAILER_MAGIC)
}

fn load(path: &Path, wal: &WalArgs) -> Result<Source> {
    if !path.is_dir() && is_backup(path)? {
        let (m, recs) = read_backup(path)?;
        Ok(Source::Backup(Box::new(m), recs))
    } else {
        Ok(Source::Db(Box::new(crate::input::open_input(path, wal)?)))
    }
}

fn records_of(path: &Path, wal: &WalArgs) -> Result<(Vec<Record>, i64)> {
    match load(path, wal)? {
        Source::Backup(m, r) => Ok((r, m.revision)),
        Source::Db(input) => {
            let reader = input.reader()?;
            let v = reader.live(0).with_context(|| path.display().to_string())?;
            Ok((v.keys.iter().map(Record::from_live).collect(), v.revision))
        }
    }
}

pub fn inspect(
    path: &Path,
    only_root: Option<&str>,
    salvage: bool,
    check: bool,
    wal: &WalArgs,
    json_out: bool,
) -> Result<Outcome> {
    let mut salvage_report = None;
    let mut wal_report = None;
    let mut merge_report = None;
    if salvage && !wal.members.is_empty() {
        bail!("--salvage reads one damaged db; several members are merged without it");
    }
    let loaded = if salvage {
        let db_path = crate::input::salvage_db_path(path)?;
        let bytes = map(&db_path)?;
        let (v, report) = crate::input::salvaged_view(&bytes, &db_path, false)?;
        if !json_out {
            eprintln!("salvage: {}", serde_json::to_string(&report)?);
        }
        salvage_report = Some(report);
        let recs: Vec<Record> = v.keys.iter().map(Record::from_live).collect();
        (recs, v.revision, "etcd db, salvaged")
    } else {
        match load(path, wal).map_err(crate::input::salvage_hint)? {
            Source::Backup(m, r) => (r, m.revision, "backup"),
            Source::Db(input) => {
                merge_report = input.merge.clone();
                let reader = input.reader()?;
                let v = reader
                    .live(0)
                    .with_context(|| path.display().to_string())
                    .map_err(crate::input::salvage_hint)?;
                wal_report = input.wal()?.cloned();
                let kind = if reader.db().trailer().is_some() {
                    "etcd snapshot file"
                } else {
                    "etcd db"
                };
                (
                    v.keys.iter().map(Record::from_live).collect::<Vec<_>>(),
                    v.revision,
                    kind,
                )
            }
        }
    };
    let (recs, revision, kind) = loaded;
    if check {
        return check_report(
            path,
            only_root,
            &recs,
            revision,
            kind,
            json_out,
            salvage_report.as_ref(),
        );
    }
    let mut cat = Catalog::build(recs.iter().map(|r| (r.key.as_slice(), r.value.as_slice())));
    if let Some(root) = only_root {
        cat.roots.retain(|r| r.root == root);
        if cat.roots.is_empty() {
            bail!("{}: root {root:?} not found", path.display());
        }
    }
    let mut o = out::stdout();
    if json_out {
        out::json_line(
            &mut o,
            &json!({"input": path.display().to_string(), "kind": kind, "revision": revision, "keys": recs.len(), "catalog": cat, "salvage": salvage_report, "wal": wal_report, "merge": merge_report}),
        )?;
        o.flush()?;
        return Ok(crate::input::salvage_outcome(
            salvage_report.as_ref(),
            recs.len() as u64,
        ));
    }
    writeln!(
        o,
        "{} ({kind}): {} live keys at revision {revision}",
        path.display(),
        recs.len()
    )?;
    if cat.roots.is_empty() {
        writeln!(o, "no Milvus root found")?;
    }
    for r in &cat.roots {
        writeln!(
            o,
            "\nroot {}{}",
            r.root,
            if r.milvus_versions.is_empty() {
                String::new()
            } else {
                format!(" (Milvus {})", r.milvus_versions.join(", "))
            }
        )?;
        writeln!(o, "  areas:")?;
        for (a, st) in &r.fine_areas {
            let holds = if st.holds.is_empty() {
                "unknown to boltsnap (a newer Milvus?); kept by export".to_string()
            } else {
                format!("{} (since {})", st.holds, st.since)
            };
            writeln!(
                o,
                "    {a:<48} {:>8} keys {:>12} bytes  {holds}",
                st.keys, st.bytes
            )?;
        }
        if let Some(st) = r.areas.get("root-coord-snapshots") {
            let all: u64 = r.areas.values().map(|a| a.bytes).sum();
            writeln!(
                o,
                "  snapshots: {} keys, {} bytes, {:.0}% of this root's bytes (RootCoord's timestamped copies; `export --drop-snapshots` keeps only the newest copy of each live object)",
                st.keys,
                st.bytes,
                100.0 * st.bytes as f64 / all.max(1) as f64
            )?;
        }
        writeln!(
            o,
            "  databases: {}",
            r.databases
                .iter()
                .map(|d| format!(
                    "{} (id {}{}{})",
                    d.name,
                    d.id,
                    if d.state == "Created" {
                        String::new()
                    } else {
                        format!(", {}", d.state)
                    },
                    if d.properties.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", pairs(&d.properties))
                    }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(o, "  collections:")?;
        for c in &r.collections {
            let state = if c.state == "Created" {
                String::new()
            } else {
                format!(" [{}]", c.state)
            };
            writeln!(
                o,
                "    {}.{} (id {}){state}: {} in {}, {}, {}",
                c.database,
                c.name,
                c.id,
                plural(c.rows, "row"),
                plural(c.segments, "segment"),
                plural(c.shards, "shard"),
                c.consistency
            )?;
            let fields: Vec<String> = c
                .fields
                .iter()
                .filter(|f| f.id >= 100)
                .map(field_text)
                .collect();
            writeln!(o, "      fields: {}", fields.join(", "))?;
            for sf in &c.struct_fields {
                let sub: Vec<String> = sf.fields.iter().map(field_text).collect();
                writeln!(
                    o,
                    "      struct {} (id {}): {}",
                    sf.name,
                    sf.id,
                    sub.join(", ")
                )?;
            }
            for f in &c.functions {
                writeln!(
                    o,
                    "      function {} {}: {} -> {}{}",
                    f.name,
                    f.kind,
                    f.inputs.join(","),
                    f.outputs.join(","),
                    if f.params.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", pairs(&f.params))
                    }
                )?;
            }
            if !c.properties.is_empty() || c.dynamic_field {
                let mut p = pairs(&c.properties);
                if c.dynamic_field {
                    p = if p.is_empty() {
                        "dynamic fields on".into()
                    } else {
                        format!("dynamic fields on, {p}")
                    };
                }
                writeln!(o, "      properties: {p}")?;
            }
            writeln!(
                o,
                "      partitions: {}",
                c.partitions
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            if !c.aliases.is_empty() {
                writeln!(o, "      aliases: {}", c.aliases.join(", "))?;
            }
            for i in &c.indexes {
                let p: Vec<String> = i.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let builds = if i.builds.is_empty() {
                    String::new()
                } else {
                    let b: Vec<String> = i.builds.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    format!(
                        "; built: {}, {} of {} rows",
                        b.join(", "),
                        i.indexed_rows,
                        c.rows
                    )
                };
                writeln!(
                    o,
                    "      index {} on field {}: {}{}{builds}",
                    i.name,
                    i.field_id,
                    p.join(" "),
                    if i.deleted { " [deleted]" } else { "" }
                )?;
            }
            if !c.segment_states.is_empty() {
                let s: Vec<String> = c
                    .segment_states
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                let mut extra: Vec<String> = c
                    .segment_levels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "Legacy")
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                if c.sorted_segments > 0 {
                    extra.push(format!("sorted {}", c.sorted_segments));
                }
                if c.invisible_segments > 0 {
                    extra.push(format!("invisible {}", c.invisible_segments));
                }
                writeln!(
                    o,
                    "      segments: {}{}",
                    s.join(", "),
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!("; live: {}", extra.join(", "))
                    }
                )?;
            }
            if let Some(l) = &c.load {
                let r: Vec<String> = l
                    .replicas
                    .iter()
                    .map(|r| {
                        format!(
                            "{} in {} on {}",
                            r.id,
                            if r.resource_group.is_empty() {
                                "?"
                            } else {
                                &r.resource_group
                            },
                            plural(r.nodes.len() as u64, "node")
                        )
                    })
                    .collect();
                writeln!(
                    o,
                    "      load: {} ({}, {} asked, {} with a record{}){}",
                    l.status,
                    l.load_type,
                    plural(l.replica_number.max(0) as u64, "replica"),
                    plural(l.partitions, "partition"),
                    if l.load_fields.is_empty() {
                        String::new()
                    } else {
                        format!(", fields {:?}", l.load_fields)
                    },
                    if r.is_empty() {
                        String::new()
                    } else {
                        format!("; replicas: {}", r.join(", "))
                    }
                )?;
            }
        }
        writeln!(o, "  users: {}", r.users.join(", "))?;
        writeln!(o, "  roles: {}", r.roles.join(", "))?;
        if !r.user_roles.is_empty() {
            writeln!(
                o,
                "  grants: {}",
                r.user_roles
                    .iter()
                    .map(|(u, ro)| format!("{u}->{ro}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        if !r.resource_groups.is_empty() {
            let g: Vec<String> = r
                .resource_groups
                .iter()
                .map(|g| format!("{} ({})", g.name, plural(g.nodes.len() as u64, "node")))
                .collect();
            writeln!(o, "  resource groups: {}", g.join(", "))?;
        }
        for g in &r.privilege_groups {
            writeln!(
                o,
                "  privilege group {}: {}",
                g.name,
                g.privileges.join(", ")
            )?;
        }
        if !r.dropped.is_empty() {
            let d: Vec<String> = r
                .dropped
                .iter()
                .map(|d| match d.collection {
                    Some(c) => format!("{} {} of collection {c}", d.kind, d.id),
                    None => format!("{} {}", d.kind, d.id),
                })
                .collect();
            writeln!(o, "  dropped (tombstones): {}", d.join(", "))?;
        }
        for (m, fields) in &r.unknown_fields {
            let f: Vec<String> = fields
                .iter()
                .map(|(n, c)| format!("#{n} in {}", plural(*c, "value")))
                .collect();
            writeln!(
                o,
                "  unknown fields of {m}: {} (written by a newer Milvus; the rest was read)",
                f.join(", ")
            )?;
        }
        writeln!(
            o,
            "  sessions: {}",
            if r.sessions.is_empty() {
                "none".to_string()
            } else {
                r.sessions
                    .iter()
                    .map(|s| format!("{} (server {}, {})", s.name, s.server_id, s.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )?;
        for (k, e) in &r.undecodable {
            writeln!(o, "  undecodable: {k}: {e}")?;
        }
    }
    if cat.other_keys > 0 {
        writeln!(o, "\n{} keys under no Milvus root", cat.other_keys)?;
    }
    if cat.woodpecker_keys > 0 {
        writeln!(
            o,
            "{} of them under woodpecker/: Woodpecker's log metadata (Milvus 2.6), kept by every export",
            plural(cat.woodpecker_keys, "key")
        )?;
    }
    o.flush()?;
    Ok(crate::input::salvage_outcome(
        salvage_report.as_ref(),
        recs.len() as u64,
    ))
}

/// `k=v, k=v`.
fn pairs(p: &std::collections::BTreeMap<String, String>) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name Type(params) flags`.
fn field_text(f: &milvus_meta::catalog::Field) -> String {
    let p: Vec<String> = f.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut t = format!("{} {}", f.name, f.data_type);
    if let Some(e) = &f.element_type {
        t.push_str(&format!("<{e}>"));
    }
    if !p.is_empty() {
        t.push_str(&format!("({})", p.join(",")));
    }
    for (on, word) in [
        (f.primary_key, "primary"),
        (f.auto_id, "auto-id"),
        (f.partition_key, "partition-key"),
        (f.clustering_key, "clustering-key"),
        (f.nullable, "nullable"),
        (f.dynamic, "dynamic"),
        (f.function_output, "function-output"),
    ] {
        if on {
            t.push(' ');
            t.push_str(word);
        }
    }
    if let Some(d) = &f.default_value {
        t.push_str(&format!(" default={d}"));
    }
    t
}

/// `inspect --check`: the findings, one line each, exit 1 when any.
fn check_report(
    path: &Path,
    only_root: Option<&str>,
    recs: &[Record],
    revision: i64,
    kind: &str,
    json_out: bool,
    salvage: Option<&etcd_store::salvage::SalvageReport>,
) -> Result<Outcome> {
    let mut findings =
        milvus_meta::check::check(recs.iter().map(|r| (r.key.as_slice(), r.value.as_slice())));
    if let Some(root) = only_root {
        findings.retain(|f| f.root == root);
    }
    let mut o = out::stdout();
    if json_out {
        out::json_line(
            &mut o,
            &json!({"input": path.display().to_string(), "kind": kind, "revision": revision, "keys": recs.len(), "findings": findings, "salvage": salvage}),
        )?;
    } else {
        for f in &findings {
            let more = if f.key_count > f.keys.len() as u64 {
                format!(" and {} more", f.key_count - f.keys.len() as u64)
            } else {
                String::new()
            };
            writeln!(
                o,
                "{}: {}: {} ({}): {}{more}",
                f.root,
                serde_json::to_value(f.kind)?.as_str().unwrap_or_default(),
                f.message,
                plural(f.key_count, "key"),
                f.keys.join(", ")
            )?;
        }
        writeln!(
            o,
            "{} ({kind}, {} live keys at revision {revision}): {}",
            path.display(),
            recs.len(),
            if findings.is_empty() {
                "the metadata hangs together: no finding".to_string()
            } else {
                plural(findings.len() as u64, "finding")
            }
        )?;
    }
    o.flush()?;
    let salvaged = crate::input::salvage_outcome(salvage, recs.len() as u64);
    Ok(if findings.is_empty() {
        salvaged
    } else {
        Outcome::Problems
    })
}

pub fn diff(
    a: &Path,
    b: &Path,
    a_members: &[PathBuf],
    b_members: &[PathBuf],
    limit: usize,
    wal: &WalArgs,
    json_out: bool,
) -> Result<Outcome> {
    if let Some(m) = wal.members.first() {
        bail!(
            "diff compares two sources, A and B; {} is one too many (a side made of several members: --a-member PATH or --b-member PATH for each extra member)",
            m.display()
        );
    }
    let side = |p: &Path, members: &[PathBuf]| -> Result<(Vec<Record>, i64)> {
        if !members.is_empty() && !p.is_dir() && is_backup(p)? {
            bail!(
                "{}: a backup is one side on its own; members merge etcd dbs and data dirs",
                p.display()
            );
        }
        let w = WalArgs {
            members: members.to_vec(),
            ..wal.clone()
        };
        records_of(p, &w)
    };
    let (ra, reva) = side(a, a_members)?;
    let (rb, revb) = side(b, b_members)?;
    let ma: BTreeMap<&[u8], &Record> = ra.iter().map(|r| (r.key.as_slice(), r)).collect();
    let mb: BTreeMap<&[u8], &Record> = rb.iter().map(|r| (r.key.as_slice(), r)).collect();
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    let mut value = Vec::new();
    let mut revs = Vec::new();
    for (k, x) in &ma {
        match mb.get(k) {
            None => only_a.push(*k),
            Some(y) if x.value != y.value => value.push(*k),
            Some(y)
                if (x.create_revision, x.mod_revision, x.version)
                    != (y.create_revision, y.mod_revision, y.version) =>
            {
                revs.push(*k)
            }
            Some(_) => {}
        }
    }
    for k in mb.keys() {
        if !ma.contains_key(k) {
            only_b.push(*k);
        }
    }
    let differ = !(only_a.is_empty() && only_b.is_empty() && value.is_empty() && revs.is_empty());
    let show = |v: &[&[u8]]| -> Vec<String> {
        let n = if limit == 0 {
            v.len()
        } else {
            limit.min(v.len())
        };
        v.iter()
            .take(n)
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    };
    let mut o = out::stdout();
    if json_out {
        out::json_line(
            &mut o,
            &json!({
                "a": {"path": a.display().to_string(), "members": a_members, "keys": ra.len(), "revision": reva},
                "b": {"path": b.display().to_string(), "members": b_members, "keys": rb.len(), "revision": revb},
                "equal": !differ,
                "only_in_a": {"count": only_a.len(), "keys": show(&only_a)},
                "only_in_b": {"count": only_b.len(), "keys": show(&only_b)},
                "value_differs": {"count": value.len(), "keys": show(&value)},
                "revisions_differ": {"count": revs.len(), "keys": show(&revs)},
            }),
        )?;
    } else {
        let with = |m: &[PathBuf]| {
            if m.is_empty() {
                String::new()
            } else {
                format!(
                    " merged with {}",
                    m.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        writeln!(
            o,
            "A: {}{} ({} keys, revision {reva})",
            a.display(),
            with(a_members),
            ra.len()
        )?;
        writeln!(
            o,
            "B: {}{} ({} keys, revision {revb})",
            b.display(),
            with(b_members),
            rb.len()
        )?;
        for (title, v) in [
            ("only in A", &only_a),
            ("only in B", &only_b),
            ("different values", &value),
            ("same value, other revisions", &revs),
        ] {
            if v.is_empty() {
                continue;
            }
            writeln!(o, "{title}: {}", v.len())?;
            for k in show(v) {
                writeln!(o, "  {k}")?;
            }
            if limit != 0 && v.len() > limit {
                writeln!(o, "  ... {} more (--limit 0 shows all)", v.len() - limit)?;
            }
        }
        writeln!(
            o,
            "{}",
            if differ {
                "DIFFERENT"
            } else {
                "EQUAL: same keys, values and revisions"
            }
        )?;
    }
    o.flush()?;
    Ok(if differ {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}

fn read_backup(path: &Path) -> Result<(Manifest, Vec<Record>)> {
    let f = crate::input::open_file(path)?;
    let pb = progress(0, "reading backup");
    let read = || -> milvus_meta::Result<(Manifest, Vec<Record>)> {
        let r = backup::BackupFile::open(std::io::BufReader::new(&f))?;
        let manifest = r.manifest().clone();
        pb.set_length(r.record_count());
        let mut recs = Vec::new();
        for (i, rec) in r.records()?.enumerate() {
            recs.push(rec?);
            if i % 4096 == 0 {
                pb.set_position(i as u64);
            }
        }
        Ok((manifest, recs))
    };
    let got = read();
    pb.finish_and_clear();
    // A damaged file is named as such, whatever broke first.
    got.map_err(|e| backup::explain_error(&f, e))
        .with_context(|| path.display().to_string())
}

pub fn restore(a: RestoreArgs) -> Result<Outcome> {
    match a.snapshot.clone() {
        Some(snap) => restore_snapshot(&a, &snap),
        None => restore_online(&a),
    }
}

fn restore_online(a: &RestoreArgs) -> Result<Outcome> {
    for ep in &a.endpoints {
        let lower = ep.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            bail!("--endpoints {ep}: not an http:// or https:// URL (etcd's client URL, e.g. http://127.0.0.1:2379)");
        }
    }
    // The backup is opened here for its manifest and count, and reopened by
    // the restore for each pass over its records: only a window of them is
    // held at once, whatever the backup's size.
    let (manifest, total) = {
        let f = crate::input::open_file(&a.backup)?;
        let r = backup::BackupFile::open(std::io::BufReader::new(&f))
            .map_err(|e| backup::explain_error(&f, e))
            .with_context(|| a.backup.display().to_string())?;
        (r.manifest().clone(), r.record_count())
    };
    let path = a.backup.clone();
    let open_plain = move || -> milvus_meta::Result<
        Box<dyn Iterator<Item = milvus_meta::Result<Record>> + 'static>,
    > {
        let f = std::fs::File::open(&path).map_err(milvus_meta::Error::Io)?;
        let recs = backup::BackupFile::open(std::io::BufReader::new(f))?.records()?;
        Ok(Box::new(recs))
    };
    // A rename is checked over the whole backup before the first write;
    // every pass then reads the records renamed.
    let rename = rename_of(a)?;
    let mut roots = manifest.roots.clone();
    let mut rename_report = None;
    if let Some(rn) = &rename {
        let c = rename::check(rn, &manifest.roots, open_plain()?)
            .map_err(|e| match std::fs::File::open(&a.backup) {
                Ok(f) => backup::explain_error(&f, e),
                Err(_) => e,
            })
            .with_context(|| a.backup.display().to_string())?;
        roots = rn.roots(&manifest.roots);
        rename_report = Some(c);
    }
    let open = move || -> milvus_meta::Result<
        Box<dyn Iterator<Item = milvus_meta::Result<Record>> + 'static>,
    > {
        let recs = open_plain()?;
        Ok(match rename.clone() {
            Some(rn) => Box::new(recs.map(move |r| r.map(|r| rn.apply(r)))),
            None => recs,
        })
    };
    let user = match &a.user {
        None => None,
        Some(u) => match u.split_once(':') {
            Some((n, p)) => Some((n.to_string(), p.to_string())),
            None => match std::env::var("BOLTSNAP_ETCD_PASSWORD") {
                Ok(p) => Some((u.clone(), p)),
                Err(_) => bail!(
                    "--user {u}: give the password as {u}:PASSWORD or in BOLTSNAP_ETCD_PASSWORD"
                ),
            },
        },
    };
    let opts = milvus_meta::online::OnlineOptions {
        endpoints: a.endpoints.clone(),
        user,
        cacert: a.cacert.clone(),
        client_cert: a.cert.clone().zip(a.key.clone()),
        max_ops: a.max_ops,
        max_bytes: a.max_bytes,
        parallel: usize::from(a.parallel),
        transport: match a.transport {
            crate::args::Transport::Grpc => milvus_meta::online::Transport::Grpc,
            crate::args::Transport::Gateway => milvus_meta::online::Transport::Gateway,
        },
        ..Default::default()
    };
    let pb = progress(total, "restoring");
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} {per_sec} (eta {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    // Ctrl-C: no new transaction leaves; the ones in flight finish. A
    // second Ctrl-C exits at once (each transaction is all or nothing, so
    // --resume still continues from what is there).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("stopping after the transactions in flight (Ctrl-C again to quit now)");
        });
    }
    let mode = milvus_meta::online::RestoreMode {
        force: a.force,
        resume: a.resume,
        dry_run: a.dry_run,
    };
    let got = milvus_meta::online::restore_stream(&open, &roots, &opts, mode, &stop, &|n| {
        pb.set_position(n)
    });
    pb.finish_and_clear();
    let report = match got {
        Ok(r) => r,
        Err(e) => {
            let resumable = matches!(
                e,
                milvus_meta::Error::Interrupted { .. } | milvus_meta::Error::Partial { .. }
            );
            // A damaged backup is named as such, whatever broke first.
            let e = match std::fs::File::open(&a.backup) {
                Ok(f) if !resumable => backup::explain_error(&f, e),
                _ => e,
            };
            let e = anyhow::Error::new(e).context(format!(
                "restoring {} into {}",
                a.backup.display(),
                a.endpoints.join(",")
            ));
            if resumable {
                bail!("{e:#}\nto continue where it stopped: {}", resume_command(a));
            }
            return Err(e);
        }
    };
    pb.finish_and_clear();
    let ok_all = report.mismatched_total == 0;
    let mut o = out::stdout();
    if a.json {
        out::json_line(
            &mut o,
            &json!({"backup": a.backup.display().to_string(), "keys": total, "report": report, "rename": rename_json(a, rename_report.as_ref())}),
        )?;
    } else if report.dry_run {
        writeln!(o, "dry run: {} holds {} keys under the backup's roots; {} keys would go in {} transactions", report.endpoint, report.existing, total, report.batches)?;
    } else {
        if let (Some(rn), Some(c)) = (&a.rename_root, &rename_report) {
            writeln!(o, "{}", rename_line(rn, c))?;
        }
        if report.skipped > 0 {
            writeln!(
                o,
                "resumed: {} keys already in {} with the backup's value, skipped",
                report.skipped, report.endpoint
            )?;
        }
        writeln!(o, "restored {} keys into {} in {} transactions ({} in flight); read back: {} equal, {} missing or different", report.written, report.endpoint, report.batches, report.parallel, report.verified, report.mismatched_total)?;
        for k in report.mismatched.iter().take(20) {
            writeln!(o, "  differs: {k}")?;
        }
    }
    o.flush()?;
    Ok(if ok_all {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}

/// The command line that continues an online restore that stopped
/// (the password, if any, is not repeated).
fn resume_command(a: &RestoreArgs) -> String {
    let q = |s: &str| {
        if s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:,=@".contains(&b))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    let mut c = vec![
        "boltsnap restore".to_string(),
        q(&a.backup.display().to_string()),
        "--endpoints".into(),
        q(&a.endpoints.join(",")),
        "--resume".into(),
    ];
    if let Some(u) = &a.user {
        c.push("--user".into());
        c.push(q(u.split_once(':').map_or(u.as_str(), |(n, _)| n)));
    }
    for (flag, v) in [
        ("--cacert", &a.cacert),
        ("--cert", &a.cert),
        ("--key", &a.key),
    ] {
        if let Some(p) = v {
            c.push(flag.into());
            c.push(q(&p.display().to_string()));
        }
    }
    if a.max_ops != 128 {
        c.push(format!("--max-ops {}", a.max_ops));
    }
    if a.max_bytes != 1536 * 1024 {
        c.push(format!("--max-bytes {}", a.max_bytes));
    }
    if a.parallel != 8 {
        c.push(format!("--parallel {}", a.parallel));
    }
    if a.transport == crate::args::Transport::Gateway {
        c.push("--transport gateway".into());
    }
    if let Some(rn) = &a.rename_root {
        c.push("--rename-root".into());
        c.push(q(rn));
    }
    c.join(" ")
}

fn rename_of(a: &RestoreArgs) -> Result<Option<rename::RootRename>> {
    Ok(match &a.rename_root {
        Some(spec) => Some(rename::RootRename::parse(spec)?),
        None => None,
    })
}

fn rename_line(spec: &str, c: &rename::RenameCheck) -> String {
    let (old, new) = spec.split_once('=').unwrap_or((spec, ""));
    format!(
        "renamed root {old} to {new}: {} keys written under {new}/, {} keys of other roots as they were; no value names a key under {old}/",
        c.renamed, c.unchanged
    )
}

fn rename_json(a: &RestoreArgs, c: Option<&rename::RenameCheck>) -> serde_json::Value {
    match (&a.rename_root, c) {
        (Some(spec), Some(c)) => {
            let (old, new) = spec.split_once('=').unwrap_or((spec, ""));
            json!({"old": old, "new": new, "renamed": c.renamed, "unchanged": c.unchanged})
        }
        _ => serde_json::Value::Null,
    }
}

fn restore_snapshot(a: &RestoreArgs, snapshot: &Path) -> Result<Outcome> {
    crate::out::check_output(snapshot, &[&a.backup], a.force)?;
    let (manifest, mut recs) = read_backup(&a.backup)?;
    let rename = rename_of(a)?;
    let mut rename_report = None;
    if let Some(rn) = &rename {
        let c = rename::check(rn, &manifest.roots, recs.iter().cloned().map(Ok))
            .with_context(|| a.backup.display().to_string())?;
        recs = recs.into_iter().map(|r| rn.apply(r)).collect();
        rename_report = Some(c);
    }
    if a.dry_run {
        let dir = match snapshot.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!(
                "{}: cannot be written: {} is not a directory",
                snapshot.display(),
                dir.display()
            );
        }
        println!(
            "dry run: would write {} keys at revision {} into {} (page size {}); nothing written",
            recs.len(),
            recs.iter()
                .map(|r| r.mod_revision)
                .max()
                .unwrap_or(0)
                .max(manifest.revision)
                .max(1),
            snapshot.display(),
            a.page_size
        );
        return Ok(Outcome::Ok);
    }
    let kvs: Vec<etcd_store::KeyValue> = recs.iter().map(Record::to_key_value).collect();
    drop(recs);
    let opts = etcd_store::DbWriterOptions {
        page_size: a.page_size,
        min_revision: manifest.revision,
        ..Default::default()
    };
    let s = etcd_store::write_db_file(snapshot, kvs, &opts, a.force)
        .with_context(|| format!("writing {}", snapshot.display()))?;
    let next = format!(
        "etcdutl snapshot restore {} --data-dir <new data dir> --name <member name> --initial-cluster <name>=<peer url> --initial-advertise-peer-urls <peer url>",
        snapshot.display()
    );
    let mut o = out::stdout();
    if a.json {
        out::json_line(
            &mut o,
            &json!({"snapshot": snapshot.display().to_string(), "keys": s.keys, "revision": s.revision, "file_size": s.file_size, "backup_revision": manifest.revision, "next": next, "rename": rename_json(a, rename_report.as_ref())}),
        )?;
    } else {
        if let (Some(rn), Some(c)) = (&a.rename_root, &rename_report) {
            writeln!(o, "{}", rename_line(rn, c))?;
        }
        writeln!(
            o,
            "wrote {} keys at revision {} to {} ({} bytes, sha256 trailer)",
            s.keys,
            s.revision,
            snapshot.display(),
            s.file_size
        )?;
        writeln!(o, "next, on the new etcd member's machine (etcd 3.4: `etcdctl snapshot restore` with the same flags):")?;
        writeln!(o, "  {next}")?;
    }
    o.flush()?;
    Ok(Outcome::Ok)
}

/// "1 row", "2 rows".
fn plural(n: impl Into<i128>, what: &str) -> String {
    let n = n.into();
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The salvage report in one line, naming only what happened.
fn salvage_summary(r: &etcd_store::salvage::SalvageReport) -> String {
    let metas: Vec<String> = r.metas_read.iter().map(u8::to_string).collect();
    let s = if metas.len() > 1 { "s" } else { "" };
    let mut parts = vec![format!(
        "{} entries from the tree{s} of meta page{s} {}",
        r.entries_from_tree,
        metas.join(", then ")
    )];
    let mut add = |n: usize, what: String| {
        if n > 0 {
            parts.push(what);
        }
    };
    add(
        r.entries_rebuilt as usize,
        format!("{} rebuilt from damaged elements", r.entries_rebuilt),
    );
    add(
        r.entries_from_scan as usize,
        format!("{} found only by the page scan", r.entries_from_scan),
    );
    add(
        r.damaged.len(),
        format!("{} damaged places", r.damaged.len()),
    );
    add(
        r.left_out_below_compact.len(),
        format!(
            "{} old copies at or below the compact revision {} left out",
            r.left_out_below_compact.len(),
            r.compact_revision
        ),
    );
    add(
        r.revision_gaps.len(),
        format!("{} revision gaps", r.revision_gaps.len()),
    );
    add(
        r.lost_ranges.len(),
        format!("lost revision ranges {}", r.lost_ranges.join(" ")),
    );
    add(
        r.possibly_stale_keys as usize,
        format!(
            "{} keys possibly stale ({} left out)",
            r.possibly_stale_keys, r.stale_left_out
        ),
    );
    add(
        r.conflicts.len(),
        format!("{} disagreeing copies", r.conflicts.len()),
    );
    if !r.found_damage() {
        parts.push("no damage found".into());
    }
    parts.join("; ")
}
