//! The consoles a system image ships (`usr/share/ros/consoles.yml`, written by the build from
//! `images/images.yml`), and which one `rancher.console` puts in the `console` service. The
//! service's definition (entrypoint, volumes, privileges) is the same for every console; only
//! its image changes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The build's list, relative to the root.
pub const CONSOLES_FILE: &str = "usr/share/ros/consoles.yml";
/// The console that runs when `rancher.console` is unset.
pub const DEFAULT_CONSOLE: &str = "default";
/// The service whose image a console sets.
pub const CONSOLE_SERVICE: &str = "console";

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{path}: {message}")]
    List { path: PathBuf, message: String },
    #[error("rancher.console: {name} is not a console this system ships (it has: {have})")]
    Unknown { name: String, have: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Console {
    /// `default`, `debian`: the name `rancher.console` and `ros console` use.
    pub name: String,
    /// The image tag, `ros/console-debian:0.1.0`.
    pub image: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsoleList {
    pub consoles: Vec<Console>,
}

impl ConsoleList {
    pub fn read(root: &Path) -> Result<ConsoleList, ConsoleError> {
        let path = root.join(CONSOLES_FILE);
        let err = |message: String| ConsoleError::List {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let list: ConsoleList = yaml_serde::from_str(&text).map_err(|e| err(e.to_string()))?;
        if list.get(DEFAULT_CONSOLE).is_none() {
            return Err(err(format!("lists no {DEFAULT_CONSOLE} console")));
        }
        Ok(list)
    }

    pub fn get(&self, name: &str) -> Option<&Console> {
        self.consoles.iter().find(|c| c.name == name)
    }

    /// The named console, or an error listing the ones there are.
    pub fn pick(&self, name: &str) -> Result<&Console, ConsoleError> {
        self.get(name).ok_or_else(|| ConsoleError::Unknown {
            name: name.to_owned(),
            have: self.names().join(", "),
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.consoles.iter().map(|c| c.name.as_str()).collect()
    }

    /// The console whose image is `image`, if any: what is running now.
    pub fn by_image(&self, image: &str) -> Option<&Console> {
        self.consoles.iter().find(|c| c.image == image)
    }
}

/// `rancher.console`'s value as a name: unset, empty or `default` is the default console.
pub fn configured_name(value: Option<&str>) -> &str {
    match value.map(str::trim) {
        None | Some("") => DEFAULT_CONSOLE,
        Some(name) => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> ConsoleList {
        ConsoleList {
            consoles: vec![
                Console {
                    name: "default".into(),
                    image: "ros/console:1".into(),
                    description: String::new(),
                },
                Console {
                    name: "debian".into(),
                    image: "ros/console-debian:1".into(),
                    description: String::new(),
                },
            ],
        }
    }

    #[test]
    fn reads_the_list_and_requires_a_default() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join(CONSOLES_FILE);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, yaml_serde::to_string(&list()).unwrap()).unwrap();
        assert_eq!(
            ConsoleList::read(root.path()).unwrap().names(),
            ["default", "debian"]
        );
        std::fs::write(&file, "consoles: [{name: debian, image: x}]\n").unwrap();
        let e = ConsoleList::read(root.path()).unwrap_err().to_string();
        assert!(e.ends_with("consoles.yml: lists no default console"), "{e}");
    }

    #[test]
    fn picks_by_name_and_names_the_choices_otherwise() {
        let l = list();
        assert_eq!(l.pick("debian").unwrap().image, "ros/console-debian:1");
        assert_eq!(
            l.pick("centos").unwrap_err().to_string(),
            "rancher.console: centos is not a console this system ships (it has: default, debian)"
        );
        assert_eq!(l.by_image("ros/console:1").unwrap().name, "default");
        assert_eq!(configured_name(None), "default");
        assert_eq!(configured_name(Some(" ")), "default");
        assert_eq!(configured_name(Some("debian")), "debian");
    }
}
