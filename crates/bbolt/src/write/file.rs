//! Output files that appear whole or not at all.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file written under a temporary name in the target's directory, then
/// synced and renamed over the target by [`AtomicFile::commit`]. Dropped
/// without a commit, it removes the temporary file: an interrupted run
/// leaves no half-written output.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    overwrite: bool,
}

impl AtomicFile {
    /// Starts writing `target`. Fails if it exists, unless `overwrite`.
    pub fn create(target: impl AsRef<Path>, overwrite: bool) -> Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        if !overwrite && target.exists() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} already exists (overwrite not requested)",
                    target.display()
                ),
            )));
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let mut n = 0u32;
        loop {
            let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        file: Some(file),
                        tmp,
                        target,
                        overwrite,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => {
                    return Err(Error::Io(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", tmp.display()),
                    )));
                }
            }
        }
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file already committed"))
    }

    /// Syncs the data, renames it over the target and syncs the directory.
    pub fn commit(mut self) -> Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("file already committed"))?;
        file.sync_all()?;
        drop(file);
        if !self.overwrite && self.target.exists() {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} appeared while writing (overwrite not requested)",
                    self.target.display()
                ),
            )));
        }
        std::fs::rename(&self.tmp, &self.target)?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Read for AtomicFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file()?.read(buf)
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file()?.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
