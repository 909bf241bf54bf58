//! Writing result files so that nothing is lost and nothing is mixed.
//!
//! - [`write_atomic`] replaces one file: a synced temporary `.NAME.twin-tmp-PID-NONCE` beside it,
//!   then a rename ([`AtomicFile`] does the same for a file written piece by piece). Temporaries of killed writers (their process is gone) are removed by the
//!   next write of the same file.
//! - [`OutputDir`] replaces a whole directory (the files of one trial run): the run is written
//!   into `OUT.twin-tmp-PID-NONCE/` beside the target, synced, and swapped in as the very last
//!   step, so the target always holds one complete run, the previous or the new one, never a mix.
//!   On Linux the swap is one `renameat2(RENAME_EXCHANGE)`: at every instant `OUT` names a
//!   complete directory. Where the filesystem cannot exchange, it is two renames
//!   (`OUT` → `OUT.twin-old-…`, staging → `OUT`); a writer killed between them leaves `OUT`
//!   missing for that instant, and the next writer renames the old run back first.
//! - A lock file `OUT.twin-lock` is held for the whole run: a second writer of the same target
//!   waits for the first (saying so on stderr). The holder removes it when done.
//! - On SIGINT, SIGTERM or SIGHUP, registered temporaries (staging directories, temporary files,
//!   lock files) are removed and the process exits with 128 + the signal number (130 for
//!   SIGINT, 143 for SIGTERM), saying which output was left as it was. After SIGKILL or a
//!   crash, the next writer of the same target removes what was left.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

/// Files and directories to remove when the process is interrupted.
struct Temporary {
    path: PathBuf,
    /// The output this staging directory (or temporary file) would replace; `None` for lock
    /// files and already replaced results.
    target: Option<PathBuf>,
}

static TEMPORARIES: Mutex<Vec<Temporary>> = Mutex::new(Vec::new());
static SIGNALS: Once = Once::new();

fn temporaries() -> MutexGuard<'static, Vec<Temporary>> {
    TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner())
}

fn register(path: &Path, target: Option<&Path>) {
    SIGNALS.call_once(install_signal_cleanup);
    temporaries().push(Temporary {
        path: path.to_path_buf(),
        target: target.map(Path::to_path_buf),
    });
}

fn unregister(list: &mut Vec<Temporary>, path: &Path) {
    list.retain(|t| t.path != path);
}

fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// A thread that waits for SIGINT, SIGTERM or SIGHUP, removes the registered temporaries and
/// exits with 128 + the signal number. It takes the registry lock, so it never runs in the
/// middle of a swap ([`OutputDir::commit`] holds the lock across it).
fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("twin-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let name = match sig {
                    SIGINT => "SIGINT",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                let list = temporaries();
                let mut kept: Vec<String> = list
                    .iter()
                    .filter_map(|t| t.target.as_ref().map(|p| p.display().to_string()))
                    .collect();
                kept.dedup();
                for t in list.iter() {
                    // A file created while the directory was being removed: try again.
                    for _ in 0..3 {
                        remove_any(&t.path);
                        if fs::symlink_metadata(&t.path).is_err() {
                            break;
                        }
                    }
                }
                if kept.is_empty() {
                    eprintln!("\ntwin: interrupted by {name}");
                } else {
                    eprintln!(
                        "\ntwin: interrupted by {name}; removed the unfinished output; {} left as it was",
                        kept.join(", ")
                    );
                }
                std::process::exit(128 + sig);
            }
        });
    drop(spawned);
}

/// A name that no other process or earlier call uses: `PID-NONCE`.
fn unique() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    format!("{}-{:016x}", std::process::id(), h.finish())
}

/// Whether the process that wrote a temporary named `…twin-tmp-PID-NONCE` is still running.
fn writer_alive(name: &str, marker: &str) -> bool {
    let Some(rest) = name.split(marker).nth(1) else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    if pid <= 0 || pid as u32 == std::process::id() {
        return pid > 0;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates (or truncates) `path` with `text` and flushes it to disk.
pub fn write_synced(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(text)?;
    f.sync_all()
}

/// Writes `text` to `path` atomically: a synced temporary file in the same directory, then a
/// rename. Readers see the old file or the new one, whole. Temporaries left beside `path` by
/// writers that no longer run are removed first.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(text.as_bytes())?;
    f.commit()
}

/// A file being written that replaces `path` only when complete: the bytes go to a temporary
/// `.NAME.twin-tmp-PID-NONCE` beside it, and [`AtomicFile::commit`] syncs it and renames it over
/// `path`. Dropped without commit (an error, a panic), it removes the temporary and leaves `path`
/// as it was. Write through a [`std::io::BufWriter`] for many small writes.
pub struct AtomicFile {
    file: File,
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary beside `path` (removing those of writers that no longer run).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        SIGNALS.call_once(install_signal_cleanup);
        let dir = parent_of(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let prefix = format!(".{name}.twin-tmp-");
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&prefix) && !writer_alive(&n, ".twin-tmp-") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let tmp = dir.join(format!("{prefix}{}", unique()));
        register(&tmp, Some(path));
        match File::create(&tmp) {
            Ok(file) => Ok(AtomicFile {
                file,
                tmp,
                target: path.to_path_buf(),
                committed: false,
            }),
            Err(e) => {
                unregister(&mut temporaries(), &tmp);
                Err(e)
            }
        }
    }

    /// Flushes the temporary to disk and renames it over the target.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        let mut list = temporaries();
        fs::rename(&self.tmp, &self.target)?;
        self.committed = true;
        unregister(&mut list, &self.tmp);
        drop(list);
        let _ = sync_dir(parent_of(&self.target));
        Ok(())
    }
}

impl io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let mut list = temporaries();
            let _ = fs::remove_file(&self.tmp);
            unregister(&mut list, &self.tmp);
        }
    }
}

/// Why an output directory cannot be written.
#[derive(Debug)]
pub enum OutputError {
    /// A file system operation failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The target exists and is not a directory.
    NotADirectory(PathBuf),
    /// The target holds files twin did not write; replacing it would delete them.
    Foreign {
        /// The target.
        path: PathBuf,
        /// Some of the files (at most three).
        files: Vec<String>,
    },
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            OutputError::NotADirectory(p) => write!(
                f,
                "{} exists and is not a directory\nhelp: choose another --out",
                p.display()
            ),
            OutputError::Foreign { path, files } => write!(
                f,
                "{} holds files twin did not write ({}); a run replaces the whole directory, so \
                 twin leaves it alone\nhelp: move those files, or choose another --out",
                path.display(),
                files.join(", ")
            ),
        }
    }
}

impl std::error::Error for OutputError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An exclusive lock on `OUT.twin-lock`, removed and released on drop.
struct DirLock {
    path: PathBuf,
    file: File,
}

impl DirLock {
    /// Locks `path`, waiting (with a note on stderr) while another process holds it. A lock file
    /// may be removed by its holder, so after locking, the path must still name the locked file.
    fn acquire(path: &Path, target: &Path) -> Result<DirLock, OutputError> {
        use std::os::unix::fs::MetadataExt;
        let mut told = false;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io_err(path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    if !told {
                        eprintln!(
                            "twin: waiting for another twin process writing {} (lock {})",
                            target.display(),
                            path.display()
                        );
                        told = true;
                    }
                    file.lock().map_err(io_err(path))?;
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err(path)(e)),
            }
            let held = file.metadata().map_err(io_err(path))?;
            match fs::metadata(path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    register(path, None);
                    return Ok(DirLock {
                        path: path.to_path_buf(),
                        file,
                    });
                }
                // Its holder removed it between our open and lock: lock the new one.
                _ => continue,
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let mut list = temporaries();
        let _ = fs::remove_file(&self.path);
        unregister(&mut list, &self.path);
        let _ = self.file.unlock();
    }
}

/// The files twin writes into an output directory (of a trial or a fit); anything else there is
/// the user's.
pub const TRIAL_FILES: [&str; 12] = [
    "patients.csv",
    "summary.csv",
    "summary.json",
    "run.json",
    "trajectories.csv",
    "doses.csv",
    "visits.csv",
    "bands.csv",
    "targets.csv",
    "individuals.csv",
    "predictions.csv",
    "fit.json",
];

/// A directory being written: files go into [`OutputDir::path`] (a staging directory beside
/// the target) and [`OutputDir::commit`] swaps it in. Dropped without commit, it removes the
/// staging directory and leaves the target as it was.
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
    // Dropped last: the lock is held until the staging directory is gone.
    _lock: DirLock,
}

impl OutputDir {
    /// Locks `target`, removes what killed writers left beside it, checks that it holds only
    /// twin's files (or does not exist yet), and creates an empty staging directory.
    pub fn begin(target: &Path) -> Result<OutputDir, OutputError> {
        SIGNALS.call_once(install_signal_cleanup);
        // The real directory: `--out .`, `--out a/..` and symlinks name the directory itself.
        let target = match fs::canonicalize(target) {
            Ok(real) => real,
            Err(_) => {
                let parent = parent_of(target);
                fs::create_dir_all(parent).map_err(io_err(parent))?;
                let parent = fs::canonicalize(parent).map_err(io_err(parent))?;
                match target.file_name() {
                    Some(n) => parent.join(n),
                    None => return Err(OutputError::NotADirectory(target.to_path_buf())),
                }
            }
        };
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(OutputError::NotADirectory(target));
        };
        let parent = parent.to_path_buf();
        let name = name.to_string_lossy().into_owned();
        let lock = DirLock::acquire(&parent.join(format!("{name}.twin-lock")), &target)?;
        // Under the lock, every staging or old directory of this target is a leftover.
        let tmp_prefix = format!("{name}.twin-tmp-");
        let old_prefix = format!("{name}.twin-old-");
        let mut olds = Vec::new();
        for e in fs::read_dir(&parent).map_err(io_err(&parent))?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&tmp_prefix) {
                remove_any(&e.path());
            } else if n.starts_with(&old_prefix) {
                olds.push(e.path());
            }
        }
        // A writer killed between the two renames of a non-atomic swap: restore the old run.
        if fs::symlink_metadata(&target).is_err()
            && let Some(old) = olds.pop()
        {
            fs::rename(&old, &target).map_err(io_err(&old))?;
        }
        for old in olds {
            remove_any(&old);
        }
        match fs::symlink_metadata(&target) {
            Ok(m) if !m.is_dir() => return Err(OutputError::NotADirectory(target)),
            Ok(_) => {
                let mut foreign = Vec::new();
                for e in fs::read_dir(&target).map_err(io_err(&target))?.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let ours = TRIAL_FILES.contains(&n.as_str())
                        || TRIAL_FILES.iter().any(|f| {
                            n.starts_with(&format!(".{f}.tmp"))
                                || n.starts_with(&format!(".{f}.twin-tmp-"))
                        });
                    if !ours {
                        foreign.push(n);
                    }
                }
                if !foreign.is_empty() {
                    foreign.sort();
                    foreign.truncate(3);
                    return Err(OutputError::Foreign {
                        path: target,
                        files: foreign,
                    });
                }
            }
            Err(_) => {}
        }
        let staging = parent.join(format!("{tmp_prefix}{}", unique()));
        register(&staging, Some(&target));
        if let Err(e) = fs::create_dir(&staging) {
            unregister(&mut temporaries(), &staging);
            return Err(io_err(&staging)(e));
        }
        Ok(OutputDir {
            target,
            staging,
            committed: false,
            _lock: lock,
        })
    }

    /// The staging directory to write files into.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The directory that [`OutputDir::commit`] replaces.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the staging directory and swaps it in for the target; the previous run is then
    /// removed. Until the swap the target keeps the previous run; on error it still does.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let parent = parent_of(&self.target).to_path_buf();
        for e in fs::read_dir(&self.staging)
            .map_err(io_err(&self.staging))?
            .flatten()
        {
            File::open(e.path())
                .and_then(|f| f.sync_all())
                .map_err(io_err(&e.path()))?;
        }
        sync_dir(&self.staging).map_err(io_err(&self.staging))?;
        // The signal thread waits for this lock: it never sees a half-done swap.
        let mut list = temporaries();
        let old = if fs::symlink_metadata(&self.target).is_ok() {
            if exchange(&self.staging, &self.target).is_ok() {
                // The staging path now holds the previous run.
                self.staging.clone()
            } else {
                let old = parent.join(format!(
                    "{}.twin-old-{}",
                    self.target
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    unique()
                ));
                fs::rename(&self.target, &old).map_err(io_err(&self.target))?;
                if let Err(e) = fs::rename(&self.staging, &self.target) {
                    let _ = fs::rename(&old, &self.target);
                    return Err(io_err(&self.staging)(e));
                }
                old
            }
        } else {
            fs::rename(&self.staging, &self.target).map_err(io_err(&self.staging))?;
            PathBuf::new()
        };
        self.committed = true;
        unregister(&mut list, &self.staging);
        if !old.as_os_str().is_empty() {
            list.push(Temporary {
                path: old.clone(),
                target: None,
            });
        }
        drop(list);
        let _ = sync_dir(&parent);
        if !old.as_os_str().is_empty() {
            remove_any(&old);
            unregister(&mut temporaries(), &old);
        }
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let mut list = temporaries();
            remove_any(&self.staging);
            unregister(&mut list, &self.staging);
        }
    }
}

/// Atomically exchanges two paths (Linux `renameat2(RENAME_EXCHANGE)`); an error where the
/// system or filesystem cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes())?;
        let cb = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: both are valid NUL-terminated paths; renameat2 reads them and nothing else.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Reads a source file as text, reading no more than one byte past
/// [`crate::syntax::parser::MAX_SOURCE_BYTES`]: a larger file comes back longer than the limit
/// (and is refused by the parser with E0048) without being read whole.
pub fn read_source(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let cap = crate::syntax::parser::MAX_SOURCE_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 == cap {
        // Cut anywhere, possibly inside a character: keep the length above the limit.
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}
