//! `coursegen aws fetch`: the course folder from the bucket into `OUT/PROJECT`, as `run` lays
//! it out, skipping files already present with the object's ETag.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::api::{ApiError, Bucket, ObjectInfo};

/// What a fetch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fetched {
    pub(crate) downloaded: usize,
    pub(crate) skipped: usize,
    pub(crate) bytes: u64,
}

/// Why a fetch stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("s3://{bucket}/{prefix} holds no files: is the course folder right, and has the execution written anything yet?")]
    Empty { bucket: String, prefix: String },
}

/// The ETag S3 gives an object uploaded in one part without KMS: the MD5 of its bytes, quoted.
pub(crate) fn simple_etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(bytes)))
}

/// Whether the local file at `path` already holds the object: same size and, for an ETag that
/// is an MD5 (not a multipart or KMS one), the same MD5. Any doubt downloads again.
pub(crate) fn is_current(path: &Path, object: &ObjectInfo) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    if !meta.is_file() || meta.len() != object.size {
        return false;
    }
    let etag = object.etag.trim();
    let plain_md5 = etag.trim_matches('"').len() == 32 && !etag.contains('-');
    if !plain_md5 {
        return false;
    }
    match std::fs::read(path) {
        Ok(bytes) => simple_etag(&bytes).eq_ignore_ascii_case(&format!("\"{}\"", etag.trim_matches('"'))),
        Err(_) => false,
    }
}

/// Downloads every object under `PROJECT/` (or `PROJECT/book/`) to `out/KEY`.
pub(crate) async fn fetch(
    bucket: &dyn Bucket,
    project: &str,
    out: &Path,
    book_only: bool,
) -> Result<Fetched, FetchError> {
    let prefix = if book_only { format!("{project}/book/") } else { format!("{project}/") };
    let objects = bucket.list(&prefix).await?;
    let files: Vec<&ObjectInfo> = objects.iter().filter(|o| !o.key.ends_with('/')).collect();
    if files.is_empty() {
        return Err(FetchError::Empty { bucket: bucket.name().to_string(), prefix });
    }
    let mut done = Fetched::default();
    for object in files {
        // Keys become local paths: only safe, relative keys inside the course folder.
        if coursegen_core::keys::validate_key(&object.key).is_err() || !object.key.starts_with(&prefix) {
            tracing::warn!(key = %object.key, "skipped: not a safe relative key");
            continue;
        }
        let path = out.join(&object.key);
        if is_current(&path, object) {
            done.skipped += 1;
            continue;
        }
        let body = bucket.get(&object.key).await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| FetchError::Write { path: dir.to_path_buf(), source })?;
        }
        // Write beside and rename, so an interrupted fetch never leaves a half file behind.
        let partial = path.with_extension("fetch-partial");
        std::fs::write(&partial, &body).map_err(|source| FetchError::Write { path: partial.clone(), source })?;
        std::fs::rename(&partial, &path).map_err(|source| FetchError::Write { path: path.clone(), source })?;
        done.downloaded += 1;
        done.bytes += body.len() as u64;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::api::ApiResult;
    use async_trait::async_trait;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    struct Objects {
        files: BTreeMap<String, Vec<u8>>,
        gets: Mutex<Vec<String>>,
    }

    impl Objects {
        fn new(files: &[(&str, &str)]) -> Self {
            Self {
                files: files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
                gets: Mutex::new(vec![]),
            }
        }
    }

    #[async_trait]
    impl Bucket for Objects {
        fn name(&self) -> &str {
            "course-bucket"
        }
        async fn put(&self, _k: &str, _b: Vec<u8>, _c: &str) -> ApiResult<()> {
            unreachable!()
        }
        async fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectInfo>> {
            Ok(self
                .files
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| ObjectInfo { key: k.clone(), etag: simple_etag(v), size: v.len() as u64 })
                .collect())
        }
        async fn get(&self, key: &str) -> ApiResult<Vec<u8>> {
            self.gets.lock().unwrap().push(key.to_string());
            Ok(self.files[key].clone())
        }
    }

    #[test]
    fn the_etag_of_a_single_part_upload_is_the_quoted_md5() {
        // The documented MD5 of the empty string.
        assert_eq!(simple_etag(b""), "\"d41d8cd98f00b204e9800998ecf8427e\"");
    }

    #[test]
    fn a_local_file_is_current_only_with_the_same_size_and_md5_etag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let object = |etag: String, size| ObjectInfo { key: "p/f".into(), etag, size };
        assert!(is_current(&path, &object(simple_etag(b"hello"), 5)));
        assert!(is_current(&path, &object(simple_etag(b"hello").to_uppercase().replace('"', ""), 5)));
        assert!(!is_current(&path, &object(simple_etag(b"hellO"), 5)), "same size, other bytes");
        assert!(!is_current(&path, &object(simple_etag(b"hello"), 6)));
        assert!(!is_current(&path, &object("\"0123456789abcdef0123456789abcdef-2\"".into(), 5)), "multipart: unknown");
        assert!(!is_current(&dir.path().join("missing"), &object(simple_etag(b"hello"), 5)));
    }

    #[tokio::test]
    async fn fetch_lays_out_the_course_folder_and_downloads_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Objects::new(&[
            ("course/book/index.html", "<html>"),
            ("course/book/manifest.json", "{}"),
            ("course/lessons/module-01/lesson-01-a.md", "# A"),
            ("other/book/index.html", "not this course"),
        ]);
        let first = fetch(&bucket, "course", dir.path(), false).await.unwrap();
        assert_eq!(first, Fetched { downloaded: 3, skipped: 0, bytes: 11 });
        assert_eq!(std::fs::read_to_string(dir.path().join("course/lessons/module-01/lesson-01-a.md")).unwrap(), "# A");
        assert!(!dir.path().join("other").exists());

        std::fs::write(dir.path().join("course/book/manifest.json"), "{\"edited\": 1}").unwrap();
        bucket.gets.lock().unwrap().clear();
        let second = fetch(&bucket, "course", dir.path(), false).await.unwrap();
        assert_eq!((second.downloaded, second.skipped), (1, 2));
        assert_eq!(bucket.gets.lock().unwrap().as_slice(), ["course/book/manifest.json"]);
        assert_eq!(std::fs::read_to_string(dir.path().join("course/book/manifest.json")).unwrap(), "{}");

        let book = tempfile::tempdir().unwrap();
        let only = fetch(&bucket, "course", book.path(), true).await.unwrap();
        assert_eq!(only.downloaded, 2);
        assert!(!book.path().join("course/lessons").exists());

        let err = fetch(&bucket, "nothing", dir.path(), false).await.unwrap_err();
        assert!(err.to_string().contains("s3://course-bucket/nothing/ holds no files"), "{err}");
    }
}
