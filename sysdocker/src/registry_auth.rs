//! `rancher.registry_auths` as the credentials a pull sends (X-Registry-Auth), picked by the
//! registry the image reference names, as the docker CLI picks from its config.json.

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use indexmap::IndexMap;
use os_config::model::RegistryAuth;

/// Docker Hub's names; all of them mean the same registry.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: &[&str] = &["index.docker.io", "registry-1.docker.io", "docker.io"];

/// Credentials by registry host (`docker.io`, `myreg:5000`).
#[derive(Clone, Default)]
pub struct RegistryAuths {
    by_registry: Vec<(String, DockerCredentials)>,
}

/// Names the registries only: a logged project must not carry passwords.
impl std::fmt::Debug for RegistryAuths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.by_registry.iter().map(|(r, _)| r))
            .finish()
    }
}

impl RegistryAuths {
    /// Builds the table; an entry that cannot be used is left out with a warning naming its key
    /// (never its secret).
    pub fn from_config(auths: &IndexMap<String, RegistryAuth>) -> (RegistryAuths, Vec<String>) {
        let mut out = RegistryAuths::default();
        let mut warnings = Vec::new();
        for (key, auth) in auths {
            let registry = registry_of_key(key);
            match credentials(auth) {
                Ok(mut c) => {
                    c.serveraddress = Some(key.clone());
                    out.by_registry.push((registry, c));
                }
                Err(why) => warnings.push(format!("rancher.registry_auths.{key}: {why}; ignored")),
            }
        }
        (out, warnings)
    }

    pub fn is_empty(&self) -> bool {
        self.by_registry.is_empty()
    }

    /// The credentials for pulling `image`, if its registry has any.
    pub fn for_image(&self, image: &str) -> Option<DockerCredentials> {
        let registry = registry_of_image(image);
        self.by_registry
            .iter()
            .find(|(r, _)| *r == registry)
            .map(|(_, c)| c.clone())
    }
}

/// `auth` (base64 of `user:password`, as in config.json) is split here: the engine reads only
/// the separate fields from X-Registry-Auth.
fn credentials(auth: &RegistryAuth) -> Result<DockerCredentials, String> {
    let mut c = DockerCredentials {
        username: auth.username.clone(),
        password: auth.password.clone(),
        email: auth.email.clone(),
        identitytoken: auth.identitytoken.clone(),
        ..DockerCredentials::default()
    };
    if let Some(encoded) = auth.auth.as_deref().filter(|a| !a.trim().is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| "auth is not base64".to_string())?;
        let text = String::from_utf8(decoded).map_err(|_| "auth is not UTF-8".to_string())?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| "auth is not base64 of user:password".to_string())?;
        c.username = Some(user.to_string());
        c.password = Some(password.to_string());
    }
    if c.username.is_none() && c.identitytoken.is_none() {
        return Err("no auth, username or identitytoken".into());
    }
    Ok(c)
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://myreg:5000/v2` → `myreg:5000`.
fn registry_of_key(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or_default();
    canonical(host)
}

/// The registry of an image reference: its first component when that looks like a host
/// (has a `.` or `:`, or is `localhost`), else Docker Hub.
fn registry_of_image(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => canonical(first),
        _ => DOCKER_HUB.to_string(),
    }
}

fn canonical(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        DOCKER_HUB.to_string()
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auths(yaml: &str) -> (RegistryAuths, Vec<String>) {
        let map: IndexMap<String, RegistryAuth> = yaml_serde::from_str(yaml).unwrap();
        RegistryAuths::from_config(&map)
    }

    #[test]
    fn rancheros_v1_examples_pick_by_registry() {
        // Both examples of the v1 private-registries page, plus a private registry.
        let (a, warnings) = auths(
            "https://index.docker.io/v1/: {auth: dXNlcm5hbWU6cGFzc3dvcmQ=}\n\
             http://myreg.example:5000/v2: {username: u, password: 'p:w'}\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let hub = a.for_image("busybox:latest").unwrap();
        assert_eq!(hub.username.as_deref(), Some("username"));
        assert_eq!(hub.password.as_deref(), Some("password"));
        assert_eq!(
            hub.serveraddress.as_deref(),
            Some("https://index.docker.io/v1/")
        );
        assert!(a.for_image("docker.io/library/busybox").is_some());
        assert!(a.for_image("rancher/os-console:v1").is_some());
        let private = a.for_image("myreg.example:5000/team/app:1").unwrap();
        assert_eq!(private.password.as_deref(), Some("p:w"));
        assert!(a.for_image("other.example/app").is_none());
        assert!(a.for_image("localhost/app").is_none());
    }

    #[test]
    fn unusable_entries_are_named_without_their_secret() {
        let (a, warnings) = auths("r.example: {auth: '%%%'}\ns.example: {email: e@x}\n");
        assert!(a.is_empty());
        assert_eq!(
            warnings,
            [
                "rancher.registry_auths.r.example: auth is not base64; ignored",
                "rancher.registry_auths.s.example: no auth, username or identitytoken; ignored"
            ]
        );
    }
}
