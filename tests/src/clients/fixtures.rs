//! Content made locally (this machine reaches no public registry): a tar with one file for
//! `docker import`/`podman import`, a multi-platform OCI image layout built by hand, and a
//! Helm chart directory.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::process::sha256_digest;

/// A ustar archive of regular files (name, contents), mode 0644, mtime 0, owner 0.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, contents) in files {
        assert!(name.len() < 100, "short names only");
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |h: &mut [u8; 512], at: usize, width: usize, value: u64| {
            let s = format!("{value:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, 0o644); // mode
        octal(&mut h, 108, 8, 0); // uid
        octal(&mut h, 116, 8, 0); // gid
        octal(&mut h, 124, 12, contents.len() as u64); // size
        octal(&mut h, 136, 12, 0); // mtime
        h[148..156].copy_from_slice(b"        "); // checksum placeholder
        h[156] = b'0'; // regular file
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(contents);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Writes a tar with one file, `hello.txt` (contents unique per call), for `docker import`.
pub fn single_file_tar(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("rootfs.tar");
    let text = format!("hello from wharf e2e {}\n", uuid::Uuid::new_v4());
    std::fs::write(&path, tar(&[("hello.txt", text.as_bytes())])).unwrap();
    path
}

/// A multi-platform image as an OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct MultiPlatform {
    /// The layout directory (`oci:<dir>:<tag>` for skopeo).
    pub dir: PathBuf,
    /// Tag inside the layout (`org.opencontainers.image.ref.name`).
    pub tag: String,
    /// Digest of the index.
    pub index_digest: String,
    /// The index bytes.
    pub index: Vec<u8>,
    /// (`os/architecture`, manifest digest) per platform.
    pub manifests: Vec<(String, String)>,
}

/// Builds an OCI image layout holding an index of two single-layer images, linux/amd64 and
/// linux/arm64 (uncompressed tar layers, so the layer digest is the diff id). The layer
/// contents are unique per call, so no blob already exists in a registry.
pub fn multi_platform_layout(dir: &Path, tag: &str) -> MultiPlatform {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> serde_json::Value {
        let digest = sha256_digest(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        json!({"digest": digest, "size": bytes.len()})
    };
    let run_id = uuid::Uuid::new_v4();
    let mut children = Vec::new();
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let text = format!("{arch} build {run_id}\n");
        let layer = tar(&[("platform.txt", text.as_bytes())]);
        let layer_desc = put(&layer);
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }))
        .unwrap();
        let config_desc = put(&config);
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_desc["digest"],
                "size": config_desc["size"],
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_desc["digest"],
                "size": layer_desc["size"],
            }],
        }))
        .unwrap();
        let m = put(&manifest);
        manifests.push((format!("linux/{arch}"), m["digest"].as_str().unwrap().to_owned()));
        children.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m["digest"],
            "size": m["size"],
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children,
    }))
    .unwrap();
    let index_desc = put(&index);
    let layout_index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_desc["digest"],
            "size": index_desc["size"],
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&layout_index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    MultiPlatform {
        dir: dir.to_path_buf(),
        tag: tag.to_owned(),
        index_digest: index_desc["digest"].as_str().unwrap().to_owned(),
        index,
        manifests,
    }
}

/// Reads the descriptor of `tag` from an OCI layout's `index.json`.
pub fn layout_descriptor(dir: &Path, tag: &str) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {index}"))
        .clone()
}

/// Reads a blob from an OCI layout.
pub fn layout_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').unwrap();
    std::fs::read(dir.join("blobs").join(alg).join(hex)).unwrap()
}

/// Writes a minimal Helm chart directory `<dir>/<name>` with `version`.
pub fn helm_chart(dir: &Path, name: &str, version: &str) -> PathBuf {
    let chart = dir.join(name);
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n\
             description: Wharf end-to-end test chart\ntype: application\n"
        ),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "greeting: hello\n").unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n\
         data:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    .unwrap();
    chart
}
