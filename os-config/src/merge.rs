//! Deep merge of configuration layers: maps merge key by key, lists and scalars replace, and a
//! null changes nothing (so `rancher:` with nothing under it does not wipe the defaults).

use yaml_serde::Value;

/// Merges `overlay` on top of `base`.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (_, Value::Null) => {}
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// `merge` returning the result, for chaining.
pub fn merged(mut base: Value, overlay: Value) -> Value {
    merge(&mut base, overlay);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        yaml_serde::from_str(s).unwrap()
    }

    #[test]
    fn maps_merge_lists_and_scalars_replace() {
        let out = merged(
            yaml("a: {x: 1, l: [1, 2]}\nb: 1\n"),
            yaml("a: {y: 2, l: [3]}\nb: 2\n"),
        );
        assert_eq!(out, yaml("a: {x: 1, l: [3], y: 2}\nb: 2\n"));
    }

    #[test]
    fn null_keeps_base() {
        let out = merged(yaml("rancher: {debug: true}\n"), yaml("rancher:\n"));
        assert_eq!(out, yaml("rancher: {debug: true}\n"));
    }
}
