//! MIME multipart user-data (what `cloud-init devel make-mime` and most cloud consoles
//! produce): split into its leaf parts, transfer encodings (base64, quoted-printable) undone.
//! The parsing itself is `mail-parser`'s.

use mail_parser::{MessageParser, MimeHeaders};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MimePart {
    /// 1-based, in document order.
    pub index: usize,
    /// `type/subtype`, lower case; `None` when the part has no Content-Type.
    pub content_type: Option<String>,
    /// The file name from Content-Disposition or Content-Type.
    pub filename: Option<String>,
    /// The body with its transfer encoding undone.
    pub body: Vec<u8>,
    /// The transfer encoding could not be undone (the body is then as written).
    pub encoding_problem: bool,
}

/// True when the document starts with a MIME header block naming a Content-Type or
/// MIME-Version (cloud-init requires the same before it treats user-data as MIME).
pub(crate) fn looks_like_mime(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(8192)]);
    let mut saw_mime_header = false;
    for (i, line) in head.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        // Folded header continuation.
        if i > 0 && line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('#') {
            return false;
        }
        let name = name.to_ascii_lowercase();
        saw_mime_header |= name == "content-type" || name == "mime-version";
    }
    saw_mime_header
}

/// Why a document could not be split into MIME parts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum MimeError {
    #[error("not a MIME document")]
    NotMime,
    #[error("the multipart document has no parts (is the boundary right?)")]
    NoParts,
}

/// The leaf parts of a MIME document, in order.
pub(crate) fn split(bytes: &[u8]) -> Result<Vec<MimePart>, MimeError> {
    let message = MessageParser::default()
        .parse(bytes)
        .ok_or(MimeError::NotMime)?;
    let mut out = Vec::new();
    for part in &message.parts {
        if part.is_multipart() {
            continue;
        }
        let content_type = part.content_type().map(|ct| {
            let main = ct.c_type.to_ascii_lowercase();
            match &ct.c_subtype {
                Some(sub) => format!("{main}/{}", sub.to_ascii_lowercase()),
                None => main,
            }
        });
        out.push(MimePart {
            index: out.len() + 1,
            content_type,
            filename: part.attachment_name().map(str::to_owned),
            body: part.contents().to_vec(),
            encoding_problem: part.is_encoding_problem,
        });
    }
    // A multipart document whose boundary never appears comes back as one multipart "leaf".
    let unsplit = out.iter().any(|p| {
        p.content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("multipart/"))
    });
    let multipart = message.parts.first().is_some_and(|p| p.is_multipart());
    if unsplit || (multipart && out.is_empty()) {
        return Err(MimeError::NoParts);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_mime_headers_only_at_the_top() {
        assert!(looks_like_mime(
            b"Content-Type: multipart/mixed; boundary=\"x\"\nMIME-Version: 1.0\n\n--x\n"
        ));
        assert!(looks_like_mime(
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=x\r\n\r\n"
        ));
        assert!(!looks_like_mime(b"#cloud-config\ncontent-type: x\n"));
        assert!(!looks_like_mime(b"hostname: a\nrancher: {}\n"));
        assert!(!looks_like_mime(b"#!/bin/sh\n"));
    }

    #[test]
    fn splits_and_decodes_transfer_encodings() {
        let doc = "Content-Type: multipart/mixed; boundary=\"BOUND\"\n\
MIME-Version: 1.0\n\
\n\
--BOUND\n\
Content-Type: text/cloud-config; charset=\"us-ascii\"\n\
Content-Transfer-Encoding: base64\n\
Content-Disposition: attachment; filename=\"a.yml\"\n\
\n\
I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogYQo=\n\
--BOUND\n\
Content-Type: text/x-shellscript\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
#!/bin/sh\n\
echo caf=C3=A9 =3D ok\n\
--BOUND--\n";
        let parts = split(doc.as_bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type.as_deref(), Some("text/cloud-config"));
        assert_eq!(parts[0].filename.as_deref(), Some("a.yml"));
        assert_eq!(parts[0].body, b"#cloud-config\nhostname: a\n");
        assert_eq!(parts[1].index, 2);
        assert_eq!(
            String::from_utf8(parts[1].body.clone()).unwrap(),
            "#!/bin/sh\necho café = ok"
        );
        assert_eq!(
            split(b"Content-Type: multipart/mixed; boundary=\"nope\"\n\n--other\n\nx\n"),
            Err(MimeError::NoParts)
        );
    }
}
