//! `ca.yaml`: the CA folder's manifest — its name, its policy, every root and issuing CA
//! generation (current last), and where its inventory lives when that is not the default
//! SQLite file in the folder.

use serde::{Deserialize, Serialize};

pub const CONFIG: &str = "ca.yaml";
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub schema: u32,
    pub name: String,
    /// The policy file in the CA folder.
    pub policy: String,
    /// Root CA generations, oldest first; the last is current.
    pub roots: Vec<Generation>,
    /// Issuing CA generations, oldest first; the last is current.
    pub issuers: Vec<Generation>,
    /// The number of the last CRL issued, as releases before the inventory kept it: read
    /// once, to carry it into the inventory (which keeps it since); never written again.
    #[serde(default, skip_serializing)]
    pub crl_number: u64,
    /// The inventory's database when it is not `inventory.sqlite` in this folder: a
    /// `postgres://` URL without its password (give that with `PGPASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// One CA certificate and its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generation {
    pub id: String,
    pub cert: String,
    pub key: String,
    /// The generation that signed it (`None` for a self-signed root).
    #[serde(default)]
    pub parent: Option<String>,
    /// For a rotated root: its certificate cross-signed by the previous root.
    #[serde(default)]
    pub cross: Option<String>,
    /// After this instant (RFC 3339) it leaves the bundles handed to endpoints.
    #[serde(default)]
    pub retire_after: Option<String>,
}
