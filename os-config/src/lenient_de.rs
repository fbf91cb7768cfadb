//! Lenient deserializers for values RancherOS users write loosely: scalars where strings are
//! expected (`extra_args: [--mtu, 1460]`), and `key:` with nothing after it (null).

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// Treats an explicit `null` the same as a missing key: the type's default.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string that also accepts a YAML number or boolean, written as YAML would print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ScalarString(pub String);

struct ScalarStringVisitor;

impl Visitor<'_> for ScalarStringVisitor {
    type Value = ScalarString;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ScalarString(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(ScalarString(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(ScalarString(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(ScalarString(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(ScalarString(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(ScalarString(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarStringVisitor)
    }
}

/// `Option<String>` that accepts numbers and booleans.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<ScalarString>::deserialize(d)?.map(|s| s.0))
}

/// A list of strings; also accepts null (empty), one scalar (one item), and scalar items.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of strings or a single string")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<ScalarString>()? {
                out.push(item.0);
            }
            Ok(out)
        }
    }
    d.deserialize_any(ListVisitor)
}

/// A map whose values are scalars coerced to strings; null values become empty strings.
pub fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<indexmap::IndexMap<String, String>, D::Error> {
    let raw = Option::<indexmap::IndexMap<ScalarString, Option<ScalarString>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.0, v.map(|s| s.0).unwrap_or_default()))
        .collect())
}

/// A boolean as RancherOS v1 (YAML 1.1) accepted it: `true`, `yes`, `on`, `"false"`, `no`, ...
pub fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    use yaml_serde::Value;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match crate::truthiness::flag_word(&s) {
            Some(b) => Ok(Some(b)),
            None => Err(de::Error::custom(format!(
                "invalid value: string {s:?}, expected true or false"
            ))),
        },
        Some(other) => Err(de::Error::custom(format!(
            "invalid type: {}, expected true or false",
            crate::key_path::kind_of(&other)
        ))),
    }
}

/// `opt_flag` with a missing or null value meaning false.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_flag(d)?.unwrap_or(false))
}

/// A whole number of seconds no greater than `MAX`: every duration read from the config has a
/// stated range, so arithmetic on it (deadlines, `Instant + Duration`) cannot overflow.
pub fn opt_seconds<'de, D, const MAX: u64>(d: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    match opt_num::<D, u64>(d)? {
        Some(n) if n > MAX => Err(de::Error::custom(format!(
            "invalid value: {n} seconds is out of range, expected at most {MAX}"
        ))),
        n => Ok(n),
    }
}

/// A whole number that may also be written as a string (`port: "22"`, as v1 accepted).
pub fn opt_num<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
{
    use yaml_serde::Value;
    let out_of_range = |n: &dyn fmt::Display| {
        de::Error::custom(format!(
            "invalid value: {n} is out of range for {}",
            std::any::type_name::<T>()
        ))
    };
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                T::try_from(u).map(Some).map_err(|_| out_of_range(&u))
            } else if let Some(i) = n.as_i64() {
                T::try_from(i).map(Some).map_err(|_| out_of_range(&i))
            } else {
                Err(de::Error::custom(format!(
                    "invalid type: number {n}, expected a whole number"
                )))
            }
        }
        Some(Value::String(s)) => s.trim().parse::<T>().map(Some).map_err(|_| {
            de::Error::custom(format!(
                "invalid type: string {s:?}, expected a whole number"
            ))
        }),
        Some(other) => Err(de::Error::custom(format!(
            "invalid type: {}, expected a whole number",
            crate::key_path::kind_of(&other)
        ))),
    }
}
