//! `rancher.state`: where the writable root lives, and the OEM partition.

use crate::lenient_de::{flag, opt_string, string_list};
use serde::{Deserialize, Serialize};

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
    #[serde(deserialize_with = "flag")]
    pub wait: bool,
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
