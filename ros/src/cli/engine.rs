//! `ros engine`: the Docker Engines the system image ships and which one User Docker runs
//! (`rancher.docker.engine`). The list, the choice and the data check are
//! `sysdocker::docker_engines`'; `ros user-docker` applies them when the docker service starts.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use os_config::{KeyPath, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use sysdocker::docker_engines::{check_data, read_data_mark, EngineList};

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Read and write configuration and the engine list under this directory.
    #[arg(long, global = true, default_value = "/")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: EngineCommand,
}

#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// The engines this system ships; which is enabled, and which last used User Docker's data.
    List,
    /// Run NAME as User Docker now: sets rancher.docker.engine and restarts the docker service
    /// (its containers stop unless they have a restart policy). Refused when User Docker's
    /// data was used by a newer engine.
    Switch {
        name: String,
        /// Do not ask.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Run NAME as User Docker from the next boot (sets rancher.docker.engine).
    Enable { name: String },
}

pub fn run(args: EngineArgs) -> Result<()> {
    let root = args.root.as_path();
    let list = EngineList::read(root)?;
    match args.command {
        EngineCommand::List => {
            list_engines(root, &list);
            Ok(())
        }
        EngineCommand::Switch { name, force } => {
            check(root, &list, &name)?;
            if !force
                && !super::install::confirm(&format!(
                    "Restart User Docker with {name}? Its containers stop. [y/N] "
                ))?
            {
                bail!("not switched");
            }
            enable(root, &name)?;
            restart_user_docker(root)?;
            println!("User Docker runs {name}.");
            Ok(())
        }
        EngineCommand::Enable { name } => {
            check(root, &list, &name)?;
            enable(root, &name)?;
            println!("{name} runs as User Docker from the next boot.");
            Ok(())
        }
    }
}

fn configured(root: &Path) -> Option<String> {
    os_config::load(root).config.rancher.docker.engine
}

fn list_engines(root: &Path, list: &EngineList) {
    let configured = configured(root);
    let (enabled, _) = list.choose(configured.as_deref());
    let data = read_data_mark(root);
    for e in &list.engines {
        let mut notes = Vec::new();
        if enabled.is_some_and(|x| x.name == e.name) {
            notes.push("enabled");
        }
        if data.as_deref() == Some(e.name.as_str()) {
            notes.push("last ran on the data");
        }
        if e.default {
            notes.push("default");
        }
        println!("{:<20} {:<24} {}", e.name, e.version, notes.join(", "));
    }
    if list.engines.len() == 1 {
        println!("(this Debian release carries one Docker Engine; the list is ready for more)");
    }
}

/// NAME must be shipped, and User Docker's data must not have been used by a newer engine.
fn check(root: &Path, list: &EngineList, name: &str) -> Result<()> {
    let engine = list.find(name)?;
    check_data(read_data_mark(root).as_deref(), engine)?;
    Ok(())
}

fn enable(root: &Path, name: &str) -> Result<()> {
    super::os::require_root_under(root, "ros engine")?;
    let key = KeyPath::keys(["rancher", "docker", "engine"]);
    os_config::user_config::update(&os_config::paths::cloud_config(root), |doc| {
        key.set(doc, Value::String(name.to_owned()))?;
        Ok(())
    })
    .context("setting rancher.docker.engine")?;
    Ok(())
}

fn restart_user_docker(root: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let project = sysdocker::admin::load_project(root);
    let engine = sysdocker::admin::engine_for_root(root, sysdocker::EngineOptions::default());
    runtime
        .block_on(engine.restart(&project, &["docker".to_owned()], Duration::from_secs(10)))
        .context("restarting the docker service")?;
    Ok(())
}
