//! pki-core: every decision of the endpoint certificate toolkit. It reads stores and files,
//! judges chains as a rustls server would, and explains what it finds. It never prints and
//! never exits: it returns reports, findings and typed errors for `pki-cli` to render.

pub mod atomic;
pub mod audit;
pub mod ca;
pub mod cause;
pub mod cert;
pub mod cert_cache;
pub mod chain;
pub mod change;
pub mod crl;
pub mod decode;
pub mod diagnose;
pub mod enroll;
pub mod error;
pub mod explain;
pub mod finding;
pub mod input;
pub mod inspect;
pub mod install;
pub mod integrity;
pub mod journal;
pub mod key;
pub mod lint;
pub mod lock;
pub mod lossy;
pub mod manifest;
pub mod memo;
pub mod origin;
pub mod policy;
pub mod possession;
pub mod renew;
pub mod repair;
pub mod rfc5280;
pub mod rollback;
pub mod select;
pub mod store;
pub mod timestamp;
pub mod validity;
pub mod verify;

pub use cert::Cert;
pub use crl::Crl;
pub use diagnose::{diagnose, Report, Request, Status, Verdict};
pub use error::Error;
pub use finding::{Code, Finding, Severity};
pub use key::Key;
pub use policy::Policy;
pub use store::{gather, Material, Sources};
pub use verify::Purpose;
