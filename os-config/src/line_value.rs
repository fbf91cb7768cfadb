//! Values that ros writes into other programs' line-based files (sshd_config, chrony.conf,
//! /etc/hosts, /etc/hostname, resolv.conf, authorized_keys, chpasswd's input). A control
//! character (a newline above all) would end the line and add a directive, so such a value is
//! refused before it is written: the one check every writer calls.

/// A value refused because it holds a control character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: the value contains a control character ({found:?}); skipped")]
pub struct ControlCharacter {
    /// The config key (or other source) the value came from.
    pub key: String,
    /// The first control character; the value itself is not repeated, it may be a secret.
    pub found: char,
}

/// `Ok` when `value` has no control character (C0, DEL or C1).
pub fn check(key: &str, value: &str) -> Result<(), ControlCharacter> {
    match value.chars().find(|c| c.is_control()) {
        Some(found) => Err(ControlCharacter {
            key: key.to_owned(),
            found,
        }),
        None => Ok(()),
    }
}

/// `value` when it passes `check`; otherwise `None`, with a warning naming the key.
pub fn clean<'a>(key: &str, value: &'a str) -> Option<&'a str> {
    match check(key, value) {
        Ok(()) => Some(value),
        Err(e) => {
            tracing::warn!(key, error = %e, "value refused for a line-based file");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_naming_the_key() {
        for bad in ["a\nb", "a\rb", "a\0b", "a\tb", "a\u{7f}", "a\u{85}b"] {
            let e = check("rancher.ntp.servers", bad).unwrap_err();
            assert_eq!(e.key, "rancher.ntp.servers");
            assert!(clean("k", bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            check("rancher.password", "pw\nroot:x")
                .unwrap_err()
                .to_string(),
            "rancher.password: the value contains a control character ('\\n'); skipped"
        );
        for good in [
            "",
            "10.0.0.1",
            "pool.ntp.org",
            "pässwörd with spaces",
            "::1",
        ] {
            assert_eq!(clean("k", good), Some(good));
        }
    }
}
