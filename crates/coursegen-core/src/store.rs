//! The blob store port: S3 on AWS, a directory locally, memory in tests. Keys follow `keys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{StageError, StageResult};
use crate::keys::validate_key;

/// Object storage as the stages need it. Implementations validate every key with
/// [`validate_key`] so nothing is read or written outside the store root.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Write (or replace) an object atomically: readers see the old or the new body, never a mix.
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<()>;
    /// Write only if no object exists at `key`; returns false (and writes nothing) when one does.
    async fn put_if_absent(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<bool>;
    /// Read an object, `None` when it does not exist.
    async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>>;
    /// Every key under `prefix`, sorted, however many there are (implementations paginate).
    async fn list(&self, prefix: &str) -> StageResult<Vec<String>>;
    /// Delete an object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> StageResult<()>;
    /// A short description for logs and summaries (`dir:/path`, `s3://bucket`).
    fn describe(&self) -> String;
}

/// Helpers over any store.
#[async_trait]
pub trait BlobStoreExt: BlobStore {
    /// Read an object that must exist, as UTF-8 text.
    async fn get_text(&self, key: &str) -> StageResult<String> {
        let bytes = self.get(key).await?.ok_or_else(|| StageError::MissingInput {
            key: key.to_string(),
            message: "no object at this key".into(),
        })?;
        String::from_utf8(bytes).map_err(|e| StageError::store(key, format!("not UTF-8: {e}")))
    }
    /// Read and parse a JSON object, `None` when missing.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> StageResult<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StageError::store(key, format!("invalid JSON: {e}"))),
        }
    }
    /// Serialise and write a JSON object (pretty, stable).
    async fn put_json<T: serde::Serialize + Sync>(&self, key: &str, value: &T) -> StageResult<()> {
        let body = serde_json::to_vec_pretty(value).map_err(|e| StageError::Internal(e.to_string()))?;
        self.put(key, body, "application/json").await
    }
}

impl<T: BlobStore + ?Sized> BlobStoreExt for T {}

/// A directory laid out like the bucket. Writes go to a temporary file that is renamed into
/// place, so a crash never leaves a half-written object.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The process id in a temporary file name `.tmp-PID-N`.
fn temporary_writer(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix(".tmp-")?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether process `pid` is running; `true` where that cannot be told (no `/proc`).
fn process_running(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    !proc_root.join("self").exists() || proc_root.join(pid.to_string()).exists()
}

/// A directory store failure as a stage error: no permission (or a read-only file system) is
/// permanent, [`StageError::StoreAccessDenied`]; anything else (a full disk, an interrupted
/// call) may pass on a retry, [`StageError::Store`].
fn io_error(key: &str, e: std::io::Error) -> StageError {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            StageError::store_access_denied(key, e)
        }
        _ => StageError::store(key, e),
    }
}

impl FsStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file path of a key, after validating it.
    pub(crate) fn path_of(&self, key: &str) -> StageResult<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Removes the temporary files under `{root}/{folder}` that a killed process left behind
    /// (`.tmp-PID-N` whose process is no longer running; only Linux can tell, elsewhere they are
    /// kept) and returns how many. A running writer's files are never touched.
    pub async fn remove_stale_temporaries(&self, folder: &str) -> StageResult<usize> {
        validate_key(folder)?;
        let start = self.root.join(folder);
        let own = std::process::id();
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(path);
                        continue;
                    }
                    let name = entry.file_name();
                    let writer = name.to_str().and_then(temporary_writer);
                    if writer.is_some_and(|pid| pid != own && !process_running(pid))
                        && std::fs::remove_file(&path).is_ok()
                    {
                        removed += 1;
                    }
                }
            }
            removed
        })
        .await
        .map_err(|e| StageError::Internal(e.to_string()))
    }

    async fn write_tmp(&self, key: &str, body: &[u8]) -> StageResult<(PathBuf, PathBuf)> {
        let path = self.path_of(key)?;
        let dir = path.parent().ok_or_else(|| StageError::store(key, "no parent directory"))?;
        tokio::fs::create_dir_all(dir).await.map_err(|e| io_error(key, e))?;
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        tokio::fs::write(&tmp, body).await.map_err(|e| io_error(key, e))?;
        Ok((tmp, path))
    }
}

#[async_trait]
impl BlobStore for FsStore {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> StageResult<()> {
        let (tmp, path) = self.write_tmp(key, &body).await?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_error(key, e));
        }
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>, _content_type: &str) -> StageResult<bool> {
        let (tmp, path) = self.write_tmp(key, &body).await?;
        // hard_link fails if the target exists: an atomic create-if-absent.
        let linked = tokio::fs::hard_link(&tmp, &path).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_error(key, e)),
        }
    }

    async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> StageResult<Vec<String>> {
        // The directory part of the prefix bounds the walk; the rest filters names.
        let dir_part = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        if !dir_part.is_empty() {
            validate_key(dir_part)?;
        }
        let start = if dir_part.is_empty() { self.root.clone() } else { self.root.join(dir_part) };
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error(&prefix, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| io_error(&prefix, e))?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with(".tmp-") {
                        continue;
                    }
                    let ft = entry.file_type().map_err(|e| io_error(&prefix, e))?;
                    let path = entry.path();
                    if ft.is_dir() {
                        stack.push(path);
                    } else if ft.is_file() {
                        if let Ok(rel) = path.strip_prefix(&root) {
                            let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
                            if key.starts_with(&prefix) {
                                out.push(key);
                            }
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| StageError::Internal(e.to_string()))?
    }

    async fn delete(&self, key: &str) -> StageResult<()> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(key, e)),
        }
    }

    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }
}

/// An in-memory store for tests, counting writes.
#[derive(Debug, Default)]
pub struct MemStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    writes: AtomicU64,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many writes (put, put_if_absent that wrote) happened.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
    /// All keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl BlobStore for MemStore {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> StageResult<()> {
        validate_key(key)?;
        self.lock().insert(key.to_string(), body);
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn put_if_absent(&self, key: &str, body: Vec<u8>, _content_type: &str) -> StageResult<bool> {
        validate_key(key)?;
        let mut map = self.lock();
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(key.to_string(), body);
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
    async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>> {
        validate_key(key)?;
        Ok(self.lock().get(key).cloned())
    }
    async fn list(&self, prefix: &str) -> StageResult<Vec<String>> {
        Ok(self
            .lock()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
    async fn delete(&self, key: &str) -> StageResult<()> {
        validate_key(key)?;
        self.lock().remove(key);
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("coursegen-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[tokio::test]
    async fn temporaries_of_a_killed_writer_are_removed_and_a_running_writers_are_kept() {
        let dir = tmpdir("stale");
        let s = FsStore::new(&dir);
        s.put("p/lessons/module-01/a.md", b"1".to_vec(), "text/markdown").await.unwrap();
        let folder = dir.join("p/lessons/module-01");
        // Above the largest Linux pid (2^22), so no such process runs.
        let dead = folder.join(".tmp-4194305-7");
        let own = folder.join(format!(".tmp-{}-7", std::process::id()));
        let other = dir.join("q/.tmp-4194305-1");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        for path in [&dead, &own, &other] {
            std::fs::write(path, b"partial").unwrap();
        }
        let removed = s.remove_stale_temporaries("p").await.unwrap();
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, 1);
            assert!(!dead.exists());
        }
        assert!(own.exists(), "this process may still be writing it");
        assert!(other.exists(), "outside the folder");
        assert_eq!(s.get("p/lessons/module-01/a.md").await.unwrap().unwrap(), b"1");
        assert_eq!(temporary_writer(".tmp-12-3"), Some(12));
        assert_eq!(temporary_writer(".tmp-x-3"), None);
        assert_eq!(temporary_writer("lesson.md"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn fs_store_round_trips_lists_sorted_and_never_leaves_temp_files() {
        let dir = tmpdir("rt");
        let s = FsStore::new(&dir);
        s.put("p/lessons/module-02/b.md", b"2".to_vec(), "text/markdown").await.unwrap();
        s.put("p/lessons/module-01/a.md", b"1".to_vec(), "text/markdown").await.unwrap();
        s.put("p/lessons/module-01/a.md", b"1b".to_vec(), "text/markdown").await.unwrap();
        s.put("q/other.md", b"x".to_vec(), "text/markdown").await.unwrap();
        assert_eq!(s.get("p/lessons/module-01/a.md").await.unwrap().unwrap(), b"1b");
        assert_eq!(s.get("p/missing").await.unwrap(), None);
        assert_eq!(
            s.list("p/lessons/").await.unwrap(),
            vec!["p/lessons/module-01/a.md".to_string(), "p/lessons/module-02/b.md".to_string()]
        );
        assert_eq!(s.list("p/lessons/module-0").await.unwrap().len(), 2);
        assert!(s.list("nothing/here/").await.unwrap().is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("p/lessons/module-01")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the object itself, no temp file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn fs_store_refuses_keys_outside_the_root_and_writes_nothing() {
        let dir = tmpdir("esc");
        let s = FsStore::new(&dir);
        for key in ["../escape.txt", "/abs.txt", "a/../../b", "a\\b"] {
            assert_eq!(s.put(key, b"x".to_vec(), "text/plain").await.unwrap_err().error_type(), "StoreError");
        }
        assert!(!dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none());
        assert!(!dir.parent().unwrap().join("escape.txt").exists());
    }

    #[test]
    fn io_errors_without_permission_are_permanent_and_the_others_transient() {
        use std::io::{Error, ErrorKind};
        for kind in [ErrorKind::PermissionDenied, ErrorKind::ReadOnlyFilesystem] {
            let e = io_error("p/x.md", Error::from(kind));
            assert_eq!(e.error_type(), "StoreAccessDenied", "{kind:?}");
            assert!(!e.is_retryable());
            assert!(e.to_string().contains("p/x.md"), "{e}");
        }
        for kind in [ErrorKind::StorageFull, ErrorKind::Interrupted, ErrorKind::TimedOut, ErrorKind::Other] {
            let e = io_error("p/x.md", Error::from(kind));
            assert_eq!(e.error_type(), "StoreError", "{kind:?}");
            assert!(e.is_retryable());
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_directory_without_permission_is_store_access_denied() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmpdir("denied");
        let s = FsStore::new(&dir);
        s.put("p/lessons/a.md", b"1".to_vec(), "text/markdown").await.unwrap();
        let locked = dir.join("p/lessons");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // A privileged user (root in a container) is not stopped by file modes: nothing to check.
        let privileged = std::fs::read_dir(&locked).is_ok();
        let results = (
            s.get("p/lessons/a.md").await,
            s.put("p/lessons/b.md", b"2".to_vec(), "text/markdown").await,
            s.list("p/lessons/").await,
        );
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        if !privileged {
            assert_eq!(results.0.unwrap_err().error_type(), "StoreAccessDenied");
            assert_eq!(results.1.unwrap_err().error_type(), "StoreAccessDenied");
            assert_eq!(results.2.unwrap_err().error_type(), "StoreAccessDenied");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn put_if_absent_writes_once() {
        let dir = tmpdir("pia");
        let s = FsStore::new(&dir);
        assert!(s.put_if_absent("p/x.json", b"1".to_vec(), "application/json").await.unwrap());
        assert!(!s.put_if_absent("p/x.json", b"2".to_vec(), "application/json").await.unwrap());
        assert_eq!(s.get("p/x.json").await.unwrap().unwrap(), b"1");
        let m = MemStore::new();
        assert!(m.put_if_absent("p/x", b"1".to_vec(), "").await.unwrap());
        assert!(!m.put_if_absent("p/x", b"2".to_vec(), "").await.unwrap());
        assert_eq!(m.write_count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
