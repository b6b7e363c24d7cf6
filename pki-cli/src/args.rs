//! Flags, parsed once into validated values; nothing downstream reads raw arguments. Every
//! argument says what it is in `--help`; each command takes only the options that apply to it
//! (`--at` where time is judged or stamped, `--format prometheus` only on audit). Paths are
//! checked here for existence and kind ([`crate::paths`]): a wrong one is a usage error (64)
//! naming it, before anything runs.

use crate::paths;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

#[derive(Debug, Parser)]
#[command(
    name = "pki",
    version,
    about = "Endpoint certificate toolkit: why a device's certificate is rejected, and what to do",
    after_help = "Example:\n  pki diagnose /var/lib/product/certs --at 2026-03-01T12:00:00Z\n\nExit codes: 0 ok, 1 warning, 2 critical (rejected, refused, or content that\ncannot be used), 3 could not judge (I/O), 64 usage error (bad flags, a path that\ndoes not exist or is the wrong kind)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `--format` of every command but audit.
#[derive(Debug, Args)]
pub struct Output {
    /// Output: text for people, json for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document, for programs.
    Json,
}

/// The instant a command judges at or stamps into what it writes.
#[derive(Debug, Args)]
pub struct Clock {
    /// Act at this instant (RFC 3339, e.g. 2026-03-01T12:00:00Z) instead of the system clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<OffsetDateTime>,
}

impl Clock {
    /// `--at`, or else the system clock: the one place the clock is read. Whole seconds, as
    /// every instant the toolkit prints or writes.
    pub fn now(&self) -> OffsetDateTime {
        pki_core::timestamp::whole_seconds(self.at.unwrap_or_else(OffsetDateTime::now_utc))
    }
}

/// Where the password of encrypted keys and PKCS#12 files comes from.
#[derive(Debug, Args)]
pub struct Secret {
    /// Read the password of encrypted keys and PKCS#12 (.p12/.pfx) files from the first line of
    /// FILE; without it, the PKI_PASSWORD environment variable. Never on the command line.
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say why an endpoint's certificate is (or would be) rejected.
    #[command(
        long_about = "Say exactly why an endpoint's certificate is (or would be) rejected, judged as a rustls server judges it, and what fixes it.",
        after_help = "Examples:\n  pki diagnose /var/lib/product/certs\n  pki diagnose /var/lib/product/certs --server https://ca.fleet.internal:8443\n  pki diagnose --cert device.crt --key device.key --chain chain.pem --trust roots.pem --at 2026-03-01T12:00:00Z\n  pki diagnose --cert server.crt --chain chain.pem --trust roots.pem --purpose server --name api.example.com\n  PKI_PASSWORD=… pki diagnose /etc/product/certs   # a folder holding device.pfx\n\nExit: 0 accepted, 1 accepted with warnings, 2 rejected, 3 could not judge, 64 usage error."
    )]
    Diagnose(Diagnose),
    /// Show what certificate, key, CRL, CSR and PKCS#12 files hold.
    #[command(
        after_help = "Examples:\n  pki inspect device.crt device.key chain.pem --format json\n  pki inspect device.pfx --password-file pfx.pass\n\nExit: 0 every file was read, 2 a file could not be read (whole), 64 a file does not exist."
    )]
    Inspect(Inspect),
    /// Check policy profiles.
    #[command(
        subcommand,
        after_help = "Example:\n  pki policy check policies/device.yaml"
    )]
    Policy(PolicyCommand),
    /// The certificate authority: init, sign, revoke, crl, rotate, bundle, token.
    #[command(about = "The CA: init, sign, revoke, crl, rotate, bundle, token")]
    #[command(
        subcommand,
        after_help = "Example:\n  pki ca init /srv/fleet-ca --name Fleet && pki ca sign --ca /srv/fleet-ca device.csr > device.crt"
    )]
    Ca(CaCommand),
    /// Enroll a device: key made in the store, CSR signed by the CA.
    #[command(
        long_about = "Enroll a device: the key is made in the store (or --key brought), a CSR is signed by the CA, the pair is proven, and the store is written crash-safe (lock, backup, journal, atomic writes, manifest last).",
        after_help = "Examples:\n  pki enroll /var/lib/product/certs --ca /srv/fleet-ca --device-id device-0042\n  pki enroll /var/lib/product/certs --server https://ca.fleet.internal:8443 --token TOKEN --fingerprint SHA256\n\nExit: 0 enrolled (or already enrolled and healthy: nothing changed), 2 refused (a broken or foreign store: see pki repair; an unusable --key), 3 the CA could not sign, 64 usage error. A failed enroll leaves no store folder behind."
    )]
    Enroll(Enroll),
    /// Diagnose, plan the least invasive fix, repair the store in place.
    #[command(
        after_help = "Examples:\n  pki repair /var/lib/product/certs --dry-run\n  pki repair /var/lib/product/certs --ca /srv/fleet-ca\n  pki repair /var/lib/product/certs --server https://ca.fleet.internal:8443\n  pki repair /var/lib/product/certs --trust new-roots.pem\n\nExit: 0 accepted afterwards (or nothing to do), 1 accepted with warnings, 2 still rejected (the remaining finding is named), 3 could not run (locked, I/O), 64 usage error. With --dry-run: the store's present status."
    )]
    Repair(Repair),
    /// Renew when the policy says it is time; --check only says whether.
    #[command(
        long_about = "Renew when the policy says it is time (or now, with --force), with a new key from the CA's current issuing CA; --check only says whether renewal is due.",
        after_help = "Examples:\n  pki renew /var/lib/product/certs --ca /srv/fleet-ca --exec 'systemctl reload product'\n  pki renew /var/lib/product/certs --server https://ca.fleet.internal:8443\n  pki renew --check /var/lib/product/certs   # for systemd ExecCondition=\n\nExit: 0 the store is good afterwards (renewed, or not yet due: the JSON says when it will be), 1 renewed but the --exec hook failed (the new certificate is kept), 2 due but refused (expired or not yet valid without --force), 3 due but the CA could not sign, 64 usage error. With --check: 0 due, 1 not due.\n\n--exec CMD is split into argv like a POSIX shell would (quotes, backslashes), but no shell runs it: no pipes, globs or variables. The hook gets PKI_STORE and PKI_SERIAL in its environment."
    )]
    Renew(Renew),
    /// Audit stores or fleet folders: a table, JSON or Prometheus metrics.
    #[command(
        long_about = "Audit a store or a folder of stores in parallel, with the same judgement as diagnose: a table for people, the contract's JSON, or Prometheus metrics for node_exporter's textfile collector.",
        after_help = "Examples:\n  pki audit /srv/collected-stores --format json\n  pki audit /var/lib/product/certs --format prometheus --output /var/lib/node_exporter/textfile/pki.prom\n\nExit: the worst status found: 0 ok, 1 warning (a store, or a stray file beside a fleet's stores), 2 critical, 3 unknown (a store could not be read, or no store was found under a PATH), 64 usage error. See samples/systemd/pki-audit.service for node_exporter."
    )]
    Audit(Audit),
    /// Serve EST enrollment and renewal for a CA over mutual TLS.
    #[command(
        long_about = "Serve enrollment and renewal over mutual TLS (EST, RFC 7030) for a CA, explaining every rejected device.",
        after_help = "Examples:\n  pki serve --ca /srv/fleet-ca --listen 0.0.0.0:8443 --name ca.fleet.internal\n  pki serve --config /etc/pki/serve.yaml --log-format json\n\nRoutes: /.well-known/est/{cacerts,simpleenroll,simplereenroll,csrattrs}, /crl, /healthz, /metrics.\nSIGHUP reloads the CA at once (it is also watched); SIGTERM/SIGINT finish in-flight requests, then exit 0.\nExit: 0 stopped by a signal, 3 could not start (the CA, the inventory, the address), 64 usage error."
    )]
    Serve(Serve),
    /// Store maintenance: rollback, install, import.
    #[command(
        subcommand,
        long_about = "Store maintenance: undo the last change, install a certificate signed elsewhere, import a PKCS#12 file or foreign files into a managed store.",
        after_help = "Examples:\n  pki store rollback /var/lib/product/certs\n  pki store import /var/lib/product/certs device.pfx --password-file pfx.pass"
    )]
    Store(StoreCommand),
}

/// A `pki serve` to work with over EST instead of a CA folder at hand.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The server: https://HOST:PORT (it is authenticated by --trust, --fingerprint, or the
    /// store's trust.pem).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// For a first contact: the SHA-256 fingerprint of the CA's root (`openssl x509
    /// -fingerprint -sha256`); the server must present a certificate that root vouches for.
    #[arg(long, value_name = "SHA256", requires = "server")]
    pub fingerprint: Option<String>,
}

/// Where the CA's inventory lives, when not in the CA folder (`inventory.sqlite`) or where
/// `ca.yaml` says.
#[derive(Debug, Clone, Args)]
pub struct Database {
    /// The inventory database: postgres://USER@HOST:PORT/DB (password from PGPASSWORD) or
    /// sqlite:PATH (default: what ca.yaml records, else inventory.sqlite in the CA folder).
    #[arg(long, value_name = "URL", env = "PKI_DATABASE")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct Serve {
    /// The CA folder (or `ca:` in --config).
    #[arg(long, value_name = "DIR", value_parser = paths::folder())]
    pub ca: Option<PathBuf>,
    /// Address and port to listen on (default 0.0.0.0:8443).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// A DNS name or IP address for the server's certificate (repeat; default localhost and
    /// the listening address).
    #[arg(long = "name", value_name = "HOST", value_parser = pki_core::judge::verify::server_name)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub db: Database,
    /// A YAML file of settings (keys as in samples/serve/pki-serve.yaml); flags win.
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub config: Option<PathBuf>,
    /// The server's certificate chain (PEM) instead of one issued by the CA.
    #[arg(long, value_name = "FILE", value_parser = paths::file(), requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert.
    #[arg(long, value_name = "FILE", value_parser = paths::file(), requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log as text or as one JSON object per line (on standard error).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Connections served at once (default 1024).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// The largest request body in bytes (default 65536; 413 above it).
    #[arg(long, value_name = "BYTES")]
    pub body_limit: Option<usize>,
    /// Close a connection idle for this many seconds (default 30).
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,
    /// Run on a fixed clock (tests and demonstrations); without it, the system clock.
    #[command(flatten)]
    pub clock: Clock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Args)]
pub struct Repair {
    /// The managed store to repair (a folder with store.yaml).
    #[arg(value_name = "STORE", value_parser = paths::folder())]
    pub store: PathBuf,
    /// The CA folder: its bundles, and a new certificate when nothing else can work.
    #[arg(long, value_name = "DIR", value_parser = paths::folder(), conflicts_with = "server")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
    /// With --server, when the store's certificate can no longer authenticate a renewal: a
    /// one-time enrollment token (pki ca token: DEVICE_ID:SECRET, for the store's device).
    #[arg(long, value_name = "TOKEN", requires = "server")]
    pub token: Option<String>,
    /// The server's current trust anchors: the store is judged against them and made
    /// acceptable to a server holding them (trust.pem is refreshed from them).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub trust: Option<PathBuf>,
    /// Print the plan and change nothing (in the store or at the CA: nothing is signed).
    #[arg(long)]
    pub dry_run: bool,
    /// Policy profile (default: the built-in device policy).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub db: Database,
    #[command(flatten)]
    pub clock: Clock,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct Renew {
    /// The managed store to renew.
    #[arg(value_name = "STORE", value_parser = paths::folder())]
    pub store: PathBuf,
    /// The CA folder (not needed with --check or --server).
    #[arg(long, value_name = "DIR", value_parser = paths::folder(), required_unless_present_any = ["check", "server"], conflicts_with = "server")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
    /// With --server: the trust anchors that authenticate it (default: the store's trust.pem).
    #[arg(long, value_name = "FILE", value_parser = paths::file(), requires = "server")]
    pub trust: Option<PathBuf>,
    /// Renew now, due or not (also an expired or not-yet-valid certificate).
    #[arg(long)]
    pub force: bool,
    /// Only say whether renewal is due: exit 0 due, 1 not due.
    #[arg(long, conflicts_with_all = ["force", "exec", "dry_run"])]
    pub check: bool,
    /// A command to run after a successful renewal (e.g. reload the product).
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Policy profile (default: the CA's; with --check the built-in device policy).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub policy: Option<PathBuf>,
    /// Say whether renewal is due and what it would write; change nothing (the CA signs nothing).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub db: Database,
    #[command(flatten)]
    pub clock: Clock,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct Audit {
    /// Stores, or folders whose sub-folders are stores (fleets).
    #[arg(value_name = "PATH", required = true, value_parser = paths::folder())]
    pub paths: Vec<PathBuf>,
    /// The server's trust anchors, for every store (default: each store's own trust.pem).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub trust: Option<PathBuf>,
    /// Write the output to FILE atomically (temporary file and rename, as node_exporter's
    /// textfile collector requires) instead of standard output.
    #[arg(long, value_name = "FILE", value_parser = paths::new_file())]
    pub output: Option<PathBuf>,
    /// Policy profile (default: the built-in device policy).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub policy: Option<PathBuf>,
    /// Output: a table for people, JSON, or Prometheus metrics.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    #[command(flatten)]
    pub secret: Secret,
    #[command(flatten)]
    pub clock: Clock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// A table for people: the stores that are not ok, most urgent first (`table` is the same).
    #[value(alias = "table")]
    Text,
    /// The contract's JSON, plus expiring counts and finding codes.
    Json,
    /// Prometheus text exposition (x509_cert_* and pki_* metrics).
    Prometheus,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Undo the last change recorded in the journal, from backup/.
    #[command(
        after_help = "Examples:\n  pki store rollback /var/lib/product/certs --dry-run\n  pki store rollback /var/lib/product/certs\n\nUndoing an enrollment leaves the store without a certificate: it takes --force."
    )]
    Rollback {
        /// The managed store whose last change to undo.
        #[arg(value_name = "STORE", value_parser = paths::folder())]
        store: PathBuf,
        /// Say what would be undone and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Undo even an enrollment (the store is left without a certificate).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// Install a certificate signed elsewhere for the store's key.
    #[command(
        long_about = "Install a certificate signed elsewhere for the store's pending key (device.key.pending, which repair or renew left with a CSR) or its present one; the pair is proven first.",
        after_help = "Example:\n  pki store install /var/lib/product/certs device.crt\n\nExit: 0 installed, 2 refused (the certificate belongs to no key of the store), 64 usage error."
    )]
    Install {
        /// The managed store (repair or renew left device.key.pending and device.csr in it).
        #[arg(value_name = "STORE", value_parser = paths::folder())]
        store: PathBuf,
        /// The certificate the CA signed (PEM or DER; intermediates after it become chain.pem).
        #[arg(value_name = "CERT", value_parser = paths::file())]
        cert: PathBuf,
        /// Prove the pair and print what would be written; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// Make a managed store from a PKCS#12 file or foreign files.
    #[command(
        long_about = "Make a managed store from a PKCS#12 file (.p12/.pfx, what Windows exports) or from certificate and key files: the device certificate, its key, the chain and the trust anchors are sorted out by content, the pair is proven, and the store is written the crash-safe way. Without FILE, STORE's own files are imported in place (they stay where they are; a role file replaced goes to backup/).",
        after_help = "Examples:\n  pki store import /var/lib/product/certs device.pfx --password-file pfx.pass\n  pki store import /etc/product/certs                 # a foreign folder, in place\n\nExit: 0 imported (or already the same: nothing changed), 1 imported with warnings, 2 refused (no certificate with its key, a wrong password, a store that holds something else: --force), 64 usage error."
    )]
    Import(Import),
}

#[derive(Debug, Args)]
pub struct Import {
    /// The store folder to write (made if missing).
    #[arg(value_name = "STORE", value_parser = paths::store_or_new())]
    pub store: PathBuf,
    /// PKCS#12, certificate, key and chain files (default: STORE's own files).
    #[arg(value_name = "FILE", value_parser = paths::file())]
    pub files: Vec<PathBuf>,
    /// The trust anchors for trust.pem (default: the self-signed CA certificates in FILE).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub trust: Option<PathBuf>,
    /// The device id store.yaml records (default: the certificate's CN).
    #[arg(long, value_name = "ID")]
    pub device_id: Option<String>,
    /// Policy profile the store is judged by (default: the built-in device policy).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub policy: Option<PathBuf>,
    /// Replace what a managed store holds (the old files go to backup/).
    #[arg(long)]
    pub force: bool,
    /// Print what would be written; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub secret: Secret,
    #[command(flatten)]
    pub clock: Clock,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct Enroll {
    /// The endpoint store folder (made if missing).
    #[arg(value_name = "STORE", value_parser = paths::store_or_new())]
    pub store: PathBuf,
    /// The CA folder (made by pki ca init).
    #[arg(long, value_name = "DIR", value_parser = paths::folder(), required_unless_present = "server", conflicts_with = "server")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
    /// With --server: the one-time enrollment token (pki ca token prints DEVICE_ID:SECRET;
    /// the device id is read from it).
    #[arg(long, value_name = "TOKEN", requires = "server")]
    pub token: Option<String>,
    /// With --server: the trust anchors that authenticate it (or --fingerprint).
    #[arg(long, value_name = "FILE", value_parser = paths::file(), requires = "server")]
    pub trust: Option<PathBuf>,
    /// The device id the certificate names (letters, digits, '.', '_', '-'; with --server:
    /// the token's, and given, it must agree).
    #[arg(long, value_name = "ID", required_unless_present = "server")]
    pub device_id: Option<String>,
    /// Policy profile (default: the CA's).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub policy: Option<PathBuf>,
    /// Certify this existing private key instead of making one (of an algorithm the policy
    /// accepts: an RSA key needs a policy that lists it, such as policies/legacy-rsa.yaml; an
    /// encrypted key is opened with --password-file or PKI_PASSWORD).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub key: Option<PathBuf>,
    /// Replace a broken, foreign or other device's store (its files go to backup/).
    #[arg(long)]
    pub force: bool,
    /// Check the CA, the store and the key, print what would be written; change nothing (the
    /// CA signs nothing).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub db: Database,
    #[command(flatten)]
    pub secret: Secret,
    #[command(flatten)]
    pub clock: Clock,
    #[command(flatten)]
    pub output: Output,
}

/// RFC 5280 §5.3.1 revocation reasons, as `openssl ca -crl_reason` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reason {
    #[value(name = "unspecified")]
    Unspecified,
    #[value(name = "keyCompromise")]
    KeyCompromise,
    #[value(name = "caCompromise")]
    CaCompromise,
    #[value(name = "affiliationChanged")]
    AffiliationChanged,
    #[value(name = "superseded")]
    Superseded,
    #[value(name = "cessationOfOperation")]
    CessationOfOperation,
    #[value(name = "certificateHold")]
    CertificateHold,
    #[value(name = "privilegeWithdrawn")]
    PrivilegeWithdrawn,
}

impl Reason {
    /// The name as written in the index.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make a root and an issuing CA, the policy, the index and the bundles.
    #[command(
        after_help = "Example:\n  pki ca init /srv/fleet-ca --name Fleet --policy policies/device.yaml\n\nExit: 0 made, 2 refused (the folder holds a CA, or other files), 64 usage error."
    )]
    Init {
        /// The CA folder to make: new, or empty (init never writes over what is there).
        #[arg(value_name = "DIR", value_parser = paths::folder_or_new())]
        dir: PathBuf,
        /// The CA's name ("<name> Root CA", "<name> Issuing CA").
        #[arg(long, default_value = "Fleet")]
        name: String,
        /// Policy profile the CA issues under (default: policies/device.yaml, built in).
        #[arg(long, value_name = "FILE", value_parser = paths::file())]
        policy: Option<PathBuf>,
        /// Where devices and servers reach pki serve's /crl: each issuing CA's CRL is
        /// URL/<generation>, named in its certificates and CRLs.
        #[arg(long, value_name = "URL", default_value = pki_core::ca::DEFAULT_CRL_BASE)]
        crl_url: String,
        /// Print what would be made; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// Sign certificate requests under the CA's policy.
    #[command(
        long_about = "Sign certificate requests under the CA's policy: only the request's public key (and its CN as the device id) is used; nothing else it asks for is trusted.",
        after_help = "Examples:\n  pki ca sign --ca /srv/fleet-ca device.csr > device.crt\n  pki ca sign --ca /srv/fleet-ca --out-dir issued/ csrs/*.csr\n\nExit: 0 all signed, 2 a request was refused (each is named), 3 the CA cannot sign (key missing, issuing CA expired), 64 usage error."
    )]
    Sign {
        /// The CA folder.
        #[arg(long, value_name = "DIR", value_parser = paths::folder())]
        ca: PathBuf,
        /// Certificate requests (PKCS#10, PEM or DER), one certificate each.
        #[arg(value_name = "CSR", required = true, value_parser = paths::file())]
        csrs: Vec<PathBuf>,
        /// The device id (default: the request's CN).
        #[arg(long, value_name = "ID")]
        device_id: Option<String>,
        /// Write each certificate to DIR/<csr name>.crt instead of standard output.
        #[arg(long, value_name = "DIR", value_parser = paths::folder_or_new())]
        out_dir: Option<PathBuf>,
        /// Check every request against the policy and print what would be issued; sign nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// Revoke a certificate by serial number.
    #[command(
        after_help = "Example:\n  pki ca revoke --ca /srv/fleet-ca 4F:1A:... --reason keyCompromise && pki ca crl --ca /srv/fleet-ca\n\nExit: 0 revoked (or already revoked), 2 this CA never issued the serial, 64 usage error."
    )]
    Revoke {
        /// The CA folder.
        #[arg(long, value_name = "DIR", value_parser = paths::folder())]
        ca: PathBuf,
        /// The serial number, hex, with or without colons (as pki inspect prints it).
        #[arg(value_name = "SERIAL")]
        serial: String,
        /// Why (RFC 5280 reason code).
        #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
        reason: Reason,
        /// Say what would be revoked; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// Issue a CRL per issuing CA, its number one more than the last.
    #[command(
        after_help = "Example:\n  pki ca crl --ca /srv/fleet-ca\n\nWrites crl/<issuing-id>.crl in the CA folder."
    )]
    Crl {
        /// The CA folder.
        #[arg(long, value_name = "DIR", value_parser = paths::folder())]
        ca: PathBuf,
        /// Say which CRLs would be issued, with what number; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// New issuing CA (or, with --root, a new root too), with an overlap.
    #[command(
        long_about = "Make a new issuing CA under the same name with a new key (or, with --root, a new root cross-signed by the old one, and a new issuing CA under it). The old generation stays in the bundles for the overlap.",
        after_help = "Example:\n  pki ca rotate --ca /srv/fleet-ca --overlap-days 90"
    )]
    Rotate {
        /// The CA folder.
        #[arg(long, value_name = "DIR", value_parser = paths::folder())]
        ca: PathBuf,
        /// Also a new root CA ("<name> Root CA G2"), cross-signed by the old root.
        #[arg(long)]
        root: bool,
        /// How long the old CA stays trusted, at most 36500 (default: until its last
        /// certificate expires).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=36_500))]
        overlap_days: Option<u32>,
        /// Where the new issuing CA's CRL is published: URL/<generation> (default: where the
        /// current one's is).
        #[arg(long, value_name = "URL")]
        crl_url: Option<String>,
        /// Say what would be made and until when the old CA stays; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// Rewrite the CA's trust.pem and chain.pem for --at.
    #[command(
        long_about = "Rewrite trust.pem and chain.pem in the CA folder for --at: after an overlap has ended, the retired generations leave the bundles.",
        after_help = "Example:\n  pki ca bundle --ca /srv/fleet-ca"
    )]
    Bundle {
        /// The CA folder.
        #[arg(long, value_name = "DIR", value_parser = paths::folder())]
        ca: PathBuf,
        /// Say what the bundles would hold and whether they change; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
    /// A one-time enrollment token for a device's first certificate over EST.
    #[command(
        long_about = "Make a one-time enrollment token for a device's first certificate over EST (shown once, stored hashed).",
        after_help = "Example:\n  pki ca token --ca /srv/fleet-ca --device-id device-0042 --ttl 24h   # prints device-0042:SECRET\n  # on the device: pki enroll /var/lib/product/certs --server https://ca.fleet.internal:8443 --token device-0042:SECRET --fingerprint SHA256"
    )]
    Token {
        /// The CA folder.
        #[arg(long, value_name = "DIR", value_parser = paths::folder())]
        ca: PathBuf,
        /// The device the token enrolls (its HTTP Basic user name).
        #[arg(long, value_name = "ID")]
        device_id: String,
        /// How long it stays usable: 30m, 24h, 7d, or seconds.
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_ttl)]
        ttl: time::Duration,
        /// Say what would be made and store nothing (no secret is shown).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
        #[command(flatten)]
        clock: Clock,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct Diagnose {
    /// An endpoint store folder (managed, or any folder of certificate files).
    #[arg(value_name = "STORE", value_parser = paths::folder())]
    pub store: Option<PathBuf>,
    /// The device certificate (may also hold the chain; a PKCS#12 file holds the key too).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub cert: Option<PathBuf>,
    /// The device's private key.
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub key: Option<PathBuf>,
    /// Intermediate CA certificates.
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub chain: Option<PathBuf>,
    /// The server's current trust anchors.
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub trust: Option<PathBuf>,
    /// A CRL (PEM or DER); repeat for several.
    #[arg(long = "crl", value_name = "FILE", value_parser = paths::file())]
    pub crls: Vec<PathBuf>,
    /// Policy profile (default: the built-in policies/device.yaml).
    #[arg(long, value_name = "FILE", value_parser = paths::file())]
    pub policy: Option<PathBuf>,
    /// Judge a device (client authentication) or a server certificate.
    #[arg(long, value_enum, default_value_t = PurposeArg::Client)]
    pub purpose: PurposeArg,
    /// With --purpose server: the DNS name or IP address a client dials (without it, the
    /// chain is judged and no name is checked).
    #[arg(long, value_name = "HOST", value_parser = pki_core::judge::verify::server_name)]
    pub name: Option<String>,
    /// Judge the store against what this server publishes now (anchors, CRLs, clock) and try
    /// a real mutual-TLS handshake with it.
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub secret: Secret,
    #[command(flatten)]
    pub clock: Clock,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PurposeArg {
    /// A device certificate, as a server checks its clients (clientAuth).
    Client,
    /// A server certificate, as a client checks its server (serverAuth, --name).
    Server,
}

#[derive(Debug, Args)]
pub struct Inspect {
    /// Files to describe: certificates, keys, CRLs, CSRs, PKCS#12; PEM or DER.
    #[arg(value_name = "FILE", required = true, value_parser = paths::file())]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub secret: Secret,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file; errors name the line and column.
    #[command(
        long_about = "Check a policy file: unknown keys and bad values are errors naming the file, line and column.",
        after_help = "Example:\n  pki policy check policies/device.yaml\n\nExit: 0 valid, 64 invalid (the error names the line and column) or not a policy file."
    )]
    Check {
        /// The policy file (YAML).
        #[arg(value_name = "FILE", value_parser = paths::file())]
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
}

/// A usage error found after parsing (e.g. --name without --purpose server): exit 64.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn parse_ttl(text: &str) -> Result<time::Duration, String> {
    pki_core::ca::token::parse_ttl(text)
}

fn parse_at(text: &str) -> Result<OffsetDateTime, String> {
    pki_core::timestamp::parse_at(text)
}

/// Parses the command line; help and version print and exit 0, usage errors exit 64 (not
/// clap's default 2, which the contract gives to "critical").
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|err| {
        let _ = err.print();
        if err.use_stderr() {
            ExitCode::from(crate::exit::USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}
