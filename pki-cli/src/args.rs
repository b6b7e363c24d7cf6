//! Flags, parsed once into validated values; nothing downstream reads raw arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

#[derive(Debug, Parser)]
#[command(
    name = "pki",
    version,
    about = "Endpoint certificate toolkit: why a device's certificate is rejected, and what to do",
    after_help = "Example:\n  pki diagnose /var/lib/product/certs --at 2026-03-01T12:00:00Z"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Judge at this instant (RFC 3339) instead of the system clock.
    #[arg(long, global = true, value_parser = parse_at)]
    pub at: Option<OffsetDateTime>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[value(alias = "table")]
    Text,
    Json,
    /// Prometheus text exposition (audit only).
    Prometheus,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say exactly why an endpoint's certificate is (or would be) rejected.
    #[command(
        after_help = "Examples:\n  pki diagnose /var/lib/product/certs\n  pki diagnose /var/lib/product/certs --server https://ca.fleet.internal:8443\n  pki diagnose --cert device.crt --key device.key --chain chain.pem --trust roots.pem --at 2026-03-01T12:00:00Z\n  pki diagnose --cert server.crt --chain chain.pem --trust roots.pem --purpose server --name api.example.com\n\nExit: 0 accepted, 1 accepted with warnings, 2 rejected, 3 could not judge, 64 usage error."
    )]
    Diagnose(Diagnose),
    /// Show what certificate, key and CRL files hold.
    #[command(
        after_help = "Example:\n  pki inspect device.crt device.key chain.pem --format json"
    )]
    Inspect(Inspect),
    /// Policy profiles.
    #[command(
        subcommand,
        after_help = "Example:\n  pki policy check policies/device.yaml"
    )]
    Policy(PolicyCommand),
    /// The certificate authority: init, sign, revoke, crl, rotate, bundle, token.
    #[command(
        subcommand,
        after_help = "Example:\n  pki ca init /srv/fleet-ca --name Fleet && pki ca sign --ca /srv/fleet-ca device.csr > device.crt"
    )]
    Ca(CaCommand),
    /// Enroll a device: key made in the store, CSR signed by the CA, store written crash-safe.
    #[command(
        after_help = "Examples:\n  pki enroll /var/lib/product/certs --ca /srv/fleet-ca --device-id device-0042\n  pki enroll /var/lib/product/certs --server https://ca.fleet.internal:8443 --device-id device-0042 --token TOKEN --fingerprint SHA256\n\nExit: 0 enrolled (or already enrolled and healthy: nothing changed), 2 refused (a broken or foreign store: see pki repair), 3 the CA could not sign, 64 usage error."
    )]
    Enroll(Enroll),
    /// Diagnose, plan the least invasive fix, and repair the store in place.
    #[command(
        after_help = "Examples:\n  pki repair /var/lib/product/certs --dry-run\n  pki repair /var/lib/product/certs --ca /srv/fleet-ca\n  pki repair /var/lib/product/certs --server https://ca.fleet.internal:8443\n  pki repair /var/lib/product/certs --trust new-roots.pem\n\nExit: 0 accepted afterwards (or nothing to do), 1 accepted with warnings, 2 still rejected (the remaining finding is named), 3 could not run (locked, I/O), 64 usage error. With --dry-run: the store's present status."
    )]
    Repair(Repair),
    /// Renew when the policy says it is time (or now, with --force); --check only says whether.
    #[command(
        after_help = "Examples:\n  pki renew /var/lib/product/certs --ca /srv/fleet-ca --exec 'systemctl reload product'\n  pki renew /var/lib/product/certs --server https://ca.fleet.internal:8443\n  pki renew --check /var/lib/product/certs   # for systemd ExecCondition=\n\nExit: 0 the store is good afterwards (renewed, or not yet due: the JSON says when it will be), 1 renewed but the --exec hook failed (the new certificate is kept), 2 due but refused (expired or not yet valid without --force), 3 due but the CA could not sign, 64 usage error. With --check: 0 due, 1 not due.\n\n--exec CMD is split into argv like a POSIX shell would (quotes, backslashes), but no shell runs it: no pipes, globs or variables. The hook gets PKI_STORE and PKI_SERIAL in its environment."
    )]
    Renew(Renew),
    /// Audit a store or a folder of stores in parallel: text table, JSON or Prometheus metrics.
    #[command(
        after_help = "Examples:\n  pki audit /srv/collected-stores --format json\n  pki audit /var/lib/product/certs --format prometheus --output /var/lib/node_exporter/textfile/pki.prom\n\nExit: the worst status found: 0 ok, 1 warning, 2 critical, 3 unknown (a store could not be read; the audit goes on), 64 usage error."
    )]
    Audit(Audit),
    /// Serve enrollment and renewal over mutual TLS (EST, RFC 7030) for a CA, explaining every rejected device.
    #[command(
        after_help = "Examples:\n  pki serve --ca /srv/fleet-ca --listen 0.0.0.0:8443 --name ca.fleet.internal\n  pki serve --config /etc/pki/serve.yaml --log-format json\n\nRoutes: /.well-known/est/{cacerts,simpleenroll,simplereenroll,csrattrs}, /crl, /healthz, /metrics.\nSIGHUP reloads the CA at once (it is also watched); SIGTERM/SIGINT finish in-flight requests, then exit 0.\nExit: 0 stopped by a signal, 3 could not start (the CA, the inventory, the address), 64 usage error."
    )]
    Serve(Serve),
    /// Store maintenance: undo the last change, install a certificate signed elsewhere.
    #[command(
        subcommand,
        after_help = "Example:\n  pki store rollback /var/lib/product/certs"
    )]
    Store(StoreCommand),
}

/// A `pki serve` to work with over EST instead of a CA folder at hand.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The server: https://HOST:PORT (it is authenticated by --trust, --fingerprint, or the
    /// store's trust.pem).
    #[arg(long)]
    pub server: Option<String>,
    /// For a first contact: the SHA-256 fingerprint of the CA's root (`openssl x509
    /// -fingerprint -sha256`); the server must present a certificate that root vouches for.
    #[arg(long, requires = "server")]
    pub fingerprint: Option<String>,
}

/// Where the CA's inventory lives, when not in the CA folder (`inventory.sqlite`) or where
/// `ca.yaml` says.
#[derive(Debug, Clone, Args)]
pub struct Database {
    /// The inventory database: postgres://USER@HOST:PORT/DB (password from PGPASSWORD) or
    /// sqlite:PATH (default: what ca.yaml records, else inventory.sqlite in the CA folder).
    #[arg(long, env = "PKI_DATABASE")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct Serve {
    /// The CA folder (or `ca:` in --config).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Address and port to listen on (default 0.0.0.0:8443).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// A DNS name or IP address for the server's certificate (repeat; default localhost and
    /// the listening address).
    #[arg(long = "name")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub db: Database,
    /// A YAML file of settings (keys as in samples/serve/pki-serve.yaml); flags win.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The server's certificate chain (PEM) instead of one issued by the CA.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log as text or as one JSON object per line (on standard error).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Connections served at once (default 1024).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// The largest request body in bytes (default 65536; 413 above it).
    #[arg(long)]
    pub body_limit: Option<usize>,
    /// Close a connection idle for this many seconds (default 30).
    #[arg(long)]
    pub idle_timeout: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct Repair {
    pub store: PathBuf,
    /// The CA folder: its bundles, and a new certificate when nothing else can work.
    #[arg(long, conflicts_with = "server")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
    /// With --server, when the store's certificate can no longer authenticate a renewal: a
    /// one-time enrollment token (pki ca token) for a new certificate.
    #[arg(long, requires = "server")]
    pub token: Option<String>,
    /// The server's current trust anchors: the store is judged against them and made
    /// acceptable to a server holding them (trust.pem is refreshed from them).
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// Print the plan and change nothing (in the store or at the CA: nothing is signed).
    #[arg(long)]
    pub dry_run: bool,
    /// Policy profile (default: the built-in device policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub db: Database,
}

#[derive(Debug, Args)]
pub struct Renew {
    pub store: PathBuf,
    /// The CA folder (not needed with --check or --server).
    #[arg(long, required_unless_present_any = ["check", "server"], conflicts_with = "server")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
    /// With --server: the trust anchors that authenticate it (default: the store's trust.pem).
    #[arg(long, requires = "server")]
    pub trust: Option<PathBuf>,
    /// Renew now, due or not (also an expired or not-yet-valid certificate).
    #[arg(long)]
    pub force: bool,
    /// Only say whether renewal is due: exit 0 due, 1 not due.
    #[arg(long, conflicts_with_all = ["force", "exec"])]
    pub check: bool,
    /// A command to run after a successful renewal (e.g. reload the product).
    #[arg(long)]
    pub exec: Option<String>,
    /// Policy profile (default: the CA's; with --check the built-in device policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub db: Database,
}

#[derive(Debug, Args)]
pub struct Audit {
    /// Stores, or folders whose sub-folders are stores.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The server's trust anchors, for every store (default: each store's own trust.pem).
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// Write the output to FILE atomically (temporary file and rename, as node_exporter's
    /// textfile collector requires) instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Policy profile (default: the built-in device policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Undo the last change recorded in the journal, from backup/.
    #[command(
        after_help = "Examples:\n  pki store rollback /var/lib/product/certs --dry-run\n  pki store rollback /var/lib/product/certs\n\nUndoing an enrollment leaves the store without a certificate: it takes --force."
    )]
    Rollback {
        store: PathBuf,
        /// Say what would be undone and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Undo even an enrollment (the store is left without a certificate).
        #[arg(long)]
        force: bool,
    },
    /// Install a certificate signed elsewhere for the store's pending key (after repair left a CSR).
    #[command(after_help = "Example:\n  pki store install /var/lib/product/certs device.crt")]
    Install { store: PathBuf, cert: PathBuf },
}

#[derive(Debug, Args)]
pub struct Enroll {
    /// The endpoint store folder (made if missing).
    pub store: PathBuf,
    /// The CA folder.
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
    /// With --server: the one-time enrollment token (pki ca token) for this device id.
    #[arg(long, requires = "server")]
    pub token: Option<String>,
    /// With --server: the trust anchors that authenticate it (or --fingerprint).
    #[arg(long, requires = "server")]
    pub trust: Option<PathBuf>,
    /// The device id the certificate names.
    #[arg(long)]
    pub device_id: String,
    /// Policy profile (default: the CA's).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Certify this existing private key instead of making one (e.g. an RSA key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Replace a broken, foreign or other device's store (its files go to backup/).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub db: Database,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make a root and an issuing CA, the policy, the index and the endpoint bundles.
    #[command(
        after_help = "Example:\n  pki ca init /srv/fleet-ca --name Fleet --policy policies/device.yaml"
    )]
    Init {
        dir: PathBuf,
        /// The CA's name ("<name> Root CA", "<name> Issuing CA").
        #[arg(long, default_value = "Fleet")]
        name: String,
        /// Policy profile the CA issues under (default: policies/device.yaml, built in).
        #[arg(long)]
        policy: Option<PathBuf>,
        #[command(flatten)]
        db: Database,
    },
    /// Sign certificate requests under the CA's policy (nothing the request asks for is trusted).
    #[command(
        after_help = "Examples:\n  pki ca sign --ca /srv/fleet-ca device.csr > device.crt\n  pki ca sign --ca /srv/fleet-ca --out-dir issued/ csrs/*.csr"
    )]
    Sign {
        #[arg(long)]
        ca: PathBuf,
        #[arg(required = true)]
        csrs: Vec<PathBuf>,
        /// The device id (default: the request's CN).
        #[arg(long)]
        device_id: Option<String>,
        /// Write each certificate to DIR/<csr name>.crt instead of standard output.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        #[command(flatten)]
        db: Database,
    },
    /// Revoke a certificate by serial (hex, with or without colons).
    #[command(
        after_help = "Example:\n  pki ca revoke --ca /srv/fleet-ca 4F:1A:... --reason keyCompromise && pki ca crl --ca /srv/fleet-ca"
    )]
    Revoke {
        #[arg(long)]
        ca: PathBuf,
        serial: String,
        #[arg(long, default_value = "unspecified")]
        reason: String,
        #[command(flatten)]
        db: Database,
    },
    /// Issue a CRL per issuing CA (crl/<id>.crl), its number one more than the last.
    #[command(after_help = "Example:\n  pki ca crl --ca /srv/fleet-ca")]
    Crl {
        #[arg(long)]
        ca: PathBuf,
        #[command(flatten)]
        db: Database,
    },
    /// New issuing CA (or, with --root, a new root cross-signed by the old one), with overlap.
    #[command(after_help = "Example:\n  pki ca rotate --ca /srv/fleet-ca --overlap-days 90")]
    Rotate {
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        root: bool,
        /// How long the old CA stays trusted (default: until its last certificate expires).
        #[arg(long)]
        overlap_days: Option<u32>,
        #[command(flatten)]
        db: Database,
    },
    /// Rewrite trust.pem and chain.pem in the CA folder for --at (after an overlap ends).
    #[command(after_help = "Example:\n  pki ca bundle --ca /srv/fleet-ca")]
    Bundle {
        #[arg(long)]
        ca: PathBuf,
        #[command(flatten)]
        db: Database,
    },
    /// Make a one-time enrollment token for a device's first certificate over EST (shown once).
    #[command(
        after_help = "Example:\n  pki ca token --ca /srv/fleet-ca --device-id device-0042 --ttl 24h\n  # on the device: pki enroll /var/lib/product/certs --server https://ca.fleet.internal:8443 --device-id device-0042 --token TOKEN --fingerprint SHA256"
    )]
    Token {
        #[arg(long)]
        ca: PathBuf,
        /// The device the token enrolls (its HTTP Basic user name).
        #[arg(long)]
        device_id: String,
        /// How long it stays usable: 30m, 24h, 7d, or seconds.
        #[arg(long, default_value = "24h", value_parser = parse_ttl)]
        ttl: time::Duration,
        /// Say what would be made and store nothing (no secret is shown).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Debug, Args)]
pub struct Diagnose {
    /// An endpoint store folder (managed, or any folder of certificate files).
    pub store: Option<PathBuf>,
    /// The device certificate (may also hold the chain).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// The device's private key.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Intermediate CA certificates.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// The server's current trust anchors.
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// A CRL (PEM or DER); repeat for several.
    #[arg(long = "crl")]
    pub crls: Vec<PathBuf>,
    /// Policy profile (default: the built-in policies/device.yaml).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Judge a device (client authentication) or a server certificate.
    #[arg(long, value_enum, default_value_t = PurposeArg::Client)]
    pub purpose: PurposeArg,
    /// With --purpose server: the DNS name or IP address a client dials.
    #[arg(long)]
    pub name: Option<String>,
    /// Judge the store against what this server publishes now (anchors, CRLs, clock) and try
    /// a real mutual-TLS handshake with it.
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PurposeArg {
    Client,
    Server,
}

#[derive(Debug, Args)]
pub struct Inspect {
    /// Files to describe.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file: unknown keys and bad values are errors with line and column.
    #[command(after_help = "Example:\n  pki policy check policies/device.yaml")]
    Check { file: PathBuf },
}

/// A usage error found after parsing (e.g. --purpose server without --name): exit 64.
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
    pki_core::timestamp::parse(text)
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
