//! The house: the whole router `wharf serve` listens on — health, `/token`, `/api/v1`, the
//! pages and `/v2` — built in this process over a fresh database and a blob directory of its
//! own, and driven with `tower::ServiceExt::oneshot`: no socket, no child process.
//!
//! For tests that need no real client and no real network: a request goes through exactly
//! the layers and handlers of the binary (`wharf_server::serve::wire`), and the application
//! behind them (`TestApp::app`) can be reached directly for set-up and checks. A cookie jar
//! carries `Set-Cookie` from one answer to the next request, as a browser would, for the
//! pages. Tests that drive docker, podman, skopeo, helm or oras keep the real binary
//! ([`crate::Wharf`]).

use std::{collections::BTreeMap, net::SocketAddr, sync::Mutex};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header},
};
use clap::Parser as _;
use http_body_util::BodyExt as _;
use tempfile::TempDir;
use tower::ServiceExt as _;
use wharf_app::{App, BackgroundTasks};
use wharf_db::PgPool;
use wharf_server::{
    cli::{Cli, Command},
    serve::{Wired, wire},
};

/// The public URL the house answers as.
pub const PUBLIC_URL: &str = "http://wharf.test";

/// `wharf serve`'s router in process, with its application.
#[derive(Debug)]
pub struct TestApp {
    router: Router,
    /// The application behind every front door.
    pub app: App,
    /// Its database.
    pub pool: PgPool,
    /// The database's URL (for `wharf admin` and other processes).
    pub database_url: String,
    background: Option<BackgroundTasks>,
    cookies: Mutex<BTreeMap<String, String>>,
    peer: SocketAddr,
    _data: TempDir,
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// The house on a fresh database, configured like `wharf serve` with its defaults.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The house with extra `wharf serve` flags (`--usage-events off`, ...).
    pub async fn start_with(flags: &[&str]) -> Self {
        let database_url = crate::fresh_database().await;
        let pool = PgPool::connect(&database_url).await.expect("connect to the test database");
        wharf_db::migrate(&pool).await.expect("migrations");
        let data = tempfile::tempdir().expect("a data directory");
        let data_dir = data.path().to_string_lossy().into_owned();
        let mut argv = vec!["wharf", "serve", "--data-dir", &data_dir];
        if !flags.contains(&"--public-url") {
            argv.extend_from_slice(&["--public-url", PUBLIC_URL]);
        }
        argv.extend_from_slice(flags);
        let Command::Serve(args) = Cli::try_parse_from(argv).expect("serve flags").command else {
            panic!("`wharf serve` parses as the serve command");
        };
        let storage = args.storage_config().expect("storage flags");
        if let wharf_storage::StorageConfig::Fs(fs) = &storage {
            std::fs::create_dir_all(&fs.root).expect("the blob directory");
        }
        let blobs = wharf_storage::open(storage).await.expect("the blob store");
        let Wired { router, app, background } =
            wire(&args, pool.clone(), blobs).await.expect("wiring");
        // Like a server that answers `/readyz`: the views behind bearer tokens are loaded.
        let started = std::time::Instant::now();
        while !app.credentials.views_synced() {
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "views never synced");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Self {
            router,
            app,
            pool,
            database_url,
            background: Some(background),
            cookies: Mutex::new(BTreeMap::new()),
            peer: SocketAddr::from(([192, 0, 2, 10], 40000)),
            _data: data,
        }
    }

    /// The router (`wharf serve`'s).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Sends `request` through the router, as from one client address, with the cookies
    /// collected so far; keeps the cookies the answer sets.
    pub async fn send(&self, mut request: Request<Body>) -> TestResponse {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let cookie = {
            let jar = self.cookies.lock().expect("the cookie jar");
            jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
        };
        if !cookie.is_empty() && !request.headers().contains_key(header::COOKIE) {
            request
                .headers_mut()
                .insert(header::COOKIE, HeaderValue::from_str(&cookie).expect("cookie text"));
        }
        let response = self.router.clone().oneshot(request).await.expect("infallible router");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the body").to_bytes();
        let mut jar = self.cookies.lock().expect("the cookie jar");
        for set in parts.headers.get_all(header::SET_COOKIE) {
            let Some((pair, _attributes)) =
                set.to_str().ok().map(|s| s.split_once(';').unwrap_or((s, "")))
            else {
                continue;
            };
            if let Some((name, value)) = pair.split_once('=') {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        TestResponse { status: parts.status, headers: parts.headers, body }
    }

    /// A request with an optional `Authorization` value and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("a request")).await
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None, None).await
    }

    /// Writes what the background writers hold (usage, audit, last use) and stops them.
    pub async fn flush(&mut self) {
        if let Some(background) = self.background.take() {
            background.shutdown(std::time::Duration::from_secs(10)).await;
        }
    }
}

/// The form token in a page's HTML (`name="csrf" value="…"`); panics if there is none.
pub fn form_token(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form token in the page") + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_owned()
}

/// A browser's view of the house: the cookies it holds.
pub type Jar = BTreeMap<String, String>;

impl TestApp {
    /// The cookies held so far (one browser).
    pub fn cookies(&self) -> Jar {
        self.cookies.lock().expect("the cookie jar").clone()
    }

    /// Replaces the cookies (switch to another browser); returns the ones held before.
    pub fn use_cookies(&self, jar: Jar) -> Jar {
        std::mem::replace(&mut *self.cookies.lock().expect("the cookie jar"), jar)
    }

    /// `GET path` as the page would be asked for by a browser, with the cookies held.
    pub async fn page(&self, path: &str) -> TestResponse {
        self.get(path).await
    }

    /// The form token in a page (`name="csrf" value="…"`).
    pub fn csrf_in(page: &TestResponse) -> String {
        form_token(&String::from_utf8_lossy(&page.body))
    }

    /// POSTs a form to `path` as a same-origin browser page would (`Origin` is the house's,
    /// `Sec-Fetch-Site: same-origin`), with the cookies held.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        self.post_form_from(path, fields, Some("same-origin"), Some(PUBLIC_URL)).await
    }

    /// POSTs a form with the given `Sec-Fetch-Site` and `Origin` headers.
    pub async fn post_form_from(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        fetch_site: Option<&str>,
        origin: Option<&str>,
    ) -> TestResponse {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let body = serde_urlencoded::to_string(fields).expect("a form");
        self.send(request.body(Body::from(body)).expect("a request")).await
    }

    /// Signs in through the sign-in page; the session cookie lands in the jar.
    pub async fn sign_in(&self, email: &str, password: &str) -> TestResponse {
        let form = self.page("/sign-in").await;
        let csrf = Self::csrf_in(&form);
        self.post_form("/sign-in", &[("csrf", &csrf), ("email", email), ("password", password)])
            .await
    }
}

impl TestResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Location`.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }
}

/// A vendor organization in the house and an API token of its owner.
#[derive(Debug)]
pub struct Vendor {
    /// The organization and its owner.
    pub org: wharf_db::testing::OrgFixture,
    /// The token's id.
    pub token_id: uuid::Uuid,
    /// The token itself (`wharf_vnd_…`).
    pub token: String,
}

impl TestApp {
    /// Organization `slug` with its owner and a vendor API token of the owner's (not
    /// read-only).
    pub async fn vendor(&self, slug: &str) -> Vendor {
        let org = wharf_db::testing::org(&self.pool, slug).await;
        let owner = wharf_db::tokens::TokenOwner::Vendor { user_id: org.owner, read_only: false };
        let (token_id, token) = crate::insert_token(&self.pool, org.id, owner).await;
        Vendor { org, token_id, token }
    }

    /// Pushes a one-layer image to `repository:tag` with `authorization` (through `/v2`, as a
    /// client would: two monolithic blob uploads and a manifest PUT); returns its digest.
    pub async fn push_image(&self, authorization: &str, repository: &str, tag: &str) -> String {
        let unique = uuid::Uuid::new_v4();
        let config = format!("{{\"id\":\"{unique}\"}}").into_bytes();
        let layer = format!("layer {unique}").into_bytes();
        for blob in [&config, &layer] {
            let digest = crate::raw::digest_of(blob);
            let request = Request::post(format!("/v2/{repository}/blobs/uploads/?digest={digest}"))
                .header(header::AUTHORIZATION, authorization)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Body::from(blob.clone()))
                .expect("a request");
            let answer = self.send(request).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": crate::raw::digest_of(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": crate::raw::digest_of(&layer),
                "size": layer.len(),
            }],
        });
        let bytes = serde_json::to_vec(&manifest).expect("JSON");
        let request = Request::put(format!("/v2/{repository}/manifests/{tag}"))
            .header(header::AUTHORIZATION, authorization)
            .header(header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")
            .body(Body::from(bytes.clone()))
            .expect("a request");
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        crate::raw::digest_of(&bytes)
    }
}

/// `Basic` credentials with an access token as the password.
pub fn basic(token: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("ci:{token}")))
}

/// The password of the accounts [`TestApp::with_owner`] and [`TestApp::member_who_signs_in`]
/// make.
pub const PASSWORD: &str = "correct horse battery";

/// [`PASSWORD`], hashed as accounts store it.
fn password_hash() -> String {
    use secrecy::ExposeSecret as _;
    let hasher = wharf_auth::password::PasswordHasher::recommended().expect("a hasher");
    hasher
        .hash(&secrecy::SecretString::from(PASSWORD.to_owned()))
        .expect("a hash")
        .expose_secret()
        .to_owned()
}

impl TestApp {
    /// A house (started with `flags`) with organization `slug`, whose owner
    /// (`owner@<slug>.test`) signs in with [`PASSWORD`].
    pub async fn with_owner(flags: &[&str], slug: &str) -> (Self, wharf_db::testing::OrgFixture) {
        let house = Self::start_with(flags).await;
        let org = wharf_db::testing::org_with_password(&house.pool, slug, &password_hash()).await;
        (house, org)
    }

    /// A new account `email`, member of `org_id` with `role`, who signs in with [`PASSWORD`].
    pub async fn member_who_signs_in(
        &self,
        org_id: uuid::Uuid,
        email: &str,
        role: &str,
    ) -> uuid::Uuid {
        wharf_db::accounts::create_user(&self.pool, org_id, email, &password_hash(), role)
            .await
            .expect("a member")
            .id
    }
}
