//! A flow-log file, wherever it lies: on disk, or an object in S3. Either opens as a byte
//! stream the scanner reads; S3 objects stream from their body as they are read, so memory
//! stays flat whatever their size.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::runtime::Handle;

use crate::aws::AwsError;

/// An object in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// A flow-log file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    Local(PathBuf),
    S3(Object),
}

impl Blob {
    /// The name messages give it: the path, or `s3://bucket/key`.
    pub fn name(&self) -> String {
        match self {
            Blob::Local(p) => p.display().to_string(),
            Blob::S3(o) => format!("s3://{}/{}", o.bucket, o.key),
        }
    }

    /// The file or object name, for telling formats apart by their extension.
    pub fn file_name(&self) -> &str {
        match self {
            Blob::Local(p) => p.file_name().and_then(|n| n.to_str()).unwrap_or(""),
            Blob::S3(o) => o.key.rsplit('/').next().unwrap_or(""),
        }
    }

    pub fn local(&self) -> Option<&PathBuf> {
        match self {
            Blob::Local(p) => Some(p),
            Blob::S3(_) => None,
        }
    }
}

/// Why an object could not be read: a gap in the evidence (the object), or the evidence out of
/// reach altogether (access, KMS, throttling): then no check can be judged.
#[derive(Debug, Clone)]
pub enum OpenError {
    Gap(String),
    Fatal(AwsError),
}

/// What opens S3 objects: the client, and the runtime its calls run on (the scanner reads on
/// plain threads).
#[derive(Clone)]
pub struct Fetcher {
    pub client: aws_sdk_s3::Client,
    pub handle: Handle,
}

impl Fetcher {
    /// The object's body as a byte stream; the request is made now.
    pub fn open(&self, o: &Object) -> Result<Box<dyn Read + Send>, OpenError> {
        let sent = self.handle.block_on(
            self.client
                .get_object()
                .bucket(&o.bucket)
                .key(&o.key)
                .send(),
        );
        match sent {
            Ok(out) => Ok(Box::new(Body {
                stream: out.body,
                handle: self.handle.clone(),
                chunk: Bytes::new(),
            })),
            Err(e) => {
                let e = AwsError::of("s3:GetObject", &e);
                match e.kind {
                    crate::aws::error::Kind::AccessDenied
                    | crate::aws::error::Kind::Kms
                    | crate::aws::error::Kind::Throttled
                    | crate::aws::error::Kind::NoCredentials
                    | crate::aws::error::Kind::NoRegion => Err(OpenError::Fatal(e)),
                    _ => Err(OpenError::Gap(format!("cannot fetch: {e}"))),
                }
            }
        }
    }
}

/// An object body read as it arrives.
struct Body {
    stream: ByteStream,
    handle: Handle,
    chunk: Bytes,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.try_next()) {
                Ok(Some(c)) => self.chunk = c,
                Ok(None) => return Ok(0),
                Err(e) => {
                    return Err(std::io::Error::other(format!(
                        "the object's body broke off: {e}"
                    )));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

/// Opens a local file.
pub fn open_local(path: &PathBuf) -> Result<Box<dyn Read + Send>, String> {
    File::open(path)
        .map(|f| Box::new(f) as Box<dyn Read + Send>)
        .map_err(|e| format!("cannot open: {e}"))
}
