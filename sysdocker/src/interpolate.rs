//! `${VAR}` interpolation of service definitions from `rancher.environment`, and filling of
//! bare `KEY` / wildcard `KEY*` environment items, as RancherOS v1 did.

use indexmap::IndexMap;
use yaml_serde::Value;

/// Replaces `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR-default}` in every string value
/// (not in keys); `$$` is a literal `$`. Returns the names of unset variables (they become empty).
pub fn interpolate_value(value: &mut Value, env: &IndexMap<String, String>) -> Vec<String> {
    let mut unset = Vec::new();
    walk(value, env, &mut unset);
    unset
}

fn walk(value: &mut Value, env: &IndexMap<String, String>, unset: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains('$') => *s = interpolate_str(s, env, unset),
        Value::Sequence(items) => items.iter_mut().for_each(|v| walk(v, env, unset)),
        Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| walk(v, env, unset)),
        Value::Tagged(t) => walk(&mut t.value, env, unset),
        _ => {}
    }
}

/// Interpolates one string.
pub fn interpolate_str(s: &str, env: &IndexMap<String, String>, unset: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some((expr, tail)) = body.split_once('}') else {
                out.push('$');
                out.push_str(after);
                return out;
            };
            let (name, default) = match expr.split_once(":-").or_else(|| expr.split_once('-')) {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            match (env.get(name), default) {
                (Some(v), _) if !(v.is_empty() && expr.contains(":-")) => out.push_str(v),
                (_, Some(d)) => out.push_str(d),
                (None, None) => unset.push(name.to_string()),
                (Some(v), None) => out.push_str(v),
            }
            rest = tail;
        } else {
            let len = after
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map_or(after.len(), |(i, _)| i);
            let (name, tail) = after.split_at_checked(len).unwrap_or((after, ""));
            if name.is_empty() {
                out.push('$');
            } else {
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => unset.push(name.to_string()),
                }
            }
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Turns an environment list (`KEY=V`, `KEY`, `KEY*`) into `KEY=V` items: a bare `KEY` takes
/// its value from `env` (dropped when unset), `KEY*` expands to every `env` key with that prefix.
pub fn fill_environment(items: &[String], env: &IndexMap<String, String>) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.contains('=') {
            out.push(item.clone());
        } else if let Some(prefix) = item.strip_suffix('*') {
            out.extend(
                env.iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| format!("{k}={v}")),
            );
        } else if let Some(v) = env.get(item) {
            out.push(format!("{item}={v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> IndexMap<String, String> {
        [
            ("A", "1"),
            ("PROXY_HTTP", "h"),
            ("PROXY_HTTPS", "s"),
            ("E", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn interpolates_forms() {
        let mut unset = Vec::new();
        let s = interpolate_str(
            "x${A}y$A-$$A ${B:-d} ${E:-z} ${E-z} $ ${NOPE}",
            &env(),
            &mut unset,
        );
        assert_eq!(s, "x1y1-$A d z  $ ");
        assert_eq!(unset, ["NOPE"]);
    }

    #[test]
    fn unterminated_and_trailing_forms_are_kept() {
        let mut unset = Vec::new();
        assert_eq!(interpolate_str("a ${B", &env(), &mut unset), "a ${B");
        assert_eq!(interpolate_str("x$", &env(), &mut unset), "x$");
        assert_eq!(interpolate_str("é${A}ü$A", &env(), &mut unset), "é1ü1");
        assert!(unset.is_empty());
    }

    #[test]
    fn fills_bare_and_wildcard_items() {
        let items: Vec<String> = ["X=1", "A", "PROXY_*", "MISSING"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            fill_environment(&items, &env()),
            ["X=1", "A=1", "PROXY_HTTP=h", "PROXY_HTTPS=s"]
        );
    }

    #[test]
    fn interpolates_nested_values_not_keys() {
        let mut v: Value =
            yaml_serde::from_str("$A: {image: \"img:${A}\", command: [\"${A}\"]}").unwrap();
        interpolate_value(&mut v, &env());
        assert_eq!(
            yaml_serde::to_string(&v).unwrap().trim(),
            "$A:\n  image: img:1\n  command:\n  - '1'"
        );
    }
}
