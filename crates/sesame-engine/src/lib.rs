//! placeholder

pub mod verify;
