//! The static files under `web/static`, embedded in the binary (debug and release alike)
//! and served at names that carry a hash of their content, `/static/{stem}.{hash}.{ext}`,
//! with a one-year immutable cache lifetime: a new build with a changed file gets a new URL.
//!
//! Four files do not need a crate for this (memory-serve was the alternative): the table
//! below is the list, the hash is computed once at first use. Templates ask
//! [`url`] for a file's current address.

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sha2::{Digest as _, Sha256};

/// A file served under `/static/`.
#[derive(Debug)]
struct Asset {
    /// The name templates ask for.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "pico.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../web/static/css/pico-2.1.1.min.css"),
    },
    Asset {
        name: "wharf.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../web/static/css/wharf.css"),
    },
    Asset {
        name: "htmx.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../web/static/js/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "wharf.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../web/static/js/wharf.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../../web/static/img/favicon.svg"),
    },
];

struct Table {
    /// name → `/static/{stem}.{hash}.{ext}`
    urls: HashMap<&'static str, String>,
    /// `{stem}.{hash}.{ext}` → file
    served: HashMap<String, &'static Asset>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut urls = HashMap::new();
    let mut served = HashMap::new();
    for asset in FILES {
        let hash = hex::encode(&Sha256::digest(asset.bytes)[..6]);
        let (stem, ext) = asset.name.rsplit_once('.').unwrap_or((asset.name, ""));
        let file = format!("{stem}.{hash}.{ext}");
        urls.insert(asset.name, format!("/static/{file}"));
        served.insert(file, asset);
    }
    Table { urls, served }
});

/// The current URL of static file `name` (`pico.css`, `wharf.css`, `htmx.js`, `wharf.js`,
/// `favicon.svg`).
pub fn url(name: &str) -> &'static str {
    TABLE.urls.get(name).map_or("/static/missing", String::as_str)
}

/// `GET /static/{file}`.
pub fn router() -> Router {
    Router::new().route("/static/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = TABLE.served.get(&file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_hashed_url() {
        for asset in FILES {
            let url = url(asset.name);
            assert!(url.starts_with("/static/") && url.len() > asset.name.len() + 9, "{url}");
            assert!(TABLE.served.contains_key(&url["/static/".len()..]));
        }
        assert_eq!(url("nope.css"), "/static/missing");
    }

    /// Our stylesheet's blocks all close where they should: an unclosed rule or `@media`
    /// swallows every rule after it without any error (it once hid a third of the sheet).
    /// Comments aside, every block opens at depth 0, or at depth 1 inside an at-rule.
    #[test]
    fn the_stylesheet_closes_every_block() {
        let file = FILES.iter().find(|a| a.name == "wharf.css").unwrap();
        let css = std::str::from_utf8(file.bytes).unwrap();
        let (mut depth, mut in_at_rule, mut rest) = (0_usize, false, css);
        let mut line = 1;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("/*") {
                let end = after.find("*/").expect("a comment is closed");
                line += after[..end].matches('\n').count();
                rest = &after[end + 2..];
                continue;
            }
            match c {
                '\n' => line += 1,
                '{' => {
                    let selector = css[..css.len() - rest.len()].rsplit(['{', '}', ';']).next();
                    let selector = selector.and_then(|s| s.rsplit("*/").next());
                    let at_rule = selector.is_some_and(|s| s.trim_start().starts_with('@'));
                    assert!(
                        depth == 0 || (depth == 1 && in_at_rule && !at_rule),
                        "a block opens inside another at line {line}"
                    );
                    if depth == 0 {
                        in_at_rule = at_rule;
                    }
                    depth += 1;
                }
                '}' => depth = depth.checked_sub(1).expect("a stray closing brace"),
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
        }
        assert_eq!(depth, 0, "blocks left open at the end");
    }
}
