//! Endpoints for operators and orchestrators on the API listener: `/healthz` (the process
//! answers), `/readyz` (storage reachable, listeners bound, delivery worker turning) and
//! `/metrics` (Prometheus text format, optionally behind a bearer token).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sesame_core::metrics;
use sha2::{Digest, Sha256};

use crate::server::App;

/// How long the storage probe may take before the store counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A delivery worker silent for longer than this is taken as stuck. One loop turn lasts at
/// most a queue pass, and a pass is bounded by the SMTP timeouts of its slowest session.
const QUEUE_SILENCE: i64 = 15 * 60;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(scrape))
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// 200 with each check's verdict when all pass, 503 otherwise.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let storage = match tokio::time::timeout(PROBE_TIMEOUT, timed_probe(&app)).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(_) => format!("failed: no answer within {}s", PROBE_TIMEOUT.as_secs()),
    };
    let listeners = if app.started() {
        "ok".to_string()
    } else {
        "failed: still starting".to_string()
    };
    let last = metrics::get().queue_last_alive();
    let silent = sesame_core::time::now_unix() - last;
    let queue = if last == 0 {
        "failed: the delivery worker has not started".to_string()
    } else if silent > QUEUE_SILENCE {
        format!("failed: the delivery worker has been silent for {silent}s")
    } else {
        "ok".to_string()
    };
    let ready = [&storage, &listeners, &queue].iter().all(|v| *v == "ok");
    let body = serde_json::json!({
        "ready": ready,
        "storage": storage,
        "listeners": listeners,
        "queue": queue,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, format!("{body}\n")).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn timed_probe(app: &App) -> Result<(), sesame_store::StoreError> {
    let started = Instant::now();
    let result = app.store.probe().await;
    metrics::get().storage("probe", started.elapsed());
    result
}

async fn scrape(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let settings = &app.config.metrics;
    if !settings.enabled {
        return (
            StatusCode::NOT_FOUND,
            "metrics are off ([metrics] enabled)\n",
        )
            .into_response();
    }
    if let Some(token) = &settings.token
        && !bearer_matches(&headers, token)
    {
        let mut response =
            (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let m = metrics::get();
    let started = Instant::now();
    match app.store.queue_stats(metrics::QUEUE_DOMAINS_SHOWN).await {
        Ok(stats) => {
            m.storage("queue_stats", started.elapsed());
            let oldest_age = stats
                .oldest_created_at
                .map(|t| (sesame_core::time::now_unix() - t).max(0))
                .unwrap_or(0);
            m.set_queue(stats.depth, oldest_age, &stats.by_domain);
        }
        // The counters are still worth serving; the queue gauges keep their last reading.
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the queue statistics"),
    }
    let mut response = (StatusCode::OK, m.encode()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `Authorization: Bearer <token>`, compared through digests so the time taken does not
/// depend on where the strings differ.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let a = Sha256::digest(given.trim().as_bytes());
    let b = Sha256::digest(token.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut headers = HeaderMap::new();
        assert!(!bearer_matches(&headers, "t0ken"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0ken"),
        );
        assert!(bearer_matches(&headers, "t0ken"));
        assert!(!bearer_matches(&headers, "t0ke"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic t0ken"),
        );
        assert!(!bearer_matches(&headers, "t0ken"));
    }
}
