//! The reference registry: CNCF distribution 2.8 (Debian's `docker-registry`), started as a
//! child with a `config.yml` written to the scratch directory. Filesystem storage with the
//! in-memory blob descriptor cache (as Debian's own config has it), access log off, errors
//! only; either without authentication or with htpasswd basic auth (a bcrypt entry of cost 5,
//! what `htpasswd -B` writes; distribution verifies it on every request, caching nothing).

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::Context;

use crate::procs::{self, Daemon};

#[derive(Debug)]
pub struct Distribution {
    daemon: Daemon,
    url: String,
}

/// A user and password for htpasswd basic auth.
pub struct Htpasswd<'a> {
    pub user: &'a str,
    pub password: &'a str,
}

impl Distribution {
    /// Starts `docker-registry serve` with its config in `dir`, blobs under `root` (two
    /// instances may share one root: its filesystem layout is the whole state).
    pub async fn start(
        binary: &Path,
        dir: &Path,
        root: &Path,
        htpasswd: Option<Htpasswd<'_>>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::create_dir_all(root)?;
        let port = procs::free_port()?;
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  cache:\n    \
             blobdescriptor: inmemory\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            root = root.display(),
        );
        if let Some(Htpasswd { user, password }) = htpasswd {
            let entry = bcrypt::hash(password, 5).context("bcrypt")?;
            let file = dir.join("htpasswd");
            std::fs::write(&file, format!("{user}:{entry}\n"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wharf-bench\n    path: {}\n",
                file.display()
            ));
        }
        let config_file = dir.join("config.yml");
        std::fs::write(&config_file, config)?;
        let url = format!("http://127.0.0.1:{port}");
        let mut daemon = Daemon::spawn(
            "docker-registry",
            Command::new(binary)
                .arg("serve")
                .arg(&config_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        daemon.wait_until_answering(&format!("{url}/v2/")).await?;
        Ok(Self { daemon, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }
}
