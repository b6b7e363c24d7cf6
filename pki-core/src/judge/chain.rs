//! Following a certificate up to a trust anchor by hand, to explain what webpki only reports
//! as "unknown issuer" or "bad signature": which link is missing, replaced or broken.

use crate::read::cert::Cert;

/// The path found from the leaf upwards, and how it ends.
#[derive(Debug)]
pub struct Walk<'a> {
    /// Issuers found above the leaf, nearest first (anchors excluded).
    pub links: Vec<&'a Cert>,
    pub end: End<'a>,
}

#[derive(Debug)]
pub enum End<'a> {
    /// The last certificate is issued by (or is) this trust anchor.
    Anchored(&'a Cert),
    /// The path ends at this self-signed CA, which is not a trust anchor.
    UntrustedRoot(&'a Cert),
    /// No certificate at hand bears `child`'s issuer name.
    Missing { child: &'a Cert },
    /// Certificates bear `child`'s issuer name, but none has the key that signed it: the CA
    /// was re-keyed or replaced. `candidate` is the one at hand.
    Replaced {
        child: &'a Cert,
        candidate: &'a Cert,
    },
    /// `issuer` is the CA the child names (key identifiers agree), yet the signature fails.
    BadSignature { child: &'a Cert, issuer: &'a Cert },
    /// `issuer`'s key is one webpki will not verify with (RSA < 2048, …).
    WeakIssuerKey { child: &'a Cert, issuer: &'a Cert },
    /// The path loops or is absurdly long.
    TooLong,
}

const MAX_DEPTH: usize = 8;

/// Walks from `leaf` through `intermediates` to `anchors`, checking signatures.
pub fn walk<'a>(leaf: &'a Cert, intermediates: &'a [Cert], anchors: &'a [Cert]) -> Walk<'a> {
    let mut links = Vec::new();
    let mut current = leaf;
    // the first certificate whose issuer's name an anchor bears with another key: where the
    // path leaves the anchors, should it end nowhere
    let mut missed: Option<(&Cert, &Cert)> = None;
    for _ in 0..MAX_DEPTH {
        let by_name_anchor: Vec<&Cert> = anchors
            .iter()
            .filter(|a| current.issuer_raw == a.subject_raw)
            .collect();
        if let Some(anchor) = by_name_anchor.iter().find(|a| current.is_signed_by(a)) {
            return Walk {
                links,
                end: End::Anchored(anchor),
            };
        }
        // a CA certificate with an anchor's name and key above the device's: webpki stops at
        // the anchor (it looks anchors up by the child's issuer name)
        if !links.is_empty() {
            if let Some(anchor) = anchors.iter().find(|a| is_same_key(a, current)) {
                return Walk {
                    links,
                    end: End::Anchored(anchor),
                };
            }
        }
        if current.is_self_issued() && !by_name_anchor.is_empty() {
            // an anchor bears its name and does not verify it: a root re-keyed under the same
            // name (it verifies under its own, other key), else a broken signature
            let rekeyed = current.is_ca()
                && current.is_signed_by(current)
                && !by_name_anchor.iter().any(|a| a.spki == current.spki);
            let end = if rekeyed {
                End::Replaced {
                    child: current,
                    candidate: newest(&by_name_anchor),
                }
            } else {
                let issuer = by_name_anchor
                    .iter()
                    .copied()
                    .find(|a| a.spki == current.spki || (a.ski.is_some() && a.ski == current.aki))
                    .unwrap_or(by_name_anchor[0]);
                End::BadSignature {
                    child: current,
                    issuer,
                }
            };
            return Walk { links, end };
        }
        if missed.is_none() && !by_name_anchor.is_empty() {
            missed = Some((current, newest(&by_name_anchor)));
        }
        if current.is_self_issued() && current.is_signed_by(current) {
            let end = match missed {
                Some((child, candidate)) => End::Replaced { child, candidate },
                None => End::UntrustedRoot(current),
            };
            return Walk { links, end };
        }
        let by_name: Vec<&Cert> = intermediates
            .iter()
            .filter(|c| current.issuer_raw == c.subject_raw && c.sha256 != current.sha256)
            .collect();
        // a cross-certificate leads on where a self-signed copy of the same CA would end
        let next = by_name
            .iter()
            .filter(|c| current.is_signed_by(c))
            .min_by_key(|c| c.is_self_issued());
        if let Some(next) = next {
            if links.iter().any(|l: &&Cert| l.sha256 == next.sha256) {
                return Walk {
                    links,
                    end: End::TooLong,
                };
            }
            links.push(next);
            current = next;
            continue;
        }
        let candidates: Vec<&Cert> = by_name.into_iter().chain(by_name_anchor).collect();
        let end = match (broken_link(current, &candidates), missed) {
            (End::Missing { .. }, Some((child, candidate))) => End::Replaced { child, candidate },
            (end, _) => end,
        };
        return Walk { links, end };
    }
    Walk {
        links,
        end: End::TooLong,
    }
}

/// Why none of the `candidates` (certificates bearing `child`'s issuer name) signed it.
fn broken_link<'a>(child: &'a Cert, candidates: &[&'a Cert]) -> End<'a> {
    let Some(first) = candidates.first() else {
        return End::Missing { child };
    };
    let named = candidates
        .iter()
        .find(|c| matches!((&child.aki, &c.ski), (Some(aki), Some(ski)) if aki == ski));
    if let Some(issuer) = named {
        if issuer.key.weakness().is_some() {
            return End::WeakIssuerKey { child, issuer };
        }
        return End::BadSignature { child, issuer };
    }
    if let Some(weak) = candidates.iter().find(|c| c.key.weakness().is_some()) {
        return End::WeakIssuerKey {
            child,
            issuer: weak,
        };
    }
    if child.aki.is_some() {
        // the child names a key none of the CAs of that name has
        return End::Replaced {
            child,
            candidate: newest(candidates),
        };
    }
    // Without key identifiers: a CA younger than the certificate was made after it, so it is
    // a replacement; an older one should have verified, so the signature is broken.
    let newest = newest(candidates);
    if newest.not_before > child.not_before {
        End::Replaced {
            child,
            candidate: newest,
        }
    } else {
        End::BadSignature {
            child,
            issuer: first,
        }
    }
}

fn newest<'a>(candidates: &[&'a Cert]) -> &'a Cert {
    candidates
        .iter()
        .copied()
        .max_by_key(|c| c.not_before)
        .unwrap_or(candidates[0])
}

fn is_same_key(a: &Cert, b: &Cert) -> bool {
    a.subject_raw == b.subject_raw && a.spki == b.spki
}

/// The path by names and key identifiers only, without checking signatures: for describing a
/// chain rustls has already accepted. Returns the intermediates and the anchor, if found.
pub fn path_by_name<'a>(
    leaf: &'a Cert,
    intermediates: &'a [Cert],
    anchors: &'a [Cert],
) -> (Vec<&'a Cert>, Option<&'a Cert>) {
    let mut links: Vec<&Cert> = Vec::new();
    let mut current = leaf;
    for _ in 0..MAX_DEPTH {
        if let Some(anchor) = anchors.iter().find(|a| is_same_key(a, current)) {
            return (links, Some(anchor));
        }
        let by_name = |a: &&Cert| current.issuer_raw == a.subject_raw;
        if let Some(anchor) = anchors
            .iter()
            .find(|a| current.names_issuer(a))
            .or_else(|| anchors.iter().find(by_name))
        {
            return (links, Some(anchor));
        }
        let next = intermediates.iter().find(|c| {
            current.names_issuer(c)
                && c.sha256 != current.sha256
                && !links.iter().any(|l| l.sha256 == c.sha256)
        });
        match next {
            Some(next) => {
                links.push(next);
                current = next;
            }
            None => break,
        }
    }
    (links, None)
}
