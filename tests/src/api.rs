//! Helpers for the vendor JSON API tests: a small client, operator commands that make the
//! accounts and tokens a test needs, raw registry pushes, and a checker that holds every
//! response to the OpenAPI document's schemas.

use reqwest::Method;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

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
            response = self.resolve(target);
        }
        let Some(content) = response["content"].as_object() else {
            assert!(reply.body.is_null(), "{method} {path}: no body is documented");
            return;
        };
        let (media_type, media) = content.iter().next().unwrap();
        assert_eq!(&reply.content_type, media_type, "{method} {path}");
        if let Err(err) = self.validate(&media["schema"], &reply.body, "$") {
            panic!("{method} {path} {}: {err}\n{}", reply.status, reply.body);
        }
    }

    fn resolve(&self, target: &str) -> &Value {
        let pointer = target.strip_prefix('#').expect("a local reference");
        self.doc.pointer(pointer).unwrap_or_else(|| panic!("{target} does not resolve"))
    }

    /// Validates `value` against `schema` (the subset of JSON Schema the document uses).
    pub fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        if let Some(target) = schema["$ref"].as_str() {
            return self.validate(self.resolve(target), value, at);
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let matching = options.iter().filter(|s| self.validate(s, value, at).is_ok()).count();
            return if matching == 1 {
                Ok(())
            } else {
                Err(format!("{at}: matches {matching} of oneOf"))
            };
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            return Err(format!("{at}: {value} is not {constant}"));
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            return Err(format!("{at}: {value} not in {options:?}"));
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() {
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let widened = actual == "integer" && types.contains(&"number");
            if !(types.contains(&actual) || widened) {
                return Err(format!("{at}: {actual} is not {types:?}"));
            }
        }
        if let (Some(format), Some(text)) = (schema["format"].as_str(), value.as_str()) {
            let ok = match format {
                "uuid" => uuid::Uuid::parse_str(text).is_ok(),
                "date-time" => OffsetDateTime::parse(text, &Rfc3339).is_ok(),
                _ => true,
            };
            if !ok {
                return Err(format!("{at}: {text:?} is not a {format}"));
            }
        }
        if let Value::Object(map) = value {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !map.contains_key(name) {
                    return Err(format!("{at}: required `{name}` is missing"));
                }
            }
            for (key, item) in map {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => self.validate(property, item, &format!("{at}.{key}"))?,
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        return Err(format!("{at}: `{key}` is not documented"));
                    }
                    None => {}
                }
            }
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.validate(item_schema, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }
}
