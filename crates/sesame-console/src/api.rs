//! The console's JSON endpoints. Sign-in sets the session cookie (HttpOnly, SameSite=Strict,
//! Path=/console, Secure under an https public URL) and answers the session's CSRF token; every
//! POST but sign-in must carry that token in `X-CSRF-Token` (403 otherwise), and every POST must
//! be `application/json` (a cross-site form cannot send that without a CORS preflight).
//! `POST /console/api/<Action>` runs `sesame_api::actions::dispatch` for the session's account
//! (a member's own; an operator's pick) and answers the API's envelope, errors included.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use sesame_api::actions::{self, Action, Caller};
use sesame_api::protocol::{ApiError, MAX_BODY_BYTES, envelope_err, envelope_ok};
use sesame_store::console::{ConsoleSession, ROLE_OPERATOR};

use crate::Console;
use crate::auth;

/// Name of the session cookie.
pub const COOKIE: &str = "sesame_session";
/// Header the console's script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts after sign-in.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// Most accounts the operator's picker lists.
const MAX_ACCOUNTS_LISTED: i64 = 1000;

/// A refusal outside the API's envelope: sign-in, session and CSRF problems.
fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({ "Error": { "Code": code, "Message": message } }),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "console: internal error");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "internal error; the server log has the cause",
    )
}

/// The client's address (unspecified when the listener was not given connect info).
fn peer_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value of a session: scripts cannot read it, other sites never send it,
/// only the console's paths get it, and under an https public URL only https carries it.
fn cookie_text(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

fn cookie(console: &Console, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&cookie_text(value, max_age, console.secure_cookies))
        .expect("a token is base64url, so the cookie is a valid header")
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The JSON body of a POST, or the refusal to answer.
async fn json_body(request: Request) -> Result<(HeaderMap, Value), Response> {
    let (parts, body) = request.into_parts();
    if !is_json(&parts.headers) {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "InvalidParameter",
            "send the request as application/json",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestSizeLimitExceeded",
                "the request is over 8 MiB",
            )
        })?;
    let value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                &format!("the body is not JSON: {e}"),
            )
        })?
    };
    Ok((parts.headers, value))
}

/// The session of the request's cookie, with the token's hash.
async fn current_session(
    console: &Console,
    headers: &HeaderMap,
) -> Result<(String, ConsoleSession), Response> {
    let unauthorized = || {
        refuse(
            StatusCode::UNAUTHORIZED,
            "AuthFailure.Unauthorized",
            "sign in first (the session is missing or expired)",
        )
    };
    let token = session_token(headers).ok_or_else(unauthorized)?;
    let hash = auth::token_hash(&token);
    let session = console
        .app
        .store
        .console_session(&hash, sesame_core::time::now_unix())
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(unauthorized)?;
    Ok((hash, session))
}

/// A session whose CSRF header matches, for a state-changing request.
async fn checked_session(
    console: &Console,
    headers: &HeaderMap,
) -> Result<(String, ConsoleSession), Response> {
    let (hash, session) = current_session(console, headers).await?;
    let sent = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !auth::constant_time_eq(sent, session.csrf_token.as_bytes()) {
        tracing::warn!(user = %session.email, "console: request without a valid CSRF token refused");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "AuthFailure.CsrfTokenMismatch",
            "the request lacks this session's CSRF token; reload the page",
        ));
    }
    Ok((hash, session))
}

/// The JSON body of a state-changing request with its session (CSRF token checked), or the
/// refusal to answer.
async fn checked_request(
    console: &Console,
    request: Request,
) -> Result<(String, ConsoleSession, Value), Response> {
    let (headers, body) = json_body(request).await?;
    let (hash, session) = checked_session(console, &headers).await?;
    Ok((hash, session, body))
}

/// The account a session acts on: a member's own, always; an operator's pick.
fn acting_account(session: &ConsoleSession) -> i64 {
    if session.role == ROLE_OPERATOR {
        session.account_id
    } else {
        session.user_account_id
    }
}

fn session_json(console: &Console, session: &ConsoleSession) -> Value {
    // The API's dates are in `[api] time_zone`, which the browser does not know.
    let today = sesame_core::time::format_date(
        sesame_core::time::now_unix(),
        &console.app.config.api.time_zone,
    );
    json!({
        "Today": today,
        "Email": session.email,
        "Role": session.role,
        "AppId": acting_account(session),
        "CsrfToken": session.csrf_token,
        "ExpiresAt": session.expires_at,
    })
}

/// `POST /console/api/signin {"Email", "Password"}`.
pub async fn sign_in(State(console): State<Arc<Console>>, request: Request) -> Response {
    let peer = peer_ip(&request);
    let (_, body) = match json_body(request).await {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let email = body["Email"].as_str().unwrap_or("").trim().to_string();
    let password = body["Password"].as_str().unwrap_or("").to_string();
    if email.is_empty() || password.is_empty() || email.len() > 254 || password.len() > 1024 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "give your e-mail and password",
        );
    }
    if console.throttle.is_blocked(peer, &email, Instant::now()) {
        tracing::warn!(user = ?email, client = %peer, "console: sign-in throttled");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "RequestLimitExceeded",
            "too many failed sign-ins; wait 10 minutes and try again",
        );
    }
    let user = match console.app.store.console_user(&email).await {
        Ok(user) => user,
        Err(e) => return internal(&e),
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // argon2 costs tens of milliseconds of CPU: off the async threads.
    let matches = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => sesame_engine::credentials::verify_password(&hash, &password),
        None => {
            sesame_engine::credentials::verify_nothing(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        console
            .throttle
            .record_failure(peer, &email, Instant::now());
        tracing::info!(user = ?email, client = %peer, "console: sign-in refused");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "AuthFailure.InvalidCredentials",
            "wrong e-mail or password",
        );
    };
    console.throttle.record_success(&email);
    let token = auth::new_token();
    let csrf = auth::new_token();
    let now = sesame_core::time::now_unix();
    let expires_at = now + SESSION_SECONDS;
    if let Err(e) = console
        .app
        .store
        .create_console_session(
            &auth::token_hash(&token),
            user.id,
            &csrf,
            user.account_id,
            now,
            expires_at,
        )
        .await
    {
        return internal(&e);
    }
    tracing::info!(user = %user.email, role = %user.role, client = %peer, "console: signed in");
    let session = ConsoleSession {
        user_id: user.id,
        email: user.email,
        role: user.role,
        user_account_id: user.account_id,
        account_id: user.account_id,
        csrf_token: csrf,
        expires_at,
    };
    let mut response = json_response(StatusCode::OK, &session_json(&console, &session));
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&console, &token, SESSION_SECONDS),
    );
    response
}

/// `POST /console/api/signout`: ends the session and clears the cookie.
pub async fn sign_out(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (hash, _, _) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(e) = console.app.store.delete_console_session(&hash).await {
        return internal(&e);
    }
    let mut response = json_response(StatusCode::OK, &json!({}));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&console, "", 0));
    response
}

/// `GET /console/api/session`: who is signed in, the account acted on and the CSRF token.
pub async fn session(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    match current_session(&console, &headers).await {
        Ok((_, session)) => json_response(StatusCode::OK, &session_json(&console, &session)),
        Err(response) => response,
    }
}

fn operator_only() -> Response {
    refuse(
        StatusCode::FORBIDDEN,
        "UnauthorizedOperation",
        "only an operator may see or pick other accounts",
    )
}

/// `GET /console/api/accounts` (operators): every account, for the picker.
pub async fn accounts(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (_, session) = match current_session(&console, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if session.role != ROLE_OPERATOR {
        return operator_only();
    }
    let today = sesame_core::time::start_of_day(
        sesame_core::time::now_unix(),
        &console.app.config.api.time_zone,
    );
    match console
        .app
        .store
        .account_summaries(MAX_ACCOUNTS_LISTED, today)
        .await
    {
        Ok(list) => {
            let accounts: Vec<Value> = list
                .iter()
                .map(|a| {
                    let level = u32::try_from(a.max_level).unwrap_or(0);
                    json!({
                        "AppId": a.id,
                        "Name": a.name,
                        "DailyQuota": a.daily_quota,
                        // As ListEmailIdentities reports them: the best verified domain's
                        // level and that level's daily cap (each domain has its own).
                        "MaxReputationLevel": a.max_level,
                        "MaxDailyQuota": sesame_core::reputation::daily_quota(level),
                        "SentToday": a.sent_today,
                        "TemplateReview": a.template_review,
                        "CustomContent": a.custom_content,
                        "Tracking": a.tracking,
                        "Domains": a.n_domains,
                        "VerifiedDomains": a.n_verified,
                        "PendingTemplates": a.n_pending,
                    })
                })
                .collect();
            json_response(StatusCode::OK, &json!({ "Accounts": accounts }))
        }
        Err(e) => internal(&e),
    }
}

/// `POST /console/api/account {"AppId"}` (operators): act on another account from now on.
pub async fn select_account(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (hash, mut session, body) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if session.role != ROLE_OPERATOR {
        return operator_only();
    }
    let Some(app_id) = body["AppId"].as_i64() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "AppId must be a number",
        );
    };
    match console.app.store.account(app_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("no account {app_id}"),
            );
        }
        Err(e) => return internal(&e),
    }
    if let Err(e) = console
        .app
        .store
        .set_console_session_account(&hash, app_id)
        .await
    {
        return internal(&e);
    }
    session.account_id = app_id;
    json_response(StatusCode::OK, &session_json(&console, &session))
}

/// `POST /console/api/<Action>` with the action's PascalCase parameters: the API's dispatch
/// for the session's account, answered in the API's envelope.
pub async fn action(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let (_, session, params) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let account_id = acting_account(&session);
    let request_id = uuid::Uuid::new_v4().to_string();
    let action = Action::from_name(&name);
    // Only real action names reach the log: the path segment is the client's to choose.
    let logged = if action.is_ok() {
        name.as_str()
    } else {
        "unknown"
    };
    let result = run_action(&console, account_id, action, &name, params).await;
    let code = result.as_ref().err().map(|e| e.code.as_ref()).unwrap_or("");
    tracing::info!(
        request_id = %request_id,
        action = logged,
        app_id = account_id,
        user = %session.email,
        code,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "console request"
    );
    let body = match &result {
        Ok(fields) => envelope_ok(&request_id, fields.clone()),
        Err(error) => envelope_err(&request_id, error),
    };
    json_response(StatusCode::OK, &body)
}

async fn run_action(
    console: &Console,
    account_id: i64,
    action: Result<Action, ApiError>,
    name: &str,
    params: Value,
) -> Result<actions::Fields, ApiError> {
    let action = action?;
    if !params.is_object() {
        return Err(ApiError::invalid_parameter(
            "the parameters must be a JSON object",
        ));
    }
    if !console.app.limiter.check(account_id, name, Instant::now()) {
        return Err(ApiError::request_limit_exceeded());
    }
    actions::dispatch(&console.app, &Caller { account_id }, action, params).await
}

/// `POST /console/api/template-review {"TemplateID", "Approve", "Reason"}` (operators): approve
/// a template of the account acted on, or reject it with a reason (1-500 characters) the
/// account sees, like `sesame template approve|reject`.
pub async fn review_template(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (_, session, body) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if session.role != ROLE_OPERATOR {
        return operator_only();
    }
    let (Some(id), Some(approve)) = (body["TemplateID"].as_i64(), body["Approve"].as_bool()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "give TemplateID (a number) and Approve (true or false)",
        );
    };
    let reason = body["Reason"].as_str().unwrap_or("").trim().to_string();
    if !approve && (reason.is_empty() || reason.chars().count() > 500) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "a rejection needs a reason of 1-500 characters",
        );
    }
    let account_id = acting_account(&session);
    // Only a template of the account acted on: the id alone could name anyone's.
    match console.app.store.template(account_id, id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("account {account_id} has no template {id}"),
            );
        }
        Err(e) => return internal(&e),
    }
    let (status, reason) = if approve {
        (sesame_store::templates::status::APPROVED, String::new())
    } else {
        (sesame_store::templates::status::REJECTED, reason)
    };
    match console.app.store.review_template(id, status, &reason).await {
        Ok(Some(t)) => {
            tracing::info!(user = %session.email, app_id = account_id, template = id, status, "console: template reviewed");
            json_response(
                StatusCode::OK,
                &json!({"TemplateID": t.id, "TemplateStatus": t.status, "ReviewReason": t.review_reason}),
            )
        }
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("no template {id}"),
        ),
        Err(e) => internal(&e),
    }
}

/// `POST /console/api/task-stop {"TaskId"}`: ends the cycles of a cyclic batch task of the
/// account acted on (the API has no action for it; `sesame task stop` is the same).
pub async fn stop_task(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (_, session, body) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(task_id) = body["TaskId"].as_i64() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "give TaskId (a number)",
        );
    };
    let account_id = acting_account(&session);
    let now = sesame_core::time::now_unix();
    use sesame_store::bulk::StopCycles;
    match console
        .app
        .store
        .stop_cycles(account_id, task_id, now)
        .await
    {
        Ok(StopCycles::Stopped { run_in_progress }) => {
            tracing::info!(user = %session.email, app_id = account_id, task_id, "console: cyclic task stopped");
            json_response(
                StatusCode::OK,
                &json!({"TaskId": task_id, "Stopped": true, "RunInProgress": run_in_progress}),
            )
        }
        Ok(StopCycles::NotFound) => refuse(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("account {account_id} has no batch task {task_id}"),
        ),
        Ok(StopCycles::NotCyclic) => refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            &format!("task {task_id} is not cyclic: it has no cycles to stop"),
        ),
        Ok(StopCycles::AlreadyOver) => refuse(
            StatusCode::CONFLICT,
            "FailedOperation",
            &format!("task {task_id} runs no further cycles already"),
        ),
        Ok(StopCycles::Busy) => refuse(
            StatusCode::CONFLICT,
            "FailedOperation",
            &format!("task {task_id} is starting a run right now: try again in a few seconds"),
        ),
        Err(e) => internal(&e),
    }
}

/// The JSON of a Unix time that may be absent (0 when it is, like GetSendEmailStatus).
fn unix_or_zero(t: Option<i64>) -> i64 {
    t.unwrap_or(0)
}

/// `POST /console/api/message-history {"MessageId"}`: a message of the account acted on
/// with each recipient's delivery as the store keeps it (status, attempts, last reply, times,
/// opens, clicks, unsubscribe, complaint). No SES action answers this; another account's
/// message is answered like a missing one (404).
pub async fn message_history(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (_, session, body) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let message_id = body["MessageId"].as_str().unwrap_or("").trim();
    if message_id.is_empty() || message_id.len() > 200 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "give MessageId (the API's MessageId of the message)",
        );
    }
    let account_id = acting_account(&session);
    let history = match console
        .app
        .store
        .message_history(account_id, message_id)
        .await
    {
        Ok(Some(history)) => history,
        Ok(None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("account {account_id} has no message {message_id}"),
            );
        }
        Err(e) => return internal(&e),
    };
    let m = &history.message;
    let deliveries: Vec<Value> = history
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "ToEmailAddress": d.recipient,
                "SendStatus": d.send_status,
                "DeliverStatus": d.deliver_status,
                "DeliverMessage": d.deliver_message,
                "Attempts": d.n_attempts,
                "RequestTime": d.created_at,
                "UpdateTime": d.updated_at,
                "DeliverTime": unix_or_zero(d.delivered_at),
                "NextAttemptTime": unix_or_zero(d.due_at),
                "Opened": d.opened,
                "Clicked": d.clicked,
                "Unsubscribed": d.unsubscribed != 0,
                "UnsubscribeTime": unix_or_zero(d.unsubscribed_at),
                "Complained": d.complained != 0,
                "ComplainTime": unix_or_zero(d.complained_at),
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "MessageId": m.message_id,
            "FromEmailAddress": m.from_address,
            "Subject": m.subject,
            "TemplateID": m.template_id,
            "TriggerType": m.trigger_type,
            "TaskId": m.task_id,
            "RequestTime": m.created_at,
            "Deliveries": deliveries,
        }),
    )
}

/// `POST /console/api/password {"CurrentPassword", "NewPassword"}`: the signed-in user
/// changes its own password. The current one must match (failures count in the sign-in
/// throttle); the new one has at least `auth::MIN_PASSWORD_CHARS` characters. Every other
/// session of the user ends; this one stays.
pub async fn change_password(State(console): State<Arc<Console>>, request: Request) -> Response {
    let peer = peer_ip(&request);
    let (hash, session, body) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let current = body["CurrentPassword"].as_str().unwrap_or("").to_string();
    let new = body["NewPassword"].as_str().unwrap_or("").to_string();
    let n = new.chars().count();
    if current.is_empty() || current.len() > 1024 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "give your current password",
        );
    }
    if n < auth::MIN_PASSWORD_CHARS || new.len() > 1024 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            &format!(
                "the new password must have {} to 1024 characters",
                auth::MIN_PASSWORD_CHARS
            ),
        );
    }
    if new == current {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "the new password is the current one",
        );
    }
    if console
        .throttle
        .is_blocked(peer, &session.email, Instant::now())
    {
        tracing::warn!(user = %session.email, client = %peer, "console: password change throttled");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "RequestLimitExceeded",
            "too many wrong passwords; wait 10 minutes and try again",
        );
    }
    let user = match console.app.store.console_user(&session.email).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "AuthFailure.Unauthorized",
                "sign in first (the user is gone)",
            );
        }
        Err(e) => return internal(&e),
    };
    let stored = user.password_hash.clone();
    // argon2 twice (check, hash): off the async threads.
    let checked = tokio::task::spawn_blocking(move || {
        if !sesame_engine::credentials::verify_password(&stored, &current) {
            return Ok(None);
        }
        sesame_engine::credentials::hash_password(&new).map(Some)
    })
    .await;
    let new_hash = match checked {
        Ok(Ok(Some(new_hash))) => new_hash,
        Ok(Ok(None)) => {
            console
                .throttle
                .record_failure(peer, &session.email, Instant::now());
            tracing::info!(user = %session.email, client = %peer, "console: password change refused (wrong current password)");
            // 403, not 401: the session is fine, only the password is wrong.
            return refuse(
                StatusCode::FORBIDDEN,
                "AuthFailure.InvalidCredentials",
                "the current password is wrong",
            );
        }
        Ok(Err(e)) => return internal(&e),
        Err(e) => return internal(&e),
    };
    match console
        .app
        .store
        .set_console_password(user.id, &new_hash, Some(&hash))
        .await
    {
        Ok(Some(ended)) => {
            tracing::info!(user = %session.email, sessions_ended = ended, "console: password changed");
            json_response(StatusCode::OK, &json!({ "SessionsEnded": ended }))
        }
        Ok(None) => refuse(
            StatusCode::UNAUTHORIZED,
            "AuthFailure.Unauthorized",
            "sign in first (the user is gone)",
        ),
        Err(e) => internal(&e),
    }
}

/// `POST /console/api/account-quota {"AppId", "DailyQuota"}` (operators): sets an account's
/// daily-quota override (recipients a day, 0 or more), or clears it with `null` so only the
/// domains' reputation caps apply, like `sesame account update --daily-quota`.
pub async fn set_account_quota(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (_, session, body) = match checked_request(&console, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if session.role != ROLE_OPERATOR {
        return operator_only();
    }
    let quota = match body.get("DailyQuota") {
        Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Some(n),
            _ => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    "DailyQuota is a whole number, 0 or more, or null to clear the override",
                );
            }
        },
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "give DailyQuota (a number, or null to clear the override)",
            );
        }
    };
    let Some(app_id) = body["AppId"].as_i64() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "AppId must be a number",
        );
    };
    let changes = sesame_store::accounts::AccountChanges {
        daily_quota: Some(quota),
        ..Default::default()
    };
    match console.app.store.update_account(app_id, &changes).await {
        Ok(Some(account)) => {
            tracing::info!(user = %session.email, app_id, daily_quota = ?account.daily_quota, "console: daily quota set");
            json_response(
                StatusCode::OK,
                &json!({"AppId": account.id, "DailyQuota": account.daily_quota}),
            )
        }
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("no account {app_id}"),
        ),
        Err(e) => internal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_attributes() {
        assert_eq!(
            cookie_text("abc", 60, false),
            "sesame_session=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(cookie_text("abc", 60, true).ends_with("; Secure"));
    }

    #[test]
    fn session_token_from_cookie_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_token(&headers), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sesame_session=tok; b=2"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("tok"));
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("sesame_session="));
        assert_eq!(session_token(&empty), None);
        let mut json = HeaderMap::new();
        assert!(!is_json(&json));
        json.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&json));
        json.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&json));
    }
}
