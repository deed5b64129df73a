//! The work behind the API and SMTP front ends: sender-domain identities (DKIM keys, DNS
//! verification, the periodic re-check), submission, the queue and delivery, inbound feedback,
//! and the webhook worker that posts events.
//! Knows no API or SMTP-server protocol (only the SMTP client of delivery and the HTTP
//! client of webhooks); never holds a database transaction across network I/O.

pub mod bulk;
pub mod cpu;
pub mod credentials;
pub mod delivery;
pub mod identity;
pub mod inbound;
pub mod queue;
pub mod retention;
pub mod sending_ips;
pub mod submit;
pub mod verify;
pub mod webhooks;
