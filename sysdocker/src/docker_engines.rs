//! The Docker Engines a system image ships (`usr/share/ros/engines.yml`, written by the build),
//! which one `rancher.docker.engine` picks for User Docker, and whether User Docker's data may
//! move to it: Docker upgrades its data root in place but does not support going back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The build's list, relative to the root.
pub const ENGINES_FILE: &str = "usr/share/ros/engines.yml";
/// The engine that last ran on User Docker's data root, relative to the root.
pub const DATA_MARK: &str = "var/lib/docker/.ros-engine";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{path}: {message}")]
    List { path: PathBuf, message: String },
    #[error("rancher.docker.engine: {name} is not shipped (this system has: {have})")]
    Unknown { name: String, have: String },
    #[error("User Docker's data was last used by {data}; {target} is older, and Docker cannot move its data back (keep {data}, or remove /var/lib/docker to start empty)")]
    Downgrade { data: String, target: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerEngine {
    /// `docker-26.1.5`: the name `rancher.docker.engine` and `ros engine` use.
    pub name: String,
    /// The Debian package version it was built from.
    pub version: String,
    pub dockerd: PathBuf,
    #[serde(default)]
    pub default: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineList {
    pub engines: Vec<DockerEngine>,
}

impl EngineList {
    pub fn read(root: &Path) -> Result<EngineList, EngineError> {
        let path = root.join(ENGINES_FILE);
        let err = |message: String| EngineError::List {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let list: EngineList = yaml_serde::from_str(&text).map_err(|e| err(e.to_string()))?;
        if list.engines.is_empty() {
            return Err(err("lists no engine".into()));
        }
        Ok(list)
    }

    /// The default engine: the one marked so, else the first.
    pub fn default_engine(&self) -> Option<&DockerEngine> {
        self.engines
            .iter()
            .find(|e| e.default)
            .or(self.engines.first())
    }

    pub fn find(&self, name: &str) -> Result<&DockerEngine, EngineError> {
        self.engines
            .iter()
            .find(|e| e.name == name.trim())
            .ok_or_else(|| EngineError::Unknown {
                name: name.trim().to_owned(),
                have: self.names(),
            })
    }

    pub fn names(&self) -> String {
        self.engines
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The engine for `configured` (`rancher.docker.engine`), or the default with the reason
    /// it could not be used.
    pub fn choose(&self, configured: Option<&str>) -> (Option<&DockerEngine>, Option<EngineError>) {
        match configured.map(str::trim).filter(|c| !c.is_empty()) {
            None => (self.default_engine(), None),
            Some(name) => match self.find(name) {
                Ok(e) => (Some(e), None),
                Err(e) => (self.default_engine(), Some(e)),
            },
        }
    }
}

/// `docker-26.1.5` for Debian's `26.1.5+dfsg1-9+b9` (epoch and Debian suffixes dropped).
pub fn engine_name(package_version: &str) -> String {
    let v = package_version
        .split_once(':')
        .map_or(package_version, |(_, v)| v);
    let upstream = v.split(['+', '-', '~']).next().unwrap_or(v);
    format!("docker-{upstream}")
}

/// The (major, minor, patch) of an engine name or version, for the downgrade check.
fn numbers(name_or_version: &str) -> Vec<u64> {
    let v = name_or_version.trim_start_matches("docker-");
    let v = v.split_once(':').map_or(v, |(_, v)| v);
    v.split(['+', '-', '~'])
        .next()
        .unwrap_or(v)
        .split('.')
        .map_while(|p| p.parse().ok())
        .collect()
}

/// Whether User Docker's data, last used by the engine named in `data_mark`, may be used by
/// `target`: the same or a newer version only.
pub fn check_data(data_mark: Option<&str>, target: &DockerEngine) -> Result<(), EngineError> {
    let Some(data) = data_mark.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    if numbers(&target.name) < numbers(data) {
        return Err(EngineError::Downgrade {
            data: data.to_owned(),
            target: target.name.clone(),
        });
    }
    Ok(())
}

/// The engine named in the data mark under `root`, if any.
pub fn read_data_mark(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join(DATA_MARK))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(name: &str) -> DockerEngine {
        DockerEngine {
            name: name.into(),
            version: String::new(),
            dockerd: "/usr/sbin/dockerd".into(),
            default: false,
        }
    }

    #[test]
    fn names_come_from_the_upstream_version() {
        assert_eq!(engine_name("26.1.5+dfsg1-9+b9"), "docker-26.1.5");
        assert_eq!(engine_name("1:20.10.24+dfsg1-1+deb12u1"), "docker-20.10.24");
    }

    #[test]
    fn an_unknown_engine_falls_back_to_the_default_and_says_why() {
        let list = EngineList {
            engines: vec![engine("docker-26.1.5")],
        };
        let (e, why) = list.choose(Some("docker-1.12.6"));
        assert_eq!(e.unwrap().name, "docker-26.1.5");
        assert_eq!(
            why.unwrap().to_string(),
            "rancher.docker.engine: docker-1.12.6 is not shipped (this system has: docker-26.1.5)"
        );
        assert!(list.choose(Some(" docker-26.1.5 ")).1.is_none());
        assert!(list.choose(None).1.is_none());
    }

    #[test]
    fn data_moves_forward_only() {
        let new = engine("docker-26.1.5");
        let old = engine("docker-20.10.24");
        assert!(check_data(None, &old).is_ok());
        assert!(check_data(Some("docker-20.10.24"), &new).is_ok());
        assert!(check_data(Some("docker-26.1.5"), &new).is_ok());
        let e = check_data(Some("docker-26.1.5"), &old)
            .unwrap_err()
            .to_string();
        assert!(e.contains("docker-20.10.24 is older"), "{e}");
    }

    #[test]
    fn reads_the_builds_list() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(ENGINES_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        assert!(EngineList::read(root.path()).is_err());
        std::fs::write(
            &path,
            "engines:\n- {name: docker-26.1.5, version: 26.1.5+dfsg1-9, dockerd: /usr/sbin/dockerd, default: true}\n",
        )
        .unwrap();
        let list = EngineList::read(root.path()).unwrap();
        assert_eq!(list.default_engine().unwrap().name, "docker-26.1.5");
    }
}
