//! Reading certificates back: when one ends, whether a server certificate is due for
//! renewal, and whether a key belongs to a certificate.

use std::time::{Duration, SystemTime};

use rcgen::{KeyPair, PublicKeyData};
use x509_parser::pem::parse_x509_pem;

use crate::{TlsError, RENEW_WITHIN};

/// The end of `cert`'s validity; `what` names it in errors (`rancher.docker.server_cert`).
pub fn not_after(cert: &str, what: &str) -> Result<SystemTime, TlsError> {
    with_cert(cert, what, |c| {
        let secs = c.validity().not_after.timestamp();
        let secs = u64::try_from(secs).map_err(|_| TlsError::Clock)?;
        SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .ok_or(TlsError::Clock)
    })
}

/// Whether `cert` ends within [`RENEW_WITHIN`] of `now` (or has ended).
pub fn renewal_due(cert: &str, what: &str, now: SystemTime) -> Result<bool, TlsError> {
    let end = not_after(cert, what)?;
    Ok(match end.duration_since(now) {
        Ok(left) => left <= RENEW_WITHIN,
        Err(_) => true,
    })
}

/// Fails unless `key`'s public key is the one in `cert`: a mismatched pair would stop
/// dockerd at start, so it is caught first and named.
pub fn check_pair(cert: &str, key: &str, cert_what: &str, key_what: &str) -> Result<(), TlsError> {
    let pair = KeyPair::from_pem(key).map_err(|source| TlsError::BadKey {
        what: key_what.to_string(),
        source,
    })?;
    let spki = pair.subject_public_key_info();
    with_cert(cert, cert_what, |c| {
        if c.public_key().raw == spki.as_slice() {
            Ok(())
        } else {
            Err(TlsError::KeyMismatch {
                cert: cert_what.to_string(),
                key: key_what.to_string(),
            })
        }
    })
}

fn with_cert<T>(
    pem: &str,
    what: &str,
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> Result<T, TlsError>,
) -> Result<T, TlsError> {
    let bad = |reason: String| TlsError::BadCert {
        what: what.to_string(),
        reason,
    };
    let (_, block) = parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if block.label != "CERTIFICATE" {
        return Err(bad(format!("a {} block", block.label)));
    }
    let cert = block.parse_x509().map_err(|e| bad(e.to_string()))?;
    f(&cert)
}
