//! Judging: the verdict a rustls server would reach on an endpoint's material, and the
//! findings that explain it, root cause first. Reads what `store` gathered; never writes.

pub mod against_server;
pub mod cause;
pub mod chain;
pub mod client_verifier;
pub mod diagnose;
pub mod explain;
pub mod fix;
pub mod lint;
pub mod memo;
pub mod names;
pub mod possession;
pub mod select;
pub mod validity;
pub mod verify;
