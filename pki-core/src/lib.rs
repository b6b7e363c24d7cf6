//! pki-core: every decision of the endpoint certificate toolkit. It reads stores and files,
//! judges chains as a rustls server would, and explains what it finds. It never prints and
//! never exits: it returns reports, findings and typed errors for `pki-cli` to render.
//!
//! The folders follow the pipeline, and imports run one way: [`lifecycle`] → [`judge`] →
//! [`store`] → [`read`]; every folder may use the shared vocabulary at the top ([`finding`],
//! [`error`], [`policy`], [`timestamp`], [`origin`], [`lossy`]). [`ca`] is the CA's side,
//! [`audit`] judges fleets, [`inspect`] shows what files hold.

pub mod audit;
pub mod ca;
pub mod error;
pub mod est;
pub mod finding;
pub mod inspect;
pub mod judge;
pub mod lifecycle;
pub mod lossy;
pub mod origin;
pub mod policy;
pub mod read;
pub mod store;
pub mod timestamp;

pub use error::Error;
pub use finding::{Code, Finding, Severity};
pub use judge::diagnose::{diagnose, Report, Request, Status, Verdict};
pub use judge::verify::Purpose;
pub use policy::Policy;
pub use read::cert::Cert;
pub use read::crl::Crl;
pub use read::key::Key;
pub use store::{gather, Material, Sources};
