//! `http_proxy`, `https_proxy`, `no_proxy` as environment variables for services that ask.

use os_config::model::network::NetworkConfig;

/// Both spellings of each variable that is set, since tools disagree on the case.
pub fn env(config: &NetworkConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in [
        ("http_proxy", &config.http_proxy),
        ("https_proxy", &config.https_proxy),
        ("no_proxy", &config.no_proxy),
    ] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            out.push((name.to_uppercase(), v.to_owned()));
            out.push((name.to_owned(), v.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cases() {
        let c = NetworkConfig {
            http_proxy: Some("http://p:3128".into()),
            no_proxy: Some("localhost".into()),
            ..Default::default()
        };
        assert_eq!(
            env(&c),
            [
                ("HTTP_PROXY".to_string(), "http://p:3128".to_string()),
                ("http_proxy".into(), "http://p:3128".into()),
                ("NO_PROXY".into(), "localhost".into()),
                ("no_proxy".into(), "localhost".into()),
            ]
        );
    }
}
