//! nginx serving the same manifest bytes and blob files as static files, the ceiling for
//! pulls: a child `nginx -g 'daemon off;'` with a config generated in the scratch directory
//! (a worker per core, `sendfile on`, `tcp_nopush on`, access log off, keep-alive without a
//! request limit, as the registries have none), files laid out under the same `/v2/...`
//! paths a registry answers.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use crate::procs::{self, Daemon};

#[derive(Debug)]
pub struct Nginx {
    _daemon: Daemon,
    url: String,
    root: PathBuf,
}

/// The nginx binary: on PATH, else Debian's `/usr/sbin/nginx`.
pub fn find() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file());
    match on_path.or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file())) {
        Some(path) => Ok(path),
        None => bail!("nginx is not installed (apt-get install nginx, or `just bench-tools`)"),
    }
}

impl Nginx {
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Self> {
        let root = dir.join("root");
        let temp = dir.join("temp");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&temp)?;
        let port = procs::free_port()?;
        let (d, t) = (dir.display(), temp.display());
        let config = format!(
            "worker_processes auto;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log error;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 sendfile on;\n\
             \x20 tcp_nopush on;\n\
             \x20 keepalive_requests 100000000;\n\
             \x20 keepalive_timeout 300s;\n\
             \x20 client_body_temp_path {t}/body;\n\
             \x20 proxy_temp_path {t}/proxy;\n\
             \x20 fastcgi_temp_path {t}/fastcgi;\n\
             \x20 uwsgi_temp_path {t}/uwsgi;\n\
             \x20 scgi_temp_path {t}/scgi;\n\
             \x20 types {{ }}\n\
             \x20 default_type application/octet-stream;\n\
             \x20 server {{\n\
             \x20   listen 127.0.0.1:{port};\n\
             \x20   root {root};\n\
             \x20   location ~ /manifests/ {{ default_type application/vnd.oci.image.manifest.v1+json; }}\n\
             \x20 }}\n\
             }}\n",
            root = root.display(),
        );
        let config_file = dir.join("nginx.conf");
        std::fs::write(&config_file, config)?;
        let url = format!("http://127.0.0.1:{port}");
        let mut daemon = Daemon::spawn(
            "nginx",
            Command::new(binary)
                .arg("-c")
                .arg(&config_file)
                .arg("-p")
                .arg(dir)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        daemon.wait_until_answering(&format!("{url}/")).await?;
        Ok(Self { _daemon: daemon, url, root })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn place(&self, url_path: &str) -> anyhow::Result<PathBuf> {
        let path = self.root.join(url_path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().context("a file path")?)?;
        Ok(path)
    }

    /// Serves `bytes` at `url_path`.
    pub fn put(&self, url_path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        std::fs::write(self.place(url_path)?, bytes)?;
        Ok(())
    }

    /// Serves the file at `file` at `url_path` (a hard link: the same bytes, no copy).
    pub fn link(&self, url_path: &str, file: &Path) -> anyhow::Result<()> {
        std::fs::hard_link(file, self.place(url_path)?)?;
        Ok(())
    }
}
