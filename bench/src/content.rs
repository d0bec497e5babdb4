//! What `wharf-bench compare` loads into every registry: random bytes from a fast generator
//! (never the same twice within a run unless asked), blob files written once per scratch
//! directory with their sha256 computed while writing, and the OCI image manifests that
//! reference them. Pure data: nothing here talks to a server.

use std::{
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context;
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const MIB: usize = 1 << 20;
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// SplitMix64: several GB/s, plenty random for content a registry only hashes and stores.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, len: usize) -> Bytes {
        let mut buf = vec![0; len];
        self.fill(&mut buf);
        Bytes::from(buf)
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A blob in memory with its digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Bytes,
    pub digest: String,
}

impl Blob {
    pub fn new(bytes: Bytes) -> Self {
        let digest = digest(&bytes);
        Self { bytes, digest }
    }

    pub fn random(prng: &mut Prng, len: usize) -> Self {
        Self::new(prng.bytes(len))
    }
}

/// A blob on disk (too large to hold in memory), with its digest.
#[derive(Debug, Clone)]
pub struct BlobFile {
    pub path: PathBuf,
    pub size: u64,
    pub digest: String,
}

/// Writes `mib` MiB of random bytes to `path`, hashing as it goes.
pub fn write_blob_file(path: &Path, mib: usize, prng: &mut Prng) -> anyhow::Result<BlobFile> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 8 * MIB];
    let mut left = mib * MIB;
    while left > 0 {
        let n = left.min(buf.len());
        prng.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
        left -= n;
    }
    file.sync_all()?;
    Ok(BlobFile {
        path: path.to_owned(),
        size: u64::try_from(mib * MIB)?,
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
    })
}

/// An OCI image manifest over `config` and `layers` (digest, size), with annotations that
/// make it distinct; serialised once so that every registry gets the same bytes.
pub fn image_manifest(
    config: (&str, u64),
    layers: &[(&str, u64)],
    annotations: &[(&str, &str)],
) -> anyhow::Result<Blob> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": LAYER_TYPE, "digest": digest, "size": size,
        })).collect::<Vec<_>>(),
        "annotations": annotations.iter().map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>(),
    });
    Ok(Blob::new(Bytes::from(serde_json::to_vec(&manifest)?)))
}

/// An image config (what registries store as just another blob).
pub fn image_config(layers: &[&str]) -> anyhow::Result<Blob> {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.title": "wharf-bench"}},
        "rootfs": {"type": "layers", "diff_ids": layers},
    });
    Ok(Blob::new(Bytes::from(serde_json::to_vec(&config)?)))
}

/// Single-core sha256 rate in MB/s (10^6 bytes) over a 256 MiB buffer, with the `sha2` crate
/// Wharf itself uses: what one upload stream costs a server at the very least.
pub fn sha256_rate(prng: &mut Prng) -> f64 {
    let buf = prng.bytes(256 * MIB);
    let start = std::time::Instant::now();
    let mut rounds = 0u32;
    while rounds < 2 || start.elapsed().as_secs_f64() < 1.0 {
        std::hint::black_box(Sha256::digest(&buf));
        rounds += 1;
    }
    f64::from(rounds) * buf.len() as f64 / start.elapsed().as_secs_f64() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_seeded_and_distinct() {
        let a = Prng::new(1).bytes(100);
        assert_eq!(a, Prng::new(1).bytes(100));
        assert_ne!(a, Prng::new(2).bytes(100));
    }

    #[test]
    fn blob_file_digest_is_that_of_its_bytes() {
        let dir = std::env::temp_dir().join(format!("wharf-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = write_blob_file(&dir.join("b"), 1, &mut Prng::new(7)).unwrap();
        let bytes = std::fs::read(&file.path).unwrap();
        assert_eq!(file.size, 1 << 20);
        assert_eq!(file.digest, digest(&bytes));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
