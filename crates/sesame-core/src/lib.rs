//! Sesame's vocabulary, shared by every other crate: the configuration, checked strings
//! (`DomainName`, `EmailAddress`, `Sender`), reputation levels, template syntax and event kinds.
//! It performs no I/O beyond reading the config file it is pointed at.

pub mod address;
pub mod config;
pub mod event;
pub mod metrics;
pub mod reputation;
pub mod template;
pub mod time;

pub use address::{DomainName, EmailAddress, Sender};
pub use config::Config;
