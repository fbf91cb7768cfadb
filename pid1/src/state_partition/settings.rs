//! `rancher.state` before the root exists: the early configuration layers (system image
//! defaults, OEM partition, kernel cmdline), whether the device was asked for explicitly, and
//! the settings PID 1 acts on, with `wait` bounded and `directory` kept inside the device.

use super::MAX_WAIT;
use os_config::model::{StateConfig, StateWait};
use os_config::Value;
use std::path::{Component, PathBuf};
use std::time::Duration;

/// A `rancher.state.directory` that would leave the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rancher.state.directory={text:?} must be a path inside the device, without `.` or `..`")]
pub struct DirectoryError {
    pub text: String,
}

/// `rancher.state.directory` as a relative path inside the device (`None`: the device's root).
pub fn parse_directory(text: &str) -> Result<Option<PathBuf>, DirectoryError> {
    let t = text.trim().trim_matches('/');
    if t.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(t);
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(Some(path))
    } else {
        Err(DirectoryError {
            text: text.to_owned(),
        })
    }
}

/// `rancher.state` as PID 1 acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub dev: Option<String>,
    /// `None` (or `auto` in the config): the probed filesystem type.
    pub fstype: Option<String>,
    pub directory: Option<String>,
    /// How long to wait for the device to appear; zero looks once.
    pub wait: Duration,
    pub required: bool,
    pub autoformat: Vec<String>,
}

impl Settings {
    /// `explicit`: the device was asked for by more than the built-in defaults (see
    /// [`EarlyLayers::explicit`]); only then does `wait` apply, so a live boot without any
    /// state partition does not pause.
    pub fn from_config(state: &StateConfig, explicit: bool) -> Settings {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let wait = if explicit {
            wait_bound(state.wait)
        } else {
            Duration::ZERO
        };
        Settings {
            dev: nonempty(&state.dev),
            fstype: nonempty(&state.fstype).filter(|t| !t.eq_ignore_ascii_case("auto")),
            directory: nonempty(&state.directory),
            wait,
            required: state.required,
            autoformat: state
                .autoformat
                .iter()
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .collect(),
        }
    }
}

/// `rancher.state.wait` as a duration: unset means `true` (RancherOS v1's default), and no
/// wait is longer than [`MAX_WAIT`].
pub(super) fn wait_bound(wait: Option<StateWait>) -> Duration {
    let d = wait.unwrap_or(StateWait::Flag(true)).timeout();
    if d > MAX_WAIT {
        tracing::warn!(
            key = "rancher.state.wait",
            wait_s = d.as_secs(),
            max_s = MAX_WAIT.as_secs(),
            "state: wait shortened to the maximum"
        );
    }
    d.min(MAX_WAIT)
}

/// The configuration layers PID 1 has before the root exists, lowest precedence first: the
/// system image's `os-config.yml`, the OEM partition's `oem-config.yml` (once mounted), the
/// kernel cmdline and the arguments after `--`.
#[derive(Debug, Clone, Default)]
pub struct EarlyLayers {
    defaults: Option<Value>,
    oem: Option<Value>,
    cmdline: Value,
    elided: Value,
}

impl EarlyLayers {
    pub fn new(defaults_text: Option<&str>, cmdline: &str) -> EarlyLayers {
        let parsed = os_config::cmdline::parse(cmdline);
        EarlyLayers {
            defaults: defaults_text.and_then(|t| parse_layer(t, "the built-in os-config.yml")),
            oem: None,
            cmdline: parsed.config,
            elided: parsed.elided,
        }
    }

    /// Adds the OEM partition's `oem-config.yml`.
    pub fn with_oem(mut self, oem_text: &str) -> EarlyLayers {
        self.oem = parse_layer(oem_text, "oem-config.yml");
        self
    }

    /// The merged `rancher.state`.
    pub fn state(&self) -> StateConfig {
        let layers = [&self.defaults, &self.oem]
            .into_iter()
            .flatten()
            .chain([&self.cmdline, &self.elided]);
        os_config::merge_in_memory(layers).rancher.state
    }

    /// True when the OEM partition or the kernel cmdline names the state device, sets `wait`
    /// or `required`, or lists devices to autoformat.
    pub fn explicit(&self) -> bool {
        self.sets_any(&["dev", "wait", "required", "autoformat"], true)
    }

    /// True when the kernel cmdline names the OEM device (the OEM partition cannot).
    pub fn oem_explicit(&self) -> bool {
        self.sets_any(&["oem_dev"], false)
    }

    /// Whether a layer above the defaults sets one of `rancher.state`'s `keys`.
    fn sets_any(&self, keys: &[&str], with_oem: bool) -> bool {
        let oem = if with_oem { self.oem.as_ref() } else { None };
        oem.into_iter()
            .chain([&self.cmdline, &self.elided])
            .any(|layer| {
                let state = layer.get("rancher").and_then(|r| r.get("state"));
                keys.iter().any(|k| state.and_then(|s| s.get(*k)).is_some())
            })
    }

    /// How long to wait for the OEM partition: `rancher.state.wait`'s bound when the cmdline
    /// names it, else a single look.
    pub fn oem_wait(&self) -> Duration {
        if self.oem_explicit() {
            wait_bound(self.state().wait)
        } else {
            Duration::ZERO
        }
    }

    /// The state settings from every layer read so far.
    pub fn settings(&self) -> Settings {
        Settings::from_config(&self.state(), self.explicit())
    }
}

fn parse_layer(text: &str, what: &str) -> Option<Value> {
    match os_config::document::parse_value(text, None) {
        Ok(v) => Some(v),
        Err(d) => {
            tracing::error!(layer = what, error = %d, "state: layer skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_stay_inside_the_device() {
        assert_eq!(parse_directory(""), Ok(None));
        assert_eq!(parse_directory("/"), Ok(None));
        assert_eq!(
            parse_directory("/ros/root/"),
            Ok(Some(PathBuf::from("ros/root")))
        );
        assert!(parse_directory("a/../../etc")
            .unwrap_err()
            .to_string()
            .contains("`..`"));
        assert!(parse_directory("./x").is_err());
    }

    const DEFAULTS: &str = "rancher:\n  state:\n    dev: LABEL=RANCHER_STATE\n    fstype: auto\n    wait: true\n    autoformat: []\n    oem_dev: LABEL=RANCHER_OEM\n";

    #[test]
    fn defaults_alone_look_once() {
        let l = EarlyLayers::new(Some(DEFAULTS), "console=ttyS0 rancher.autologin=ttyS0");
        assert!(!l.explicit());
        let s = l.settings();
        assert_eq!(s.dev.as_deref(), Some("LABEL=RANCHER_STATE"));
        assert_eq!(s.fstype, None);
        assert_eq!(s.wait, Duration::ZERO);
        assert!(!s.required && s.autoformat.is_empty());
        assert_eq!(l.state().oem_dev.as_deref(), Some("LABEL=RANCHER_OEM"));
        assert_eq!(l.oem_wait(), Duration::ZERO);
        let l = EarlyLayers::new(Some(DEFAULTS), "rancher.state.oem_dev=/dev/vdc");
        assert!(l.oem_explicit() && !l.explicit());
        assert_eq!(l.oem_wait(), StateWait::DEFAULT);
    }

    #[test]
    fn the_cmdline_makes_it_explicit_and_waits() {
        let l = EarlyLayers::new(
            Some(DEFAULTS),
            "rancher.state.autoformat=[/dev/vda] rancher.state.directory=ros",
        );
        assert!(l.explicit());
        let s = l.settings();
        assert_eq!(s.autoformat, vec!["/dev/vda".to_owned()]);
        assert_eq!(s.wait, StateWait::DEFAULT);
        assert_eq!(s.directory.as_deref(), Some("ros"));

        let l = EarlyLayers::new(
            Some(DEFAULTS),
            "rancher.state.dev=UUID=abcd rancher.state.wait=5 rancher.state.required",
        );
        let s = l.settings();
        assert_eq!(
            (s.dev.as_deref(), s.wait, s.required),
            (Some("UUID=abcd"), Duration::from_secs(5), true)
        );
        let s = EarlyLayers::new(Some(DEFAULTS), "rancher.state.wait=false").settings();
        assert_eq!(s.wait, Duration::ZERO);
        let s =
            EarlyLayers::new(Some(DEFAULTS), "rancher.state.wait=18446744073709551615").settings();
        assert_eq!(s.wait, MAX_WAIT);
    }

    #[test]
    fn oem_sits_between_defaults_and_the_cmdline() {
        let l = EarlyLayers::new(Some(DEFAULTS), "rancher.state.fstype=ext4")
            .with_oem("rancher:\n  state:\n    dev: LABEL=OEM_SAYS\n    fstype: vfat\n");
        assert!(l.explicit());
        let s = l.settings();
        assert_eq!(s.dev.as_deref(), Some("LABEL=OEM_SAYS"));
        assert_eq!(s.fstype.as_deref(), Some("ext4"));
        // A broken OEM file is skipped; the rest still counts.
        let l = EarlyLayers::new(Some(DEFAULTS), "").with_oem("rancher: [unclosed");
        assert!(!l.explicit());
        assert_eq!(l.settings().dev.as_deref(), Some("LABEL=RANCHER_STATE"));
    }
}
