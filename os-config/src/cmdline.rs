//! The kernel command line as a configuration layer: `rancher.*` keys address `rancher:`,
//! `cc.*` keys address the top level, and everything after a bare `--` forms the elided set.

use crate::key_path::{KeyPath, PathSeg};
use crate::value_typing::type_value;
use std::collections::HashSet;
use yaml_serde::{Mapping, Value};

/// What the command line contributes to the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmdline {
    /// Keys before `--`.
    pub config: Value,
    /// Keys after `--` (a separate, higher-precedence layer).
    pub elided: Value,
    /// Every token after `--`, verbatim.
    pub elided_args: Vec<String>,
    /// Problems with single keys; those keys are skipped.
    pub warnings: Vec<String>,
}

/// Splits on whitespace outside quotes; quote characters stay in the token.
pub fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn parse(line: &str) -> Cmdline {
    let tokens = tokenize(line);
    let split = tokens.iter().position(|t| t == "--");
    let (before, after) = match split.map(|i| tokens.split_at(i)) {
        Some((before, rest)) => (before, rest.get(1..).unwrap_or_default()),
        None => (&tokens[..], &[][..]),
    };
    let mut warnings = Vec::new();
    let config = parse_tokens(before, &mut warnings);
    let elided = parse_tokens(after, &mut warnings);
    Cmdline {
        config,
        elided,
        elided_args: after.to_vec(),
        warnings,
    }
}

fn parse_tokens(tokens: &[String], warnings: &mut Vec<String>) -> Value {
    let mut doc = Value::Mapping(Mapping::new());
    let mut seen: HashSet<KeyPath> = HashSet::new();
    for token in tokens {
        // A token quoted as a whole (`"rancher.a=b c"`) is unwrapped first.
        let token = unquote_whole(token);
        let (key, value) = match token.split_once('=') {
            Some((k, v)) => (k, type_value(v)),
            None => (token, Value::Bool(true)),
        };
        let path = match key_to_path(key) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                warnings.push(format!("kernel argument {token:?}: {e}"));
                continue;
            }
            None => continue,
        };
        // A repeated key collects its values into a list (`rancher.autologin=tty1 ...=ttyS0`).
        let value = if seen.contains(&path) {
            match path.get(&doc).cloned() {
                Some(Value::Sequence(mut items)) if !value.is_sequence() => {
                    items.push(value);
                    Value::Sequence(items)
                }
                Some(Value::Sequence(mut items)) => {
                    if let Value::Sequence(more) = value {
                        items.extend(more);
                    }
                    Value::Sequence(items)
                }
                Some(old) => Value::Sequence(vec![old, value]),
                None => value,
            }
        } else {
            value
        };
        match path.set(&mut doc, value) {
            Ok(()) => {
                seen.insert(path);
            }
            Err(e) => warnings.push(format!("kernel argument {token:?}: {e}")),
        }
    }
    doc
}

fn unquote_whole(token: &str) -> &str {
    for q in ['"', '\''] {
        if token.len() >= 2 {
            if let Some(inner) = token.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
                return inner;
            }
        }
    }
    token
}

/// `rancher.a.b` → `[rancher, a, b]`; `cc.a.b` → `[a, b]`; other arguments are not ours.
fn key_to_path(key: &str) -> Option<Result<KeyPath, crate::key_path::KeyPathError>> {
    let parsed = if key == "rancher" || key.starts_with("rancher.") {
        KeyPath::parse(key)
    } else {
        KeyPath::parse(key.strip_prefix("cc.")?)
    };
    Some(parsed.and_then(|p| match p.0.first() {
        Some(PathSeg::Key(_)) => Ok(p),
        _ => Err(crate::key_path::KeyPathError::BadIndex(key.to_owned())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        yaml_serde::from_str(s).unwrap()
    }

    /// Real-world command lines and the layer each must produce.
    #[test]
    fn real_cmdlines() {
        let cases: &[(&str, &str)] = &[
            ("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet", "{}"),
            ("rancher.debug", "rancher: {debug: true}"),
            ("rancher.debug=true", "rancher: {debug: true}"),
            ("rancher.debug=false", "rancher: {debug: false}"),
            ("rancher.shutdown_timeout=30", "rancher: {shutdown_timeout: 30}"),
            ("rancher.state.dev=LABEL=RANCHER_STATE", "rancher: {state: {dev: LABEL=RANCHER_STATE}}"),
            ("rancher.state.autoformat=[/dev/sda,/dev/vda]", "rancher: {state: {autoformat: [/dev/sda, /dev/vda]}}"),
            ("rancher.cloud_init.datasources=[url:http://10.0.2.2:8000/cc.yml]", "rancher: {cloud_init: {datasources: ['url:http://10.0.2.2:8000/cc.yml']}}"),
            ("rancher.cloud_init.datasources=['configdrive:/media/config-2',nocloud]", "rancher: {cloud_init: {datasources: ['configdrive:/media/config-2', nocloud]}}"),
            ("cc.hostname=myhost", "hostname: myhost"),
            ("cc.ssh_authorized_keys=['ssh-rsa AAA a@b']", "ssh_authorized_keys: ['ssh-rsa AAA a@b']"),
            ("rancher.password=rancher", "rancher: {password: rancher}"),
            ("rancher.password=\"two words\"", "rancher: {password: two words}"),
            ("\"rancher.password=two words\"", "rancher: {password: two words}"),
            ("rancher.docker.engine=\"5\"", "rancher: {docker: {engine: '5'}}"),
            ("rancher.autologin=tty1 rancher.autologin=ttyS0", "rancher: {autologin: [tty1, ttyS0]}"),
            ("rancher.upgrade.url=https://example.invalid/releases.yml", "rancher: {upgrade: {url: 'https://example.invalid/releases.yml'}}"),
            ("rancher.network.interfaces.eth0.address=10.0.0.2/24 rancher.network.interfaces.eth0.dhcp=false", "rancher: {network: {interfaces: {eth0: {address: 10.0.0.2/24, dhcp: false}}}}"),
            ("rancher.sysctl.\"net.core.somaxconn\"=1024", "rancher: {sysctl: {net.core.somaxconn: 1024}}"),
            ("rancher.modules=[nbd,'bonding mode=1']", "rancher: {modules: [nbd, 'bonding mode=1']}"),
            ("rancher.environment.EMPTY=", "rancher: {environment: {EMPTY: ''}}"),
            ("rancher.recovery=true console=tty1", "rancher: {recovery: true}"),
            ("ranchero.x=1 cc=2 rancherfoo=3", "{}"),
        ];
        for (line, expected) in cases {
            let c = parse(line);
            assert_eq!(c.config, yaml(expected), "cmdline {line:?}");
            assert!(c.warnings.is_empty(), "{line:?}: {:?}", c.warnings);
        }
    }

    #[test]
    fn elided_arguments_form_their_own_layer() {
        let c = parse("console=ttyS0 rancher.debug -- rancher.debug=false cc.hostname=h extra");
        assert_eq!(c.config, yaml("rancher: {debug: true}"));
        assert_eq!(c.elided, yaml("rancher: {debug: false}\nhostname: h"));
        assert_eq!(
            c.elided_args,
            vec!["rancher.debug=false", "cc.hostname=h", "extra"]
        );
    }

    #[test]
    fn conflicting_keys_are_warned_and_skipped() {
        let c = parse("rancher.debug=true rancher.debug.x=1");
        assert_eq!(c.config, yaml("rancher: {debug: true}"));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("rancher.debug is a boolean, not a map"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn tokenizer_keeps_quoted_spaces() {
        assert_eq!(
            tokenize("a=1  b='x y' \"c=d e\"\n"),
            vec!["a=1", "b='x y'", "\"c=d e\""]
        );
    }
}
