//! A real browser for the page tests: Debian's headless Chromium driven over WebDriver
//! (`chromedriver`, `fantoccini`), with axe-core injected into pages to check accessibility.
//!
//! [`Browser::start`] runs `chromedriver --port=<free port>` as a [`Daemon`] (stopped on
//! drop, reaped by `tests/with-scratch.sh` if the test process dies) and opens one session
//! of `/usr/bin/chromium` with a fresh profile directory. Stopping chromedriver leaves
//! Chromium running, so `Drop` also stops every process using that profile, and pidfiles
//! name them for `with-scratch.sh`. Nothing is downloaded at run time:
//! `just test-tools` installs `chromium`, `chromium-driver` and axe-core
//! (`tests/browser/node_modules`). `WHARF_E2E_CHROMIUM` and `WHARF_E2E_CHROMEDRIVER`
//! override the paths.
//!
//! [`axe_violations`] runs axe-core's WCAG 2.0/2.1 A and AA rules on the current page;
//! [`assert_accessible`] fails a test that has any.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, cookies::Cookie};
use serde::Deserialize;
use tempfile::TempDir;

use crate::{
    clients::process::{Daemon, client_scratch, find_program},
    free_port, processes_mentioning,
};

/// The axe-core rule tags every page is held to.
pub const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver session, for anything the helpers here do not cover.
    pub client: Client,
    driver: Daemon,
    profile: PathBuf,
    _scratch: TempDir,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser").field("profile", &self.profile).finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1280×800). Panics with
    /// chromedriver's log if either does not come up within 30 s.
    pub async fn start() -> Self {
        let chromium = find_program("WHARF_E2E_CHROMIUM", "chromium", &["/usr/bin/chromium"]);
        let chromedriver =
            find_program("WHARF_E2E_CHROMEDRIVER", "chromedriver", &["/usr/bin/chromedriver"]);
        let scratch = client_scratch();
        let profile = scratch.path().join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}")).arg("--log-level=WARNING");
        let mut driver = Daemon::spawn("chromedriver", cmd, scratch.path(), Duration::from_secs(5));
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_for_driver(&mut driver, &webdriver).await;

        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,800".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| panic!("no Chromium session: {e}\n{}", driver.log()));
        // chromedriver leaves Chromium running when it is stopped: name Chromium's processes
        // in pidfiles too, so `tests/with-scratch.sh` stops them if this process is killed
        // before `Drop` runs (their command lines mention the profile, under the scratch
        // directory).
        for process in processes_mentioning(&profile) {
            if let Some((pid, _)) = process.split_once(':') {
                std::fs::write(
                    scratch.path().join(format!("chromium-{pid}.pid")),
                    format!("{pid}\n"),
                )
                .unwrap();
            }
        }
        Self { client, driver, profile, _scratch: scratch }
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Resizes the window (e.g. 390×844 for a phone, 1280×800 for a laptop).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Writes a PNG screenshot of the viewport to `path`.
    pub async fn screenshot_png(&self, path: &Path) {
        let png = self.client.screenshot().await.unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// The cookie `name` of the current page's origin, with its attributes (`secure()`,
    /// `http_only()`, `same_site()` (shown as `Strict`, `Lax`, `None`), `path()`,
    /// `expires()`); `None` if there is none.
    pub async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        match self.client.get_named_cookie(name).await {
            Ok(cookie) => Some(cookie),
            Err(e) if e.is_no_such_cookie() => None,
            Err(e) => panic!("cannot read cookie {name}: {e}"),
        }
    }

    /// The current page's HTML source.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Opens `url` and checks the page with axe (zero WCAG 2.1 A/AA violations).
    pub async fn visit(&self, url: &str, name: &str) {
        self.goto(url).await;
        assert_accessible(&self.client, name).await;
    }

    /// Types `text` into the field with id `id`, replacing what it held.
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(fantoccini::Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The current path and query.
    pub async fn here(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the page shows `text` (after a form post that returns to the same path).
    pub async fn wait_for_text(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !self.source().await.contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?} in:\n{}",
                self.source().await
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until the browser is at `path` (after a form post and its redirect).
    pub async fn arrive(&self, path: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let now = self.here().await;
            if now == path {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "at {now}, not {path}:\n{}",
                self.source().await
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(mut self) {
        if let Err(e) = self.client.clone().close().await {
            eprintln!("closing the Chromium session: {e}");
        }
        self.driver.stop();
    }
}

impl Drop for Browser {
    /// Stops chromedriver and any Chromium process still using this session's profile.
    fn drop(&mut self) {
        self.driver.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_mentioning(&self.profile);
            if left.is_empty() {
                break;
            }
            let signal = if Instant::now() < deadline { "-TERM" } else { "-KILL" };
            for process in &left {
                if let Some((pid, _)) = process.split_once(':') {
                    Command::new("kill").arg(signal).arg(pid).status().ok();
                }
            }
            if Instant::now() > deadline + Duration::from_secs(5) {
                eprintln!("Chromium processes left running: {left:?}");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

async fn wait_for_driver(driver: &mut Daemon, webdriver: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        driver.assert_running();
        if let Ok(r) = http.get(format!("{webdriver}/status")).send().await
            && let Ok(status) = r.json::<serde_json::Value>().await
            && status["value"]["ready"] == true
        {
            return;
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up:\n{}", driver.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The link in a mail's text part that starts with `prefix`.
pub fn link_in(text: &str, prefix: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no link {prefix}… in:\n{text}"))
        .to_owned()
}

/// A `data:text/html` URL holding `html`, for documents a test writes itself.
pub fn data_url(html: &str) -> String {
    let mut url = String::from("data:text/html;charset=utf-8,");
    for byte in html.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// One axe-core rule a page breaks.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The rule (`image-alt`, `color-contrast`, `label`, ...).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for.
    pub help: String,
    /// Where to read about it.
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// The elements that break it.
    pub nodes: Vec<ViolationNode>,
}

/// An element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    /// The element's selector(s).
    pub target: serde_json::Value,
    /// Its HTML (abridged by axe).
    pub html: String,
    /// What to fix.
    #[serde(rename = "failureSummary")]
    pub failure_summary: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let impact = self.impact.as_deref().unwrap_or("?");
        writeln!(f, "{} ({impact}): {} <{}>", self.id, self.help, self.help_url)?;
        for node in &self.nodes {
            writeln!(f, "    {}  {}", node.target, node.html)?;
        }
        Ok(())
    }
}

/// axe-core's source, from `tests/browser/node_modules` (`just test-tools`).
fn axe_source() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (install it: `just browser-tools`)", path.display()))
}

/// Runs axe-core's WCAG 2.0/2.1 A and AA rules ([`WCAG_TAGS`]) on the current page and
/// returns what they find.
pub async fn axe_violations(client: &Client) -> Vec<Violation> {
    // A page still navigating (a form answered after the old page already showed the text
    // waited for) can drop axe between injecting it and running it: inject again and retry.
    let script = "
        const done = arguments[arguments.length - 1];
        if (typeof window.axe !== 'object') { done(JSON.stringify({ missing: true })); return; }
        window.axe
            .run(document, { runOnly: { type: 'tag', values: arguments[0] } })
            .then((r) => done(JSON.stringify({ violations: r.violations })))
            .catch((e) => done(JSON.stringify({ error: String(e) })));";
    let mut attempts = 0;
    let answer = loop {
        let loaded =
            client.execute("return typeof window.axe === 'object';", vec![]).await.unwrap();
        if loaded != serde_json::Value::Bool(true) {
            client.execute(&axe_source(), vec![]).await.expect("axe-core injected");
        }
        let answer = client
            .execute_async(script, vec![serde_json::json!(WCAG_TAGS)])
            .await
            .expect("axe.run answered");
        let answer: serde_json::Value =
            serde_json::from_str(answer.as_str().expect("a JSON string")).unwrap();
        attempts += 1;
        if answer.get("missing").is_none() || attempts == 5 {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    if answer.get("missing").is_some() {
        panic!("axe-core could not be kept on the page (it kept navigating)");
    }
    if let Some(error) = answer.get("error") {
        panic!("axe.run failed: {error}");
    }
    serde_json::from_value(answer["violations"].clone()).unwrap()
}

/// Panics, listing every violation, if axe-core finds any on the current page.
pub async fn assert_accessible(client: &Client, page_name: &str) {
    let violations = axe_violations(client).await;
    if !violations.is_empty() {
        let list: String = violations.iter().map(ToString::to_string).collect();
        panic!("{page_name}: {} accessibility violation(s):\n{list}", violations.len());
    }
}
