//! Writing outputs so that they are whole or absent.
//!
//! Every file goes to a temporary file in its final folder and is renamed
//! into place: a run killed part-way never leaves a truncated file, and a
//! rename replaces a symlink planted at the final name instead of writing
//! through it. A report folder is locked for the whole run
//! ([`OutDir::lock`]), so two runs cannot interleave their files; its
//! verdict-bearing files are removed before anything is rewritten and
//! written last, followed by `manifest.json` naming every file of the
//! report: a folder with a manifest is one complete report, a folder
//! without one is a report that was cut short.

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name of the lock file a run holds in its output folder.
pub const LOCK: &str = ".eventsim.lock";
/// The name of the file written last, naming the report's files.
pub const MANIFEST: &str = "manifest.json";

/// `manifest.json`: the files of one complete report.
#[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
pub struct Manifest {
    pub eventsim_manifest: u32,
    pub version: String,
    /// Every file written, in the order written.
    pub files: Vec<ManifestEntry>,
    /// Set when the folder's result covers only part of what was asked
    /// (an interrupted sweep or comparison): what is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

/// One file of a [`Manifest`].
#[derive(Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
pub struct ManifestEntry {
    pub name: String,
    pub bytes: u64,
}

/// An output folder, locked for writing until dropped.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    _lock: File,
    written: Vec<ManifestEntry>,
    /// Tests: fail the write after this many have succeeded (a kill
    /// mid-report).
    fail_after: Option<usize>,
    /// What the result lacks, for the manifest.
    incomplete: Option<String>,
}

impl OutDir {
    /// Create `dir` if needed and lock it; refuses a path that is a file,
    /// and a folder another eventsim process holds.
    pub fn lock(dir: &Path) -> Result<OutDir, String> {
        let shown = dir.display();
        if let Ok(m) = std::fs::metadata(dir)
            && !m.is_dir()
        {
            return Err(format!(
                "{shown} is a file; the output must be a folder (choose another --out)"
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {shown}: {e}"))?;
        let path = dir.join(LOCK);
        refuse_symlink(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot write into {shown}: {e}"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another eventsim run is writing into {shown} (it holds {}); wait for it to finish or choose another --out",
                    path.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
        Ok(OutDir {
            dir: dir.to_path_buf(),
            _lock: file,
            written: Vec::new(),
            fail_after: None,
            incomplete: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Start a new report in the folder: remove the manifest and the
    /// files that carry a verdict first, so that a run stopped before it
    /// finishes leaves no verdict beside files that disagree with it.
    pub fn begin(&mut self, verdict_files: &[&str]) -> std::io::Result<()> {
        for name in std::iter::once(&MANIFEST).chain(verdict_files) {
            match std::fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.written.clear();
        Ok(())
    }

    /// Write `name` (one path component) whole, or not at all.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        if self.fail_after.is_some_and(|n| self.written.len() >= n) {
            return Err(std::io::Error::other("injected failure (test)"));
        }
        write_atomic(&self.dir.join(name), bytes)?;
        self.written.push(ManifestEntry {
            name: name.to_string(),
            bytes: bytes.len() as u64,
        });
        Ok(())
    }

    /// Write `name` as a stream: `fill` writes it through a buffer, so a
    /// large file (a time series of a million points) is never held in
    /// memory whole. It appears whole, or not at all.
    pub fn write_with(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if self.fail_after.is_some_and(|n| self.written.len() >= n) {
            return Err(std::io::Error::other("injected failure (test)"));
        }
        let mut file = StreamFile::create(&self.dir.join(name))?;
        let mut w = Counted {
            inner: std::io::BufWriter::new(file.take_file()),
            bytes: 0,
        };
        fill(&mut w)?;
        w.flush()?;
        let bytes = w.bytes;
        drop(w);
        file.commit()?;
        self.written.push(ManifestEntry {
            name: name.to_string(),
            bytes,
        });
        Ok(())
    }

    /// Name `name`, a file already in the folder and not rewritten, in
    /// the manifest (a redraw keeps the run's data files).
    pub fn keep(&mut self, name: &str) -> std::io::Result<()> {
        if self.written.iter().any(|e| e.name == name) {
            return Ok(());
        }
        let m = std::fs::symlink_metadata(self.dir.join(name))?;
        if !m.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        self.written.push(ManifestEntry {
            name: name.to_string(),
            bytes: m.len(),
        });
        Ok(())
    }

    /// Open `name` for appending (a journal kept across a kill), never
    /// through a link.
    pub fn journal(&self, name: &str) -> std::io::Result<File> {
        let path = self.dir.join(name);
        refuse_symlink(&path).map_err(std::io::Error::other)?;
        OpenOptions::new().create(true).append(true).open(path)
    }

    /// Remove `name` from the folder, if there.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Write `manifest.json`, naming every file written since `begin`.
    pub fn finish(mut self) -> std::io::Result<()> {
        let manifest = Manifest {
            eventsim_manifest: 1,
            version: crate::VERSION.to_string(),
            files: std::mem::take(&mut self.written),
            incomplete: self.incomplete.take(),
        };
        let mut text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
        text.push('\n');
        write_atomic(&self.dir.join(MANIFEST), text.as_bytes())
    }

    /// Say in the manifest that the result covers only part of what was
    /// asked, and what is missing.
    pub fn set_incomplete(&mut self, what: String) {
        self.incomplete = Some(what);
    }

    #[cfg(test)]
    pub(crate) fn fail_after(&mut self, writes: usize) {
        self.fail_after = Some(writes);
    }
}

/// The manifest of a complete report in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} holds no complete report (no {MANIFEST}: the run that wrote it was cut short, or it is not a report folder); run the scenario again",
                dir.display()
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn refuse_symlink(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link; eventsim does not write through links in its output folder",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// A temporary file beside `path`, created fresh (never an existing file
/// or link).
fn temporary(path: &Path) -> std::io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    for attempt in 0u32.. {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{attempt}.tmp", std::process::id()));
        let tmp = parent.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// Write `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (tmp, mut f) = temporary(path)?;
    let done = f.write_all(bytes).and_then(|()| f.flush());
    drop(f);
    done.and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// A writer that counts what went through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file written as a stream (a history, a trace) that appears under its
/// name only once complete: [`StreamFile::commit`] renames it into place;
/// dropped without a commit, it is removed.
pub struct StreamFile {
    tmp: PathBuf,
    path: PathBuf,
    file: Option<File>,
}

impl StreamFile {
    pub fn create(path: &Path) -> std::io::Result<StreamFile> {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(std::io::Error::other(
                "it is a folder; expected a file name",
            ));
        }
        let (tmp, file) = temporary(path)?;
        Ok(StreamFile {
            tmp,
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    /// The file to write to (until committed).
    pub fn take_file(&mut self) -> File {
        self.file.take().expect("the file is taken once")
    }

    /// Put the written file under its name.
    pub fn commit(mut self) -> std::io::Result<()> {
        let tmp = std::mem::take(&mut self.tmp);
        std::fs::rename(&tmp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

impl Drop for StreamFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The absolute form of a path, links resolved (an input: what is read).
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| in_folder(path))
}

/// The absolute form of a path that may not exist yet, its folder's links
/// resolved and its own name kept (an output: a link there is replaced,
/// not followed, so what it points to is not what is written).
fn in_folder(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(p), Some(name)) => p.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Refuse, before anything runs, outputs that would overwrite an input or
/// each other: `outputs` are (what, path) pairs such as ("--history", ..).
pub fn refuse_overlaps(inputs: &[&Path], outputs: &[(&str, &Path)]) -> Result<(), String> {
    let inputs: Vec<(PathBuf, &Path)> = inputs.iter().map(|p| (resolved(p), *p)).collect();
    let mut seen: Vec<(PathBuf, &str)> = Vec::new();
    for &(what, path) in outputs {
        let r = in_folder(path);
        if let Some((_, input)) = inputs.iter().find(|(i, _)| *i == r) {
            return Err(format!(
                "{what} {} would overwrite the input {}; choose another path",
                path.display(),
                input.display()
            ));
        }
        if let Some((_, other)) = seen.iter().find(|(s, _)| *s == r) {
            return Err(format!(
                "{what} and {other} both name {}; give each its own file",
                path.display()
            ));
        }
        seen.push((r, what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_under_its_name_and_replaces_a_planted_link() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let mut out = OutDir::lock(&tmp.path().join("r")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, out.path().join("summary.json")).unwrap();
        out.begin(&["summary.json"]).unwrap();
        out.write("a.csv", b"x,y\n").unwrap();
        out.write("summary.json", b"{}\n").unwrap();
        let dir = out.path().to_path_buf();
        out.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            !std::fs::symlink_metadata(dir.join("summary.json"))
                .unwrap()
                .is_symlink()
        );
        let m: Manifest =
            serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).unwrap()).unwrap();
        let files: Vec<(&str, u64)> = m.files.iter().map(|e| (e.name.as_str(), e.bytes)).collect();
        assert_eq!(files, vec![("a.csv", 4), ("summary.json", 3)]);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "no temporary file left: {names:?}");
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let first = OutDir::lock(tmp.path()).unwrap();
        let err = OutDir::lock(tmp.path()).unwrap_err();
        assert!(err.contains("another eventsim run"), "{err}");
        drop(first);
        OutDir::lock(tmp.path()).unwrap();
    }

    #[test]
    fn a_file_where_a_folder_is_expected_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let err = OutDir::lock(&file).unwrap_err();
        assert!(err.contains("is a file"), "{err}");
    }

    #[test]
    fn a_report_cut_short_leaves_no_verdict_and_no_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = OutDir::lock(tmp.path()).unwrap();
        out.begin(&["summary.json"]).unwrap();
        out.write("data.csv", b"old").unwrap();
        out.write("summary.json", b"pass").unwrap();
        out.finish().unwrap();
        let mut out = OutDir::lock(tmp.path()).unwrap();
        out.fail_after(1);
        out.begin(&["summary.json"]).unwrap();
        out.write("data.csv", b"new").unwrap();
        assert!(out.write("summary.json", b"fail").is_err());
        drop(out);
        assert!(!tmp.path().join("summary.json").exists());
        assert!(!tmp.path().join(MANIFEST).exists());
        assert_eq!(std::fs::read(tmp.path().join("data.csv")).unwrap(), b"new");
    }

    #[test]
    fn a_stream_appears_only_when_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.jsonl");
        {
            let mut s = StreamFile::create(&path).unwrap();
            s.take_file().write_all(b"partial").unwrap();
        }
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        let mut s = StreamFile::create(&path).unwrap();
        s.take_file().write_all(b"whole").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
    }

    #[test]
    fn outputs_never_overwrite_inputs_or_each_other() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("s.toml");
        std::fs::write(&input, "x").unwrap();
        let err = refuse_overlaps(&[&input], &[("--history", &input)]).unwrap_err();
        assert!(err.contains("overwrite the input"), "{err}");
        // The same file by another spelling.
        let other = tmp.path().join(".").join("s.toml");
        assert!(refuse_overlaps(&[&input], &[("--trace", &other)]).is_err());
        let h = tmp.path().join("h");
        let err = refuse_overlaps(&[&input], &[("--history", &h), ("--trace", &h)]).unwrap_err();
        assert!(err.contains("both name"), "{err}");
        refuse_overlaps(
            &[&input],
            &[("--history", &h), ("--trace", &tmp.path().join("t"))],
        )
        .unwrap();
    }
}
