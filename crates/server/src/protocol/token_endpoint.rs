//! `GET /token` and `POST /token`: the Docker registry token service.
//!
//! `GET` takes Basic credentials (any user name, an access token as the password) and
//! `scope`/`service` query parameters, as docker, podman, skopeo, helm, oras and containerd
//! send them. `POST` takes the OAuth2 password grant form some clients use. No refresh
//! tokens are issued, so clients keep presenting the access token itself
//! (`offline_token=true` is answered with a plain token).

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Form, Json,
    extract::{ConnectInfo, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use wharf_app::credentials::{AuthFailure, Authenticated, Credentials};
use wharf_auth::{authorization::Presented, principal::Principal, scope::parse_scopes};
use wharf_registry::error::{ErrorCode, OciError};

/// `GET /token`.
pub async fn get_token(
    State(auth): State<Arc<Credentials>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let Ok(params) = serde_urlencoded::from_str::<Vec<(String, String)>>(&query) else {
        return OciError::new(ErrorCode::Unsupported)
            .with_message("the query string is not valid form encoding")
            .into_response();
    };
    let get =
        |key: &'static str| params.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str());
    let credentials = match Presented::from_headers(&headers) {
        Ok(None) => Ok(None),
        Ok(Some(Presented::Basic { user, password })) => Ok(Some((user, password))),
        // A bearer token is not an access token: the token service takes Basic only.
        Ok(Some(Presented::Bearer(_))) | Err(_) => Err(AuthFailure::Malformed),
    };
    let request = TokenRequest {
        service: get("service").next().map(str::to_owned),
        scopes: get("scope").map(str::to_owned).collect(),
        account: get("account").next().map(str::to_owned),
    };
    respond(&auth, client, credentials, request).await
}

/// The form of `POST /token` (OAuth2 password grant).
#[derive(Debug, Deserialize)]
pub struct PostForm {
    grant_type: String,
    service: Option<String>,
    scope: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `POST /token`.
pub async fn post_token(
    State(auth): State<Arc<Credentials>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Form(form): Form<PostForm>,
) -> Response {
    if form.grant_type != "password" {
        return OciError::new(ErrorCode::Unsupported)
            .with_message("only grant_type=password is supported; no refresh tokens are issued")
            .into_response();
    }
    let credentials = form
        .password
        .map(|p| Ok((form.username.clone().unwrap_or_default(), secrecy::SecretString::from(p))));
    let request = TokenRequest {
        service: form.service,
        scopes: form.scope.into_iter().collect(),
        account: form.username,
    };
    respond(&auth, client, credentials.transpose(), request).await
}

struct TokenRequest {
    service: Option<String>,
    scopes: Vec<String>,
    account: Option<String>,
}

async fn respond(
    auth: &Credentials,
    client: SocketAddr,
    credentials: Result<Option<(String, secrecy::SecretString)>, AuthFailure>,
    request: TokenRequest,
) -> Response {
    if let Some(service) = &request.service
        && service != &auth.settings().service
    {
        return OciError::new(ErrorCode::Denied)
            .with_message(format!("unknown service; this registry is {}", auth.settings().service))
            .into_response();
    }
    let scopes = match parse_scopes(request.scopes.iter().map(String::as_str)) {
        Ok(scopes) => scopes,
        Err(err) => {
            return OciError::new(ErrorCode::Unsupported)
                .with_message(err.to_string())
                .into_response();
        }
    };
    let who = match credentials {
        Ok(Some((user, password))) => {
            let account =
                request.account.as_deref().or(Some(user.as_str())).filter(|a| !a.is_empty());
            auth.authenticate_token(password.expose_secret(), account, client.ip()).await
        }
        Ok(None) => Ok(Authenticated {
            principal: Principal::Anonymous,
            org_slug: String::new(),
            user_id: None,
            expires_at: None,
        }),
        Err(failure) => Err(failure),
    };
    let who = match who {
        Ok(who) => who,
        Err(failure) => return failure_response(failure),
    };
    let access = match auth.grant(&who, &scopes, Some(client.ip())).await {
        Ok(access) => access,
        Err(failure) => return failure_response(failure),
    };
    let subject = who.principal.subject();
    let now = OffsetDateTime::now_utc();
    match auth.issue(&who, &subject, access, now) {
        Ok(issued) => {
            wharf_app::metrics::COUNTERS.tokens_issued.inc();
            let token = issued.token.expose_secret();
            let body = json!({
                "token": token,
                "access_token": token,
                "expires_in": issued.expires_in,
                "issued_at": issued.issued_at.format(&Rfc3339).unwrap_or_default(),
            });
            let mut response = Json(body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => {
            tracing::error!("signing a registry token failed: {err:#}");
            OciError::new(ErrorCode::Unavailable).into_response()
        }
    }
}

/// One answer for every kind of bad credentials, so nothing is learnt from the difference.
pub fn failure_response(failure: AuthFailure) -> Response {
    match failure {
        AuthFailure::Throttled(wait) => {
            OciError::too_many_requests(wait.as_secs().max(1)).into_response()
        }
        AuthFailure::Unavailable => OciError::new(ErrorCode::Unavailable).into_response(),
        AuthFailure::Malformed | AuthFailure::Unknown | AuthFailure::Inactive(_) => {
            let mut response = OciError::new(ErrorCode::Unauthorized)
                .with_message("authentication required: use an access token as the password")
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"wharf\""),
            );
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}
