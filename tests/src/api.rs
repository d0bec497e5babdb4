//! Helpers for the vendor JSON API tests: a small client, operator commands that make the
//! accounts and tokens a test needs, raw registry pushes, and a checker that holds every
//! response to the OpenAPI document's schemas.

use reqwest::Method;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{Wharf, bearer_token, run_wharf};

/// An answer from the API.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// `content-type`, if any.
    pub content_type: String,
    /// Every header, lower-case names.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// Panics unless the status is `status`; returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        &self.body
    }

    /// Panics unless this is a problem response with `status` (and `field`, when given).
    #[track_caller]
    pub fn problem(&self, status: u16, field: Option<&str>) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        assert_eq!(self.content_type, "application/problem+json", "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(self.body["type"], "about:blank");
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        assert_eq!(self.body["field"].as_str(), field, "{}", self.body);
        &self.body
    }
}

/// A client of one Wharf's API with one token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Api {
    /// The API of `wharf`, authenticating with `token` (or not at all).
    pub fn new(wharf: &Wharf, token: Option<&str>) -> Self {
        Self {
            base: format!("{}/api/v1", wharf.url),
            token: token.map(str::to_owned),
            client: reqwest::Client::new(),
        }
    }

    /// The token it sends (empty without one).
    pub fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// The same API with another token.
    pub fn with_token(&self, token: &str) -> Self {
        Self { token: Some(token.to_owned()), ..self.clone() }
    }

    /// Sends `method path` (relative to `/api/v1`) with an optional raw body.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, content_type, headers, body }
    }

    /// Sends `method path` with a JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| ("application/json", serde_json::to_vec(b).unwrap()));
        self.send_raw(method, path, body).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with JSON.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with JSON.
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

/// Runs `wharf admin ARGS` against `database_url` and returns the last line of stdout (a
/// token, when the command prints one).
pub fn admin(database_url: &str, args: &[&str]) -> String {
    let out = run_wharf(
        &[&["admin"], args].concat(),
        &[
            ("DATABASE_URL", database_url),
            ("RUST_LOG", "warn"),
            ("WHARF_ADMIN_PASSWORD", "a long enough password"),
        ],
    );
    assert!(out.status.success(), "wharf admin {args:?} failed:\n{}", out.stderr);
    out.stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned()
}

/// A vendor API token for member `email` of organization `org`.
pub fn token_for(database_url: &str, org: &str, email: &str, read_only: bool) -> String {
    let mut args = vec!["create-token", "--org", org, "--email", email, "--name", "e2e"];
    if read_only {
        args.push("--read-only");
    }
    admin(database_url, &args)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Pushes a one-layer image to `repository:tag` with a vendor token, by raw HTTP (monolithic
/// blob uploads, then the manifest). Returns the manifest's digest.
pub async fn push_image(wharf: &Wharf, vendor_token: &str, repository: &str, tag: &str) -> String {
    let jwt =
        bearer_token(wharf, vendor_token, &format!("repository:{repository}:pull,push")).await;
    let client = reqwest::Client::new();
    let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#).into_bytes();
    let layer = format!("layer of {repository}:{tag}").repeat(100).into_bytes();
    for blob in [&config, &layer] {
        let pushed = client
            .post(format!(
                "{}/v2/{repository}/blobs/uploads/?digest={}",
                wharf.url,
                digest_of(blob)
            ))
            .bearer_auth(&jwt)
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status().as_u16(), 201, "blob upload");
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest_of(&layer),
            "size": layer.len(),
        }],
    }))
    .unwrap();
    let put = client
        .put(format!("{}/v2/{repository}/manifests/{tag}", wharf.url))
        .bearer_auth(&jwt)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "manifest push");
    digest_of(&manifest)
}

/// The OpenAPI document, to hold responses to its schemas.
#[derive(Debug, Clone)]
pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    /// The document `wharf` serves.
    pub async fn fetch(wharf: &Wharf) -> Self {
        let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", wharf.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self::from_document(doc)
    }

    /// A document already loaded.
    pub fn from_document(doc: Value) -> Self {
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// The document.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Panics unless `reply` is the documented answer of `method path` (the OpenAPI path,
    /// like `/api/v1/customers/{id}`) with its status: a documented status, and a body valid
    /// against its schema.
    #[track_caller]
    pub fn check(&self, method: &str, path: &str, reply: &Reply) {
        let operation = &self.doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let mut response = &operation["responses"][reply.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {}, which is not documented: {}",
            reply.status,
            reply.body
        );
        if let Some(target) = response["$ref"].as_str() {
            let pointer = target.strip_prefix('#').expect("a local reference");
            response =
                self.doc.pointer(pointer).unwrap_or_else(|| panic!("{target} does not resolve"));
        }
        let Some(content) = response["content"].as_object() else {
            assert!(reply.body.is_null(), "{method} {path}: no body is documented");
            return;
        };
        let (media_type, media) = content.iter().next().unwrap();
        assert_eq!(&reply.content_type, media_type, "{method} {path}");
        if let Err(err) = self.validate(&media["schema"], &reply.body) {
            panic!("{method} {path} {}: {err}\n{}", reply.status, reply.body);
        }
    }

    /// Validates `value` against `schema` (a schema of the document, or one that refers to its
    /// `#/components/schemas/...`) with the `jsonschema` crate: JSON Schema 2020-12 (OpenAPI
    /// 3.1's dialect), formats asserted (`uuid`, `date-time`, `date`), every error reported.
    ///
    /// The document itself is the root resource, so its local references resolve inside it and
    /// nothing is ever fetched: `schema` is placed at `#/$defs/checked` of a copy of the
    /// document whose root refers to it. In that copy, an object schema that lists its
    /// `properties` without saying `additionalProperties` gets `additionalProperties: false`,
    /// so an undocumented field always fails (the document's own schemas all say it already).
    pub fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        let mut root = self.doc.clone();
        let mut checked = schema.clone();
        close_objects(&mut checked);
        if let Some(schemas) = root.pointer_mut("/components/schemas") {
            close_objects(schemas);
        }
        root["$defs"] = serde_json::json!({ "checked": checked });
        root["$ref"] = Value::from("#/$defs/checked");
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|err| format!("the schema does not compile: {err}"))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|err| format!("${}: {err}", err.instance_path()))
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}

/// Adds `additionalProperties: false` to every object schema under `schema` that has
/// `properties` but does not say whether others are allowed.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("properties").is_some_and(Value::is_object)
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn openapi() -> OpenApi {
        let doc = include_str!("../../crates/api/src/openapi.json");
        OpenApi::from_document(serde_json::from_str(doc).unwrap())
    }

    fn customer() -> Value {
        json!({
            "id": "0190f7a4-3b1c-7d2e-8f00-123456789abc",
            "name": "Initech",
            "created_at": "2026-11-24T10:00:00Z",
            "disabled": false,
        })
    }

    #[test]
    fn documented_responses_pass_and_others_fail() {
        let api = openapi();
        let schema = json!({ "$ref": "#/components/schemas/Customer" });
        api.validate(&schema, &customer()).unwrap();

        let mut extra = customer();
        extra["secret"] = json!("leaked");
        let err = api.validate(&schema, &extra).unwrap_err();
        assert!(err.contains("secret"), "an undocumented field: {err}");

        let mut missing = customer();
        missing.as_object_mut().unwrap().remove("created_at");
        let err = api.validate(&schema, &missing).unwrap_err();
        assert!(err.contains("created_at"), "a missing required field: {err}");

        let mut wrong = customer();
        wrong["disabled"] = json!("no");
        let err = api.validate(&schema, &wrong).unwrap_err();
        assert!(err.contains("/disabled"), "a wrong type: {err}");

        let mut not_a_uuid = customer();
        not_a_uuid["id"] = json!("42");
        assert!(api.validate(&schema, &not_a_uuid).is_err(), "formats are checked");

        // Through a reference inside a referenced schema (a page of customers).
        let page = json!({ "$ref": "#/components/schemas/CustomerPage" });
        api.validate(&page, &json!({ "items": [customer()], "next_cursor": null })).unwrap();
        let body = json!({ "items": [customer(), extra], "next_cursor": null });
        let err = api.validate(&page, &body).unwrap_err();
        assert!(err.contains("/items/1"), "an undocumented field one level down: {err}");
    }

    #[test]
    fn objects_without_a_word_on_other_fields_are_closed() {
        let api = openapi();
        let inline = json!({
            "type": "object",
            "properties": { "name": { "type": "string" } },
            "required": ["name"],
        });
        api.validate(&inline, &json!({ "name": "x" })).unwrap();
        assert!(api.validate(&inline, &json!({ "name": "x", "other": 1 })).is_err());
    }
}
