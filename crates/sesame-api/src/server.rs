//! The HTTP server: the API on `/`, for GET and POST, running each request through the
//! protocol steps of `protocol` (size, parse, region, key, signature, replay, action, rate
//! limit) and the action's handler. Every answer there is HTTP 200 with Content-Type exactly
//! `application/json`, error or not, because the Python SDK reads errors only then. The
//! router also carries the mail links' pages (`tracking`) and the operator endpoints (`ops`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sesame_core::Config;
use sesame_engine::verify::{DnsChecker, RecordSettings};
use sesame_store::Store;
use tokio_util::sync::CancellationToken;

use crate::actions::{self, Caller};
use crate::protocol::{
    ApiError, MAX_BODY_BYTES, NonceCache, RateLimiter, check_region, envelope_err, envelope_ok,
    parse_request,
};

/// Everything a request handler may use. Shared by all requests.
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
    pub dns: DnsChecker,
    pub records: RecordSettings,
    pub nonces: NonceCache,
    pub limiter: RateLimiter,
    pub submit_settings: sesame_engine::submit::SubmitSettings,
    /// Wakes the queue worker when a message was accepted.
    pub queue_wakeup: Arc<tokio::sync::Notify>,
    /// Wakes the batch task scheduler when a task was created.
    pub bulk_wakeup: Arc<tokio::sync::Notify>,
    /// Set once every listener is bound and the workers run (`/readyz`).
    started: std::sync::atomic::AtomicBool,
}

impl App {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        dns: DnsChecker,
        queue_wakeup: Arc<tokio::sync::Notify>,
    ) -> App {
        let records = sesame_engine::identity::record_settings(&config.sending);
        let limiter = RateLimiter::new(config.api.rate_limit);
        let submit_settings = sesame_engine::submit::SubmitSettings {
            dkim_selector: config.sending.dkim_selector.clone(),
            time_zone: config.api.time_zone.clone(),
            keys: Default::default(),
            mail_rate: Arc::new(sesame_engine::submit::MailRate::new(
                config.sending.mail_rate,
            )),
            links: Arc::new(sesame_engine::submit::LinkSettings::new(
                &store,
                &config.api.public_url,
            )),
        };
        App {
            store,
            config,
            dns,
            records,
            nonces: NonceCache::new(),
            limiter,
            submit_settings,
            queue_wakeup,
            bulk_wakeup: Arc::new(tokio::sync::Notify::new()),
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// `sesame serve` calls this once every listener is bound and every worker spawned.
    pub fn mark_started(&self) {
        self.started
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn started(&self) -> bool {
        self.started.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The router of the API listener.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", axum::routing::any(handle))
        .merge(crate::tracking::routes())
        .merge(crate::ops::routes())
        .fallback(not_found)
        .with_state(app)
}

/// Serves the API on `listener` until `cancel` fires, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found: the API lives at /\n").into_response()
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut outcome = Outcome::default();
    let result = run(&app, request, &mut outcome).await;
    let body = match &result {
        Ok(fields) => envelope_ok(&request_id, fields.clone()),
        Err(error) => envelope_err(&request_id, error),
    };
    let code = result.as_ref().err().map(|e| e.code.as_ref()).unwrap_or("");
    // Only names of real actions become label values: the series stay bounded.
    let label = if outcome.known {
        outcome.action.as_str()
    } else {
        "unknown"
    };
    sesame_core::metrics::get().api_request(label, code, started.elapsed());
    tracing::info!(
        request_id = %request_id,
        action = label,
        // A name that is no action is the client's text: escaped, so it cannot forge lines.
        requested = (!outcome.known && !outcome.action.is_empty())
            .then(|| tracing::field::debug(&outcome.action)),
        app_id = outcome.account_id,
        code,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "api request"
    );
    json_response(&body)
}

fn json_response(body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::protocol::CONTENT_TYPE),
    );
    response
}

/// What the access log line reports.
#[derive(Default)]
struct Outcome {
    action: String,
    /// `action` names one of the actions served.
    known: bool,
    account_id: i64,
}

async fn run(
    app: &App,
    request: Request,
    outcome: &mut Outcome,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let (parts, body) = request.into_parts();
    if let Some(length) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > MAX_BODY_BYTES
    {
        return Err(ApiError::request_size_limit_exceeded(MAX_BODY_BYTES));
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::request_size_limit_exceeded(MAX_BODY_BYTES))?;
    let parsed = parse_request(
        parts.method.as_str(),
        &parts.headers,
        parts.uri.query(),
        &body,
    )?;
    outcome.action = parsed.action.clone();
    // Named now for the access line; an unknown name is refused only after the signature.
    let action = actions::Action::from_name(&parsed.action);
    outcome.known = action.is_ok();
    check_region(parsed.region.as_deref(), &app.config.api.regions)?;

    let key = app
        .store
        .api_key(&parsed.secret_id)
        .await
        .map_err(|e| actions::internal(&e))?
        .ok_or_else(ApiError::secret_id_not_found)?;
    if !key.enabled {
        return Err(ApiError::secret_id_not_found());
    }
    let now = sesame_core::time::now_unix();
    parsed.verify(&key.secret_key, now)?;
    parsed.check_replay(&app.nonces, now)?;
    outcome.account_id = key.account_id;

    let action = action?;
    if !app
        .limiter
        .check(key.account_id, &parsed.action, Instant::now())
    {
        return Err(ApiError::request_limit_exceeded());
    }
    let caller = Caller {
        account_id: key.account_id,
    };
    actions::dispatch(app, &caller, action, parsed.params).await
}
