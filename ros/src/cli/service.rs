//! `ros service`: thin wiring of the sysdocker engine and service admin API to the command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use futures_util::StreamExt;
use sysdocker::admin;
use sysdocker::{Action, Engine, EngineOptions, LogOutput, Project, Scope};

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Read and write every configuration path under this directory.
    #[arg(long, global = true, default_value = "/")]
    pub root: PathBuf,
    /// System Docker's address [env: ROS_SYSTEM_DOCKER_HOST; default: unix:///var/run/system-docker.sock].
    #[arg(long, global = true)]
    pub system_host: Option<String>,
    /// User Docker's address [env: ROS_DOCKER_HOST; default: unix:///var/run/docker.sock].
    #[arg(long, global = true)]
    pub user_host: Option<String>,
    /// Directory of bundled `docker load` archives [env: ROS_IMAGES_DIR; default: ROOT/usr/share/ros/images].
    #[arg(long, global = true)]
    pub images_dir: Option<PathBuf>,
    /// Never pull a missing image, even with the network up [env: ROS_NO_PULL=true].
    #[arg(long, global = true)]
    pub no_pull: bool,
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScopeArg {
    System,
    User,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Every known service: enabled or disabled, and its container's state.
    #[command(alias = "ls")]
    List,
    /// Enable an optional service by name, path or URL (a URL is fetched once).
    Enable { name: String },
    /// Disable an optional service (it stays known).
    Disable { name: String },
    /// Forget an optional service (and its cached download).
    Delete { name: String },
    /// Create and start services (all when none named) and what they depend on.
    Up {
        names: Vec<String>,
        /// Only services of this scope.
        #[arg(long, value_enum)]
        scope: Option<ScopeArg>,
    },
    /// Start existing service containers.
    Start { names: Vec<String> },
    /// Stop services (dependents first).
    Stop {
        names: Vec<String>,
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "timeout", default_value_t = 10)]
        timeout: u64,
    },
    /// Stop, then start services.
    Restart {
        names: Vec<String>,
        #[arg(short = 't', long = "timeout", default_value_t = 10)]
        timeout: u64,
    },
    /// Remove service containers.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal to services.
    Kill {
        names: Vec<String>,
        #[arg(short = 's', long = "signal", default_value = "SIGKILL")]
        signal: String,
    },
    /// Print a service's logs.
    Logs {
        name: String,
        /// Keep printing new output.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
    },
    /// Service containers and their state.
    Ps,
}

pub fn run(args: ServiceArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(dispatch(args))
}

fn engine(args: &ServiceArgs, connect_timeout: Duration) -> Engine {
    // EngineOptions::default() already honours ROS_SYSTEM_DOCKER_HOST / ROS_DOCKER_HOST.
    let mut options = EngineOptions {
        connect_timeout,
        ..EngineOptions::default()
    };
    if let Some(h) = &args.system_host {
        options.system_host = h.clone();
    }
    if let Some(h) = &args.user_host {
        options.user_host = h.clone();
    }
    let images = args
        .images_dir
        .clone()
        .or_else(|| std::env::var_os("ROS_IMAGES_DIR").map(PathBuf::from))
        .unwrap_or_else(|| args.root.join("usr/share/ros/images"));
    options.images.archive_dirs = vec![images];
    let no_pull_env =
        std::env::var("ROS_NO_PULL").is_ok_and(|v| os_config::truthiness::is_true(&v));
    options.images.allow_pull = !(args.no_pull || no_pull_env);
    // The same engine as at boot: `ros service up ntp` puts ntp's write_files in first.
    admin::engine_for_root(&args.root, options)
}

fn project(root: &Path) -> Project {
    let project = admin::load_project(root);
    for w in &project.warnings {
        eprintln!("warning: {w}");
    }
    project
}

async fn dispatch(args: ServiceArgs) -> Result<()> {
    let root = args.root.clone();
    match &args.command {
        ServiceCommand::List => list(&args, &root).await,
        ServiceCommand::Enable { name } => {
            let (name, changed) = admin::enable_named(&root, name).await?;
            let name = &name;
            println!(
                "{} {name}",
                if changed {
                    "enabled"
                } else {
                    "already enabled:"
                }
            );
            Ok(())
        }
        ServiceCommand::Disable { name } => {
            let changed = admin::disable(&root, name)?;
            println!(
                "{} {name}",
                if changed {
                    "disabled"
                } else {
                    "already disabled:"
                }
            );
            Ok(())
        }
        ServiceCommand::Delete { name } => {
            if !admin::delete(&root, name)? {
                bail!("{name} is not in rancher.services_include");
            }
            println!("deleted {name}");
            Ok(())
        }
        ServiceCommand::Up { names, scope } => {
            let project = project(&root);
            let scope = scope.map(|s| match s {
                ScopeArg::System => Scope::System,
                ScopeArg::User => Scope::User,
            });
            let report = engine(&args, Duration::from_secs(30))
                .up_services(&project, scope, names)
                .await?;
            for r in &report.services {
                match &r.result {
                    Ok(done) => {
                        let what = match (done.action, done.exit_code) {
                            (_, Some(code)) => format!("ran (exit {code})"),
                            (Action::Unchanged, _) => "up to date".into(),
                            (Action::Started, _) => "started".into(),
                            (Action::Created, _) => "created".into(),
                            (Action::Recreated, _) => "recreated".into(),
                        };
                        println!("{}: {what}", r.name);
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            let failed = report.failures().count();
            if failed > 0 {
                bail!("{failed} service(s) failed");
            }
            Ok(())
        }
        ServiceCommand::Start { names } => {
            let project = project(&root);
            Ok(engine(&args, Duration::from_secs(10))
                .start(&project, names)
                .await?)
        }
        ServiceCommand::Stop { names, timeout } => {
            let project = project(&root);
            let t = Duration::from_secs(*timeout);
            Ok(engine(&args, Duration::from_secs(10))
                .stop(&project, names, t)
                .await?)
        }
        ServiceCommand::Restart { names, timeout } => {
            let project = project(&root);
            let t = Duration::from_secs(*timeout);
            Ok(engine(&args, Duration::from_secs(10))
                .restart(&project, names, t)
                .await?)
        }
        ServiceCommand::Rm { names } => {
            let project = project(&root);
            Ok(engine(&args, Duration::from_secs(10))
                .rm(&project, names)
                .await?)
        }
        ServiceCommand::Kill { names, signal } => {
            let project = project(&root);
            Ok(engine(&args, Duration::from_secs(10))
                .kill(&project, names, signal)
                .await?)
        }
        ServiceCommand::Logs { name, follow, tail } => {
            let project = admin::load_project(&root);
            let engine = engine(&args, Duration::from_secs(10));
            let mut stream = engine.logs(&project, name, *follow, *tail).await?;
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr();
            while let Some(chunk) = stream.next().await {
                match chunk? {
                    LogOutput::StdErr { message } => err.write_all(&message)?,
                    other => out.write_all(&other.into_bytes())?,
                }
                out.flush()?;
            }
            Ok(())
        }
        ServiceCommand::Ps => {
            let project = admin::load_project(&root);
            let status = engine(&args, Duration::from_secs(10))
                .status(&project)
                .await?;
            println!(
                "{:<24} {:<7} {:<9} {:<22} {:<13} IMAGE",
                "NAME", "SCOPE", "STATE", "STATUS", "CONTAINER"
            );
            for s in status {
                println!(
                    "{:<24} {:<7} {:<9} {:<22} {:<13} {}",
                    s.name,
                    s.scope.to_string(),
                    s.state,
                    s.status.unwrap_or_default(),
                    s.container_id
                        .as_deref()
                        .map(|i| &i[..i.len().min(12)])
                        .unwrap_or("-"),
                    s.image.unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

async fn list(args: &ServiceArgs, root: &Path) -> Result<()> {
    let project = admin::load_project(root);
    let known = admin::known_services(root, &project);
    let (from_repositories, warnings) = admin::repository_services(root).await;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    // Listing must work on a machine whose daemons are down: states are best effort.
    let status = engine(args, Duration::from_secs(2))
        .status(&project)
        .await
        .unwrap_or_default();
    for k in &known {
        let states: Vec<String> = k
            .services
            .iter()
            .filter_map(|n| status.iter().find(|s| &s.name == n))
            .map(|s| {
                if k.services.len() > 1 {
                    format!("{}={}", s.name, s.state)
                } else {
                    s.state.clone()
                }
            })
            .collect();
        let state = if k.enabled {
            states.join(",")
        } else {
            String::new()
        };
        println!(
            "{:<8} {:<24} {}",
            if k.enabled { "enabled" } else { "disabled" },
            k.name,
            state
        )
    }
    // Repository services not enabled yet (an enabled one is listed above by its URL).
    for s in from_repositories {
        if !known.iter().any(|k| k.name == s.url || k.name == s.name) {
            println!(
                "{:<8} {:<24} (repository {})",
                "disabled", s.name, s.repository
            );
        }
    }
    Ok(())
}
