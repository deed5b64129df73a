//! The work behind the API and SMTP front ends: sender-domain identities (DKIM keys, DNS
//! verification, the periodic re-check), and later the queue, delivery, events and webhooks.
//! Holds no HTTP or SMTP protocol knowledge; never holds a database transaction across
//! network I/O.

pub mod delivery;
pub mod identity;
pub mod inbound;
pub mod queue;
pub mod submit;
pub mod verify;
