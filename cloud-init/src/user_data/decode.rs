//! Decoding user-data as a datasource returns it: gzip (magic `1f 8b`), MIME multipart (its
//! parts chosen by Content-Type: `text/cloud-config`, `text/x-shellscript`, `text/x-compose`,
//! or by their first line), then each text part as `#cloud-config`, `#!` script or `#compose`
//! (the parent module). Bad input becomes a diagnostic naming the source (and
//! the MIME part and line where there is one); nothing here panics.

use super::{self as ud, Part, UserData};
use crate::mime;
use flate2::read::MultiGzDecoder;
use os_config::document;
use os_config::Diagnostic;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How deep gzip and MIME may nest (gzip inside a MIME part is one level).
const MAX_DEPTH: usize = 4;
/// The most a gzip member may inflate to.
const MAX_INFLATED: u64 = 64 * 1024 * 1024;

/// Content types that carry a compose document.
const COMPOSE_TYPES: &[&str] = &[
    "text/x-compose",
    "text/compose",
    "text/x-docker-compose",
    "application/x-compose",
];
/// cloud-init part types ros does not run; they are reported and skipped.
const UNSUPPORTED_TYPES: &[&str] = &[
    "text/x-include-url",
    "text/x-include-once-url",
    "text/part-handler",
    "text/cloud-boothook",
    "text/upstart-job",
    "text/cloud-config-archive",
    "text/jinja2",
    "text/x-shellscript-per-boot",
    "text/x-shellscript-per-instance",
    "text/x-shellscript-per-once",
];

/// Decoded user-data: the usable parts in order, and what was wrong with the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub parts: Vec<Part>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Decoded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Decodes `bytes`; `origin` (a file path or URL) names the source in diagnostics.
pub fn decode(bytes: &[u8], origin: &str) -> Decoded {
    let mut out = Decoded::default();
    decode_into(bytes, origin, "user-data", None, 0, &mut out);
    out
}

fn error(origin: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error("", message).in_file(Some(PathBuf::from(origin)))
}

fn decode_into(
    bytes: &[u8],
    origin: &str,
    name: &str,
    content_type: Option<&str>,
    depth: usize,
    out: &mut Decoded,
) {
    if depth > MAX_DEPTH {
        out.diagnostics.push(error(
            origin,
            format!("user-data nests gzip/MIME more than {MAX_DEPTH} levels deep; skipped"),
        ));
        return;
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        match gunzip(bytes) {
            Ok(inflated) => {
                // A gzip part's own type says nothing about what is inside.
                let inner = content_type.filter(|t| !t.contains("gzip"));
                let origin = format!("{origin} (gunzipped)");
                decode_into(&inflated, &origin, name, inner, depth + 1, out);
            }
            Err(e) => out.diagnostics.push(error(origin, e.to_string())),
        }
        return;
    }
    if content_type.is_none() && mime::looks_like_mime(bytes) {
        match mime::split(bytes) {
            Ok(parts) => {
                tracing::debug!(origin, parts = parts.len(), "MIME user-data");
                for p in parts {
                    let name = p
                        .filename
                        .clone()
                        .unwrap_or_else(|| format!("part-{}", p.index));
                    let part_origin = format!("{origin} [MIME part {}: {name}]", p.index);
                    if p.encoding_problem {
                        out.diagnostics.push(error(
                            &part_origin,
                            "invalid Content-Transfer-Encoding (bad base64 or quoted-printable); part skipped",
                        ));
                        continue;
                    }
                    let ct = p.content_type.as_deref().unwrap_or("text/plain");
                    decode_into(&p.body, &part_origin, &name, Some(ct), depth + 1, out);
                }
            }
            Err(e) => out
                .diagnostics
                .push(error(origin, format!("invalid MIME user-data: {e}"))),
        }
        return;
    }
    let ct = content_type.unwrap_or("text/plain");
    if UNSUPPORTED_TYPES.contains(&ct) {
        out.diagnostics.push(
            Diagnostic::warning("", format!("{ct} parts are not supported; skipped"))
                .in_file(Some(PathBuf::from(origin))),
        );
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            out.diagnostics.push(error(
                origin,
                format!(
                    "user-data is neither text, gzip nor MIME (invalid UTF-8 at byte {})",
                    e.valid_up_to()
                ),
            ));
            return;
        }
    };
    let path = Path::new(origin);
    let parsed = if ct == "text/cloud-config" {
        document::parse_value(text, Some(path)).map(UserData::CloudConfig)
    } else if ct == "text/x-shellscript" {
        if !text.starts_with("#!") {
            out.diagnostics.push(
                Diagnostic::warning("", "the script does not start with a #! line")
                    .in_file(Some(path.to_path_buf()))
                    .at(Some((1, 1))),
            );
        }
        Ok(UserData::Script(document::normalize_text(text)))
    } else if COMPOSE_TYPES.contains(&ct) {
        ud::parse_compose(&document::normalize_text(text), path).map(UserData::Compose)
    } else {
        ud::parse(text, path)
    };
    match parsed {
        Ok(UserData::Empty) => {}
        Ok(data) => out.parts.push(Part {
            name: name.to_owned(),
            origin: path.to_path_buf(),
            data,
        }),
        Err(d) => out.diagnostics.push(d),
    }
}

/// Why gzip user-data was skipped.
#[derive(Debug, thiserror::Error)]
enum GunzipError {
    #[error("invalid gzip user-data: {0}")]
    Invalid(#[source] std::io::Error),
    #[error("gzip user-data inflates to more than {MAX_INFLATED} bytes; skipped")]
    TooLarge,
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, GunzipError> {
    let mut inflated = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .map_err(GunzipError::Invalid)?;
    if inflated.len() as u64 > MAX_INFLATED {
        return Err(GunzipError::TooLarge);
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_formats() {
        let d = decode(b"#cloud-config\nhostname: a\n", "/ud");
        assert_eq!(d.diagnostics, vec![]);
        assert!(matches!(d.parts[0].data, UserData::CloudConfig(_)));
        assert_eq!(d.parts[0].name, "user-data");
        assert_eq!(decode(b"", "/ud"), Decoded::default());
        let d = decode(&[0xff, 0xfe, 0x00], "/ud");
        assert_eq!(
            d.diagnostics[0].to_string(),
            "/ud: error: user-data is neither text, gzip nor MIME (invalid UTF-8 at byte 0)"
        );
        let d = decode(&[0x1f, 0x8b, 0x08, 0x00, 0x01], "http://h/ud");
        assert!(d.diagnostics[0]
            .to_string()
            .starts_with("http://h/ud: error: invalid gzip user-data"));
    }

    #[test]
    fn unsupported_parts_are_warned_and_skipped() {
        let doc = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\
Content-Type: text/x-include-url\n\nhttp://x/\n--b\n\
Content-Type: text/plain\n\n#!/bin/sh\necho plain\n--b--\n";
        let d = decode(doc.as_bytes(), "ud");
        assert_eq!(d.parts.len(), 1);
        assert_eq!(d.parts[0].name, "part-2");
        assert!(matches!(d.parts[0].data, UserData::Script(_)));
        assert_eq!(
            d.diagnostics[0].to_string(),
            "ud [MIME part 1: part-1]: warning: text/x-include-url parts are not supported; skipped"
        );
        assert!(!d.has_errors());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut bytes = b"#cloud-config\nhostname: deep\n".to_vec();
        for _ in 0..6 {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &bytes).unwrap();
            bytes = enc.finish().unwrap();
        }
        let d = decode(&bytes, "ud");
        assert!(d.parts.is_empty());
        assert!(d.diagnostics[0].message.contains("more than 4 levels"));
    }
}
