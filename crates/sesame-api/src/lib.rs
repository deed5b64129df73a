//! The TencentCloud API 3.0 endpoint of Sesame: the HTTP server (`server`), the wire protocol
//! (`protocol`: signatures, envelope, parameters, rate limits) and one file per action
//! (`actions`). Only this crate knows the API's PascalCase field names and Tencent's error
//! codes; everything below it speaks Sesame's own types.

pub mod actions;
pub mod ops;
pub mod protocol;
pub mod server;
pub mod tracking;

pub use server::{App, serve};
