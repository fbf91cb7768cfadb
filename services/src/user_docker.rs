//! The docker container's entry point (`ros user-docker`): User Docker's flags from
//! `rancher.docker`, then dockerd in the foreground.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use sysdocker::{daemon_spec_from_config, Scope};

use crate::user_docker_tls;

/// Replaces this process with dockerd; returns only on failure.
pub fn run() -> std::io::Error {
    let loaded = os_config::load(Path::new("/"));
    let docker = &loaded.config.rancher.docker;
    let mut spec = daemon_spec_from_config(Scope::User, docker);
    if let Some(dockerd) = engine_program(Path::new("/"), docker.engine.as_deref()) {
        spec.program = dockerd;
    }
    if spec.tls && !prepare_tls(docker) {
        spec.tls = false;
    }
    let args = spec.to_args();
    tracing::info!(args = ?args, "user docker");
    let mut cmd = Command::new(&spec.program);
    cmd.args(&args);
    for kv in &spec.environment {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.exec()
}

/// The dockerd of the engine `rancher.docker.engine` names, checked against the engine that
/// last used the data root, which is then recorded. `None` (dockerd from PATH) when the system
/// image lists no engines. A configured engine that is unknown or would move the data back
/// is refused with the reason, and the default engine starts instead.
pub fn engine_program(root: &Path, configured: Option<&str>) -> Option<std::path::PathBuf> {
    use sysdocker::docker_engines::{check_data, read_data_mark, EngineList, DATA_MARK};
    let list = match EngineList::read(root) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "no engine list; User Docker runs dockerd from PATH");
            return None;
        }
    };
    let data = read_data_mark(root);
    let (mut chosen, why) = list.choose(configured);
    if let Some(e) = why {
        tracing::error!(error = %e, "rancher.docker.engine: the default engine starts instead");
    }
    if let Some(engine) = chosen {
        if let Err(e) = check_data(data.as_deref(), engine) {
            tracing::error!(error = %e, "rancher.docker.engine: the default engine starts instead");
            chosen = list.default_engine();
        }
    }
    let engine = chosen?;
    let mark = root.join(DATA_MARK);
    if let Some(dir) = mark.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = os_config::atomic_write(&mark, format!("{}\n", engine.name).as_bytes(), 0o644) {
        tracing::warn!(file = %mark.display(), error = %e, "cannot record the data root's engine");
    }
    tracing::info!(engine = %engine.name, dockerd = %engine.dockerd.display(), "user docker engine");
    Some(engine.dockerd.clone())
}

/// The TLS files for `rancher.docker.tls`; false (with the reason logged) when they cannot be
/// made, and User Docker then starts on its unix socket only rather than not at all.
fn prepare_tls(docker: &os_config::model::DockerConfig) -> bool {
    let result = user_docker_tls::host_names(&[])
        .map_err(user_docker_tls::Error::from)
        .and_then(|names| {
            user_docker_tls::prepare_server(
                Path::new("/"),
                docker,
                &names,
                false,
                std::time::SystemTime::now(),
            )
        });
    match result {
        Ok(p) => {
            tracing::info!(
                dir = %p.dir.display(),
                new_ca = p.new_ca,
                issued_server = p.issued_server,
                reason = p.reason.as_deref().unwrap_or("configured certificate is valid"),
                "user docker TLS"
            );
            true
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                "rancher.docker.tls: cannot prepare the TLS files; User Docker starts without TLS (unix socket only)"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysdocker::docker_engines::{DATA_MARK, ENGINES_FILE};

    fn root_with(engines: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(ENGINES_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, engines).unwrap();
        root
    }

    #[test]
    fn the_configured_engine_runs_and_is_recorded_on_the_data_root() {
        let root = root_with(
            "engines:\n- {name: docker-26.1.5, version: '26', dockerd: /usr/sbin/dockerd, default: true}\n\
             - {name: docker-20.10.24, version: '20', dockerd: /usr/lib/ros/engines/20/dockerd}\n",
        );
        let mark = root.path().join(DATA_MARK);
        assert_eq!(
            engine_program(root.path(), Some("docker-20.10.24")).unwrap(),
            Path::new("/usr/lib/ros/engines/20/dockerd")
        );
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "docker-20.10.24\n");
        // Unknown: the default runs.
        assert_eq!(
            engine_program(root.path(), Some("docker-1.12.6")).unwrap(),
            Path::new("/usr/sbin/dockerd")
        );
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "docker-26.1.5\n");
        // Back to the older engine on data the newer one used: refused, the default runs.
        assert_eq!(
            engine_program(root.path(), Some("docker-20.10.24")).unwrap(),
            Path::new("/usr/sbin/dockerd")
        );
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "docker-26.1.5\n");
    }

    #[test]
    fn without_an_engine_list_dockerd_comes_from_path() {
        let root = tempfile::tempdir().unwrap();
        assert!(engine_program(root.path(), Some("docker-26.1.5")).is_none());
    }
}
