//! The CA's inventory (moved here from `index.rs`).

pub mod import;
