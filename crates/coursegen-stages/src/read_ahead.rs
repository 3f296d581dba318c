//! A read-ahead view of a blob store. BookBuilder reads a few objects for every lesson and
//! picture of the course (the lesson, its sidecar, its quiz, each picture, its sidecar, its
//! prompt): one after another that is a round trip each (an S3 request in the Lambda, a file
//! read on the blocking pool locally), hundreds for a large course. The keys it will need are
//! known in two steps (the lessons name their pictures), so they are read concurrently up front
//! and each is then served from memory once; anything else goes to the store.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use coursegen_core::{BlobStore, StageResult};
use futures::{StreamExt, TryStreamExt};

/// Reads in flight at once while reading ahead.
const READS_IN_FLIGHT: usize = 32;

/// A store whose [`BlobStore::get`] serves objects read ahead by [`ReadAhead::fetch`], each
/// once (a second read of the same key goes to the store); writes and deletes go to the store
/// and forget what was read ahead for their key.
pub(crate) struct ReadAhead<'a> {
    store: &'a dyn BlobStore,
    read: Mutex<HashMap<String, Option<Vec<u8>>>>,
}

impl<'a> ReadAhead<'a> {
    pub(crate) fn new(store: &'a dyn BlobStore) -> Self {
        Self { store, read: Mutex::new(HashMap::new()) }
    }

    /// Reads `keys` concurrently (those not already read ahead) and keeps what they hold,
    /// absent objects included.
    pub(crate) async fn fetch(&self, keys: impl IntoIterator<Item = String>) -> StageResult<()> {
        let wanted: Vec<String> = {
            let read = self.lock();
            let mut wanted: Vec<String> = keys.into_iter().filter(|k| !read.contains_key(k)).collect();
            wanted.sort();
            wanted.dedup();
            wanted
        };
        let found: Vec<(String, Option<Vec<u8>>)> = futures::stream::iter(wanted)
            .map(|key| async move {
                let body = self.store.get(&key).await?;
                Ok::<_, coursegen_core::StageError>((key, body))
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        self.lock().extend(found);
        Ok(())
    }

    /// A copy of an object read ahead, without using it up (`None` when it was not read ahead
    /// or does not exist).
    pub(crate) fn peek(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().get(key).cloned().flatten()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Vec<u8>>>> {
        // A panic while holding the lock cannot leave the map half-updated: every update is
        // one insert, remove or extend.
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl BlobStore for ReadAhead<'_> {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<()> {
        self.lock().remove(key);
        self.store.put(key, body, content_type).await
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>, content_type: &str) -> StageResult<bool> {
        self.lock().remove(key);
        self.store.put_if_absent(key, body, content_type).await
    }

    async fn get(&self, key: &str) -> StageResult<Option<Vec<u8>>> {
        let ahead = self.lock().remove(key);
        match ahead {
            Some(body) => Ok(body),
            None => self.store.get(key).await,
        }
    }

    async fn list(&self, prefix: &str) -> StageResult<Vec<String>> {
        self.store.list(prefix).await
    }

    async fn delete(&self, key: &str) -> StageResult<()> {
        self.lock().remove(key);
        self.store.delete(key).await
    }

    fn describe(&self) -> String {
        self.store.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coursegen_core::MemStore;

    #[tokio::test]
    async fn serves_what_was_read_ahead_once_then_reads_the_store() {
        let store = MemStore::new();
        store.put("p/a.md", b"one".to_vec(), "text/markdown").await.unwrap();
        let ahead = ReadAhead::new(&store);
        ahead.fetch(["p/a.md".to_string(), "p/missing.md".to_string()]).await.unwrap();
        // The store changes after the read-ahead: the first read sees what was read ahead,
        // the second the store.
        store.put("p/a.md", b"two".to_vec(), "text/markdown").await.unwrap();
        assert_eq!(ahead.peek("p/a.md").as_deref(), Some(&b"one"[..]));
        assert_eq!(ahead.get("p/a.md").await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(ahead.get("p/a.md").await.unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(ahead.get("p/missing.md").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_write_through_it_forgets_what_was_read_ahead_for_that_key() {
        let store = MemStore::new();
        store.put("p/a.md", b"one".to_vec(), "text/markdown").await.unwrap();
        let ahead = ReadAhead::new(&store);
        ahead.fetch(["p/a.md".to_string()]).await.unwrap();
        ahead.put("p/a.md", b"two".to_vec(), "text/markdown").await.unwrap();
        assert_eq!(ahead.get("p/a.md").await.unwrap().as_deref(), Some(&b"two"[..]));
        ahead.delete("p/a.md").await.unwrap();
        assert_eq!(ahead.get("p/a.md").await.unwrap(), None);
    }
}
