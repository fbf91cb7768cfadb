//! Properties of the layering primitives over generated inputs.

use os_config::key_path::{KeyPath, PathSeg};
use os_config::merge::merged;
use os_config::{cmdline, Value};
use proptest::prelude::*;
use yaml_serde::Mapping;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ./:-]{0,8}".prop_map(Value::String),
        prop::collection::vec(any::<u8>().prop_map(Value::from), 0..3).prop_map(Value::Sequence),
    ]
}

/// Documents where keys `a`/`b` always hold maps (or null) and `c`/`d` always hold leaves,
/// the way every layer follows one schema: associativity is a property of such documents.
fn doc(depth: u32) -> BoxedStrategy<Value> {
    let map_child = if depth == 0 {
        leaf().boxed()
    } else {
        prop_oneof![1 => Just(Value::Null), 4 => doc(depth - 1)].boxed()
    };
    (
        prop::option::of(map_child.clone()),
        prop::option::of(map_child),
        prop::option::of(leaf()),
        prop::option::of(leaf()),
    )
        .prop_map(|(a, b, c, d)| {
            let mut m = Mapping::new();
            for (k, v) in [("a", a), ("b", b), ("c", c), ("d", d)] {
                if let Some(v) = v {
                    m.insert(Value::from(k), v);
                }
            }
            Value::Mapping(m)
        })
        .boxed()
}

fn empty() -> Value {
    Value::Mapping(Mapping::new())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn merge_with_empty_is_identity(x in doc(3)) {
        prop_assert_eq!(merged(x.clone(), empty()), x.clone());
        prop_assert_eq!(merged(empty(), x.clone()), x);
    }

    #[test]
    fn merge_is_associative(a in doc(3), b in doc(3), c in doc(3)) {
        let left = merged(merged(a.clone(), b.clone()), c.clone());
        let right = merged(a, merged(b, c));
        prop_assert_eq!(left, right);
    }

    #[test]
    fn cmdline_parser_never_panics(s in any::<String>()) {
        let _ = cmdline::parse(&s);
    }

    #[test]
    fn cmdline_parser_never_panics_on_key_like_input(
        s in r#"((rancher|cc)\.[a-z."\[\]0-9]{0,12}(=[\[\]{}'", a-z0-9:=/.-]{0,16})? ?|-- ){0,6}"#
    ) {
        let _ = cmdline::parse(&s);
    }

    #[test]
    fn key_paths_round_trip_through_display(
        segs in prop::collection::vec(
            prop_oneof![
                "[a-z_][a-z0-9_.]{0,8}".prop_map(PathSeg::Key),
                (0usize..5).prop_map(PathSeg::Index),
            ],
            1..5,
        )
    ) {
        // Paths start with a key, as every document is a map.
        let mut segs = segs;
        if matches!(segs.first(), Some(PathSeg::Index(_))) {
            segs.insert(0, PathSeg::Key("k".into()));
        }
        let path = KeyPath(segs);
        prop_assert_eq!(KeyPath::parse(&path.to_string()).unwrap(), path);
    }
}
