//! `boltsnap etcd ...`: etcd's storage read offline, in etcdctl's shapes.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use etcd_store::{HashRules, LiveKey};

use crate::args::{EtcdCommand, HashRulesArg, WalArgs, WriteOut};
use crate::input::open_etcd;
use crate::out;
use crate::Outcome;

pub fn run(c: EtcdCommand) -> Result<Outcome> {
    match c {
        EtcdCommand::Status {
            db,
            write_out,
            detail,
        } => status(&db.path, &db.wal, write_out, detail),
        EtcdCommand::Ls {
            db,
            prefix,
            rev,
            keys_only,
            write_out,
            salvage,
        } => ls(
            &db.path,
            &db.wal,
            prefix.as_bytes(),
            rev,
            keys_only,
            write_out.into(),
            salvage,
        ),
        EtcdCommand::Get { db, rev, write_out } => {
            get(&db.path, &db.wal, db.key.as_bytes(), rev, write_out.into())
        }
        EtcdCommand::History { db, write_out } => {
            history(&db.path, &db.wal, db.key.as_bytes(), write_out.into())
        }
        EtcdCommand::Hashkv {
            db,
            rev,
            rules,
            write_out,
        } => hashkv(&db.path, &db.wal, rev, rules, write_out),
        EtcdCommand::Snapshot {
            db,
            output,
            force,
            json,
        } => snapshot(&db.path, &db.wal, &output, force, json.json),
    }
}

/// go-humanize's `Bytes`, as etcdctl prints sizes.
pub fn humanize_bytes(s: u64) -> String {
    if s < 10 {
        return format!("{s} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((s as f64).ln() / 1000f64.ln()).floor();
    let val = ((s as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    let unit = UNITS.get(e as usize).copied().unwrap_or("EB");
    if val < 10.0 {
        format!("{val:.1} {unit}")
    } else {
        format!("{val:.0} {unit}")
    }
}

/// An ASCII table as etcdctl draws it: centered headers, right-aligned cells.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let line = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s.push('\n');
        s
    };
    let mut s = line.clone();
    s.push('|');
    for (h, w) in headers.iter().zip(&widths) {
        let gap = w - h.len();
        let left = gap / 2;
        s.push_str(&format!(
            " {}{}{} |",
            " ".repeat(left),
            h,
            " ".repeat(gap - left)
        ));
    }
    s.push('\n');
    s.push_str(&line);
    for r in rows {
        s.push('|');
        for (c, w) in r.iter().zip(&widths) {
            s.push_str(&format!(" {c:>w$} |"));
        }
        s.push('\n');
    }
    s.push_str(&line);
    s
}

fn status(path: &Path, wal: &WalArgs, w: WriteOut, detail: bool) -> Result<Outcome> {
    let db = open_etcd(path, wal)?;
    let st = db.status().with_context(|| path.display().to_string())?;
    // etcd 3.6's key count needs the whole live view: only for --detail.
    let live_keys = if detail {
        db.live(0)
            .with_context(|| path.display().to_string())?
            .keys
            .len()
    } else {
        0
    };
    let mut o = out::stdout();
    match w {
        WriteOut::Simple => writeln!(
            o,
            "{:x}, {}, {}, {}",
            st.hash,
            st.revision,
            st.total_keys,
            humanize_bytes(st.total_size)
        )?,
        WriteOut::Json => {
            if detail {
                let m = db.meta();
                let c = db.cluster().with_context(|| path.display().to_string())?;
                let v = serde_json::json!({
                    "hash": st.hash, "revision": st.revision, "totalKey": st.total_keys, "totalSize": st.total_size,
                    "liveKeys": live_keys, "compactRevision": db.compact_revision(),
                    "consistentIndex": m.consistent_index, "term": m.term,
                    "scheduledCompactRevision": m.scheduled_compact, "finishedCompactRevision": m.finished_compact,
                    "confState": m.conf_state, "storageVersion": m.storage_version,
                    "sha256Trailer": db.trailer().map(|t| out::hex(&t)),
                    "pageSize": db.bolt().page_size(), "fileSize": db.bolt().file_len(),
                    "clusterVersion": c.cluster_version,
                    "authEnabled": c.auth_enabled, "authRevision": c.auth_revision,
                    "users": c.users.iter().map(|u| serde_json::json!({"name": String::from_utf8_lossy(&u.name), "roles": u.roles})).collect::<Vec<_>>(),
                    "roles": c.roles,
                    "leases": c.leases.iter().map(|l| serde_json::json!({"id": format!("{:016x}", l.id), "ttl": l.ttl, "remainingTtl": l.remaining_ttl})).collect::<Vec<_>>(),
                    "members": c.members.iter().map(|(id, j)| serde_json::json!({"id": id, "member": serde_json::from_str::<serde_json::Value>(j).unwrap_or(serde_json::Value::String(j.clone()))})).collect::<Vec<_>>(),
                    "membersRemoved": c.members_removed,
                    "alarms": c.alarms.iter().map(|a| serde_json::json!({"memberId": format!("{:x}", a.member_id), "alarm": match a.alarm { 1 => "NOSPACE".to_string(), 2 => "CORRUPT".to_string(), n => n.to_string() }})).collect::<Vec<_>>(),
                    "undecodable": c.undecodable,
                });
                out::json_line(&mut o, &v)?;
            } else {
                writeln!(
                    o,
                    "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}",
                    st.hash, st.revision, st.total_keys, st.total_size
                )?;
            }
        }
        WriteOut::Table => {
            let t = table(
                &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
                &[vec![
                    format!("{:x}", st.hash),
                    st.revision.to_string(),
                    st.total_keys.to_string(),
                    humanize_bytes(st.total_size),
                ]],
            );
            o.write_all(t.as_bytes())?;
        }
        WriteOut::Fields => {
            writeln!(o, "\"Hash\" : {}", st.hash)?;
            writeln!(o, "\"Revision\" : {}", st.revision)?;
            writeln!(o, "\"Keys\" : {}", st.total_keys)?;
            writeln!(o, "\"Size\" : {}", st.total_size)?;
        }
    }
    if detail && w != WriteOut::Json {
        let m = db.meta();
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        writeln!(o, "live keys:             {live_keys}")?;
        writeln!(o, "compact revision:      {}", db.compact_revision())?;
        writeln!(
            o,
            "consistent_index:      {}",
            opt(m.consistent_index.map(|v| v.to_string()))
        )?;
        writeln!(
            o,
            "term:                  {}",
            opt(m.term.map(|v| v.to_string()))
        )?;
        writeln!(
            o,
            "scheduledCompactRev:   {}",
            opt(m.scheduled_compact.map(|v| v.to_string()))
        )?;
        writeln!(
            o,
            "finishedCompactRev:    {}",
            opt(m.finished_compact.map(|v| v.to_string()))
        )?;
        writeln!(o, "confState:             {}", opt(m.conf_state.clone()))?;
        writeln!(
            o,
            "storageVersion:        {}",
            opt(m.storage_version.clone())
        )?;
        writeln!(
            o,
            "sha256 trailer:        {}",
            opt(db.trailer().map(|t| out::hex(&t)))
        )?;
        let c = db.cluster().with_context(|| path.display().to_string())?;
        writeln!(
            o,
            "cluster version:       {}",
            opt(c.cluster_version.clone())
        )?;
        writeln!(
            o,
            "members:               {}",
            c.members
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(
            o,
            "auth:                  {}{}",
            if c.auth_enabled {
                "enabled"
            } else {
                "disabled"
            },
            c.auth_revision
                .map(|r| format!(" (revision {r})"))
                .unwrap_or_default()
        )?;
        writeln!(
            o,
            "users:                 {}",
            c.users
                .iter()
                .map(|u| format!(
                    "{} [{}]",
                    String::from_utf8_lossy(&u.name),
                    u.roles.join(",")
                ))
                .collect::<Vec<_>>()
                .join(", ")
                .or_none()
        )?;
        writeln!(o, "roles:                 {}", c.roles.join(", ").or_none())?;
        writeln!(
            o,
            "leases:                {}",
            c.leases
                .iter()
                .map(|l| format!("{:016x} (ttl {}s)", l.id, l.ttl))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(
            o,
            "alarms:                {}",
            if c.alarms.is_empty() {
                "none".to_string()
            } else {
                c.alarms
                    .iter()
                    .map(|a| format!("{:x}: {}", a.member_id, a.alarm))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )?;
    }
    o.flush()?;
    Ok(Outcome::Ok)
}

fn ls(
    path: &Path,
    wal: &WalArgs,
    prefix: &[u8],
    rev: i64,
    keys_only: bool,
    w: WriteOut,
    salvage: bool,
) -> Result<Outcome> {
    if salvage {
        let bytes = crate::input::map(&crate::input::salvage_db_path(path)?)?;
        let (view, report) = crate::input::salvaged_view(&bytes, path, false)?;
        eprintln!("salvage: {}", serde_json::to_string(&report)?);
        print_live(&view, prefix, keys_only, w)?;
        return Ok(crate::input::salvage_outcome(
            Some(&report),
            view.keys.len() as u64,
        ));
    }
    let input = crate::input::open_input(path, wal).map_err(crate::input::salvage_hint)?;
    let reader = input.reader().map_err(crate::input::salvage_hint)?;
    let view = reader
        .live(rev)
        .with_context(|| path.display().to_string())
        .map_err(crate::input::salvage_hint)?;
    print_live(&view, prefix, keys_only, w)
}

fn print_live(
    view: &etcd_store::LiveView<'_>,
    prefix: &[u8],
    keys_only: bool,
    w: WriteOut,
) -> Result<Outcome> {
    let keys: Vec<&LiveKey<'_>> = view
        .keys
        .iter()
        .filter(|k| k.kv.key.starts_with(prefix))
        .collect();
    let mut o = out::stdout();
    let mut buf = Vec::with_capacity(1 << 16);
    match w {
        WriteOut::Json => {
            buf.extend_from_slice(
                format!("{{\"header\":{{\"revision\":{}}},\"kvs\":[", view.revision).as_bytes(),
            );
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                k.kv.write_etcdctl_json(!keys_only, &mut buf);
                if buf.len() > 1 << 20 {
                    o.write_all(&buf)?;
                    buf.clear();
                }
            }
            buf.extend_from_slice(format!("],\"count\":{}}}\n", keys.len()).as_bytes());
        }
        _ => {
            for k in keys {
                buf.extend_from_slice(k.kv.key);
                buf.push(b'\n');
                if !keys_only {
                    buf.extend_from_slice(k.kv.value);
                }
                buf.push(b'\n');
                if buf.len() > 1 << 20 {
                    o.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
    }
    o.write_all(&buf)?;
    o.flush()?;
    Ok(Outcome::Ok)
}

fn get(path: &Path, wal: &WalArgs, key: &[u8], rev: i64, w: WriteOut) -> Result<Outcome> {
    let input = crate::input::open_input(path, wal)?;
    let reader = input.reader()?;
    let view = reader
        .live(rev)
        .with_context(|| path.display().to_string())?;
    let found = view
        .keys
        .binary_search_by(|k| k.kv.key.cmp(key))
        .ok()
        .and_then(|i| view.keys.get(i));
    let mut o = out::stdout();
    let Some(k) = found else {
        eprintln!(
            "boltsnap: {}: key {:?} is not live at revision {}",
            path.display(),
            String::from_utf8_lossy(key),
            view.revision
        );
        return Ok(Outcome::Problems);
    };
    if w == WriteOut::Json {
        let mut buf =
            format!("{{\"header\":{{\"revision\":{}}},\"kvs\":[", view.revision).into_bytes();
        k.kv.write_etcdctl_json(true, &mut buf);
        buf.extend_from_slice(b"],\"count\":1}\n");
        o.write_all(&buf)?;
    } else {
        o.write_all(k.kv.key)?;
        o.write_all(b"\n")?;
        o.write_all(k.kv.value)?;
        o.write_all(b"\n")?;
    }
    o.flush()?;
    Ok(Outcome::Ok)
}

fn history(path: &Path, wal: &WalArgs, key: &[u8], w: WriteOut) -> Result<Outcome> {
    let db = open_etcd(path, wal)?;
    let h = db
        .history(key)
        .with_context(|| path.display().to_string())?;
    let mut o = out::stdout();
    if w == WriteOut::Json {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let rows: Vec<_> = h
            .iter()
            .map(|e| {
                serde_json::json!({"revision": e.revision.main, "sub": e.revision.sub, "deleted": e.tombstone,
                    "create_revision": e.create_revision, "mod_revision": e.mod_revision, "version": e.version,
                    "lease": e.lease, "value": b64.encode(&e.value)})
            })
            .collect();
        out::json_line(
            &mut o,
            &serde_json::json!({"key": b64.encode(key), "compact_revision": db.compact_revision(), "history": rows}),
        )?;
    } else {
        for e in &h {
            if e.tombstone {
                writeln!(o, "{}: delete", e.revision)?;
            } else {
                let lease = if e.lease != 0 {
                    format!(" lease={:016x}", e.lease)
                } else {
                    String::new()
                };
                write!(
                    o,
                    "{}: put created={} version={}{lease} value=",
                    e.revision, e.create_revision, e.version
                )?;
                o.write_all(&out::format_bytes(&e.value, crate::args::ByteFormat::Auto))?;
                writeln!(o)?;
            }
        }
        if h.is_empty() {
            eprintln!(
                "boltsnap: {}: no revision of {:?} on disk",
                path.display(),
                String::from_utf8_lossy(key)
            );
            o.flush()?;
            return Ok(Outcome::Problems);
        }
    }
    o.flush()?;
    Ok(Outcome::Ok)
}

fn hashkv(
    path: &Path,
    wal: &WalArgs,
    rev: i64,
    rules: HashRulesArg,
    w: WriteOut,
) -> Result<Outcome> {
    let db = open_etcd(path, wal)?;
    let rules = match rules {
        HashRulesArg::Current => HashRules::Current,
        HashRulesArg::Legacy => HashRules::Legacy,
    };
    let h = db
        .hash_kv(rev, rules)
        .with_context(|| path.display().to_string())?;
    let mut o = out::stdout();
    match w {
        WriteOut::Json => writeln!(
            o,
            "{{\"hash\":{},\"hashRevision\":{},\"compactRevision\":{}}}",
            h.hash, h.hash_revision, h.compact_revision
        )?,
        WriteOut::Table => o.write_all(
            table(
                &["HASH", "HASH REVISION", "COMPACT REVISION"],
                &[vec![
                    h.hash.to_string(),
                    h.hash_revision.to_string(),
                    h.compact_revision.to_string(),
                ]],
            )
            .as_bytes(),
        )?,
        WriteOut::Fields => {
            writeln!(o, "\"Hash\" : {}", h.hash)?;
            writeln!(o, "\"HashRevision\" : {}", h.hash_revision)?;
            writeln!(o, "\"CompactRevision\" : {}", h.compact_revision)?;
        }
        WriteOut::Simple => writeln!(o, "{}, {}, {}", h.hash, h.hash_revision, h.compact_revision)?,
    }
    o.flush()?;
    Ok(Outcome::Ok)
}

trait OrNone {
    fn or_none(self) -> String;
}

impl OrNone for String {
    /// "(none)" for an empty list.
    fn or_none(self) -> String {
        if self.is_empty() {
            "(none)".into()
        } else {
            self
        }
    }
}

fn snapshot(path: &Path, wal: &WalArgs, output: &Path, force: bool, json: bool) -> Result<Outcome> {
    crate::out::check_output(output, &[path], force)?;
    let input = crate::input::open_input_with(path, wal, true)?;
    let db = input.etcd()?;
    let size = etcd_store::snapshot::write_snapshot_file(db.bolt().data(), output, force)
        .with_context(|| format!("{}: cannot write", output.display()))?;
    let rev = db
        .current_revision()
        .with_context(|| path.display().to_string())?;
    let wal_report = input.wal()?;
    let lost = wal_report.is_some_and(|w| w.lost_entries());
    if json {
        out::json_line(
            &mut out::stdout(),
            &serde_json::json!({"output": output.display().to_string(), "size": size, "revision": rev,
                "consistent_index": db.meta().consistent_index, "wal": wal_report}),
        )?;
    } else {
        println!(
            "wrote {} ({} bytes, revision {rev}, consistent index {}) from {}",
            output.display(),
            size,
            db.meta().consistent_index.unwrap_or(0),
            input.db_path.display()
        );
        println!("restore it with: etcdutl snapshot restore {} --data-dir NEW-DIR (etcd 3.4: etcdctl snapshot restore)", output.display());
    }
    Ok(if lost { Outcome::Problems } else { Outcome::Ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_go() {
        assert_eq!(humanize_bytes(5), "5 B");
        assert_eq!(humanize_bytes(24576), "25 kB");
        assert_eq!(humanize_bytes(86016), "86 kB");
        assert_eq!(humanize_bytes(2_100_000), "2.1 MB");
        assert_eq!(humanize_bytes(999), "999 B");
    }
}
