//! Lifecycle: what changes an endpoint over its life — enrollment, renewal, repair and the
//! installation of a certificate signed elsewhere. Each judges with `judge` and writes through
//! `store`'s crash-safe change.

pub mod authority;
pub mod enroll;
pub mod install;
pub mod renew;
pub mod repair;
