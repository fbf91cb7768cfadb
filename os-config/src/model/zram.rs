//! `rancher.zram`: compressed swap in RAM, so a small machine survives memory pressure
//! (image layers and daemon heaps are mostly cold and compress well).

use crate::lenient_de::{opt_flag, opt_num, opt_string};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ZramConfig {
    /// On unless set to false.
    #[serde(deserialize_with = "opt_flag")]
    pub enabled: Option<bool>,
    /// The swap device's size as a share of RAM, in percent (default 50).
    #[serde(deserialize_with = "opt_num")]
    pub percent: Option<u64>,
    /// The kernel's compressor name (default `lz4`).
    #[serde(deserialize_with = "opt_string")]
    pub algorithm: Option<String>,
}

impl ZramConfig {
    pub const DEFAULT_PERCENT: u64 = 50;
    pub const DEFAULT_ALGORITHM: &'static str = "lz4";

    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// Percent of RAM, clamped to 1..=200 (zram may exceed RAM: it stores compressed pages).
    pub fn percent(&self) -> u64 {
        self.percent.unwrap_or(Self::DEFAULT_PERCENT).clamp(1, 200)
    }

    pub fn algorithm(&self) -> &str {
        self.algorithm.as_deref().unwrap_or(Self::DEFAULT_ALGORITHM)
    }
}
