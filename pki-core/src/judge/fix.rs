//! Fix texts that name only what applies where the material came from, with the real paths.
//!
//! Findings are written with placeholders — STORE (the store folder), DIR (the CA folder), ID
//! (the device id), TRUST (the `--trust` file) — and [`fill`] puts in what is known: the store
//! judged, the CA folder the store was enrolled from (`store.yaml` records it), the device id,
//! the `--trust` file. A `pki repair` of a store judged against a `--trust` file gets that
//! `--trust` too, so the fix is judged as the finding was. A placeholder stays only where
//! nothing trustworthy says what it is (DIR for a store whose CA folder is not known here,
//! or is recorded in `store.yaml` but could have been made by another user: see
//! [`trusted_folder`]).
//!
//! A store enrolled over `pki serve` (`store.yaml` records the server's URL instead of a
//! folder) is told the commands that work over the network (`over_server`): `pki repair`
//! and `pki renew` with `--server URL`, and a one-time token where its certificate can no
//! longer authenticate a renewal.
//!
//! The commands to run are written between backticks, in the order they are run; `pki repair`
//! and `pki renew` are named for managed stores only (`Commands` gives a foreign folder or
//! loose files what applies to them).

use crate::finding::{quoted, Code, Finding};
use crate::read::cert::Cert;
use crate::read::decode::decode;
use crate::read::input::{self, trusted_folder};
use crate::store::manifest::Manifest;
use crate::store::{Layout, Material};
use std::path::{Path, PathBuf};

/// The commands that apply to the material's layout.
pub(crate) struct Commands {
    layout: Option<Layout>,
    /// Where intermediates go: a foreign folder's `chain.pem`, the `--chain` file.
    chain: Option<String>,
}

impl Commands {
    pub fn of(m: &Material) -> Commands {
        let chain = match (m.layout, &m.store) {
            (Some(Layout::Foreign), Some(dir)) => Some(dir.join("chain.pem")),
            _ => m.intermediates.first().map(|c| c.origin.path.clone()),
        };
        Commands {
            layout: m.layout,
            chain: chain.map(|p| p.display().to_string()),
        }
    }

    /// The file intermediates go into, by hand: a foreign folder's chain.pem (pki reads the
    /// folder by content), the --chain file.
    pub fn chain_file(&self) -> String {
        match (&self.chain, self.layout) {
            (Some(file), Some(Layout::Foreign)) => {
                format!("{file} (any file of the folder: pki reads them by content)")
            }
            (Some(file), _) => file.clone(),
            (None, _) => "a --chain file".to_string(),
        }
    }

    pub fn managed(&self) -> bool {
        self.layout == Some(Layout::Managed)
    }

    /// A new certificate for the device from the CA's current issuing CA.
    pub fn new_certificate(&self) -> &'static str {
        match self.layout {
            Some(Layout::Managed) => "`pki renew STORE --ca DIR --force`",
            Some(Layout::Foreign) => "enroll the folder anew (its files go to backup/): `pki enroll STORE --ca DIR --device-id ID --force`",
            _ => "have the CA issue a new certificate for the device in place of the --cert file (pki can make and keep one: `pki enroll NEW_STORE --ca DIR --device-id ID`)",
        }
    }

    /// `pki repair STORE --ca DIR` for a managed store (it restores, re-links or rebuilds from
    /// what is at hand and the CA's bundles, and reissues only when nothing else works);
    /// `by_hand` elsewhere.
    pub fn repair_with_ca(&self, by_hand: impl Into<String>) -> String {
        if self.managed() {
            "`pki repair STORE --ca DIR`".to_string()
        } else {
            by_hand.into()
        }
    }

    /// The fix when the certificate's key is not at hand (missing, another one, unreadable):
    /// `relink` says where it may still be. In a managed store `pki repair` re-links it from
    /// there, and issues a new key and certificate only while the store proves the device
    /// (the key of another certificate the CA issued to it); a device whose key is gone is
    /// enrolled anew by someone who knows which device it is (store.yaml's id is the store
    /// writer's word, and the CA must not sign for it unproven).
    pub fn key_lost(&self, relink: &str) -> String {
        if self.managed() {
            format!(
                "{relink}, pki repair STORE --ca DIR re-links it; if the key is gone, only someone who knows which device this endpoint is can have a new certificate made for it (store.yaml's id, ID, is what whoever writes the store wrote): `pki enroll STORE --ca DIR --device-id ID --force` (the old files go to backup/)"
            )
        } else {
            format!(
                "{relink}, else a new key and certificate: {}",
                self.new_certificate()
            )
        }
    }

    /// `pki repair STORE` (nothing from the CA needed) for a managed store; `by_hand` elsewhere.
    pub fn repair(&self, by_hand: impl Into<String>) -> String {
        if self.managed() {
            "`pki repair STORE`".to_string()
        } else {
            by_hand.into()
        }
    }
}

/// Puts the real paths into every finding's fix (see the module's documentation).
pub fn fill(findings: &mut [Finding], m: &Material, leaf: Option<&Cert>) {
    let store = m.store.as_deref().map(quoted);
    let ca_dir = m.manifest.as_ref().and_then(known_ca_dir);
    let ca = ca_dir.as_deref().map(quoted);
    let id = match &m.manifest {
        Some(manifest) => Some(manifest.device_id.clone()),
        None => leaf.map(|l| l.common_name()),
    }
    .filter(|id| !id.is_empty())
    .and_then(|id| shlex::try_quote(&id).ok().map(|q| q.into_owned()));
    let trust = m.trust_override.as_deref().map(quoted);
    let server = m
        .manifest
        .as_ref()
        .and_then(|manifest| manifest.server.as_deref())
        .filter(|_| m.layout == Some(Layout::Managed));
    let url = server.and_then(|u| shlex::try_quote(u).ok().map(|q| q.into_owned()));
    let values = [
        ("STORE", &store),
        ("DIR", &ca),
        ("ID", &id),
        ("TRUST", &trust),
        ("URL", &url),
    ];
    // a server whose anchors the store's CA cannot reach: every fix through that CA would
    // be refused by `pki repair` (nothing it issues is accepted there). The CA's bundles are
    // read only when a fix goes through it (an audit of healthy stores reads nothing more).
    let through_ca = findings.iter().any(|f| f.fix.contains("--ca DIR"));
    let foreign = match (&ca_dir, &m.trust_override, m.layout) {
        (Some(dir), Some(_), Some(Layout::Managed))
            if through_ca && reaches(dir, &m.anchors) == Some(false) =>
        {
            Some(foreign_anchors(&m.anchors))
        }
        _ => None,
    };
    for f in findings {
        if let Some(text) = foreign.as_ref().filter(|_| f.fix.contains("--ca DIR")) {
            f.fix = text.clone();
        }
        let mut fix = std::mem::take(&mut f.fix);
        if server.is_some() {
            fix = over_server(&fix, f.code);
        }
        if trust.is_some() && m.layout == Some(Layout::Managed) {
            fix = with_trust(&fix);
        }
        f.fix = replace_words(&fix, &values);
    }
}

/// The CA folder `store.yaml` records, shell-quoted by its real path, while it is a CA
/// folder that nobody but the system or the user running pki can have made or changed
/// ([`trusted_folder`]): store.yaml is the store writer's, and a helpdesk running a printed
/// `pki repair STORE --ca THAT` would otherwise refresh the endpoint's trust.pem from a bundle
/// of the writer's own.
pub(crate) fn known_ca(manifest: &Manifest) -> Option<String> {
    known_ca_dir(manifest).map(|dir| quoted(&dir))
}

/// [`known_ca`]'s folder, unquoted.
fn known_ca_dir(manifest: &Manifest) -> Option<PathBuf> {
    manifest
        .ca
        .as_deref()
        .and_then(|dir| trusted_folder(Path::new(dir), "ca.yaml"))
}

/// Whether the CA folder `dir` can issue a certificate a server holding `anchors` accepts,
/// as far as its bundles tell: `Some(false)` when neither its `trust.pem` nor its `chain.pem`
/// (roots, issuing CAs, cross-certificates) holds the public key of any anchor, so that no
/// path from its issuing CA can end at one (a root re-keyed, or another CA of the same name,
/// outside this CA); `None` when the bundles cannot be read or there are no anchors.
fn reaches(dir: &Path, anchors: &[Cert]) -> Option<bool> {
    if anchors.is_empty() {
        return None;
    }
    let mut held = Vec::new();
    for bundle in ["trust.pem", "chain.pem"] {
        let path = dir.join(bundle);
        let bytes = input::bytes(&path).ok()?;
        held.extend(
            decode(&path, &bytes)
                .certs
                .into_iter()
                .map(|c| c.spki.clone()),
        );
    }
    Some(anchors.iter().any(|a| held.contains(&a.spki)))
}

/// The fix when the store's CA (DIR) holds none of the server's anchors (TRUST): the server
/// or the device's CA must change, and the text says how for each; no `pki repair`.
fn foreign_anchors(anchors: &[Cert]) -> String {
    let names: Vec<String> = anchors.iter().map(|a| format!("'{}'", a.subject)).collect();
    format!(
        "the CA at DIR holds none of the server's anchors in TRUST ({}, by key): nothing it issues can be accepted by that server, so no repair from it helps. Either the server is meant to trust this CA: add DIR/trust.pem to the server's trust bundle (beside what it holds for other devices); or this device belongs to the CA whose roots TRUST holds: `pki enroll STORE --ca THAT_CA --device-id ID --force`, THAT_CA being that CA's folder (the old files go to backup/)",
        names.join(", ")
    )
}

/// The commands of `fix` for a store whose certificates come from a `pki serve`: the CA's
/// CRL is the server's to publish (`pki ca crl --ca DIR`, then … is left out: `pki repair`
/// fetches it); `pki repair STORE --ca DIR` and `pki renew STORE --ca DIR` become
/// `--server URL` (in a command or named in the text). Where the store's certificate cannot
/// authenticate a renewal (`simplereenroll` is mutual TLS) a one-time token is made first on
/// the CA side, by whoever knows which device the endpoint is (the token names it): with the
/// key or certificate missing or not a pair, `pki repair … --token T` (it re-links what is at
/// hand, else enrolls anew); revoked (the server never renews it), `pki enroll … --token T
/// --force`; and `pki enroll STORE --ca DIR --device-id ID` becomes `pki enroll STORE
/// --server URL --token T`.
fn over_server(fix: &str, code: Code) -> String {
    let fix = fix
        .replace("`pki ca crl --ca DIR`, then ", "")
        .replace("pki repair STORE --ca DIR", "pki repair STORE --server URL");
    let mut out = String::with_capacity(fix.len() + 32);
    let mut rest = fix.as_str();
    while let Some(start) = rest.find('`') {
        let Some(len) = rest[start + 1..].find('`') else {
            break;
        };
        let command = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        let lifecycle =
            command.starts_with("pki repair STORE") || command.starts_with("pki renew STORE");
        let command = if lifecycle {
            command.replace(" --ca DIR", " --server URL")
        } else {
            command.to_string()
        };
        let token = "a one-time token from the CA side, `pki ca token --ca DIR --device-id ID` (it prints T), then";
        match code {
            _ if command.starts_with("pki enroll STORE --ca DIR") => {
                let force = if command.contains(" --force") {
                    " --force"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "{token} `pki enroll STORE --server URL --token T{force}`"
                ));
            }
            // judged against the server's anchors, a certificate that does not chain to them
            // cannot authenticate simplereenroll either (the handshake is refused)
            Code::KeyMissing
            | Code::KeyMismatch
            | Code::CertMissing
            | Code::UnknownIssuer
            | Code::CaRotated
                if command.starts_with("pki repair STORE --server URL") =>
            {
                out.push_str(&format!("{token} `{command} --token T`"));
            }
            Code::Revoked if lifecycle => {
                out.push_str(&format!(
                    "{token} `pki enroll STORE --server URL --token T --force` (the server never renews a revoked certificate; the old files go to backup/)"
                ));
            }
            _ => out.push_str(&format!("`{command}`")),
        }
        rest = &rest[start + 2 + len..];
    }
    out.push_str(rest);
    out
}

/// Every backticked `pki repair STORE …` without `--trust` gets `--trust TRUST`.
fn with_trust(fix: &str) -> String {
    let mut out = String::with_capacity(fix.len() + 16);
    let mut rest = fix;
    while let Some(start) = rest.find("`pki repair STORE") {
        let Some(len) = rest[start + 1..].find('`') else {
            break;
        };
        let end = start + 1 + len;
        out.push_str(&rest[..end]);
        if !rest[start..end].contains("--trust") {
            out.push_str(" --trust TRUST");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with each whole-word token (not part of a longer name such as NEW_STORE) that has
/// a value replaced by it, in one pass over `text`: a value is never searched for tokens
/// itself (a store path with a folder named DIR, a device id spelled ID, keep their text).
fn replace_words(text: &str, values: &[(&str, &Option<String>)]) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let before = text[..i].chars().next_back();
        let hit = values.iter().find_map(|(token, value)| {
            let value = value.as_ref()?;
            let after = rest.strip_prefix(token)?.chars().next();
            (!word(before) && !word(after)).then_some((token.len(), value))
        });
        match hit {
            Some((len, value)) => {
                out.push_str(value);
                i += len;
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_placeholders_are_filled() {
        let text = "`pki repair STORE --ca DIR` or `pki enroll NEW_STORE --device-id ID`; STORE_TAMPERED, DIR/trust.pem";
        let (store, ca, none) = (Some("/s".to_string()), Some("/ca".to_string()), None);
        let filled = replace_words(text, &[("STORE", &store), ("DIR", &ca), ("ID", &none)]);
        assert_eq!(
            filled,
            "`pki repair /s --ca /ca` or `pki enroll NEW_STORE --device-id ID`; STORE_TAMPERED, /ca/trust.pem"
        );
    }

    #[test]
    fn a_value_is_never_filled_in_itself() {
        // a CA folder recorded as '/x y/ID' and a device id 'a;touch /tmp/p;b' (both in the
        // store writer's store.yaml): filling ID into the quoted folder broke the quoting and
        // ran the command between the semicolons when the fix was pasted into a shell
        let ca = Some(quoted(Path::new("/x y/ID")));
        let id = shlex::try_quote("a;touch /tmp/p;b")
            .ok()
            .map(|q| q.into_owned());
        let store = Some("/srv/DIR/TRUST".to_string());
        let filled = replace_words(
            "`pki repair STORE --ca DIR` (--device-id ID)",
            &[("STORE", &store), ("DIR", &ca), ("ID", &id)],
        );
        assert_eq!(
            filled,
            "`pki repair /srv/DIR/TRUST --ca '/x y/ID'` (--device-id 'a;touch /tmp/p;b')"
        );
        let words = shlex::split(filled.split('`').nth(1).unwrap()).unwrap();
        assert_eq!(
            words,
            ["pki", "repair", "/srv/DIR/TRUST", "--ca", "/x y/ID"]
        );
    }

    #[test]
    fn a_store_of_a_server_is_told_the_commands_over_the_server() {
        assert_eq!(
            over_server(
                "rebuild it: `pki repair STORE --ca DIR`",
                Code::ChainIncomplete
            ),
            "rebuild it: `pki repair STORE --server URL`"
        );
        assert_eq!(
            over_server(
                "renew now: `pki renew STORE --ca DIR --force`",
                Code::CertExpired
            ),
            "renew now: `pki renew STORE --server URL --force`"
        );
        assert_eq!(
            over_server(
                "fetch a fresh CRL: `pki ca crl --ca DIR`, then `pki repair STORE --ca DIR`",
                Code::CrlExpired
            ),
            "fetch a fresh CRL: `pki repair STORE --server URL`"
        );
        assert_eq!(
            over_server("else a new one: `pki repair STORE --ca DIR`", Code::KeyMismatch),
            "else a new one: a one-time token from the CA side, `pki ca token --ca DIR --device-id ID` (it prints T), then `pki repair STORE --server URL --token T`"
        );
        // a certificate the server's anchors do not reach: the handshake of a renewal fails
        for code in [Code::UnknownIssuer, Code::CaRotated] {
            assert_eq!(
                over_server("the CA's current trust bundle: `pki repair STORE --ca DIR`", code),
                "the CA's current trust bundle: a one-time token from the CA side, `pki ca token --ca DIR --device-id ID` (it prints T), then `pki repair STORE --server URL --token T`"
            );
        }
        assert!(over_server("a new key and certificate, `pki repair STORE --ca DIR`", Code::Revoked)
            .ends_with("then `pki enroll STORE --server URL --token T --force` (the server never renews a revoked certificate; the old files go to backup/)"));
        // the device named by an administrator: over the server, by the token they make
        assert_eq!(
            over_server(
                "while it is in backup/, pki repair STORE --ca DIR re-links it; if the key is gone, only someone who knows which device this is: `pki enroll STORE --ca DIR --device-id ID --force` (the old files go to backup/)",
                Code::KeyMissing
            ),
            "while it is in backup/, pki repair STORE --server URL re-links it; if the key is gone, only someone who knows which device this is: a one-time token from the CA side, `pki ca token --ca DIR --device-id ID` (it prints T), then `pki enroll STORE --server URL --token T --force` (the old files go to backup/)"
        );
        // what the CA side does stays the CA's
        assert_eq!(
            over_server(
                "the CA side rotates first (`pki ca rotate --ca DIR --root`)",
                Code::IssuerExpired
            ),
            "the CA side rotates first (`pki ca rotate --ca DIR --root`)"
        );
    }

    #[test]
    fn a_repair_judged_against_a_trust_file_keeps_it() {
        assert_eq!(
            with_trust("`pki repair STORE --ca DIR`, then `pki repair STORE --trust X`"),
            "`pki repair STORE --ca DIR --trust TRUST`, then `pki repair STORE --trust X`"
        );
    }
}
