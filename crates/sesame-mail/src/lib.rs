//! Pure message work: template rendering, attachment rules, MIME building, DKIM keys and
//! signing, the return-path codec and Message-IDs. Performs no I/O: no sockets, no files,
//! no database, no async runtime.

pub mod attachment;
pub mod dkim;
pub mod encoding;
pub mod headers;
pub mod mime;
pub mod render;
pub mod return_path;
pub mod sign;
pub mod tracking;
