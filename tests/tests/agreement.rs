//! Agreement with OpenSSL: over the situations of the suite, our verdict matches
//! `openssl verify -purpose sslclient` plus a key match, except where rustls and OpenSSL are
//! known to differ, which each situation names (and the test checks that they still differ).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{openssl, Ca, Files, Leaf, TempDir, AT};
use rcgen::{
    CustomExtension, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyUsagePurpose,
    NameConstraints,
};

struct Situation {
    name: &'static str,
    files: Files,
    at: &'static str,
    /// Why rustls and OpenSSL answer differently here, if they do.
    known_difference: Option<&'static str>,
}

fn files(root: &Ca, issuing: &Ca, leaf: &Leaf) -> Files {
    Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
}

fn situations() -> Vec<Situation> {
    let root = Ca::root("Agreement Root CA");
    let issuing = root.intermediate("Agreement Issuing CA");
    let leaf = issuing.leaf("dev");
    let healthy = files(&root, &issuing, &leaf);
    let mut out = Vec::new();
    let mut add = |name, files, at, known_difference| {
        out.push(Situation {
            name,
            files,
            at,
            known_difference,
        })
    };

    add("healthy", healthy.clone(), AT, None);
    add(
        "chain missing",
        Files {
            chain: String::new(),
            ..healthy.clone()
        },
        AT,
        None,
    );
    add("expired", healthy.clone(), "2027-02-01T00:00:00Z", None);
    add(
        "not yet valid",
        healthy.clone(),
        "2025-12-31T23:50:00Z",
        None,
    );
    add(
        "key swapped",
        Files {
            key: issuing.leaf("dev").key_pem(),
            ..healthy.clone()
        },
        AT,
        None,
    );
    let rekeyed = issuing.rekeyed_by(Some(&root));
    add(
        "CA rotated",
        Files {
            chain: rekeyed.pem.clone(),
            ..healthy.clone()
        },
        AT,
        None,
    );
    let stranger = Ca::root("Stranger Root");
    add(
        "untrusted root",
        Files {
            trust: stranger.pem.clone(),
            ..healthy.clone()
        },
        AT,
        None,
    );

    let old = root.intermediate_with("Old Issuing CA", |p| {
        p.not_after = pki_tests::at("2026-02-01T00:00:00Z")
    });
    add(
        "intermediate expired",
        files(&root, &old, &old.leaf("dev")),
        AT,
        None,
    );
    let aging = Ca::root_with("Aging Root", |p| {
        p.not_after = pki_tests::at("2026-02-01T00:00:00Z")
    });
    let under_aging = aging.intermediate("Under Aging");
    add(
        "trust anchor expired",
        files(&aging, &under_aging, &under_aging.leaf("dev")),
        AT,
        Some("rustls does not check a trust anchor's validity; OpenSSL does"),
    );

    let server_only = issuing.leaf_with("dev", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
    });
    add(
        "serverAuth only",
        files(&root, &issuing, &server_only),
        AT,
        None,
    );
    let no_eku = issuing.leaf_with("dev", |p| p.extended_key_usages = vec![]);
    add("no EKU", files(&root, &issuing, &no_eku), AT, None);
    let no_ds = issuing.leaf_with("dev", |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment]
    });
    add("keyUsage without digitalSignature", files(&root, &issuing, &no_ds), AT,
        Some("key usage: rustls does not check it, OpenSSL's sslclient purpose requires digitalSignature"));

    let revoked = issuing.crl(&[&leaf], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z");
    add(
        "revoked",
        Files {
            crls: vec![revoked],
            ..healthy.clone()
        },
        AT,
        None,
    );
    let not_listed = issuing.crl(&[], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z");
    add(
        "CRL not listing it",
        Files {
            crls: vec![not_listed],
            ..healthy.clone()
        },
        AT,
        None,
    );

    let sub = issuing.intermediate("Sub CA");
    add(
        "pathlen exceeded",
        Files {
            chain: format!("{}{}", sub.pem, issuing.pem),
            ..files(&root, &sub, &sub.leaf("dev"))
        },
        AT,
        None,
    );
    let fake = issuing.intermediate_with("Fake Sub CA", |p| {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    });
    add(
        "end entity as issuer",
        Files {
            chain: format!("{}{}", fake.pem, issuing.pem),
            ..files(&root, &fake, &fake.leaf("dev"))
        },
        AT,
        None,
    );
    let constrained = root.intermediate_with("Constrained CA", |p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("allowed.example".into())],
            excluded_subtrees: vec![],
        })
    });
    add(
        "name constraints",
        files(&root, &constrained, &constrained.leaf("dev")),
        AT,
        None,
    );
    let critical = issuing.leaf_with("dev", |p| {
        let mut ext =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        p.custom_extensions = vec![ext];
    });
    add(
        "unknown critical extension",
        files(&root, &issuing, &critical),
        AT,
        None,
    );
    let mut bad = leaf.der.clone();
    let n = bad.len() - 5;
    bad[n] ^= 0x55;
    let bad_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64(&bad)
    );
    add(
        "corrupted signature",
        Files {
            cert: bad_pem,
            ..healthy.clone()
        },
        AT,
        None,
    );
    // an OpenSSL-made key: OpenSSL 3.0 cannot read ring's PKCS#8 v2 Ed25519 keys
    let dir = TempDir::new("ed25519");
    openssl(
        dir.path(),
        &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"],
    );
    let spki = openssl(dir.path(), &["pkey", "-in", "k.pem", "-pubout"]);
    let key = std::fs::read_to_string(dir.join("k.pem")).unwrap();
    add(
        "Ed25519 device key",
        Files {
            cert: issuing.leaf_for_public_key("dev", &spki),
            key,
            ..healthy.clone()
        },
        AT,
        None,
    );
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "rsa.pem",
        ],
    );
    let spki = openssl(dir.path(), &["pkey", "-in", "rsa.pem", "-pubout"]);
    let key = std::fs::read_to_string(dir.join("rsa.pem")).unwrap();
    add("RSA 1024 device key", Files { cert: issuing.leaf_for_public_key("dev", &spki), key, ..healthy.clone() }, AT,
        Some("OpenSSL's default security level 1 allows RSA 1024; rustls with ring cannot sign a handshake with it"));
    let key = std::fs::read_to_string(dir.join("k.pem")).unwrap();
    let cert = pki_tests::legacy::sha1_leaf(&issuing, &key);
    add("SHA-1 signature", Files { cert, key, ..healthy.clone() }, AT,
        Some("OpenSSL 3.0 verify (security level 1) still accepts SHA-1 signatures; webpki supports none"));
    out
}

/// OpenSSL's verdict: the chain under `-purpose sslclient` at the same instant, and the key's
/// public half equal to the certificate's.
fn openssl_accepts(s: &Situation) -> bool {
    let w = s.files.write("openssl");
    let at = pki_tests::at(s.at).unix_timestamp().to_string();
    let mut args = vec![
        "verify",
        "-purpose",
        "sslclient",
        "-attime",
        &at,
        "-CAfile",
        "trust.pem",
    ];
    if w.chain.is_some() {
        args.extend(["-untrusted", "chain.pem"]);
    }
    let crl_files: Vec<String> = w.crls.iter().map(|p| p.display().to_string()).collect();
    for crl in &crl_files {
        args.extend(["-crl_check", "-CRLfile", crl]);
    }
    args.push("device.crt");
    let verify = std::process::Command::new("openssl")
        .args(&args)
        .current_dir(w.dir.path())
        .output()
        .unwrap();
    if std::env::var_os("AGREEMENT_DEBUG").is_some() {
        eprintln!(
            "{}: {}{}",
            s.name,
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    let chain_ok = verify.status.success();
    let public = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(w.dir.path())
            .output()
            .unwrap();
        if std::env::var_os("AGREEMENT_DEBUG").is_some() {
            eprintln!(
                "{}: {args:?} {}{}",
                s.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.success().then_some(out.stdout)
    };
    let cert_pub = public(&["x509", "-in", "device.crt", "-noout", "-pubkey"]);
    let key_pub = public(&["pkey", "-in", "device.key", "-pubout"]);
    chain_ok && cert_pub.is_some() && cert_pub == key_pub
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn verdicts_agree_with_openssl_except_where_known() {
    let mut table = Vec::new();
    for s in situations() {
        let ours = s.files.diagnose(s.at, &[]).verdict() == "accepted";
        let theirs = openssl_accepts(&s);
        table.push(format!(
            "{:<36} pki {:<8} openssl {:<8} {}",
            s.name,
            verdict(ours),
            verdict(theirs),
            s.known_difference.unwrap_or("")
        ));
        match s.known_difference {
            None => assert_eq!(
                ours,
                theirs,
                "{}: pki says {}, openssl says {}",
                s.name,
                verdict(ours),
                verdict(theirs)
            ),
            Some(why) => assert_ne!(
                ours, theirs,
                "{}: the known difference ({why}) no longer shows",
                s.name
            ),
        }
    }
    println!("{}", table.join("\n"));
}

fn verdict(accepted: bool) -> &'static str {
    if accepted {
        "accepted"
    } else {
        "rejected"
    }
}

fn base64(bytes: &[u8]) -> String {
    let dir = TempDir::new("b64");
    dir.write("in.der", bytes);
    openssl(dir.path(), &["base64", "-in", "in.der"])
}
