//! pki-net: what pki-core decides, carried over a network. pki-core never opens a socket; this
//! crate holds the two places the toolkit must: the PostgreSQL backend of the CA's inventory
//! ([`postgres`]), chosen by URL ([`database`]), and the device's side of EST ([`client`]).

pub mod client;
pub mod database;
pub mod postgres;
