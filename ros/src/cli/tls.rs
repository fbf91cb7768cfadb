//! `ros tls gen`: User Docker's CA and server certificate, or a client certificate.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use services::user_docker_tls;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Read and write the configuration under this directory.
    #[arg(long, global = true, default_value = "/", hide = true)]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: TlsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Make User Docker's server certificate (and a CA, if the config has none), saved in the
    /// config and written to /etc/docker/tls; with --client, a client certificate instead.
    Gen(GenArgs),
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// A client certificate signed by the CA, for `docker --tlsverify` (ca.pem, cert.pem,
    /// key.pem in ~/.docker, or --dir).
    #[arg(long, conflicts_with_all = ["server", "hostname"])]
    pub client: bool,
    /// The server certificate (the default; accepted for RancherOS v1 scripts).
    #[arg(short = 's', long)]
    pub server: bool,
    /// More names or addresses for the server certificate, beyond localhost, the hostname
    /// and the host's addresses.
    #[arg(short = 'H', long = "hostname", value_name = "NAME")]
    pub hostname: Vec<String>,
    /// Where to write the files (server: /etc/docker/tls; client: ~/.docker of the user who
    /// ran sudo, else of the caller).
    #[arg(short = 'd', long = "dir")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: TlsArgs) -> Result<()> {
    // The CA key is in cloud-config.yml, mode 0600: without root the config reads as empty
    // and the error would say there is no CA.
    if args.root == Path::new("/") && !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "ros tls gen needs root (the CA key is in the config, mode 0600): run it with sudo"
        );
    }
    match args.command {
        TlsCommand::Gen(gen) if gen.client => client(&args.root, gen.dir),
        TlsCommand::Gen(gen) => server(&args.root, &gen.hostname, gen.dir),
    }
}

fn docker_config(root: &Path) -> os_config::model::DockerConfig {
    os_config::load(root).config.rancher.docker
}

fn server(root: &Path, extra: &[String], dir: Option<PathBuf>) -> Result<()> {
    let names = user_docker_tls::host_names(extra)?;
    let docker = docker_config(root);
    let p = user_docker_tls::prepare_server(root, &docker, &names, true, SystemTime::now())
        .context("ros tls gen")?;
    if p.new_ca {
        println!("made a new CA (rancher.docker.ca_cert, rancher.docker.ca_key)");
    }
    let mut all: Vec<String> = names.dns.clone();
    all.extend(names.ips.iter().map(|ip| ip.to_string()));
    println!("server certificate for: {}", all.join(", "));
    println!(
        "saved in rancher.docker.server_cert/server_key; files in {}",
        p.dir.display()
    );
    if let Some(dir) = dir {
        let docker = docker_config(root);
        let (Some(ca), Some(cert), Some(key)) =
            (docker.ca_cert, docker.server_cert, docker.server_key)
        else {
            anyhow::bail!("the saved certificates cannot be read back from the config");
        };
        docker_tls::write_server_files(&dir, &ca, &docker_tls::Pem { cert, key })?;
        println!("also written to {}", dir.display());
    }
    if !docker_config(root).tls {
        println!("turn TLS on: sudo ros config set rancher.docker.tls true");
    }
    println!("then restart User Docker: sudo system-docker restart docker");
    Ok(())
}

fn client(root: &Path, dir: Option<PathBuf>) -> Result<()> {
    let docker = docker_config(root);
    let ca = user_docker_tls::configured_ca(&docker)?.ok_or(user_docker_tls::Error::NoCa)?;
    let pair = docker_tls::issue_client(&ca, SystemTime::now())?;
    let (dir, owner) = match dir {
        Some(d) => (d, None),
        None => client_home()?,
    };
    docker_tls::write_client_files(&dir, &ca.cert, &pair)?;
    if let Some((uid, gid)) = owner {
        for name in std::iter::once("").chain(docker_tls::CLIENT_FILES) {
            let path = dir.join(name);
            nix::unistd::chown(&path, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", path.display()))?;
        }
    }
    println!("client certificate in {}", dir.display());
    println!("use it: docker --tlsverify -H tcp://HOST:2376 version");
    Ok(())
}

/// `~/.docker` of the user behind sudo (and that user's ids, to own the files), else `$HOME`.
fn client_home() -> Result<(PathBuf, Option<(nix::unistd::Uid, nix::unistd::Gid)>)> {
    if let Ok(name) = std::env::var("SUDO_USER") {
        if let Some(user) = nix::unistd::User::from_name(&name)? {
            return Ok((user.dir.join(".docker"), Some((user.uid, user.gid))));
        }
    }
    let home = std::env::var_os("HOME").context("HOME is not set; give --dir")?;
    Ok((PathBuf::from(home).join(".docker"), None))
}
