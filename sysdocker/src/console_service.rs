//! Bringing the `console` service up on its own, and the fallback when the chosen console cannot
//! start: the machine must never be left without getty and sshd. A console other than the
//! default gives way to the default console (at boot, and after `ros console switch`); only when
//! the default console fails too does the caller open the recovery shell.

use crate::consoles::{Console, ConsoleError, ConsoleList, CONSOLE_SERVICE, DEFAULT_CONSOLE};
use crate::{Engine, Project, Scope};

#[derive(Debug, thiserror::Error)]
pub enum FallbackError {
    #[error(transparent)]
    List(#[from] ConsoleError),
    #[error("the default console is the one that failed")]
    DefaultFailed,
    #[error("the project has no {CONSOLE_SERVICE} service")]
    NoConsoleService,
    #[error("the default console did not start either: {0}")]
    Start(String),
}

/// `project` with only the console service and the create-only containers it takes volumes
/// from, the console's image set to `image` when given: bringing the console up again must not
/// run again what it is ordered after (cloud-init).
pub fn console_only(project: &Project, image: Option<&str>) -> Project {
    let mut only = project.clone();
    only.services
        .retain(|name, s| name == CONSOLE_SERVICE || s.create_only);
    if let (Some(image), Some(console)) = (image, only.services.get_mut(CONSOLE_SERVICE)) {
        console.spec.image = Some(image.to_owned());
    }
    only
}

/// Brings the console service of `project` up (recreating it when its image changed); the
/// error says why it did not start.
pub async fn up_console(engine: &Engine, project: &Project) -> Result<(), String> {
    let names = [CONSOLE_SERVICE.to_owned()];
    let report = engine
        .up_services(&console_only(project, None), Some(Scope::System), &names)
        .await
        .map_err(|e| e.to_string())?;
    let failed = report.failures().next().map(|f| match &f.result {
        Err(e) => e.to_string(),
        Ok(_) => format!("{}: failed", f.name),
    });
    failed.map_or(Ok(()), Err)
}

/// The console service of `project` could not start: starts it with the default console's
/// image instead, unless that is the image that failed.
pub async fn fall_back_to_default(
    engine: &Engine,
    project: &Project,
    list: &ConsoleList,
) -> Result<Console, FallbackError> {
    let default = list.pick(DEFAULT_CONSOLE)?.clone();
    let failed = project
        .services
        .get(CONSOLE_SERVICE)
        .ok_or(FallbackError::NoConsoleService)?;
    if failed.spec.image.as_deref() == Some(default.image.as_str()) {
        return Err(FallbackError::DefaultFailed);
    }
    let with_default = console_only(project, Some(&default.image));
    up_console(engine, &with_default)
        .await
        .map_err(FallbackError::Start)?;
    Ok(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        let yaml = "rancher:\n  services:\n    console:\n      image: ros/console-debian:1\n      volumes_from: [system-volumes]\n      labels: {io.rancher.os.scope: system, io.rancher.os.after: cloud-init}\n    cloud-init:\n      image: ros/base:1\n      labels: {io.rancher.os.scope: system, io.rancher.os.detach: 'false'}\n    system-volumes:\n      image: ros/base:1\n      labels: {io.rancher.os.scope: system, io.rancher.os.createonly: 'true'}\n    syslog:\n      image: ros/base:1\n      labels: {io.rancher.os.scope: system}\n";
        let value: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
        Project::from_value(&value, std::path::Path::new("/nonexistent"))
    }

    #[test]
    fn console_only_keeps_the_console_and_the_create_only_containers() {
        let only = console_only(&project(), Some("ros/console:1"));
        let names: Vec<&str> = only.services.keys().map(String::as_str).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"console") && names.contains(&"system-volumes"));
        assert_eq!(
            only.services[CONSOLE_SERVICE].spec.image.as_deref(),
            Some("ros/console:1")
        );
        let kept = console_only(&project(), None);
        assert_eq!(
            kept.services[CONSOLE_SERVICE].spec.image.as_deref(),
            Some("ros/console-debian:1")
        );
    }
}
