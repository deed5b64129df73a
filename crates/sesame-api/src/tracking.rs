//! The public pages of mail links, served on the API listener under `[api] public_url`: the
//! open pixel (`/t/o/<token>.gif`), the click redirector (`/t/c/<token>?u=<url>`) and the
//! unsubscribe page (`/u/<token>`: GET shows a confirmation, POST unsubscribes — the RFC 8058
//! one-click POST and the page's own button alike). Tokens are checked before anything is
//! recorded; a forged or altered one gets 404 and the redirector never sends anyone to a URL
//! that was not in the mail.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sesame_mail::render::escape_html;
use sesame_mail::tracking::LinkKind;
use sesame_store::inbound::DeliveryInfo;
use sesame_store::tracking::Engagement;

use crate::server::App;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The routes of the link pages.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/t/o/{token}", axum::routing::get(open))
        .route("/t/c/{token}", axum::routing::get(click))
        .route(
            "/u/{token}",
            axum::routing::get(unsubscribe_page).post(unsubscribe),
        )
}

async fn open(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = token.strip_suffix(".gif").unwrap_or(&token);
    let Some(delivery) = delivery(&app, LinkKind::Open, token, "").await else {
        return not_found();
    };
    record(&app, &delivery, Engagement::Open, "", &headers).await;
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, max-age=0"),
            ),
        ],
        PIXEL,
    )
        .into_response()
}

async fn click(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let url = query.get("u").map(String::as_str).unwrap_or("");
    let Some(delivery) = delivery(&app, LinkKind::Click, &token, url).await else {
        return not_found();
    };
    let Ok(location) = HeaderValue::from_str(&location_of(url)) else {
        return not_found();
    };
    record(&app, &delivery, Engagement::Click, url, &headers).await;
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

async fn unsubscribe_page(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let Some(delivery) = delivery(&app, LinkKind::Unsubscribe, &token, "").await else {
        return not_found();
    };
    let domain = domain_of(&delivery.from_address);
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop mail from <b>{}</b> to <b>{}</b>?</p>\
             <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
            escape_html(domain),
            escape_html(&delivery.recipient)
        ),
    )
}

async fn unsubscribe(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(delivery) = delivery(&app, LinkKind::Unsubscribe, &token, "").await else {
        return not_found();
    };
    record(&app, &delivery, Engagement::Unsubscribe, "", &headers).await;
    page(
        StatusCode::OK,
        "Unsubscribed",
        &format!(
            "<p><b>{}</b> will get no more mail from <b>{}</b>.</p>",
            escape_html(&delivery.recipient),
            escape_html(domain_of(&delivery.from_address))
        ),
    )
}

/// The delivery a valid token names.
async fn delivery(app: &App, kind: LinkKind, token: &str, url: &str) -> Option<DeliveryInfo> {
    let signer = &app.submit_settings.links.signer;
    let (message_id, recipient) = signer.verify(kind, token, url)?;
    match app.store.delivery_of_message(&message_id, &recipient).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "tracking: storage failed");
            None
        }
    }
}

/// Records what the recipient did; a storage failure is logged, never shown (the person
/// still gets their page or redirect).
async fn record(app: &App, d: &DeliveryInfo, what: Engagement, link: &str, headers: &HeaderMap) {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = sesame_core::time::now_unix();
    if let Err(e) = app
        .store
        .record_engagement(d, what, link, user_agent, now)
        .await
    {
        tracing::error!(error = %e, ?what, "tracking: recording failed");
    }
}

/// `url` fit for a Location header: bytes outside printable ASCII (a non-ASCII path or query,
/// a space) percent-encoded, everything else as it was in the mail.
fn location_of(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This link is not valid. It may have been copied incompletely.</p>",
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\">\
         <h1>{title}</h1>{body}</body></html>"
    );
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn locations_are_ascii() {
        assert_eq!(
            super::location_of("https://a.test/x?q=1&r=2"),
            "https://a.test/x?q=1&r=2"
        );
        assert_eq!(
            super::location_of("https://a.test/é b"),
            "https://a.test/%C3%A9%20b"
        );
    }
}
