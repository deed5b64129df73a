//! The web console, served under `/console/` on the API listener: a single-page app (plain
//! HTML, JavaScript and CSS embedded in the binary with `include_str!`, no build step, no CDN)
//! and the JSON endpoints it calls (`api`): sign-in with sessions in cookies, CSRF tokens, and
//! `POST /console/api/<Action>`, which runs the API's own action dispatch for the session's
//! account. So the console validates nothing itself: every rule and error code is the API's.
//! This crate touches a tenant's rows only through those actions, except in its own few
//! endpoints (`api`): the operators' account list and daily-quota override, template review,
//! stopping a cycle, a message's history (read-only, scoped to the account acted on) and the
//! user's own password.

pub mod api;
pub mod auth;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sesame_api::App;
use tokio_util::sync::CancellationToken;

/// Everything the console's handlers share.
pub struct Console {
    pub app: Arc<App>,
    pub throttle: sesame_engine::credentials::Throttle,
    /// Whether cookies get `Secure` (the API's public URL is https).
    pub secure_cookies: bool,
}

impl Console {
    pub fn new(app: Arc<App>) -> Console {
        let secure_cookies = app
            .config
            .api
            .public_url
            .to_ascii_lowercase()
            .starts_with("https://");
        Console {
            app,
            throttle: auth::throttle(),
            secure_cookies,
        }
    }
}

/// Serves the API listener: the API's router (`sesame_api::server::router`) with the console
/// merged in, given each connection's peer address (the sign-in throttle's key), until
/// `cancel` fires; then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let router = sesame_api::server::router(app.clone()).merge(router(app));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { cancel.cancelled().await })
    .await
}

/// The console's routes, to merge into the API listener's router.
pub fn router(app: Arc<App>) -> Router {
    let console = Arc::new(Console::new(app));
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/console/api/signin", post(api::sign_in))
        .route("/console/api/signout", post(api::sign_out))
        .route("/console/api/session", get(api::session))
        .route("/console/api/accounts", get(api::accounts))
        .route("/console/api/account", post(api::select_account))
        .route("/console/api/template-review", post(api::review_template))
        .route("/console/api/task-stop", post(api::stop_task))
        .route("/console/api/message-history", post(api::message_history))
        .route("/console/api/password", post(api::change_password))
        .route("/console/api/account-quota", post(api::set_account_quota))
        .route("/console/api/{action}", post(api::action))
        .with_state(console)
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The policy every console page runs under: only its own script and styles (template
/// previews may carry inline styles), images from itself or data: URLs, never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
