//! The one definition of a yes/no word, as RancherOS v1 (YAML 1.1) read them: config values,
//! service labels and network-config flags all go through here.

/// `true`/`yes`/`y`/`on` → true, `false`/`no`/`n`/`off` → false (any case, trimmed); anything
/// else is not a flag word.
pub fn flag_word(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Some(true),
        "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// A flag word, or `1`/`0` (labels and environment variables write those too).
pub fn flag(s: &str) -> Option<bool> {
    match s.trim() {
        "1" => Some(true),
        "0" => Some(false),
        other => flag_word(other),
    }
}

/// Whether `s` says yes; anything that is not a yes is no.
pub fn is_true(s: &str) -> bool {
    flag(s) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_digits() {
        for yes in ["true", "Yes", " y ", "ON", "1"] {
            assert_eq!(flag(yes), Some(true), "{yes}");
        }
        for no in ["false", "NO", "n", "off", "0"] {
            assert_eq!(flag(no), Some(false), "{no}");
        }
        assert_eq!(flag("maybe"), None);
        assert_eq!(
            flag_word("1"),
            None,
            "digits are not words (rancher.state.wait: 1 is seconds)"
        );
        assert!(!is_true("") && !is_true("2"));
    }
}
