//! `pki diagnose STORE --server URL`: the store judged as that server judges it now — with the
//! trust anchors and CRLs it publishes (fetched by `pki-net`), at the server's clock. The
//! judging is [`diagnose`]'s; what this adds is deciding which of the server's CRLs apply
//! (the ones the device's issuing CA signed, as `pki serve`'s verifier groups them: a rotated
//! CA keeps its name, and a CRL of the other generation that covers the certificate — one
//! from before the CA partitioned its CRLs, or any for a certificate from before — would make
//! rustls fail on its signature) and comparing the clocks: an
//! endpoint whose clock is hours or a year off is told so, with the measured offset, instead
//! of being told its certificate expired.

use crate::finding::{Code, Finding};
use crate::judge::diagnose::{diagnose, Report, Request};
use crate::judge::select::select;
use crate::read::cert::Cert;
use crate::read::crl::Crl;
use crate::store::Material;
use crate::timestamp::{format, span};
use std::path::PathBuf;
use time::{Duration, OffsetDateTime};

/// A clock difference below this is the network's and the second's rounding, not a fault.
pub const SKEW_TOLERANCE: Duration = Duration::minutes(5);

/// What a server publishes, fetched.
#[derive(Debug, Clone)]
pub struct Published {
    /// Where the anchors came from (the `cacerts` URL), for messages.
    pub source: PathBuf,
    pub anchors: Vec<Cert>,
    pub crls: Vec<Crl>,
    /// The server's clock (its `Date` header), if it sent one.
    pub date: Option<OffsetDateTime>,
}

/// The report, and by how much the endpoint's clock is ahead of the server's (negative:
/// behind) when it sent its `Date`.
#[derive(Debug)]
pub struct Judged {
    pub report: Report,
    pub offset: Option<Duration>,
    /// The instant judged at: the server's clock when the endpoint's is off by more than
    /// [`SKEW_TOLERANCE`], else the endpoint's.
    pub at: OffsetDateTime,
}

/// Judges `material` (a store, its own files) as the server that published `server` does.
pub fn diagnose_against(mut material: Material, server: &Published, req: &Request) -> Judged {
    let leaf_keys: Vec<Option<Vec<u8>>> = {
        let chosen = select(&material, req.at);
        chosen.leaf.map(|l| l.aki.clone()).into_iter().collect()
    };
    material.anchors = server.anchors.clone();
    material.anchors_from = Some(server.source.clone());
    material.crls = server
        .crls
        .iter()
        .filter(|c| {
            c.aki.is_none() || leaf_keys.iter().all(|k| k.is_none()) || leaf_keys.contains(&c.aki)
        })
        .cloned()
        .collect();
    let offset = server.date.map(|d| req.at - d);
    let skewed = offset.filter(|o| o.abs() > SKEW_TOLERANCE);
    let at = match (skewed, server.date) {
        (Some(_), Some(date)) => date,
        _ => req.at,
    };
    let mut report = diagnose(&material, &Request { at, ..req.clone() });
    if let (Some(o), Some(date)) = (skewed, server.date) {
        report.add(clock_finding(o, req.at, date));
    }
    Judged { report, offset, at }
}

fn clock_finding(offset: Duration, here: OffsetDateTime, server: OffsetDateTime) -> Finding {
    let direction = if offset.is_positive() {
        "ahead of"
    } else {
        "behind"
    };
    Finding::new(
        Code::ClockSkewSuspected,
        format!(
            "the endpoint's clock ({}) is {} {direction} the server's ({}): the store was judged at the server's time; renewing or repairing with this clock would ask for certificates at the wrong time",
            format(here),
            span(offset),
            format(server)
        ),
        "set the clock (timedatectl set-ntp true on Linux, w32tm /resync on Windows), then diagnose again",
    )
}
