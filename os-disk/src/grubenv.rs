//! GRUB's environment block (`grubenv`): 1024 bytes, a signature line, `name=value` lines and
//! `#` padding. GRUB's `save_env` rewrites it in place, so ros does too: same size, same blocks,
//! one small write. That keeps the boot counter's updates atomic enough for a power loss.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

pub const SIZE: usize = 1024;
const SIGNATURE: &str = "# GRUB Environment Block\n";

#[derive(Debug, thiserror::Error)]
pub enum GrubEnvError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: not a GRUB environment block (no signature, or not {SIZE} bytes)")]
    NotAnEnvBlock(String),
    #[error("grubenv value for {0} holds a newline or backslash")]
    BadValue(String),
    #[error("grubenv variables take {0} bytes, more than {SIZE}")]
    TooLarge(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrubEnv {
    vars: Vec<(String, String)>,
}

impl GrubEnv {
    pub fn parse(bytes: &[u8], origin: &str) -> Result<GrubEnv, GrubEnvError> {
        let text = String::from_utf8_lossy(bytes);
        let Some(body) = text.strip_prefix(SIGNATURE) else {
            return Err(GrubEnvError::NotAnEnvBlock(origin.to_owned()));
        };
        if bytes.len() != SIZE {
            return Err(GrubEnvError::NotAnEnvBlock(origin.to_owned()));
        }
        // Split at `\n` only, as GRUB does: `lines()` would also drop a `\r` ending a value.
        let vars = body
            .split('\n')
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(GrubEnv { vars })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Sets a variable; an empty value is kept as `name=` (GRUB's `save_env` of an unset one).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn render(&self) -> Result<Vec<u8>, GrubEnvError> {
        let mut out = String::from(SIGNATURE);
        for (k, v) in &self.vars {
            if v.contains(['\n', '\\']) || k.contains(['\n', '\\', '=']) {
                return Err(GrubEnvError::BadValue(k.clone()));
            }
            out.push_str(&format!("{k}={v}\n"));
        }
        if out.len() > SIZE {
            return Err(GrubEnvError::TooLarge(out.len()));
        }
        let mut bytes = out.into_bytes();
        bytes.resize(SIZE, b'#');
        Ok(bytes)
    }

    pub fn read(path: &Path) -> Result<GrubEnv, GrubEnvError> {
        let bytes = std::fs::read(path).map_err(|source| GrubEnvError::Io {
            path: path.display().to_string(),
            source,
        })?;
        GrubEnv::parse(&bytes, &path.display().to_string())
    }

    /// Writes the block over the existing file without truncating it, then syncs.
    pub fn write(&self, path: &Path) -> Result<(), GrubEnvError> {
        let bytes = self.render()?;
        let io = |source| GrubEnvError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.set_len(SIZE as u64).map_err(io)?;
        f.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads_to_1024_bytes() {
        let mut env = GrubEnv::default();
        env.set("ros_slot", "A");
        env.set("ros_next", "");
        let bytes = env.render().unwrap();
        assert_eq!(bytes.len(), SIZE);
        assert!(bytes.starts_with(b"# GRUB Environment Block\nros_slot=A\nros_next=\n###"));
        let back = GrubEnv::parse(&bytes, "t").unwrap();
        assert_eq!(back.get("ros_slot"), Some("A"));
        assert_eq!(back.get("ros_next"), None);
    }

    #[test]
    fn reads_what_grub_editenv_writes() {
        // `grub-editenv F create; grub-editenv F set ros_slot=B ros_tries=2`
        let mut bytes = b"# GRUB Environment Block\nros_slot=B\nros_tries=2\n".to_vec();
        bytes.resize(SIZE, b'#');
        let env = GrubEnv::parse(&bytes, "t").unwrap();
        assert_eq!(env.get("ros_tries"), Some("2"));
        assert!(GrubEnv::parse(&bytes[..1000], "t").is_err());
        assert!(GrubEnv::parse(b"ros_slot=A\n", "t").is_err());
    }

    #[test]
    fn a_value_ending_in_a_carriage_return_reads_back_unchanged() {
        // GRUB ends a variable at `\n` only; `\r` is part of the value (found by fuzzing).
        let mut bytes = b"# GRUB Environment Block\nros_next=B\r\n".to_vec();
        bytes.resize(SIZE, b'#');
        let env = GrubEnv::parse(&bytes, "t").unwrap();
        assert_eq!(env.get("ros_next"), Some("B\r"));
        let again = GrubEnv::parse(&env.render().unwrap(), "t").unwrap();
        assert_eq!(again, env);
    }

    #[test]
    fn writes_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grubenv");
        let mut env = GrubEnv::default();
        env.set("ros_slot", "A");
        env.write(&path).unwrap();
        env.set("ros_slot", "B");
        env.write(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), SIZE as u64);
        assert_eq!(GrubEnv::read(&path).unwrap().get("ros_slot"), Some("B"));
    }

    #[test]
    fn refuses_values_grub_would_escape_and_overflows() {
        let mut env = GrubEnv::default();
        env.set("x", "a\nb");
        assert!(matches!(env.render(), Err(GrubEnvError::BadValue(_))));
        let mut env = GrubEnv::default();
        env.set("x", &"y".repeat(1100));
        assert!(matches!(env.render(), Err(GrubEnvError::TooLarge(_))));
    }
}
