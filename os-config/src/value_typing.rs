//! Turns a string typed on a command line into a YAML value the way RancherOS did: `5`, `true`,
//! `[a,b]` and `['a b',c]` are typed; quoted text, URLs and `a:b` stay strings.

use yaml_serde::Value;

pub fn type_value(raw: &str) -> Value {
    let s = raw.trim();
    if let Some(inner) = strip_matching_quotes(s) {
        return Value::String(inner.to_owned());
    }
    if s.starts_with('[') || s.starts_with('{') {
        if let Ok(v) = yaml_serde::from_str::<Value>(s) {
            if v.is_sequence() || v.is_mapping() {
                return v;
            }
        }
        return Value::String(s.to_owned());
    }
    match yaml_serde::from_str::<Value>(s) {
        Ok(v @ (Value::Bool(_) | Value::Number(_))) => v,
        Ok(Value::Null) if s == "~" || s == "null" => Value::Null,
        _ => Value::String(s.to_owned()),
    }
}

fn strip_matching_quotes(s: &str) -> Option<&str> {
    let first = s.chars().next()?;
    if s.len() >= 2 && (first == '"' || first == '\'') {
        s.strip_prefix(first)?.strip_suffix(first)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_like_yaml_scalars() {
        assert_eq!(type_value("5"), Value::from(5));
        assert_eq!(type_value("true"), Value::Bool(true));
        assert_eq!(type_value("\"5\""), Value::String("5".into()));
        assert_eq!(
            type_value("http://x:8080/a"),
            Value::String("http://x:8080/a".into())
        );
        assert_eq!(type_value("a:b"), Value::String("a:b".into()));
        assert_eq!(type_value("yes"), Value::String("yes".into()));
        assert_eq!(
            type_value("['a b',c]"),
            yaml_serde::from_str::<Value>("['a b', c]").unwrap()
        );
        assert_eq!(type_value("[a,"), Value::String("[a,".into()));
        assert_eq!(type_value(""), Value::String(String::new()));
    }
}
