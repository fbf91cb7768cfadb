//! `ros console`: the consoles the system image ships (`sysdocker::consoles`), which one is
//! enabled (`rancher.console`) and which one runs. A switch cannot be done from inside the
//! console it replaces, so it starts a one-shot System Docker container, `console-switch`,
//! that recreates the `console` service (`ros console apply`) after this command returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use os_config::{KeyPath, Value};
use sysdocker::console_service::{console_only, fall_back_to_default, up_console};
use sysdocker::consoles::{configured_name, ConsoleList, CONSOLE_SERVICE, DEFAULT_CONSOLE};
use sysdocker::service::{Origin, Service};
use sysdocker::{Engine, EngineOptions, Project, Scope};

/// The one-shot container that performs a switch.
const SWITCH_SERVICE: &str = "console-switch";
/// The service whose image (ros/base, with busybox's sh) the switch container runs.
const VOLUMES_SERVICE: &str = "system-volumes";

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Read and write configuration and the console list under this directory.
    #[arg(long, global = true, default_value = "/")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: ConsoleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// The consoles this system ships; which runs now and which the next boot runs.
    #[command(alias = "ls")]
    List,
    /// Run NAME as the console now, and at every boot (sets rancher.console). Ends the console's
    /// sessions, ssh included; /home, the ssh host keys and the configuration are kept.
    Switch {
        name: String,
        /// Do not ask.
        #[arg(short = 'f', long)]
        force: bool,
        /// Start NAME afresh even when it already runs: what was installed in it is removed.
        #[arg(long)]
        reset: bool,
    },
    /// Run NAME as the console from the next boot (sets rancher.console).
    Enable { name: String },
    /// (Run by the console-switch container.) Recreate the console service from the config.
    #[command(hide = true)]
    Apply {
        #[arg(long)]
        reset: bool,
        /// The console that ran before the switch: set back if the new one does not start.
        #[arg(long)]
        previous: Option<String>,
    },
}

pub fn run(args: ConsoleArgs) -> Result<()> {
    let root = args.root.as_path();
    let list = ConsoleList::read(root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match args.command {
        ConsoleCommand::List => runtime.block_on(list_consoles(root, &list)),
        ConsoleCommand::Enable { name } => {
            list.pick(&name)?;
            enable(root, &name)?;
            println!("{name} runs as the console from the next boot.");
            Ok(())
        }
        ConsoleCommand::Switch { name, force, reset } => {
            let console = list.pick(&name)?.clone();
            super::os::require_root_under(root, "ros console switch")?;
            let running = runtime.block_on(running_image(&engine(root, Duration::from_secs(10))));
            if running.as_deref() == Some(console.image.as_str()) && !reset {
                enable(root, &name)?;
                println!(
                    "{name} is already the console; nothing to do (--reset starts it afresh)."
                );
                return Ok(());
            }
            let question = if reset {
                format!("Start the {name} console afresh? What was installed in it is removed, and this session ends. [y/N] ")
            } else {
                format!("Switch the console to {name}? This session ends; /home and the ssh host keys are kept. [y/N] ")
            };
            if !force && !super::install::confirm(&question)? {
                bail!("not switched");
            }
            let previous = running
                .as_deref()
                .and_then(|image| list.by_image(image))
                .map(|c| c.name.clone());
            enable(root, &name)?;
            runtime.block_on(start_switch(root, reset, previous.as_deref()))?;
            println!("Switching to the {name} console: this session ends; log in again in a few seconds.");
            Ok(())
        }
        ConsoleCommand::Apply { reset, previous } => runtime.block_on(apply(root, reset, previous)),
    }
}

/// System Docker answers at once when it runs: a list does not wait for one that does not.
fn engine(root: &Path, connect_timeout: Duration) -> Engine {
    let options = EngineOptions {
        connect_timeout,
        ..EngineOptions::default()
    };
    sysdocker::admin::engine_for_root(root, options)
}

/// The image of the console container, if one exists.
async fn running_image(engine: &Engine) -> Option<String> {
    let client = engine.client(Scope::System).await.ok()?;
    let inspected = sysdocker::reconcile::inspect(client, CONSOLE_SERVICE)
        .await
        .ok()??;
    inspected.config?.image
}

async fn list_consoles(root: &Path, list: &ConsoleList) -> Result<()> {
    let config = os_config::load(root).config;
    let enabled = configured_name(config.rancher.console.as_deref()).to_owned();
    let running = running_image(&engine(root, Duration::from_secs(2))).await;
    for c in &list.consoles {
        let mut notes = Vec::new();
        if running.as_deref() == Some(c.image.as_str()) {
            notes.push("current");
        }
        if c.name == enabled {
            notes.push("enabled");
        }
        println!("{:<10} {:<16} {}", c.name, notes.join(","), c.description);
    }
    if list.get(&enabled).is_none() {
        println!("(rancher.console is {enabled}, which this system does not ship: the default console runs)");
    }
    Ok(())
}

fn enable(root: &Path, name: &str) -> Result<()> {
    super::os::require_root_under(root, "ros console")?;
    let key = KeyPath::keys(["rancher", "console"]);
    os_config::user_config::update(&os_config::paths::cloud_config(root), |doc| {
        key.set(doc, Value::String(name.to_owned()))?;
        Ok(())
    })
    .context("setting rancher.console")?;
    Ok(())
}

/// Starts the console-switch container: it outlives this console, which it replaces.
async fn start_switch(root: &Path, reset: bool, previous: Option<&str>) -> Result<()> {
    let mut project = sysdocker::admin::load_project(root);
    let image = project
        .services
        .get(VOLUMES_SERVICE)
        .and_then(|s| s.spec.image.clone())
        .with_context(|| format!("no {VOLUMES_SERVICE} service to take the image from"))?;
    let mut entrypoint = vec!["ros", "console", "apply"];
    if reset {
        entrypoint.push("--reset");
    }
    if let Some(previous) = previous {
        entrypoint.extend(["--previous", previous]);
    }
    let spec: os_config::model::ServiceSpec = yaml_serde::from_value(
        yaml_serde::to_value(serde_json::json!({
            "image": image,
            "entrypoint": entrypoint,
            "net": "host",
            "volumes_from": [VOLUMES_SERVICE],
            "labels": {"io.rancher.os.scope": "system"},
        }))
        .context("the console-switch definition")?,
    )
    .context("the console-switch definition")?;
    project.services.insert(
        SWITCH_SERVICE.to_owned(),
        Service::new(SWITCH_SERVICE, spec, Origin::Config),
    );
    let report = engine(root, Duration::from_secs(10))
        .up_services(&project, Some(Scope::System), &[SWITCH_SERVICE.to_owned()])
        .await?;
    if let Some(failed) = report.failures().next() {
        bail!("could not start {SWITCH_SERVICE}: {}", failure(failed));
    }
    Ok(())
}

/// In the console-switch container: recreate the console from the config just written. Only
/// the console and the volume containers it uses are brought up (not cloud-init, which the
/// console is ordered after and which must not run twice). A console that does not start gives
/// way to the one that ran before (`rancher.console` is set back), or to the default one, so a
/// switch never leaves the machine without ssh.
async fn apply(root: &Path, reset: bool, previous: Option<String>) -> Result<()> {
    // Let the switching command print its last line before its console goes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let project: Project = sysdocker::admin::load_project(root);
    for w in &project.warnings {
        tracing::warn!(warning = %w, "console switch");
    }
    let engine = engine(root, Duration::from_secs(30));
    if reset {
        engine
            .rm(&console_only(&project, None), &[CONSOLE_SERVICE.to_owned()])
            .await?;
    }
    let Err(failure) = up_console(&engine, &project).await else {
        println!("console: up");
        return Ok(());
    };
    let config = os_config::load(root).config;
    let wanted = configured_name(config.rancher.console.as_deref()).to_owned();
    tracing::error!(console = %wanted, error = %failure, "the console did not start");
    let Some(back_to) = restore_to(&wanted, previous.as_deref()) else {
        bail!("the {wanted} console did not start: {failure}");
    };
    enable(root, &back_to)?;
    let project: Project = sysdocker::admin::load_project(root);
    let Err(again) = up_console(&engine, &project).await else {
        bail!("the {wanted} console did not start ({failure}); rancher.console is {back_to} again, and that console runs");
    };
    let list = ConsoleList::read(root)?;
    match fall_back_to_default(&engine, &project, &list).await {
        Ok(_) => bail!(
            "the {wanted} console did not start ({failure}), nor did {back_to} ({again}); \
             the default console runs (rancher.console stays {back_to})"
        ),
        Err(e) => bail!("no console could start: {wanted}: {failure}; {back_to}: {again}; {e}"),
    }
}

/// The console to set back when `wanted` did not start: the one that ran before the switch,
/// or else the default one; `None` when `wanted` is already that.
fn restore_to(wanted: &str, previous: Option<&str>) -> Option<String> {
    [previous, Some(DEFAULT_CONSOLE)]
        .into_iter()
        .flatten()
        .find(|c| *c != wanted)
        .map(str::to_owned)
}

fn failure(report: &sysdocker::ServiceReport) -> String {
    match &report.result {
        Ok(_) => format!("{}: failed", report.name),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::restore_to;

    #[test]
    fn a_console_that_does_not_start_gives_way_to_the_one_before_or_the_default() {
        assert_eq!(
            restore_to("debian", Some("default")).as_deref(),
            Some("default")
        );
        assert_eq!(
            restore_to("default", Some("debian")).as_deref(),
            Some("debian")
        );
        // Nothing ran (or an unlisted image): the default console.
        assert_eq!(restore_to("debian", None).as_deref(), Some("default"));
        // --reset of the console that runs: the default one.
        assert_eq!(
            restore_to("debian", Some("debian")).as_deref(),
            Some("default")
        );
        // The default console itself did not start: nothing to go back to.
        assert_eq!(restore_to("default", None), None);
        assert_eq!(restore_to("default", Some("default")), None);
    }
}
