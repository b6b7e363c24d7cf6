//! EST bodies: base64 of DER (RFC 7030 §4; RFC 8951 §3.1: base64 without line-length limits,
//! `Content-Transfer-Encoding` not to be relied on). Reading is tolerant: CR, LF, spaces and
//! tabs anywhere are skipped, and a PEM armour (`-----BEGIN …-----`) around the base64 is
//! accepted, as clients in the field send all of these.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBody(pub String);

impl std::fmt::Display for BadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The DER inside a base64 body.
pub fn decode(body: &[u8]) -> Result<Vec<u8>, BadBody> {
    let text = std::str::from_utf8(body).map_err(|_| {
        BadBody("the body is not base64 text (binary DER is not EST's encoding)".into())
    })?;
    let mut compact = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----") {
            continue; // PEM armour
        }
        compact.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
    }
    if compact.is_empty() {
        return Err(BadBody("the body is empty".into()));
    }
    // padding is optional in the wild
    let unpadded = compact.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .map_err(|e| BadBody(format!("the body is not valid base64 ({e})")))
}

/// `der` as base64 in lines of 64 characters, each ended by CRLF (RFC 2045 style, which every
/// EST client reads).
pub fn encode(der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let mut out = String::with_capacity(text.len() + text.len() / 32 + 2);
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_single_line_crlf_spaces_and_pem_all_read() {
        let der: Vec<u8> = (0u8..=200).collect();
        let wrapped = encode(&der);
        let single = STANDARD.encode(&der);
        let crlf_spaces = format!(" {}\r\n {} \r\n", &single[..40], &single[40..]);
        let pem = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{wrapped}-----END CERTIFICATE REQUEST-----\n"
        );
        let unpadded = single.trim_end_matches('=').to_string();
        for body in [wrapped, single, crlf_spaces, pem, unpadded] {
            assert_eq!(decode(body.as_bytes()), Ok(der.clone()), "{body:?}");
        }
        assert!(decode(b"").is_err());
        assert!(decode(b"not base64 !!").is_err());
        assert!(decode(&[0x30, 0x82, 0xff, 0xfe]).is_err());
    }
}
