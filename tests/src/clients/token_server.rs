//! A minimal Docker token service for the reference registry, so the clients' token flows
//! (what Wharf speaks) are proved before Wharf's own `/token` exists.
//!
//! It runs on a thread of the test process (nothing to leak), checks Basic credentials
//! against one user who holds every right, and answers `GET /token?service=…&scope=…` with
//! `{"token": <JWT>}`. Like Wharf's token service, it grants on each requested repository
//! every action the user holds (`pull,push,delete`), not only the ones asked for: oras-py
//! reuses its first token for every request and re-authenticates only after a 403, while
//! distribution answers an insufficient scope with 401 — so a push that starts with a
//! pull-scoped HEAD would otherwise fail. The JWT is signed with ES256 and carries its
//! self-signed certificate in `x5c`, which distribution verifies against its
//! `rootcertbundle`. The key and certificate are made with the `openssl` CLI.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use serde_json::json;

use super::process::must;

/// `service` in the registry's challenge and the token's `aud`.
pub const SERVICE: &str = "wharf-e2e-registry";
/// The token's `iss`.
pub const ISSUER: &str = "wharf-e2e-token";

/// A running token service, stopped when dropped.
#[derive(Debug)]
pub struct TokenServer {
    /// `http://127.0.0.1:PORT/token`.
    pub realm: String,
    /// PEM certificate the registry must trust (`rootcertbundle`).
    pub cert_pem: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Makes a key and certificate under `dir` and starts serving `user`/`password`.
    pub fn start(dir: &Path, user: &str, password: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let (key_pem, cert_pem) = (dir.join("token.key"), dir.join("token.crt"));
        must(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
                .args(["-subj", "/CN=wharf-e2e-token", "-keyout"])
                .arg(&key_pem)
                .arg("-out")
                .arg(&cert_pem),
        );
        let key_der = dir.join("token.key.der");
        must(
            Command::new("openssl")
                .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
                .arg(&key_pem)
                .arg("-out")
                .arg(&key_der),
        );
        let cert_der = dir.join("token.crt.der");
        must(
            Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert_pem)
                .arg("-out")
                .arg(&cert_der),
        );
        let signer = Signer {
            key: jsonwebtoken::EncodingKey::from_ec_der(&std::fs::read(&key_der).unwrap()),
            x5c: base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(&cert_der).unwrap()),
            basic: base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => signer.serve(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { realm, cert_pem, stop, thread: Some(thread) }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

struct Signer {
    key: jsonwebtoken::EncodingKey,
    x5c: String,
    basic: String,
}

impl Signer {
    fn serve(&self, mut stream: TcpStream) {
        stream.set_nonblocking(false).ok();
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let (status, body) = self.answer(&head);
        let reason = if status == 200 { "OK" } else { "Unauthorized" };
        let _ = write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn answer(&self, head: &str) -> (u16, String) {
        let target = head.split_whitespace().nth(1).unwrap_or_default();
        let authorized = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("authorization")
                    && v.trim() == format!("Basic {}", self.basic)
            })
        });
        if !authorized {
            return (401, json!({"errors": [{"code": "UNAUTHORIZED"}]}).to_string());
        }
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let mut access = Vec::new();
        for (k, scope) in url::form_urlencoded::parse(query.as_bytes()) {
            if k != "scope" {
                continue;
            }
            for one in scope.split(' ') {
                if let Some((rest, actions)) = one.rsplit_once(':')
                    && let Some((kind, name)) = rest.split_once(':')
                {
                    // Everything held, whatever was asked (see the module docs).
                    let actions: Vec<&str> = if kind == "repository" {
                        vec!["pull", "push", "delete"]
                    } else {
                        actions.split(',').collect()
                    };
                    access.push(json!({"type": kind, "name": name, "actions": actions}));
                }
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let claims = json!({
            "iss": ISSUER,
            "sub": "e2e",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "access": access,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.x5c = Some(vec![self.x5c.clone()]);
        let token = jsonwebtoken::encode(&header, &claims, &self.key).unwrap();
        (200, json!({"token": token, "access_token": token, "expires_in": 300}).to_string())
    }
}
