//! `rancher.state`: where the writable root lives, and the OEM partition.

use crate::lenient_de::{flag, opt_string, string_list};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateConfig {
    /// `LABEL=…`, `UUID=…` or a device path.
    #[serde(deserialize_with = "opt_string")]
    pub dev: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub fstype: Option<String>,
    /// A directory inside the device that holds the state.
    #[serde(deserialize_with = "opt_string")]
    pub directory: Option<String>,
    /// Whether (and how long) to wait for the device: `true`, `false` or seconds.
    #[serde(deserialize_with = "opt_wait", skip_serializing_if = "Option::is_none")]
    pub wait: Option<StateWait>,
    #[serde(deserialize_with = "flag")]
    pub required: bool,
    /// Devices formatted as the state partition when their first MiB is all zero.
    #[serde(deserialize_with = "string_list")]
    pub autoformat: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub oem_dev: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub oem_fstype: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub boot_dev: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub boot_fstype: Option<String>,
}

/// `rancher.state.wait`: RancherOS v1's flag (`true` waits the default bound), or a number of
/// seconds (`rancher.state.wait=60`); `false` and `0` do not wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StateWait {
    Flag(bool),
    Seconds(u64),
}

impl StateWait {
    /// How long `true` waits.
    pub const DEFAULT: Duration = Duration::from_secs(30);

    pub fn timeout(self) -> Duration {
        match self {
            StateWait::Flag(true) => Self::DEFAULT,
            StateWait::Flag(false) => Duration::ZERO,
            StateWait::Seconds(s) => Duration::from_secs(s),
        }
    }
}

/// A YAML 1.1 boolean (as `flag` reads it) or a whole number of seconds.
fn opt_wait<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StateWait>, D::Error> {
    use yaml_serde::Value;
    let invalid = |what: String| {
        de::Error::custom(format!(
            "invalid value: {what}, expected true, false or a number of seconds"
        ))
    };
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(StateWait::Flag(b))),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|s| Some(StateWait::Seconds(s)))
            .ok_or_else(|| invalid(format!("number {n}"))),
        Some(Value::String(s)) => {
            if let Some(b) = crate::truthiness::flag_word(&s) {
                return Ok(Some(StateWait::Flag(b)));
            }
            s.trim()
                .parse::<u64>()
                .map(|n| Some(StateWait::Seconds(n)))
                .map_err(|_| invalid(format!("string {s:?}")))
        }
        Some(other) => Err(invalid(crate::key_path::kind_of(&other).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_of(yaml: &str) -> Result<Option<StateWait>, String> {
        yaml_serde::from_str::<StateConfig>(yaml)
            .map(|s| s.wait)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn wait_is_a_flag_or_seconds() {
        assert_eq!(wait_of("{}"), Ok(None));
        assert_eq!(wait_of("wait: true"), Ok(Some(StateWait::Flag(true))));
        assert_eq!(wait_of("wait: \"no\""), Ok(Some(StateWait::Flag(false))));
        assert_eq!(wait_of("wait: 60"), Ok(Some(StateWait::Seconds(60))));
        assert_eq!(wait_of("wait: \"45\""), Ok(Some(StateWait::Seconds(45))));
        assert!(wait_of("wait: -1").unwrap_err().contains("number -1"));
        assert!(wait_of("wait: soon").unwrap_err().contains("\"soon\""));
        assert_eq!(StateWait::Flag(true).timeout(), Duration::from_secs(30));
        assert_eq!(StateWait::Flag(false).timeout(), Duration::ZERO);
        assert_eq!(StateWait::Seconds(5).timeout(), Duration::from_secs(5));
    }

    #[test]
    fn wait_serializes_as_written() {
        let s = StateConfig {
            wait: Some(StateWait::Seconds(60)),
            ..StateConfig::default()
        };
        assert!(yaml_serde::to_string(&s).unwrap().contains("wait: 60"));
        let s = StateConfig {
            wait: Some(StateWait::Flag(true)),
            ..StateConfig::default()
        };
        assert!(yaml_serde::to_string(&s).unwrap().contains("wait: true"));
    }
}
