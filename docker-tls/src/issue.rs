//! Issuing: a self-signed CA, a server certificate for the host's names and addresses, and
//! client certificates, each signed by the CA.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::{Pem, TlsError, CA_VALIDITY, CLIENT_VALIDITY, SERVER_VALIDITY};

/// A clock a little behind the issuer's still accepts a fresh certificate.
const BACKDATE: Duration = Duration::from_secs(3600);

/// The names a server certificate is valid for: DNS names and IP addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl HostNames {
    /// Each name is an IP address if it parses as one, else a DNS name; duplicates and empty
    /// names are dropped, order kept.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, TlsError> {
        let mut out = HostNames::default();
        for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
            if let Ok(ip) = name.parse::<IpAddr>() {
                if !out.ips.contains(&ip) {
                    out.ips.push(ip);
                }
            } else {
                // Validated here so a bad name is reported as given, not at signing.
                rcgen::string::Ia5String::try_from(name).map_err(|source| TlsError::BadName {
                    name: name.to_string(),
                    source,
                })?;
                if !out.dns.iter().any(|d| d == name) {
                    out.dns.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    fn sans(&self) -> Result<Vec<SanType>, TlsError> {
        let mut sans = Vec::new();
        for name in &self.dns {
            let ia5 = rcgen::string::Ia5String::try_from(name.as_str()).map_err(|source| {
                TlsError::BadName {
                    name: name.clone(),
                    source,
                }
            })?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(self.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        Ok(sans)
    }
}

/// A new CA: its certificate and key.
pub fn new_ca(common_name: &str, now: SystemTime) -> Result<Pem, TlsError> {
    let key = generate_key("CA key")?;
    let mut params = params(common_name, now, CA_VALIDITY)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(|source| TlsError::Generate {
            what: "signing the CA certificate",
            source,
        })?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A server certificate for `names`, signed by `ca`.
pub fn issue_server(ca: &Pem, names: &HostNames, now: SystemTime) -> Result<Pem, TlsError> {
    let cn = names
        .dns
        .first()
        .cloned()
        .or_else(|| names.ips.first().map(|ip| ip.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    let mut params = params(&cn, now, SERVER_VALIDITY)?;
    params.subject_alt_names = names.sans()?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(ca, params, "signing the server certificate")
}

/// A client certificate (`CN=client`, client authentication only), signed by `ca`.
pub fn issue_client(ca: &Pem, now: SystemTime) -> Result<Pem, TlsError> {
    let mut params = params("client", now, CLIENT_VALIDITY)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(ca, params, "signing the client certificate")
}

fn sign(ca: &Pem, params: CertificateParams, what: &'static str) -> Result<Pem, TlsError> {
    let ca_key = KeyPair::from_pem(&ca.key).map_err(|source| TlsError::BadKey {
        what: "the CA key".into(),
        source,
    })?;
    crate::check_pair(&ca.cert, &ca.key, "the CA certificate", "the CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key).map_err(|e| TlsError::BadCert {
        what: "the CA certificate".into(),
        reason: e.to_string(),
    })?;
    let key = generate_key("a key")?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| TlsError::Generate { what, source })?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn generate_key(what: &'static str) -> Result<KeyPair, TlsError> {
    KeyPair::generate().map_err(|source| TlsError::Generate { what, source })
}

fn params(
    common_name: &str,
    now: SystemTime,
    validity: Duration,
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "ros");
    params.distinguished_name = dn;
    let start = now.checked_sub(BACKDATE).ok_or(TlsError::Clock)?;
    let end = now.checked_add(validity).ok_or(TlsError::Clock)?;
    params.not_before = offset(start)?;
    params.not_after = offset(end)?;
    Ok(params)
}

fn offset(t: SystemTime) -> Result<OffsetDateTime, TlsError> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| TlsError::Clock)?
        .as_secs();
    let secs = i64::try_from(secs).map_err(|_| TlsError::Clock)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| TlsError::Clock)
}
