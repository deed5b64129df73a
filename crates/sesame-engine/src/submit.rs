//! The submit pipeline: turns a `Submission` (strings from the API) or a `RawSubmission` (a
//! whole message from SMTP) into a durable message with one delivery per recipient. The steps read like the spec in
//! `docs/sending.md`: check the sender, the recipients, the content; render; check the quota and
//! the suppression lists; build the MIME message; enqueue it in one transaction, unsigned: the
//! delivery worker DKIM-signs each attempt's copy (`sign_at_delivery`), so the RSA signature is
//! off the path a caller waits on. Any failure refuses the whole submission before anything is
//! stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::cpu::Cores;
use sesame_core::address::Sender;
use sesame_core::{EmailAddress, reputation};
use sesame_mail::mime::{AttachmentPart, Draft, Mailbox};
use sesame_mail::render::{self, Escape};
use sesame_mail::sign::DkimSigningKey;
use sesame_mail::tracking::{self, LinkSigner, RecipientLinks};
use sesame_mail::{attachment, dkim};
use sesame_store::bulk::{ChunkMessage, NewChunk};
use sesame_store::queue::{NewDelivery, NewMessage};
use sesame_store::templates::status as template_status;
use sesame_store::tracking::UnsubscribeConfig;
use sesame_store::{Store, StoreError};

/// Most visible recipients of one message.
pub const MAX_TO: usize = 50;
/// Most Cc and most Bcc recipients of one message.
pub const MAX_CC: usize = 20;
/// Largest built message.
pub const MAX_MESSAGE_BYTES: usize = 5 * 1024 * 1024;
/// Mails one account may send one recipient per hour.
pub const MAX_PER_RECIPIENT_PER_HOUR: i64 = 10;
/// SendStatus of a recipient refused for the frequency limit.
pub const SEND_STATUS_FREQUENCY: i64 = 1006;
/// SendStatus of a black-listed recipient.
pub const SEND_STATUS_BLACKLISTED: i64 = 1007;
/// SendStatus of a recipient who unsubscribed from the sender domain.
pub const SEND_STATUS_UNSUBSCRIBED: i64 = 1013;

/// The body of a submission.
#[derive(Debug, Clone)]
pub enum Content {
    Template {
        id: i64,
        data: String,
    },
    /// Base64 HTML and text.
    Simple {
        html: Option<String>,
        text: Option<String>,
    },
}

/// What a client asked to send, as strings.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub account_id: i64,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub template: Option<(i64, String)>,
    pub simple: Option<(Option<String>, Option<String>)>,
    /// `(FileName, base64 Content)`.
    pub attachments: Vec<(String, String)>,
    pub trigger_type: i64,
    pub smtp_message_id: Option<String>,
    pub smtp_headers: Option<String>,
    pub header_from: Option<String>,
    /// `Unsubscribe`: the footer language (1-12), 0 for none; `None` takes the sender's
    /// default (UnsubscribeConfig).
    pub unsubscribe: Option<u8>,
}

/// Why a submission was refused. Each variant maps to one Tencent code in `api::actions`.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("FromEmailAddress {0:?} is not an address such as noreply@mail.example.com")]
    IncorrectSender(String),
    #[error("{0} is not a sender address of this account on a verified domain")]
    NotAuthenticatedSender(String),
    #[error("too many recipients: at most {MAX_TO} in Destination and {MAX_CC} each in Cc and Bcc")]
    TooManyRecipients,
    #[error("the message has no recipient")]
    NoRecipient,
    #[error("{0:?} is not a valid recipient address")]
    IncorrectEmail(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("Subject must be 1-998 characters without line breaks")]
    Subject,
    #[error("the message needs a Template or Simple content")]
    MissingContent,
    #[error("template {0} does not exist in this account or is not approved")]
    InvalidTemplate(i64),
    #[error("TemplateData is not a JSON object of plain values: {0}")]
    WrongContentJson(String),
    #[error("TemplateData has no value for the variable {0:?}")]
    MissingVariable(String),
    #[error("this account may only send templates; ask the operator for custom content")]
    WithoutPermission,
    #[error("Simple.{0} is not valid base64 of UTF-8 text")]
    EmailContentIsWrong(&'static str),
    #[error("at most {} attachments", attachment::MAX_ATTACHMENTS)]
    TooManyAttachments,
    #[error("attachment name {0:?}: {1}")]
    InvalidAttachName(String, String),
    #[error("attachment {0:?} is not valid base64")]
    AttachContentIsWrong(String),
    #[error(
        "attachments are at most {} bytes in all",
        attachment::MAX_TOTAL_BYTES_API
    )]
    AttachTooLarge,
    #[error("the message is over {MAX_MESSAGE_BYTES} bytes")]
    ContentTooLarge,
    #[error("the daily sending quota is used up ({0})")]
    ExceedSendLimit(String),
    #[error("every recipient is on the black list")]
    AllBlackListed,
    #[error(
        "every recipient got {MAX_PER_RECIPIENT_PER_HOUR} mails from this account in the last hour"
    )]
    AllFrequencyLimited,
    #[error("every recipient unsubscribed from mail of this sender domain")]
    AllUnsubscribed,
    #[error("the account sends more than {0} recipients per second; slow down and retry")]
    RateLimited(u32),
    /// A message submitted whole breaks a rule of SMTP submission (SES-REFERENCE §11).
    #[error("{0}")]
    Smtp(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl SubmitError {
    /// The Tencent error code of this refusal (`InternalError` for a failure of ours).
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::IncorrectSender(_) => "FailedOperation.IncorrectSender",
            SubmitError::NotAuthenticatedSender(_) => "FailedOperation.NotAuthenticatedSender",
            SubmitError::TooManyRecipients => "FailedOperation.TooManyRecipients",
            SubmitError::NoRecipient => "InvalidParameterValue.EmailAddressIsNULL",
            SubmitError::IncorrectEmail(_) => "FailedOperation.IncorrectEmail",
            SubmitError::InvalidField(_) => "InvalidParameterValue",
            SubmitError::Subject => "InvalidParameterValue.SubjectLengthError",
            SubmitError::MissingContent => "FailedOperation.MissingEmailContent",
            SubmitError::InvalidTemplate(_) => "FailedOperation.InvalidTemplateID",
            SubmitError::WrongContentJson(_) => "FailedOperation.WrongContentJson",
            SubmitError::MissingVariable(_) => "InvalidParameterValue.InValidTemplateData",
            SubmitError::WithoutPermission => "FailedOperation.WithOutPermission",
            SubmitError::EmailContentIsWrong(_) => "InvalidParameterValue.EmailContentIsWrong",
            SubmitError::TooManyAttachments => "FailedOperation.TooManyAttachments",
            SubmitError::InvalidAttachName(..) => "FailedOperation.InvalidAttachName",
            SubmitError::AttachContentIsWrong(_) => "InvalidParameterValue.AttachContentIsWrong",
            SubmitError::AttachTooLarge => "FailedOperation.AttachContentToolarge",
            SubmitError::ContentTooLarge => "FailedOperation.EmailContentToolarge",
            SubmitError::ExceedSendLimit(_) => "FailedOperation.ExceedSendLimit",
            SubmitError::AllBlackListed => "FailedOperation.EmailAddrInBlacklist",
            SubmitError::AllFrequencyLimited => "FailedOperation.FrequencyLimit",
            SubmitError::AllUnsubscribed => "FailedOperation.ReceiverHasUnsubscribed",
            SubmitError::RateLimited(_) => "RequestLimitExceeded",
            SubmitError::Smtp(_) => "FailedOperation",
            SubmitError::Store(_) | SubmitError::Internal(_) => "InternalError",
        }
    }

    /// Whether the failure is ours or passing (storage, rate): the client should retry.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            SubmitError::Store(_) | SubmitError::Internal(_) | SubmitError::RateLimited(_)
        )
    }
}

/// Settings the pipeline needs from the config.
#[derive(Debug, Clone)]
pub struct SubmitSettings {
    pub dkim_selector: String,
    pub time_zone: jiff::tz::TimeZone,
    /// Parsed DKIM keys, shared by every submission of the process.
    pub keys: Arc<SigningKeyCache>,
    /// Recipients per second per account.
    pub mail_rate: Arc<MailRate>,
    /// Signs the tracking and unsubscribe links, under `[api] public_url`.
    pub links: Arc<LinkSettings>,
}

/// How links in mail are made.
#[derive(Debug)]
pub struct LinkSettings {
    pub signer: LinkSigner,
    /// `[api] public_url`: where the pixel, the redirector and the unsubscribe page live.
    pub public_url: String,
}

/// Label of the tracking sub-key (see `Store::derive_key`).
pub const TRACKING_KEY_LABEL: &str = "tracking";

impl LinkSettings {
    pub fn new(store: &Store, public_url: &str) -> LinkSettings {
        LinkSettings {
            signer: LinkSigner::new(store.derive_key(TRACKING_KEY_LABEL)),
            public_url: public_url.to_string(),
        }
    }
}

/// A token bucket per account counting recipients: `per_second` refill, a burst of
/// `max(per_second, 120)` so that one message of the largest size (90 recipients) can pass.
/// Per process: several processes on one database each allow the rate.
pub struct MailRate {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, (f64, std::time::Instant)>>,
}

impl std::fmt::Debug for MailRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailRate({}/s)", self.per_second)
    }
}

impl MailRate {
    /// `per_second` = 0 means unlimited.
    pub fn new(per_second: u32) -> MailRate {
        MailRate {
            per_second: f64::from(per_second),
            burst: f64::from(per_second.max(120)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens from the account's bucket; false when it holds fewer.
    pub fn try_take(&self, account_id: i64, n: usize, now: std::time::Instant) -> bool {
        if self.per_second == 0.0 {
            return true;
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() > 100_000 {
            // Bounded memory: idle accounts' buckets are full anyway.
            buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs() < 60);
        }
        let (tokens, last) = buckets.entry(account_id).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= n as f64 {
            *tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

/// Parsed DKIM signing keys by (domain row, bits). A domain's key of a given size never
/// changes (a re-created domain gets a new row), so entries never go stale; the map holds
/// at most two keys per domain.
#[derive(Default)]
pub struct SigningKeyCache {
    keys: Mutex<HashMap<(i64, i64), Arc<DkimSigningKey>>>,
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.keys.lock().map(|k| k.len()).unwrap_or(0);
        write!(f, "SigningKeyCache({n} keys)")
    }
}

impl SigningKeyCache {
    fn get(&self, domain_id: i64, bits: i64) -> Option<Arc<DkimSigningKey>> {
        self.keys.lock().ok()?.get(&(domain_id, bits)).cloned()
    }

    fn insert(&self, domain_id: i64, bits: i64, key: Arc<DkimSigningKey>) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert((domain_id, bits), key);
        }
    }
}

/// An accepted submission.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The API MessageId.
    pub message_id: String,
    /// The RFC 5322 Message-ID, without `<>`.
    pub header_message_id: String,
    /// Deliveries queued (refused recipients excluded).
    pub n_queued: usize,
}

/// Runs the pipeline; the answer comes only after the message is committed.
pub async fn submit(
    store: &Store,
    settings: &SubmitSettings,
    submission: Submission,
    now: i64,
) -> Result<Accepted, SubmitError> {
    let account_id = submission.account_id;
    let sender = parse_sender(&submission.from)?;
    let address = sender.address.to_string();
    // Every control-plane row this mail needs, in one look-up.
    let context = store
        .send_context(
            account_id,
            &address,
            sender.address.domain().as_str(),
            submission.template.as_ref().map(|(id, _)| *id),
        )
        .await?;
    let (sender_row, domain) = sender_rows(address, context.sender, context.domain)?;
    let recipients = check_recipients(&submission)?;
    check_subject(&submission.subject)?;
    let account = context.account;
    let (subject, html, text, template_id) =
        render_content(context.template, account.as_ref(), &submission)?;
    let attachments = check_attachments(&submission.attachments)?;
    let reply_to = reply_to_mailbox(submission.reply_to.as_deref())?;
    let from = match &submission.header_from {
        Some(h) if !h.trim().is_empty() => {
            let parsed = Sender::parse(h).map_err(|_| {
                SubmitError::InvalidField(format!("HeaderFrom {h:?} is not an address"))
            })?;
            if parsed.address.domain() != sender.address.domain() {
                return Err(SubmitError::InvalidField(format!(
                    "HeaderFrom must be at {}, the domain of FromEmailAddress",
                    sender.address.domain()
                )));
            }
            mailbox(&parsed)
        }
        _ => Mailbox {
            name: sender
                .alias
                .clone()
                .or_else(|| (!sender_row.alias.is_empty()).then(|| sender_row.alias.clone())),
            address: sender.address.to_string(),
        },
    };
    let extra_headers = parse_smtp_headers(submission.smtp_headers.as_deref())?;
    let header_message_id = match &submission.smtp_message_id {
        Some(id) if !id.trim().is_empty() => check_message_id(id)?,
        _ => sesame_mail::mime::message_id(sender.address.domain().as_str()),
    };

    let draft = Draft {
        from,
        to: recipients.to.iter().map(plain_mailbox).collect(),
        cc: recipients.cc.iter().map(plain_mailbox).collect(),
        reply_to,
        subject: subject.clone(),
        html,
        text,
        attachments,
        message_id: header_message_id.clone(),
        date_unix: now,
        extra_headers,
    };
    let message =
        sesame_mail::mime::build(&draft).map_err(|e| SubmitError::InvalidField(e.to_string()))?;
    let unsubscribe = footer_language(context.unsubscribe, submission.unsubscribe);
    let tracking = draft.html.is_some() && account.as_ref().is_some_and(|a| a.tracking);
    let personalise = (tracking || unsubscribe > 0).then_some(Personalise {
        draft,
        tracking,
        unsubscribe,
    });
    admit(
        store,
        settings,
        Prepared {
            account_id,
            account_cap: account.and_then(|a| a.daily_quota),
            sender_address: sender.address.to_string(),
            domain,
            recipients: recipients.all,
            header_message_id,
            subject,
            template_id,
            trigger_type: submission.trigger_type,
            message,
            personalise,
        },
        now,
    )
    .await
}

/// How each recipient's copy differs: its own open pixel and tracked links, its own
/// unsubscribe link (footer and RFC 8058 List-Unsubscribe headers).
struct Personalise {
    draft: Draft,
    tracking: bool,
    /// Footer language 1-12, or 0.
    unsubscribe: u8,
}

impl Personalise {
    fn copy_for(&self, links: &RecipientLinks<'_>) -> Result<Vec<u8>, SubmitError> {
        personalised_copy(self.draft.clone(), self.tracking, self.unsubscribe, links)
    }
}

/// Builds one recipient's copy of `draft`: its tracked links and open pixel (`tracking`), its
/// unsubscribe footer and RFC 8058 headers (`unsubscribe`, a footer language, or 0).
fn personalised_copy(
    mut draft: Draft,
    tracking: bool,
    unsubscribe: u8,
    links: &RecipientLinks<'_>,
) -> Result<Vec<u8>, SubmitError> {
    let unsubscribe_url = links.unsubscribe_url();
    if let Some(html) = &draft.html {
        let mut html = if tracking {
            tracking::rewrite_links(html, |url| Some(links.click_url(url)))
        } else {
            html.clone()
        };
        if unsubscribe > 0 {
            html = tracking::add_html_footer(&html, unsubscribe, &unsubscribe_url);
        }
        if tracking {
            html = tracking::add_pixel(&html, &links.open_url());
        }
        draft.html = Some(html);
    }
    if unsubscribe > 0 {
        if let Some(text) = &draft.text {
            draft.text = Some(tracking::add_text_footer(
                text,
                unsubscribe,
                &unsubscribe_url,
            ));
        }
        draft
            .extra_headers
            .retain(|(name, _)| !name.to_ascii_lowercase().starts_with("list-unsubscribe"));
        draft
            .extra_headers
            .push(("List-Unsubscribe".into(), format!("<{unsubscribe_url}>")));
        draft.extra_headers.push((
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into(),
        ));
    }
    sesame_mail::mime::build(&draft).map_err(|e| SubmitError::InvalidField(e.to_string()))
}

/// A message built (API) or received whole (SMTP), checked for everything but policy.
struct Prepared {
    account_id: i64,
    /// The account's own daily cap (an operator's override), if any.
    account_cap: Option<i64>,
    sender_address: String,
    domain: sesame_store::domains::Domain,
    /// Every envelope recipient, without repeats.
    recipients: Vec<EmailAddress>,
    header_message_id: String,
    subject: String,
    template_id: Option<i64>,
    trigger_type: i64,
    message: Vec<u8>,
    /// Set when each recipient gets its own copy (tracking, unsubscribe links).
    personalise: Option<Personalise>,
}

/// The part of the pipeline both doors share: the black lists and frequency per recipient,
/// the quotas, the mail rate, the size, the DKIM key check, and the one enqueue transaction.
async fn admit(
    store: &Store,
    settings: &SubmitSettings,
    prepared: Prepared,
    now: i64,
) -> Result<Accepted, SubmitError> {
    let account_id = prepared.account_id;
    if prepared.message.len() > MAX_MESSAGE_BYTES {
        return Err(SubmitError::ContentTooLarge);
    }
    // Policy per recipient: black lists and frequency. Refused recipients are recorded.
    let addresses: Vec<String> = prepared.recipients.iter().map(|r| r.to_string()).collect();
    let verdicts = recipient_policy(
        store,
        account_id,
        prepared.domain.name.as_str(),
        &addresses,
        now,
    )
    .await?;
    let deliveries: Vec<(String, String, i64, &'static str)> = addresses
        .into_iter()
        .zip(&prepared.recipients)
        .zip(verdicts)
        .map(|((address, recipient), (status, why))| {
            (address, recipient.domain().to_string(), status, why)
        })
        .collect();
    let n_accepted = deliveries.iter().filter(|d| d.2 == 0).count();
    if n_accepted == 0 {
        return Err(
            if deliveries.iter().any(|d| d.2 == SEND_STATUS_BLACKLISTED) {
                SubmitError::AllBlackListed
            } else if deliveries.iter().any(|d| d.2 == SEND_STATUS_UNSUBSCRIBED) {
                SubmitError::AllUnsubscribed
            } else {
                SubmitError::AllFrequencyLimited
            },
        );
    }
    // The caps as they stand; the enqueue applies them exactly, and only a mail that would
    // pass one looks at today's counts (healthy volume may raise the domain's level first).
    let mut caps = Caps {
        domain: reputation::daily_quota(prepared.domain.reputation_level.max(1) as u32) as i64,
        account: prepared.account_cap,
    };
    if !settings
        .mail_rate
        .try_take(account_id, n_accepted, std::time::Instant::now())
    {
        return Err(SubmitError::RateLimited(
            settings.mail_rate.per_second as u32,
        ));
    }
    let message_id = api_message_id(account_id, now, &settings.time_zone);
    // The message is stored unsigned and signed at each delivery attempt (`sign_at_delivery`),
    // off the path a caller waits on; the domain's key(s) are checked (and parsed, once per
    // process) now, so a message that could not be signed is refused, not queued.
    signers(store, settings, &prepared.domain).await?;
    // A personalised message is sent only as its recipients' copies: the message row keeps
    // the base for reference.
    let mut copies: HashMap<usize, Vec<u8>> = HashMap::new();
    if let Some(personalise) = &prepared.personalise {
        for (i, (recipient, _, status, _)) in deliveries.iter().enumerate() {
            if *status != 0 {
                continue;
            }
            let links = RecipientLinks {
                signer: &settings.links.signer,
                base: &settings.links.public_url,
                message_id: &message_id,
                recipient,
            };
            let copy = personalise.copy_for(&links)?;
            if copy.len() > MAX_MESSAGE_BYTES {
                return Err(SubmitError::ContentTooLarge);
            }
            copies.insert(i, copy);
        }
    }
    // A personalised message with one recipient is stored once: that recipient's copy is the
    // message's body, and its delivery sends the message's (no second copy to write).
    let mut body = prepared.message;
    if n_accepted == 1
        && let Some((_, copy)) = copies.drain().next()
    {
        body = copy;
    }

    let new_deliveries: Vec<NewDelivery<'_>> = deliveries
        .iter()
        .enumerate()
        .map(
            |(i, (recipient, recipient_domain, status, why))| NewDelivery {
                recipient,
                recipient_domain,
                send_status: *status,
                deliver_message: why,
                body: copies.get(&i).map(Vec::as_slice),
            },
        )
        .collect();
    let mut counted = false;
    loop {
        let new_message = NewMessage {
            account_id,
            message_id: &message_id,
            header_message_id: &prepared.header_message_id,
            from_address: &prepared.sender_address,
            domain_id: prepared.domain.id,
            subject: &prepared.subject,
            template_id: prepared.template_id,
            trigger_type: prepared.trigger_type,
            body: &body,
            sign_pending: true,
            day: sesame_core::time::start_of_day(now, &settings.time_zone),
            account_cap: caps.account,
            domain_cap: Some(caps.domain),
        };
        match store.enqueue(&new_message, &new_deliveries, now).await {
            Ok(_) => break,
            // A cap would be passed: read today's counts (promoting the domain on healthy
            // volume) and try once more under the caps they give, or refuse.
            Err(StoreError::QuotaExceeded(_)) if !counted => {
                counted = true;
                caps = check_quota(
                    store,
                    caps.account,
                    account_id,
                    &prepared.domain,
                    n_accepted as i64,
                    now,
                    &settings.time_zone,
                )
                .await?;
            }
            // Another submission took the rest of the quota since `check_quota` looked.
            Err(StoreError::QuotaExceeded(scope)) => {
                return Err(SubmitError::ExceedSendLimit(match scope {
                    "account" => {
                        format!("the account may send {} a day", caps.account.unwrap_or(0))
                    }
                    _ => format!(
                        "{} may send {} a day at its reputation level",
                        prepared.domain.name, caps.domain
                    ),
                }));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Accepted {
        message_id,
        header_message_id: prepared.header_message_id,
        n_queued: n_accepted,
    })
}

/// What a batch task sends: one message per recipient, from an approved template.
#[derive(Debug, Clone)]
pub struct Batch {
    pub account_id: i64,
    /// FromEmailAddress as given (an alias kept).
    pub from: String,
    pub reply_to: Option<String>,
    /// The subject with its template variables (and advertisement mark).
    pub subject: String,
    pub template_id: i64,
    /// The footer language (1-12), 0 for none; `None` takes the sender's UnsubscribeConfig.
    pub unsubscribe: Option<u8>,
    pub trigger_type: i64,
}

/// One recipient of a batch: its address and TemplateData (the task's, overridden by its own).
#[derive(Debug, Clone)]
pub struct BatchRecipient {
    pub email: String,
    pub template_data: String,
}

/// What became of one recipient of a prepared batch.
#[derive(Debug)]
pub enum BatchOutcome {
    /// Checked (its data renders): queued when the chunk commits, if the quota still takes
    /// it; rendered and signed by the delivery worker at its first attempt.
    Ready,
    /// Refused for itself: black-listed, unsubscribed, over the frequency limit, or its own
    /// data or message is wrong. The error says which, as `submit` would have.
    Skipped(SubmitError),
    /// Not handled: the daily quota had no room left for it.
    NoRoom,
}

/// What rendering a batch task's recipient copy needs, frozen when its chunk is fanned out
/// (`task_snapshots`): a later edit or deletion of the template, the sender or its settings
/// changes nothing of mail already in the queue. Serialized as JSON, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchSnapshot {
    /// The From display name (the task's alias, else the sender's), if any.
    pub from_name: Option<String>,
    pub from_address: String,
    pub reply_to: Option<String>,
    /// The subject with its template variables (and advertisement mark).
    pub subject: String,
    /// The template's bodies ("" = none), with their variables.
    pub html: String,
    pub text: String,
    /// Open and click tracking (the account's, for an HTML template).
    pub tracking: bool,
    /// The footer language 1-12, or 0.
    pub unsubscribe: u8,
    /// The sender domain, whose DKIM key(s) sign at delivery.
    pub domain_id: i64,
    pub domain_name: String,
}

/// A batch whose per-task checks passed and whose recipients are settled, with the message
/// of each recipient that is `Ready` (no body: rendered at delivery from `snapshot`),
/// waiting for one enqueue transaction (`Store::enqueue_task_chunk`, with `chunk`).
pub struct PreparedBatch {
    /// Per recipient, in the order given.
    pub outcomes: Vec<BatchOutcome>,
    /// The messages of the `Ready` recipients, in the same order.
    messages: Vec<BatchMessage>,
    /// The task's snapshot as JSON.
    snapshot: String,
    account_id: i64,
    domain_id: i64,
    domain_name: String,
    from_address: String,
    template_id: i64,
    trigger_type: i64,
    day: i64,
    quota: Quota,
}

struct BatchMessage {
    message_id: String,
    header_message_id: String,
    subject: String,
    recipient: String,
    recipient_domain: String,
    render_data: String,
}

impl PreparedBatch {
    /// The chunk to commit for task `task_id`.
    pub fn chunk(&self, task_id: i64) -> NewChunk<'_> {
        NewChunk {
            task_id,
            snapshot: &self.snapshot,
            account_id: self.account_id,
            domain_id: self.domain_id,
            from_address: &self.from_address,
            template_id: Some(self.template_id),
            trigger_type: self.trigger_type,
            day: self.day,
            account_cap: self.quota.caps.account,
            domain_cap: Some(self.quota.caps.domain),
            messages: self
                .messages
                .iter()
                .map(|m| ChunkMessage {
                    message_id: &m.message_id,
                    header_message_id: &m.header_message_id,
                    subject: &m.subject,
                    recipient: &m.recipient,
                    recipient_domain: &m.recipient_domain,
                    render_data: &m.render_data,
                })
                .collect(),
        }
    }

    /// How many recipients (from the first) are settled once the first `n_queued` messages
    /// are committed: those before the next `Ready` one and before the first `NoRoom`.
    pub fn settled(&self, n_queued: usize) -> usize {
        let mut n_ready = 0;
        for (i, outcome) in self.outcomes.iter().enumerate() {
            match outcome {
                BatchOutcome::Ready if n_ready == n_queued => return i,
                BatchOutcome::Ready => n_ready += 1,
                BatchOutcome::NoRoom => return i,
                BatchOutcome::Skipped(_) => {}
            }
        }
        self.outcomes.len()
    }

    /// The daily quota's refusal when it stopped the batch: the commit was cut short
    /// (`short_of`), or recipients found no room and the commit used all there was.
    pub fn quota_stop(&self, n_queued: usize, short_of: Option<&str>) -> Option<SubmitError> {
        if let Some(scope) = short_of {
            return Some(self.quota.exceeded(scope, &self.domain_name));
        }
        let no_room = self
            .outcomes
            .iter()
            .any(|o| matches!(o, BatchOutcome::NoRoom));
        if no_room && n_queued as i64 >= self.quota.room() {
            let domain_room = self.quota.caps.domain - self.quota.domain_sent;
            let scope = if domain_room <= self.quota.room() {
                "domain"
            } else {
                "account"
            };
            return Some(self.quota.exceeded(scope, &self.domain_name));
        }
        None
    }
}

/// The batch door of the pipeline: the per-task checks once (sender on a verified domain,
/// the template, the account's flags, the unsubscribe footer, the DKIM keys), frozen into the
/// task's snapshot, then per recipient only what differs: its address and data (rendered
/// once to check them, on the blocking pool), the black lists, unsubscribes and frequency
/// (one look-up of each kind for the whole batch), the daily quota's room and the mail rate.
/// Nothing is built or signed here: the delivery worker renders, signs and stores each
/// copy at its first attempt (`render_pending`). Nothing is stored: the caller commits
/// `chunk` in one transaction with its progress. A failure of the task itself (sender,
/// template, storage, rate) is the `Err`; a recipient's own refusal is its outcome.
pub async fn prepare_batch(
    store: &Store,
    settings: &SubmitSettings,
    batch: &Batch,
    recipients: &[BatchRecipient],
    now: i64,
) -> Result<PreparedBatch, SubmitError> {
    let account_id = batch.account_id;
    let (sender, sender_row, domain) = check_sender(store, account_id, &batch.from).await?;
    check_subject(&batch.subject)?;
    let template = store
        .template(account_id, batch.template_id)
        .await?
        .filter(|t| t.status == template_status::APPROVED)
        .ok_or(SubmitError::InvalidTemplate(batch.template_id))?;
    let account = store.account(account_id).await?;
    reply_to_mailbox(batch.reply_to.as_deref())?;
    let unsubscribe = unsubscribe_language(store, account_id, &sender, batch.unsubscribe).await?;
    // The keys are checked now (a domain without them stops the task), used at delivery.
    signers(store, settings, &domain).await?;
    let snapshot = BatchSnapshot {
        from_name: sender
            .alias
            .clone()
            .or_else(|| (!sender_row.alias.is_empty()).then(|| sender_row.alias.clone())),
        from_address: sender.address.to_string(),
        reply_to: batch.reply_to.clone(),
        subject: batch.subject.clone(),
        tracking: !template.html.is_empty() && account.as_ref().is_some_and(|a| a.tracking),
        html: template.html.clone(),
        text: template.text.clone(),
        unsubscribe,
        domain_id: domain.id,
        domain_name: domain.name.clone(),
    };
    let snapshot_json =
        serde_json::to_string(&snapshot).map_err(|e| SubmitError::Internal(e.to_string()))?;

    // Per recipient: its address, and its data rendered once to check it.
    let checked = check_renders(Arc::new(snapshot), recipients.to_vec()).await?;
    let mut outcomes: Vec<BatchOutcome> = Vec::with_capacity(recipients.len());
    let mut rendered: Vec<Option<(EmailAddress, String)>> = Vec::with_capacity(recipients.len());
    for result in checked {
        match result {
            Ok(r) => {
                outcomes.push(BatchOutcome::Ready);
                rendered.push(Some(r));
            }
            Err(e) => {
                outcomes.push(BatchOutcome::Skipped(e));
                rendered.push(None);
            }
        }
    }
    let addresses: Vec<String> = rendered
        .iter()
        .flatten()
        .map(|(address, _)| address.to_string())
        .collect();
    let mut verdicts = recipient_policy(store, account_id, domain.name.as_str(), &addresses, now)
        .await?
        .into_iter();
    for (outcome, r) in outcomes.iter_mut().zip(&rendered) {
        if r.is_none() {
            continue;
        }
        match verdicts.next().map(|(status, _)| status) {
            Some(SEND_STATUS_BLACKLISTED) => {
                *outcome = BatchOutcome::Skipped(SubmitError::AllBlackListed)
            }
            Some(SEND_STATUS_UNSUBSCRIBED) => {
                *outcome = BatchOutcome::Skipped(SubmitError::AllUnsubscribed)
            }
            Some(SEND_STATUS_FREQUENCY) => {
                *outcome = BatchOutcome::Skipped(SubmitError::AllFrequencyLimited)
            }
            _ => {}
        }
    }

    // The quota's room: recipients past it wait (the store applies the caps again, exactly).
    let n_admitted = outcomes
        .iter()
        .filter(|o| matches!(o, BatchOutcome::Ready))
        .count();
    let quota = today_quota(
        store,
        account.as_ref().and_then(|a| a.daily_quota),
        account_id,
        &domain,
        n_admitted as i64,
        now,
        &settings.time_zone,
    )
    .await?;
    let mut room = usize::try_from(quota.room()).unwrap_or(usize::MAX);
    let mut messages: Vec<BatchMessage> = Vec::with_capacity(n_admitted.min(room));
    for ((outcome, r), recipient) in outcomes.iter_mut().zip(rendered).zip(recipients) {
        if !matches!(outcome, BatchOutcome::Ready) {
            continue;
        }
        if room == 0 {
            *outcome = BatchOutcome::NoRoom;
            continue;
        }
        room -= 1;
        let Some((address, subject)) = r else {
            continue;
        };
        messages.push(BatchMessage {
            message_id: api_message_id(account_id, now, &settings.time_zone),
            header_message_id: sesame_mail::mime::message_id(sender.address.domain().as_str()),
            subject,
            recipient: address.to_string(),
            recipient_domain: address.domain().to_string(),
            render_data: recipient.template_data.clone(),
        });
    }
    if !messages.is_empty()
        && !settings
            .mail_rate
            .try_take(account_id, messages.len(), std::time::Instant::now())
    {
        return Err(SubmitError::RateLimited(
            settings.mail_rate.per_second as u32,
        ));
    }
    Ok(PreparedBatch {
        outcomes,
        messages,
        snapshot: snapshot_json,
        account_id,
        domain_id: domain.id,
        domain_name: domain.name.clone(),
        from_address: sender.address.to_string(),
        template_id: template.id,
        trigger_type: batch.trigger_type,
        day: sesame_core::time::start_of_day(now, &settings.time_zone),
        quota,
    })
}

/// Renders each recipient's data once to check it (a missing variable, a bad subject, a
/// message too large to build), on the blocking pool in one part per core; per recipient,
/// in order: its address and rendered subject, or why it cannot be sent.
async fn check_renders(
    snapshot: Arc<BatchSnapshot>,
    recipients: Vec<BatchRecipient>,
) -> Result<Vec<Result<(EmailAddress, String), SubmitError>>, SubmitError> {
    in_parts(recipients, Cores::All, move |recipient| {
        let (address, subject, html, text) = render_for(&snapshot, &recipient)?;
        let size = html.as_ref().map_or(0, String::len) + text.as_ref().map_or(0, String::len);
        if size > MAX_MESSAGE_BYTES {
            return Err(SubmitError::ContentTooLarge);
        }
        Ok((address, subject))
    })
    .await
}

/// A recipient's address, and its subject, HTML and text rendered with its data.
type Rendered = (EmailAddress, String, Option<String>, Option<String>);

/// The snapshot's subject and bodies rendered with the recipient's data (the same at fan-out,
/// to check, and at delivery, to build).
fn render_for(
    snapshot: &BatchSnapshot,
    recipient: &BatchRecipient,
) -> Result<Rendered, SubmitError> {
    let address = EmailAddress::parse(&recipient.email)
        .ok_or_else(|| SubmitError::IncorrectEmail(recipient.email.chars().take(64).collect()))?;
    let data = if recipient.template_data.trim().is_empty() {
        "{}"
    } else {
        recipient.template_data.as_str()
    };
    let values: BTreeMap<String, String> = render::parse_template_data(data)
        .map_err(|e| SubmitError::WrongContentJson(e.to_string()))?;
    let fill = |body: &str, escape: Escape| -> Result<String, SubmitError> {
        render::render(body, &values, escape).map_err(render_error)
    };
    let subject = fill(&snapshot.subject, Escape::None)?;
    check_subject(&subject)?;
    let html = (!snapshot.html.is_empty())
        .then(|| fill(&snapshot.html, Escape::Html))
        .transpose()?;
    let text = (!snapshot.text.is_empty())
        .then(|| fill(&snapshot.text, Escape::None))
        .transpose()?;
    Ok((address, subject, html, text))
}

/// Runs `work` over `items` in parts (`cpu::in_parts`); a part that failed fails the call.
async fn in_parts<T, R, F>(items: Vec<T>, cores: Cores, work: F) -> Result<Vec<R>, SubmitError>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    crate::cpu::in_parts(items, cores, work)
        .await
        .ok_or_else(|| SubmitError::Internal("a CPU task failed".into()))
}

/// One batch task's message still to render, as the delivery worker leased it.
#[derive(Debug, Clone)]
pub struct RenderJob {
    pub pending: sesame_store::queue::PendingRender,
    pub recipient: String,
}

/// What every message rendered from one snapshot shares while it is built and signed.
struct BatchShared {
    snapshot: BatchSnapshot,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    links: Arc<LinkSettings>,
    signers: Signers,
}

/// The delivery side of the batch door: renders, builds and DKIM-signs batch tasks'
/// recipient copies from their tasks' frozen snapshots, on the blocking pool in one part
/// per core (`build_one`: the same build and signature as every message). Per job, its
/// message row and the signed bytes, or why it cannot be built: a `SubmitError::Store` is
/// passing (try again later); any other error is final (the snapshot, the sender domain or
/// its DKIM key is gone, the data no longer renders).
pub async fn render_pending(
    store: &Store,
    settings: &SubmitSettings,
    jobs: Vec<RenderJob>,
) -> Vec<(i64, Result<Vec<u8>, SubmitError>)> {
    let mut shared: HashMap<i64, Result<Arc<BatchShared>, String>> = HashMap::new();
    let mut done: Vec<(i64, Result<Vec<u8>, SubmitError>)> = Vec::new();
    let mut ready: Vec<(Arc<BatchShared>, RenderJob)> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let id = job.pending.render_id;
        let entry = match shared.entry(id) {
            std::collections::hash_map::Entry::Occupied(found) => found.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                match shared_of(store, settings, id).await {
                    Ok(s) => slot.insert(Ok(Arc::new(s))),
                    // Passing: this job is tried again at a later lease.
                    Err(SubmitError::Store(e)) => {
                        done.push((job.pending.message_row, Err(SubmitError::Store(e))));
                        continue;
                    }
                    Err(e) => slot.insert(Err(e.to_string())),
                }
            }
        };
        match entry {
            Ok(s) => ready.push((s.clone(), job)),
            Err(why) => done.push((
                job.pending.message_row,
                Err(SubmitError::InvalidField(why.clone())),
            )),
        }
    }
    match in_parts(ready, Cores::Background, |(shared, job)| {
        (job.pending.message_row, build_one(&shared, &job))
    })
    .await
    {
        Ok(built) => done.extend(built),
        Err(e) => tracing::error!(error = %e, "rendering batch messages failed"),
    }
    done
}

/// Loads snapshot `id` and what signing needs: the sender domain (the same row, so a domain
/// deleted and created again does not sign) and its parsed key(s).
async fn shared_of(
    store: &Store,
    settings: &SubmitSettings,
    id: i64,
) -> Result<BatchShared, SubmitError> {
    let text = store
        .task_snapshot(id)
        .await?
        .ok_or_else(|| SubmitError::Internal(format!("the batch task's snapshot {id} is gone")))?;
    let snapshot: BatchSnapshot = serde_json::from_str(&text)
        .map_err(|e| SubmitError::Internal(format!("the batch task's snapshot {id}: {e}")))?;
    let domain = store
        .domain_by_name(&snapshot.domain_name)
        .await?
        .filter(|d| d.id == snapshot.domain_id)
        .ok_or_else(|| {
            SubmitError::Internal(format!(
                "the sender domain {} was deleted",
                snapshot.domain_name
            ))
        })?;
    let signers = signers(store, settings, &domain).await?;
    Ok(BatchShared {
        from: Mailbox {
            name: snapshot.from_name.clone(),
            address: snapshot.from_address.clone(),
        },
        reply_to: reply_to_mailbox(snapshot.reply_to.as_deref())?,
        links: settings.links.clone(),
        signers,
        snapshot,
    })
}

/// One recipient's copy: rendered from the snapshot with its data, built (its tracking and
/// unsubscribe links) and signed. CPU work.
fn build_one(shared: &BatchShared, job: &RenderJob) -> Result<Vec<u8>, SubmitError> {
    let snapshot = &shared.snapshot;
    let recipient = BatchRecipient {
        email: job.recipient.clone(),
        template_data: job.pending.render_data.clone(),
    };
    let (address, subject, html, text) = render_for(snapshot, &recipient)?;
    let draft = Draft {
        from: shared.from.clone(),
        to: vec![plain_mailbox(&address)],
        cc: Vec::new(),
        reply_to: shared.reply_to.clone(),
        subject,
        html,
        text,
        attachments: Vec::new(),
        message_id: job.pending.header_message_id.clone(),
        date_unix: job.pending.created_at,
        extra_headers: Vec::new(),
    };
    let message = if snapshot.tracking || snapshot.unsubscribe > 0 {
        let recipient = address.to_string();
        let links = RecipientLinks {
            signer: &shared.links.signer,
            base: &shared.links.public_url,
            message_id: &job.pending.message_id,
            recipient: &recipient,
        };
        personalised_copy(draft, snapshot.tracking, snapshot.unsubscribe, &links)?
    } else {
        sesame_mail::mime::build(&draft).map_err(|e| SubmitError::InvalidField(e.to_string()))?
    };
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(SubmitError::ContentTooLarge);
    }
    sign_now(&shared.signers, &snapshot.domain_name, &message)
}

/// A message a client composed itself and sent whole (SMTP submission).
#[derive(Debug, Clone, Default)]
pub struct RawSubmission {
    pub account_id: i64,
    /// The envelope sender (MAIL FROM): a sender address of the account.
    pub mail_from: String,
    /// The envelope recipients (RCPT TO).
    pub recipients: Vec<String>,
    /// The message as received, CRLF line endings.
    pub data: Vec<u8>,
}

/// Most attachment bytes of one SMTP attachment, and of all of them.
pub const MAX_SMTP_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_SMTP_ATTACHMENTS_BYTES: usize = 10 * 1024 * 1024;
/// Most bytes of an SMTP message without its attachments.
pub const MAX_SMTP_BODY_BYTES: usize = 1024 * 1024;
/// Largest SMTP message, attachments included (advertised as SIZE).
pub const MAX_SMTP_MESSAGE_BYTES: usize = 12 * 1024 * 1024;

/// Headers a submitted message loses: Bcc must never travel, and the others are the
/// receiving side's to write.
const DROPPED_HEADERS: &[&str] = &["Bcc", "Return-Path", "Delivered-To", "X-Original-To"];

/// Runs the pipeline on a whole message: the client's MIME is kept byte for byte; only
/// Message-ID and Date (when missing) and the DKIM signature are added, and Bcc dropped.
pub async fn submit_raw(
    store: &Store,
    settings: &SubmitSettings,
    raw: RawSubmission,
    now: i64,
) -> Result<Accepted, SubmitError> {
    let sender = parse_sender(&raw.mail_from)?;
    let address = sender.address.to_string();
    let context = store
        .send_context(
            raw.account_id,
            &address,
            sender.address.domain().as_str(),
            None,
        )
        .await?;
    let (_, domain) = sender_rows(address, context.sender, context.domain)?;
    if raw.recipients.len() > MAX_TO {
        return Err(SubmitError::TooManyRecipients);
    }
    let mut recipients: Vec<EmailAddress> = Vec::with_capacity(raw.recipients.len());
    for text in &raw.recipients {
        let address = EmailAddress::parse(text)
            .ok_or_else(|| SubmitError::IncorrectEmail(text.chars().take(64).collect()))?;
        if !recipients.contains(&address) {
            recipients.push(address);
        }
    }
    if recipients.is_empty() {
        return Err(SubmitError::NoRecipient);
    }
    if raw.data.len() > MAX_SMTP_MESSAGE_BYTES {
        return Err(SubmitError::ContentTooLarge);
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(&raw.data)
        .ok_or_else(|| {
            SubmitError::Smtp("msg.Body is null: the message has no MIME structure".into())
        })?;
    let header_from = parsed
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .ok_or_else(|| {
            SubmitError::Smtp("msg.From is null: the message needs a From header".into())
        })?;
    let header_from = EmailAddress::parse(header_from).ok_or_else(|| {
        SubmitError::Smtp(format!("the From header {header_from:?} is not an address"))
    })?;
    if header_from.domain() != sender.address.domain() {
        return Err(SubmitError::NotAuthenticatedSender(header_from.to_string()));
    }
    let subject = parsed.subject().map(str::trim).unwrap_or_default();
    if subject.is_empty() {
        return Err(SubmitError::Smtp(
            "msg.Subject is null: the message needs a Subject".into(),
        ));
    }
    check_subject(subject)?;
    check_smtp_parts(&parsed, raw.data.len())?;

    let header_message_id = match parsed.message_id() {
        Some(id) => check_message_id(id)?,
        None => sesame_mail::mime::message_id(sender.address.domain().as_str()),
    };
    let mut added: Vec<(&str, String)> = Vec::new();
    if parsed.message_id().is_none() {
        added.push(("Message-ID", format!("<{header_message_id}>")));
    }
    if parsed.date().is_none() {
        added.push(("Date", sesame_mail::mime::rfc2822_date(now)));
    }
    let added: Vec<(&str, &str)> = added.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let message = sesame_mail::headers::rewrite(&raw.data, DROPPED_HEADERS, &added);
    let subject = subject.to_string();
    drop(parsed);
    admit(
        store,
        settings,
        Prepared {
            account_id: raw.account_id,
            account_cap: context.account.and_then(|a| a.daily_quota),
            sender_address: sender.address.to_string(),
            domain,
            recipients,
            header_message_id,
            subject,
            template_id: None,
            trigger_type: 1,
            message,
            // The client's MIME is kept as sent: no tracking or footer is added.
            personalise: None,
        },
        now,
    )
    .await
}

/// The SMTP limits of SES-REFERENCE §10-11 on a parsed message: some body, at most 10
/// attachments, none on the block-list, each within 5 MB and all within 10 MB, base64 only,
/// and at most 1 MB without them.
fn check_smtp_parts(parsed: &mail_parser::Message<'_>, total: usize) -> Result<(), SubmitError> {
    use mail_parser::MimeHeaders;
    let n_attachments = parsed.attachment_count();
    if parsed.text_body_count() == 0 && parsed.html_body_count() == 0 && n_attachments == 0 {
        return Err(SubmitError::Smtp(
            "msg.Body is null: the message has no body".into(),
        ));
    }
    if n_attachments > attachment::MAX_ATTACHMENTS {
        return Err(SubmitError::TooManyAttachments);
    }
    let mut decoded_total = 0;
    let mut raw_total = 0;
    for part in parsed.attachments() {
        let name = part.attachment_name().unwrap_or("");
        if attachment::is_blocked(name) {
            return Err(SubmitError::InvalidAttachName(
                name.chars().take(64).collect(),
                "this type of file may not be sent".into(),
            ));
        }
        let is_message = matches!(part.body, mail_parser::PartType::Message(_));
        if !is_message && part.encoding != mail_parser::Encoding::Base64 {
            return Err(SubmitError::Smtp(format!(
                "Incorrect attachment content: attachment {:?} must be base64-encoded",
                name.chars().take(64).collect::<String>()
            )));
        }
        let size = part.len();
        decoded_total += size;
        raw_total += part
            .raw_end_offset()
            .saturating_sub(part.raw_header_offset()) as usize;
        if size > MAX_SMTP_ATTACHMENT_BYTES || decoded_total > MAX_SMTP_ATTACHMENTS_BYTES {
            return Err(SubmitError::Smtp(format!(
                "The attachments are too large: at most {} MB each and {} MB in all",
                MAX_SMTP_ATTACHMENT_BYTES >> 20,
                MAX_SMTP_ATTACHMENTS_BYTES >> 20
            )));
        }
    }
    if total.saturating_sub(raw_total) > MAX_SMTP_BODY_BYTES {
        return Err(SubmitError::Smtp(format!(
            "The email is too large: at most {} MB without attachments",
            MAX_SMTP_BODY_BYTES >> 20
        )));
    }
    Ok(())
}

/// `ReplyToAddresses`, if given.
fn reply_to_mailbox(reply_to: Option<&str>) -> Result<Option<Mailbox>, SubmitError> {
    match reply_to {
        Some(r) if !r.trim().is_empty() => Ok(Some(mailbox(&Sender::parse(r).map_err(|_| {
            SubmitError::InvalidField(format!("ReplyToAddresses {r:?} is not an address"))
        })?))),
        _ => Ok(None),
    }
}

/// The unsubscribe footer's language: the one asked for, else the sender's
/// UnsubscribeConfig when it is on, else 0 (none).
async fn unsubscribe_language(
    store: &Store,
    account_id: i64,
    sender: &Sender,
    asked: Option<u8>,
) -> Result<u8, SubmitError> {
    let config = match asked {
        Some(_) => None,
        None => {
            store
                .unsubscribe_config(account_id, &sender.address.to_string())
                .await?
        }
    };
    Ok(footer_language(config, asked))
}

/// The footer language: the one asked for, else the sender's setting when it is on, else 0.
fn footer_language(config: Option<UnsubscribeConfig>, asked: Option<u8>) -> u8 {
    asked.unwrap_or_else(|| {
        config
            .filter(|c| c.status == 1)
            .and_then(|c| c.language.parse::<u8>().ok())
            .unwrap_or(0)
    })
}

fn plain_mailbox(address: &EmailAddress) -> Mailbox {
    Mailbox {
        name: None,
        address: address.to_string(),
    }
}

fn mailbox(sender: &Sender) -> Mailbox {
    Mailbox {
        name: sender.alias.clone(),
        address: sender.address.to_string(),
    }
}

async fn check_sender(
    store: &Store,
    account_id: i64,
    from: &str,
) -> Result<
    (
        Sender,
        sesame_store::senders::Sender,
        sesame_store::domains::Domain,
    ),
    SubmitError,
> {
    let sender = parse_sender(from)?;
    let address = sender.address.to_string();
    let row = store.sender(account_id, &address).await?;
    let domain = match row {
        Some(_) => {
            store
                .domain(account_id, sender.address.domain().as_str())
                .await?
        }
        None => None,
    };
    let (row, domain) = sender_rows(address, row, domain)?;
    Ok((sender, row, domain))
}

/// FromEmailAddress, with its alias if any.
fn parse_sender(from: &str) -> Result<Sender, SubmitError> {
    Sender::parse(from).map_err(|_| SubmitError::IncorrectSender(from.chars().take(64).collect()))
}

/// The sender row of `address` and its domain, which must be verified.
fn sender_rows(
    address: String,
    row: Option<sesame_store::senders::Sender>,
    domain: Option<sesame_store::domains::Domain>,
) -> Result<(sesame_store::senders::Sender, sesame_store::domains::Domain), SubmitError> {
    match (row, domain.filter(|d| d.verified)) {
        (Some(row), Some(domain)) => Ok((row, domain)),
        _ => Err(SubmitError::NotAuthenticatedSender(address)),
    }
}

/// The parsed recipients: the To and Cc headers (each without repeats) and every envelope
/// recipient, To then Cc then Bcc, without repeats.
struct Recipients {
    to: Vec<EmailAddress>,
    cc: Vec<EmailAddress>,
    all: Vec<EmailAddress>,
}

fn check_recipients(submission: &Submission) -> Result<Recipients, SubmitError> {
    if submission.to.len() > MAX_TO || submission.cc.len() > MAX_CC || submission.bcc.len() > MAX_CC
    {
        return Err(SubmitError::TooManyRecipients);
    }
    let parse = |list: &[String]| -> Result<Vec<EmailAddress>, SubmitError> {
        let mut parsed: Vec<EmailAddress> = Vec::with_capacity(list.len());
        for text in list {
            let address = EmailAddress::parse(text)
                .ok_or_else(|| SubmitError::IncorrectEmail(text.chars().take(64).collect()))?;
            if !parsed.contains(&address) {
                parsed.push(address);
            }
        }
        Ok(parsed)
    };
    let to = parse(&submission.to)?;
    let cc = parse(&submission.cc)?;
    let bcc = parse(&submission.bcc)?;
    if let Some(both) = bcc.iter().find(|b| to.contains(b)) {
        return Err(SubmitError::InvalidField(format!(
            "{both} is in both Destination and Bcc"
        )));
    }
    let mut all: Vec<EmailAddress> = Vec::new();
    for address in to.iter().chain(&cc).chain(&bcc) {
        if !all.contains(address) {
            all.push(address.clone());
        }
    }
    if all.is_empty() {
        return Err(SubmitError::NoRecipient);
    }
    Ok(Recipients { to, cc, all })
}

fn check_subject(subject: &str) -> Result<(), SubmitError> {
    let n = subject.chars().count();
    if n == 0
        || n > 998
        || subject.trim().is_empty()
        || subject.chars().any(|c| c == '\r' || c == '\n')
    {
        return Err(SubmitError::Subject);
    }
    Ok(())
}

/// Rendered subject, HTML, text and the template used.
/// A mail's subject, HTML and text parts, and the template they came from.
type RenderedContent = (String, Option<String>, Option<String>, Option<i64>);

fn render_content(
    template: Option<sesame_store::templates::Template>,
    account: Option<&sesame_store::accounts::Account>,
    submission: &Submission,
) -> Result<RenderedContent, SubmitError> {
    match (&submission.template, &submission.simple) {
        (None, None) => Err(SubmitError::MissingContent),
        (Some(_), Some(_)) => Err(SubmitError::InvalidField(
            "give either Template or Simple, not both".into(),
        )),
        (Some((id, data)), None) => {
            let template = template
                .filter(|t| t.id == *id && t.status == template_status::APPROVED)
                .ok_or(SubmitError::InvalidTemplate(*id))?;
            let data_text = if data.trim().is_empty() {
                "{}"
            } else {
                data.as_str()
            };
            let values: BTreeMap<String, String> = render::parse_template_data(data_text)
                .map_err(|e| SubmitError::WrongContentJson(e.to_string()))?;
            let fill = |body: &str, escape: Escape| -> Result<String, SubmitError> {
                render::render(body, &values, escape).map_err(render_error)
            };
            let subject = fill(&submission.subject, Escape::None)?;
            check_subject(&subject)?;
            let html = (!template.html.is_empty())
                .then(|| fill(&template.html, Escape::Html))
                .transpose()?;
            let text = (!template.text.is_empty())
                .then(|| fill(&template.text, Escape::None))
                .transpose()?;
            Ok((subject, html, text, Some(template.id)))
        }
        (None, Some((html, text))) => {
            if !account.is_some_and(|a| a.custom_content) {
                return Err(SubmitError::WithoutPermission);
            }
            let html = decode_text(html.as_deref(), "Html")?;
            let text = decode_text(text.as_deref(), "Text")?;
            if html.is_none() && text.is_none() {
                return Err(SubmitError::MissingContent);
            }
            Ok((submission.subject.clone(), html, text, None))
        }
    }
}

fn render_error(e: render::RenderError) -> SubmitError {
    match e {
        render::RenderError::MissingVariable(name) => SubmitError::MissingVariable(name),
        #[allow(unreachable_patterns)]
        other => SubmitError::WrongContentJson(other.to_string()),
    }
}

fn decode_text(body: Option<&str>, field: &'static str) -> Result<Option<String>, SubmitError> {
    let Some(body) = body.filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let bytes = sesame_mail::encoding::decode_base64(body)
        .ok_or(SubmitError::EmailContentIsWrong(field))?;
    let text = String::from_utf8(bytes).map_err(|_| SubmitError::EmailContentIsWrong(field))?;
    Ok((!text.is_empty()).then_some(text))
}

fn check_attachments(attachments: &[(String, String)]) -> Result<Vec<AttachmentPart>, SubmitError> {
    if attachments.len() > attachment::MAX_ATTACHMENTS {
        return Err(SubmitError::TooManyAttachments);
    }
    let mut parts = Vec::with_capacity(attachments.len());
    let mut total = 0;
    for (name, content) in attachments {
        attachment::check_name(name).map_err(|e| {
            SubmitError::InvalidAttachName(name.chars().take(64).collect(), e.to_string())
        })?;
        let bytes = sesame_mail::encoding::decode_base64(content)
            .ok_or_else(|| SubmitError::AttachContentIsWrong(name.clone()))?;
        total += bytes.len();
        if total > attachment::MAX_TOTAL_BYTES_API {
            return Err(SubmitError::AttachTooLarge);
        }
        parts.push(AttachmentPart {
            name: name.clone(),
            content: bytes,
        });
    }
    Ok(parts)
}

/// `SmtpHeaders`: a JSON object of header name → string value.
fn parse_smtp_headers(text: Option<&str>) -> Result<Vec<(String, String)>, SubmitError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let bad = |why: &str| SubmitError::InvalidField(format!("SmtpHeaders {why}"));
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| bad("must be a JSON object of header names to values"))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad("must be a JSON object of header names to values"))?;
    if object.len() > 50 {
        return Err(bad("holds at most 50 headers"));
    }
    object
        .iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(v) => v.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(bad("values must be strings")),
            };
            if sesame_mail::mime::is_reserved_header(name) {
                return Err(bad(&format!("cannot set {name}: Sesame writes that header itself")));
            }
            let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !name_ok || value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(bad(&format!("{name:?}: header names are printable ASCII without ':', values have no line breaks")));
            }
            Ok((name.clone(), value))
        })
        .collect()
}

/// `SmtpMessageId`: `<local@domain>` or `local@domain`, printable ASCII without spaces.
fn check_message_id(text: &str) -> Result<String, SubmitError> {
    let trimmed = text.trim();
    let inner = match (trimmed.strip_prefix('<'), trimmed.strip_suffix('>')) {
        (Some(_), Some(_)) => &trimmed[1..trimmed.len() - 1],
        (None, None) => trimmed,
        // One bracket without its twin.
        _ => "",
    };
    let ok = inner.len() <= 250
        && inner
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        && inner
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
    if ok {
        Ok(inner.to_string())
    } else {
        Err(SubmitError::InvalidField(format!(
            "SmtpMessageId {:?} is not a Message-ID such as <id@example.com>",
            text.chars().take(64).collect::<String>()
        )))
    }
}

/// Today's caps that a message must fit in; `enqueue` applies them again atomically.
#[derive(Debug, Clone, Copy)]
struct Caps {
    /// The sender domain's cap at its (possibly just raised) reputation level.
    domain: i64,
    /// The operator's cap of the account, if any.
    account: Option<i64>,
}

/// Today's counts and caps of an account and a sender domain.
#[derive(Debug, Clone, Copy)]
struct Quota {
    caps: Caps,
    /// The domain's reputation level the cap is for.
    level: u32,
    domain_sent: i64,
    account_sent: i64,
}

impl Quota {
    /// Recipients that still fit under both caps today.
    fn room(&self) -> i64 {
        let domain = self.caps.domain - self.domain_sent;
        let account = self
            .caps
            .account
            .map_or(i64::MAX, |cap| cap - self.account_sent);
        domain.min(account).max(0)
    }

    /// The refusal for a quota that is used up (`"account"` or `"domain"`).
    fn exceeded(&self, scope: &str, domain: &str) -> SubmitError {
        SubmitError::ExceedSendLimit(match scope {
            "account" => format!(
                "the account may send {} a day",
                self.caps.account.unwrap_or(0)
            ),
            _ => format!(
                "{domain} may send {} a day at reputation level {}",
                self.caps.domain, self.level
            ),
        })
    }
}

/// Reads today's counts for `n` more recipients; when they would not fit the domain's cap,
/// healthy volume first promotes the domain (at once, possibly by several levels).
async fn today_quota(
    store: &Store,
    account_cap: Option<i64>,
    account_id: i64,
    domain: &sesame_store::domains::Domain,
    n: i64,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<Quota, SubmitError> {
    let since = sesame_core::time::start_of_day(now, zone);
    let mut level = domain.reputation_level.max(1) as u32;
    let domain_sent = store.count_accepted_by_domain(domain.id, since).await?;
    if domain_sent + n > reputation::daily_quota(level) as i64 {
        let counts = store.domain_day_counts(domain.id, since).await?;
        let traffic = reputation::DayTraffic {
            accepted: counts.accepted.max(0) as u64,
            delivered: counts.delivered.max(0) as u64,
            bounced: counts.bounced.max(0) as u64,
        };
        let promoted = reputation::promoted_level(level, traffic);
        if promoted > level {
            store
                .set_reputation_level(domain.id, i64::from(promoted))
                .await?;
            tracing::info!(domain = %domain.name, from = level, to = promoted, "reputation level raised");
            level = promoted;
        }
    }
    let account_sent = match account_cap {
        Some(_) => store.count_accepted_by_account(account_id, since).await?,
        None => 0,
    };
    Ok(Quota {
        caps: Caps {
            domain: reputation::daily_quota(level) as i64,
            account: account_cap,
        },
        level,
        domain_sent,
        account_sent,
    })
}

async fn check_quota(
    store: &Store,
    account_cap: Option<i64>,
    account_id: i64,
    domain: &sesame_store::domains::Domain,
    n: i64,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<Caps, SubmitError> {
    let quota = today_quota(store, account_cap, account_id, domain, n, now, zone).await?;
    if quota.domain_sent + n > quota.caps.domain {
        return Err(quota.exceeded("domain", &domain.name));
    }
    if quota
        .caps
        .account
        .is_some_and(|cap| quota.account_sent + n > cap)
    {
        return Err(quota.exceeded("account", &domain.name));
    }
    Ok(quota.caps)
}

/// Per recipient, in order: SendStatus 0 (may receive the mail) or the refusal's status and
/// why: the black lists, an unsubscribe from the sender domain, the frequency limit. One
/// look-up of each kind for all of them; a recipient listed twice counts its first mail
/// against the frequency limit of its second.
async fn recipient_policy(
    store: &Store,
    account_id: i64,
    domain_name: &str,
    addresses: &[String],
    now: i64,
) -> Result<Vec<(i64, &'static str)>, SubmitError> {
    let list: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let standing = store
        .recipient_standing(account_id, domain_name, &list, now, now - 3600)
        .await?;
    let (suppressed, unsubscribed, mut sent) =
        (standing.suppressed, standing.unsubscribed, standing.sent);
    Ok(addresses
        .iter()
        .map(|address| {
            if suppressed.contains(address) {
                (SEND_STATUS_BLACKLISTED, "recipient is on the black list")
            } else if unsubscribed.contains(&address.to_ascii_lowercase()) {
                (
                    SEND_STATUS_UNSUBSCRIBED,
                    "recipient unsubscribed from this sender domain",
                )
            } else {
                let n = sent.entry(address.clone()).or_insert(0);
                if *n >= MAX_PER_RECIPIENT_PER_HOUR {
                    (SEND_STATUS_FREQUENCY, "frequency limit for this recipient")
                } else {
                    *n += 1;
                    (0, "")
                }
            }
        })
        .collect())
}

/// The DKIM keys a domain signs with and their selectors.
type Signers = Vec<(String, Arc<DkimSigningKey>)>;

/// The domain's key(s), parsed once per process: the main key at the selector, and for
/// DKIMOption 2 the 1024-bit key at `<selector>1024` too.
async fn signers(
    store: &Store,
    settings: &SubmitSettings,
    domain: &sesame_store::domains::Domain,
) -> Result<Signers, SubmitError> {
    let sizes = dkim::key_sizes(domain.dkim_option).unwrap_or(&[1024]);
    let mut signers: Signers = Vec::new();
    for &bits in sizes {
        let bits = i64::from(bits);
        let key = match settings.keys.get(domain.id, bits) {
            Some(key) => key,
            None => {
                let stored = store.dkim_keys(domain.id).await?;
                let der = stored.iter().find(|k| k.bits == bits).ok_or_else(|| {
                    SubmitError::Internal(format!(
                        "domain {} lacks its {bits}-bit DKIM key",
                        domain.name
                    ))
                })?;
                let key = Arc::new(
                    DkimSigningKey::from_pkcs1_der(&der.private_key)
                        .map_err(|e| SubmitError::Internal(e.to_string()))?,
                );
                settings.keys.insert(domain.id, bits, key.clone());
                key
            }
        };
        signers.push((
            dkim::selector_for(&settings.dkim_selector, domain.dkim_option, bits as u32),
            key,
        ));
    }
    Ok(signers)
}

/// Prepends the DKIM signature(s) to `message`. CPU work: call it off the async threads.
fn sign_now(signers: &Signers, domain_name: &str, message: &[u8]) -> Result<Vec<u8>, SubmitError> {
    let mut headers = String::new();
    for (selector, key) in signers {
        headers.push_str(
            &key.sign_with(message, domain_name, selector)
                .map_err(|e| SubmitError::Internal(e.to_string()))?,
        );
    }
    let mut signed = headers.into_bytes();
    signed.extend_from_slice(message);
    Ok(signed)
}

/// Why a copy stored unsigned could not be signed for delivery.
#[derive(Debug, Clone)]
pub enum NotSigned {
    /// Storage failed: try again at a later attempt.
    Passing(String),
    /// The sender domain or its DKIM key is gone: the copy can never be signed.
    Final(String),
}

/// Signs copies stored unsigned (`NewMessage::sign_pending`) for a delivery attempt, each
/// with its sender domain's key(s), on the background threads (`Cores::Background`). Per copy
/// (`key`: the caller's name for it), the signed bytes or why it was not signed.
pub async fn sign_at_delivery<K: Send + 'static>(
    store: &Store,
    settings: &SubmitSettings,
    copies: Vec<(K, i64, Arc<[u8]>)>,
) -> Vec<(K, Result<Vec<u8>, NotSigned>)> {
    let mut domain_ids: Vec<i64> = copies.iter().map(|c| c.1).collect();
    domain_ids.sort_unstable();
    domain_ids.dedup();
    // Per sender domain: its name and key(s), shared by its copies, or why it cannot sign.
    let mut signers_of: HashMap<i64, Result<Arc<(String, Signers)>, NotSigned>> = HashMap::new();
    match store.domains_by_ids(&domain_ids).await {
        Ok(domains) => {
            for domain in domains {
                let found = match signers(store, settings, &domain).await {
                    Ok(s) => Ok(Arc::new((domain.name.clone(), s))),
                    Err(SubmitError::Store(e)) => Err(NotSigned::Passing(e.to_string())),
                    Err(e) => Err(NotSigned::Final(e.to_string())),
                };
                signers_of.insert(domain.id, found);
            }
        }
        Err(e) => {
            for id in &domain_ids {
                signers_of.insert(*id, Err(NotSigned::Passing(e.to_string())));
            }
        }
    }
    let mut done = Vec::new();
    let mut ready = Vec::with_capacity(copies.len());
    for (key, domain_id, body) in copies {
        match signers_of.get(&domain_id) {
            Some(Ok(signer)) => ready.push((key, signer.clone(), body)),
            Some(Err(why)) => done.push((key, Err(why.clone()))),
            None => done.push((
                key,
                Err(NotSigned::Final(
                    "the sender domain was deleted before delivery".into(),
                )),
            )),
        }
    }
    let signed = crate::cpu::in_parts(ready, Cores::Background, |(key, signer, body)| {
        let (name, signers) = &*signer;
        let signed = sign_now(signers, name, &body).map_err(|e| NotSigned::Final(e.to_string()));
        (key, signed)
    })
    .await;
    match signed {
        Some(signed) => done.extend(signed),
        None => tracing::error!("signing messages for delivery failed: a signing part panicked"),
    }
    done
}

/// `qcloudses-30-<AppId>-date-<yyyyMMddHHmmss>-<random>`, Tencent's shape: it embeds the account
/// and the send date.
fn api_message_id(account_id: i64, now: i64, zone: &jiff::tz::TimeZone) -> String {
    let stamp: String = sesame_core::time::format_date_time(now, zone)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let random: u64 = rand::random();
    format!("qcloudses-30-{account_id}-date-{stamp}-{random:016x}")
}

#[cfg(test)]
mod tests {
    use super::MailRate;
    use std::time::{Duration, Instant};

    #[test]
    fn mail_rate_refills_and_bursts() {
        let rate = MailRate::new(20);
        let start = Instant::now();
        assert!(rate.try_take(1, 90, start));
        assert!(rate.try_take(1, 30, start));
        assert!(!rate.try_take(1, 1, start));
        assert!(
            rate.try_take(2, 1, start),
            "accounts have their own buckets"
        );
        assert!(rate.try_take(1, 20, start + Duration::from_secs(1)));
        assert!(!rate.try_take(1, 1, start + Duration::from_secs(1)));
        assert!(MailRate::new(0).try_take(1, 10_000, start));
    }
}
