//! The blob store as the application layer reads it ([`BlobSource`]: air-gap bundles).

use std::sync::Arc;

use futures_util::{FutureExt as _, StreamExt as _, TryStreamExt as _, future::BoxFuture};
use wharf_app::export::{BlobRead, BlobSource};
use wharf_storage::{BlobKey, BlobStore, DigestAlgorithm};

/// Reads sha256 blobs from a [`BlobStore`].
#[derive(Debug, Clone)]
pub struct StoreBlobs(pub Arc<dyn BlobStore>);

impl BlobSource for StoreBlobs {
    fn open<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, std::io::Result<BlobRead>> {
        async move {
            let key = BlobKey::new(DigestAlgorithm::Sha256, hex).map_err(std::io::Error::other)?;
            let read = self.0.get(&key, None).await.map_err(std::io::Error::other)?;
            Ok(BlobRead {
                size: read.size,
                stream: read.stream.map_err(std::io::Error::other).boxed(),
            })
        }
        .boxed()
    }
}
