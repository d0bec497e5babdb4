//! The OpenAPI 3.1 description of the API, served at `GET /api/v1/openapi.json`.
//!
//! Owns the document (`openapi.json` beside this file, written by hand and embedded). It is
//! kept in step with the code by tests, not generated: the test below checks the router's
//! routes and methods against the document's paths and operations both ways, and the
//! end-to-end suite (`tests/e2e/api.rs`) validates every real response against the
//! document's schemas (required fields, no undocumented fields, types).

use axum::{
    http::{HeaderValue, header},
    response::IntoResponse,
};

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json` (no authentication needed).
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use axum::{
        body::Body,
        http::{Method, Request, StatusCode},
    };
    use tower::ServiceExt as _;

    use wharf_app::{AppSettings, credentials::AuthSettings};

    use crate::{App, router, routes};

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    fn documented() -> BTreeMap<String, BTreeSet<String>> {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(path, item)| {
                let methods = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| METHODS.contains(&k.as_str()))
                    .cloned()
                    .collect();
                (path.clone(), methods)
            })
            .collect()
    }

    /// A concrete path for a documented one.
    fn example(path: &str) -> String {
        path.replace("{id}", "0190b0c0-0000-7000-8000-000000000000")
            .replace("{user_id}", "0190b0c0-0000-7000-8000-000000000001")
            .replace("{invitation}", "0190b0c0-0000-7000-8000-000000000002")
            .replace("{name}", "vendor/charts/app")
            .replace("{tag}", "1.0.0")
            .replace("{reference}", "1.0.0")
    }

    /// Every token sent below is malformed, so a request that reaches a handler answers 401
    /// before anything is looked up.
    /// No blob store: this test reads no blob.
    #[derive(Debug)]
    struct NoBlobs;

    impl wharf_app::export::BlobSource for NoBlobs {
        fn open<'a>(
            &'a self,
            _hex: &'a str,
        ) -> futures_util::future::BoxFuture<'a, std::io::Result<wharf_app::export::BlobRead>>
        {
            Box::pin(async { Err(std::io::Error::other("no blob store in this test")) })
        }
    }

    #[sqlx::test(migrator = "wharf_db::MIGRATOR")]
    async fn the_router_serves_exactly_what_the_document_describes(pool: wharf_db::PgPool) {
        let settings = AppSettings {
            auth: AuthSettings {
                realm: "http://localhost/token".into(),
                service: "localhost".into(),
                issuer: "http://localhost".into(),
                token_lifetime: std::time::Duration::from_secs(300),
                failure_limit: 1_000,
                failure_window: std::time::Duration::from_secs(60),
            },
            accounts: Default::default(),
            usage: None,
            trusted_proxies: Default::default(),
            mail: Default::default(),
        };
        let (app, _tasks) =
            App::start(pool, std::sync::Arc::new(NoBlobs), settings, Vec::new()).await.unwrap();
        let app = router(app);
        let documented = documented();
        let served: BTreeSet<&str> =
            routes().iter().flat_map(|r| r.documented_as.iter().copied()).collect();
        let described: BTreeSet<&str> = documented.keys().map(String::as_str).collect();
        assert_eq!(served, described, "routes() and the document's paths");
        // One wildcard route serves several documented paths (repository names contain
        // slashes), so it cannot refuse a method on one of them that it serves on another:
        // the methods of a route are those documented on any of its paths.
        let route_methods = |path: &str| -> BTreeSet<String> {
            let route = routes().into_iter().find(|r| r.documented_as.contains(&path)).unwrap();
            route.documented_as.iter().flat_map(|p| documented[*p].iter().cloned()).collect()
        };

        for path in documented.keys() {
            let methods = route_methods(path);
            for method in METHODS {
                let request = Request::builder()
                    .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                    .uri(example(path))
                    .header("authorization", "Bearer wharf_vnd_x")
                    .header("content-type", "application/json")
                    .body(Body::from("{}"))
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                let status = response.status();
                if methods.contains(method) {
                    assert!(
                        status == StatusCode::UNAUTHORIZED || status == StatusCode::OK,
                        "{method} {path} is documented but answered {status}"
                    );
                } else {
                    assert_eq!(
                        status,
                        StatusCode::METHOD_NOT_ALLOWED,
                        "{method} {path} is not documented"
                    );
                    assert_eq!(response.headers()["content-type"], crate::problem::PROBLEM_JSON);
                }
            }
        }
        let unknown = Request::get("/api/v1/nothing").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(unknown).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["content-type"], crate::problem::PROBLEM_JSON);
    }

    #[test]
    fn every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let mut stack = vec![&doc];
        let mut count = 0;
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').unwrap();
                        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
                        count += 1;
                    }
                    stack.extend(map.values());
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        assert!(count > 20);
    }
}
