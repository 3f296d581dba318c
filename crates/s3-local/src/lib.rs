//! An S3-compatible server on 127.0.0.1 for tests: s3s-fs serving a temporary directory over
//! hyper. Writes are serialised so a conditional write (`If-None-Match`, `If-Match`) is atomic
//! as it is on S3; s3s-fs alone checks the condition and then writes.

use std::future::Future;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};

/// A running server; it stops and its directory is removed when dropped.
pub struct LocalS3 {
    endpoint: String,
    bucket: String,
    root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalS3 {
    /// Start a server with one bucket, accepting only the given (fake) credentials.
    pub async fn start(bucket: &str, access_key: &str, secret_key: &str) -> std::io::Result<Self> {
        let root = tempfile::tempdir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(serve(
            listener,
            root.path().to_path_buf(),
            bucket.to_string(),
            Credentials { access_key: access_key.to_string(), secret_key: secret_key.to_string() },
        )?);
        Ok(Self { endpoint, bucket: bucket.to_string(), root, task })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_S3` or a client's endpoint (path-style).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket it serves.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The directory behind the bucket (objects are files below `root/bucket/`).
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// The one access key the server accepts (requests are SigV4-checked against it).
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

/// Serves `root` as an S3 endpoint on `listener`: objects of `bucket` are files below
/// `root/bucket/` (the folder is created). The returned future runs until it is dropped.
pub fn serve(
    listener: tokio::net::TcpListener,
    root: PathBuf,
    bucket: String,
    credentials: Credentials,
) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    std::fs::create_dir_all(root.join(&bucket))?;
    let fs = s3s_fs::FileSystem::new(&root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut builder = s3s::service::S3ServiceBuilder::new(AtomicWrites { fs, writes: tokio::sync::Mutex::new(()) });
    builder.set_auth(s3s::auth::SimpleAuth::from_single(credentials.access_key, credentials.secret_key));
    let service = builder.build();
    Ok(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    })
}

/// s3s-fs with writes and deletes serialised.
struct AtomicWrites {
    fs: s3s_fs::FileSystem,
    writes: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl S3 for AtomicWrites {
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let _guard = self.writes.lock().await;
        self.fs.put_object(req).await
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let _guard = self.writes.lock().await;
        self.fs.delete_object(req).await
    }
}
