//! Output helpers: byte formatting (Go's `--format` modes), hex, JSON lines.

use std::io::{self, Write};

use crate::args::ByteFormat;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends lowercase hex of `b` to `out`.
#[inline]
pub fn push_hex(out: &mut Vec<u8>, b: &[u8]) {
    let start = out.len();
    out.resize(start + b.len() * 2, 0);
    if let Some(dst) = out.get_mut(start..) {
        for (pair, &x) in dst.chunks_exact_mut(2).zip(b) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(x)]);
        }
    }
}

/// Two hex digits for every byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    t
};

pub fn hex(b: &[u8]) -> String {
    let mut v = Vec::new();
    push_hex(&mut v, b);
    String::from_utf8(v).unwrap_or_default()
}

/// Go's `unicode.IsPrint` for the characters bbolt keys use: letters,
/// marks, numbers, punctuation, symbols and the ASCII space.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control() || c.is_whitespace() || is_format_or_unassigned(c))
}

fn is_format_or_unassigned(c: char) -> bool {
    matches!(c as u32, 0xAD | 0x600..=0x605 | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF)
}

/// Printable as Go's CLI decides: valid UTF-8 and every rune printable.
pub fn is_printable(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| s.chars().all(is_print))
}

/// Go's `strconv.Quote`.
pub fn go_quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    let mut rest = b;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(v) => (v, None),
            Err(e) => {
                let (v, _) = rest.split_at(e.valid_up_to());
                (
                    std::str::from_utf8(v).unwrap_or_default(),
                    rest.get(e.valid_up_to()).copied(),
                )
            }
        };
        for c in valid.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\x07' => s.push_str("\\a"),
                '\x08' => s.push_str("\\b"),
                '\x0c' => s.push_str("\\f"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\x0b' => s.push_str("\\v"),
                c if is_print(c) => s.push(c),
                c if (c as u32) < 0x80 => s.push_str(&format!("\\x{:02x}", c as u32)),
                c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        let used = valid.len();
        match bad {
            Some(x) => {
                s.push_str(&format!("\\x{x:02x}"));
                rest = rest.get(used + 1..).unwrap_or_default();
            }
            None => rest = &[],
        }
    }
    s.push('"');
    s
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(b))
}

/// Formats bytes the way `bbolt --format MODE` does.
pub fn format_bytes(b: &[u8], mode: ByteFormat) -> Vec<u8> {
    match mode {
        ByteFormat::Auto if is_printable(b) => b.to_vec(),
        ByteFormat::Auto | ByteFormat::Hex => hex(b).into_bytes(),
        ByteFormat::AsciiEncoded => go_quote(b).into_bytes(),
        ByteFormat::Bytes => b.to_vec(),
        ByteFormat::Redacted => {
            format!("<redacted len:{} sha256:{}>", b.len(), sha256_hex(b)).into_bytes()
        }
    }
}

/// Parses a command-line key in the given input format.
pub fn parse_arg(s: &str, f: crate::args::ParseFormat) -> anyhow::Result<Vec<u8>> {
    match f {
        crate::args::ParseFormat::AsciiEncoded => Ok(s.as_bytes().to_vec()),
        crate::args::ParseFormat::Hex => {
            if s.len() % 2 != 0 {
                anyhow::bail!("{s:?}: hex input needs an even number of digits");
            }
            (0..s.len() / 2)
                .map(|i| {
                    s.get(2 * i..2 * i + 2)
                        .and_then(|d| u8::from_str_radix(d, 16).ok())
                        .ok_or_else(|| anyhow::anyhow!("{s:?}: not hex"))
                })
                .collect()
        }
    }
}

/// A buffered, locked stdout.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// Writes one JSON value and a newline.
pub fn json_line(w: &mut impl Write, v: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

/// Refuses to write `output` where that would replace an input (even with
/// `--force`: boltsnap never writes its inputs) or, without `force`, an
/// existing file.
pub fn check_output(
    output: &std::path::Path,
    inputs: &[&std::path::Path],
    force: bool,
) -> anyhow::Result<()> {
    for input in inputs {
        if same_file(output, input) {
            anyhow::bail!(
                "{}: is the input file {}; boltsnap never replaces its input, even with --force (write to another file)",
                output.display(),
                input.display()
            );
        }
    }
    if !force && output.exists() {
        anyhow::bail!(
            "{}: already exists; use --force to replace it",
            output.display()
        );
    }
    Ok(())
}

/// Refuses to write to standard output when it is redirected into an
/// input (`export db -o - >> db`).
pub fn check_stdout(inputs: &[&std::path::Path]) -> anyhow::Result<()> {
    let stdout = std::path::Path::new("/dev/stdout");
    for input in inputs {
        if same_file(stdout, input) {
            anyhow::bail!(
                "standard output is the input file {}; boltsnap never writes its input",
                input.display()
            );
        }
    }
    Ok(())
}

/// Whether two paths name the same file (through links too).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_like_go() {
        assert_eq!(go_quote(b"abc"), "\"abc\"");
        assert_eq!(go_quote(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote(b"\x00\n\xff"), "\"\\x00\\n\\xff\"");
        assert_eq!(go_quote("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn auto_prints_text_or_hex() {
        assert_eq!(
            format_bytes(b"by-dev/meta", ByteFormat::Auto),
            b"by-dev/meta"
        );
        assert_eq!(format_bytes(b"a\tb", ByteFormat::Auto), b"610962");
        assert_eq!(format_bytes(b"", ByteFormat::Auto), b"");
        assert_eq!(
            format_bytes(b"", ByteFormat::Redacted),
            b"<redacted len:0 sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855>"
        );
    }
}
