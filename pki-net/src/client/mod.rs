//! The device's side of EST: a small blocking HTTPS client (one request per connection, as a
//! device does), kept light on purpose — no async runtime on the endpoint. It is written over
//! rustls directly rather than through an HTTP crate because the device needs what those do
//! not give: its own rustls configuration (the ring provider chosen explicitly, the clock of
//! `--at`, a first contact pinned by the root's fingerprint) and, when the server refuses the
//! handshake, the TLS alert it sent. Responses are parsed with `httparse`.

pub mod authority;
pub mod check;
pub mod est;
pub mod http;

pub use authority::Remote;
pub use est::{Clock, Est, Trust};
pub use http::{Endpoint, Failure, Response};
