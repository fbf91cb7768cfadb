//! `ros config`: read and change the layered configuration.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use os_config::document::{self, Document};
use os_config::model::CloudConfig;
use os_config::user_config;
use os_config::value_typing::type_value;
use os_config::{paths, KeyPath, LoadOptions, Value, CONFIG_FILE_MODE};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Read and write every configuration path under this directory.
    #[arg(long, global = true, default_value = "/")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a value of the merged configuration (`rancher.sysctl."net.core.somaxconn"`).
    Get {
        key: String,
        #[arg(long, value_enum, default_value = "yaml")]
        output: Format,
    },
    /// Set a value in cloud-config.yml; VALUE is typed like YAML (`5`, `true`, `[a,b]`).
    Set { key: String, value: String },
    /// Validate a document and deep-merge it into cloud-config.yml.
    Merge {
        /// Read from this file instead of standard input.
        #[arg(short = 'i', long = "input")]
        input: Option<PathBuf>,
    },
    /// Print the merged user configuration, secrets hidden unless --private.
    Export {
        /// Write to this file (mode 0600) instead of standard output.
        #[arg(short = 'o', value_name = "FILE")]
        file: Option<PathBuf>,
        /// `yaml` or `json`; any other value is a file name, as RancherOS v1's `--output`.
        #[arg(long = "output", value_name = "FORMAT|FILE")]
        output: Option<String>,
        /// Include passwords, SSH host keys, TLS keys and registry credentials.
        #[arg(long)]
        private: bool,
        /// Include the built-in defaults.
        #[arg(long)]
        full: bool,
    },
    /// Check a document; errors name file, line, column and key. Unknown keys only warn.
    Validate {
        #[arg(short = 'i', long = "input")]
        input: Option<PathBuf>,
    },
    /// List the images the services of a configuration use, sorted.
    Images {
        #[arg(short = 'i', long = "input")]
        input: Option<PathBuf>,
    },
    /// The installed system's kernel arguments: `get`, or `set ARGS…` (next boot).
    #[command(name = "boot-args", subcommand)]
    BootArgs(super::boot_args::BootArgsCommand),
}

pub fn run(args: ConfigArgs) -> Result<()> {
    let root = args.root.as_path();
    match args.command {
        ConfigCommand::Get { key, output } => get(root, &key, output),
        ConfigCommand::Set { key, value } => set(root, &key, &value),
        ConfigCommand::Merge { input } => merge(root, input.as_deref()),
        ConfigCommand::Export {
            file,
            output,
            private,
            full,
        } => {
            let (format, file) = export_target(file, output)?;
            export(root, format, file.as_deref(), private, full)
        }
        ConfigCommand::Validate { input } => validate(input.as_deref()),
        ConfigCommand::Images { input } => images(root, input.as_deref()),
        ConfigCommand::BootArgs(command) => super::boot_args::run(command),
    }
}

/// Loads the merged view, telling the user about layers that could not be used.
fn load(root: &Path, opts: LoadOptions) -> os_config::LoadedConfig {
    let loaded = os_config::load_with(root, opts);
    for d in loaded.diagnostics.iter().filter(|d| d.is_error()) {
        eprintln!("{d}");
    }
    loaded
}

fn get(root: &Path, key: &str, format: Format) -> Result<()> {
    let path = KeyPath::parse(key)?;
    let loaded = load(root, LoadOptions::default());
    let value = path
        .get(&loaded.value)
        .ok_or_else(|| anyhow!("key not found: {path}"))?;
    let text = match (format, value) {
        (Format::Json, v) => serde_json::to_string_pretty(v)? + "\n",
        (Format::Yaml, Value::String(s)) => format!("{s}\n"),
        (Format::Yaml, Value::Null) => "\n".to_owned(),
        (Format::Yaml, v @ (Value::Bool(_) | Value::Number(_))) => yaml_serde::to_string(v)?,
        (Format::Yaml, v) => yaml_serde::to_string(v)?,
    };
    print_out(&text)
}

fn set(root: &Path, key: &str, raw_value: &str) -> Result<()> {
    let path = KeyPath::parse(key)?;
    // Refuse to write through a scalar that another layer holds, not only this file.
    let mut probe = os_config::load(root).value;
    path.set(&mut probe, Value::Null)?;
    let value = type_value(raw_value);
    report(user_config::update(&paths::cloud_config(root), |doc| {
        Ok(path.set(doc, value)?)
    })?);
    Ok(())
}

fn merge(root: &Path, input: Option<&Path>) -> Result<()> {
    let (text, origin) = read_input(input)?;
    let incoming = parse_checked(&text, origin.as_deref())?;
    report(user_config::update(&paths::cloud_config(root), |doc| {
        os_config::merge(doc, incoming.value);
        Ok(())
    })?);
    Ok(())
}

/// Warnings a change brought (errors refuse it inside `user_config::update`).
fn report(updated: user_config::Updated) {
    for d in updated.new_warnings {
        eprintln!("{d}");
    }
}

fn export(
    root: &Path,
    format: Format,
    file: Option<&Path>,
    private: bool,
    full: bool,
) -> Result<()> {
    let mut value = load(root, LoadOptions { defaults: full }).value;
    let hidden = if private {
        Vec::new()
    } else {
        os_config::secrets::redact(&mut value)
    };
    let mut text = match format {
        Format::Json => serde_json::to_string_pretty(&value)? + "\n",
        Format::Yaml => yaml_serde::to_string(&value)?,
    };
    if !hidden.is_empty() {
        let note = format!("secrets hidden (use --private): {}", hidden.join(", "));
        match format {
            Format::Yaml => text = format!("# {note}\n{text}"),
            Format::Json => eprintln!("{note}"),
        }
    }
    match file {
        Some(f) => os_config::atomic_write(f, text.as_bytes(), CONFIG_FILE_MODE)
            .with_context(|| format!("writing {}", f.display())),
        None => print_out(&text),
    }
}

fn export_target(
    file: Option<PathBuf>,
    output: Option<String>,
) -> Result<(Format, Option<PathBuf>)> {
    match output.as_deref() {
        None => Ok((Format::Yaml, file)),
        Some("yaml") => Ok((Format::Yaml, file)),
        Some("json") => Ok((Format::Json, file)),
        Some(other) if file.is_none() => Ok((Format::Yaml, Some(PathBuf::from(other)))),
        Some(other) => {
            bail!("--output {other:?} is neither yaml nor json, and -o already names the file")
        }
    }
}

fn validate(input: Option<&Path>) -> Result<()> {
    let (text, origin) = read_input(input)?;
    match document::parse_document(&text, origin.as_deref()) {
        Err(d) => {
            println!("{d}");
            bail!("invalid configuration")
        }
        Ok(doc) => {
            for d in &doc.diagnostics {
                println!("{d}");
            }
            if doc.has_errors() {
                bail!("invalid configuration");
            }
            Ok(())
        }
    }
}

fn images(root: &Path, input: Option<&Path>) -> Result<()> {
    let config: CloudConfig = match input {
        Some(_) => {
            let (text, origin) = read_input(input)?;
            parse_checked(&text, origin.as_deref())?.config
        }
        None => load(root, LoadOptions::default()).config,
    };
    let mut out = String::new();
    for i in config.service_images() {
        out.push_str(i);
        out.push('\n');
    }
    print_out(&out)
}

/// Parses a document the user hands us; syntax or type errors stop the command.
fn parse_checked(text: &str, origin: Option<&Path>) -> Result<Document> {
    let doc = document::parse_document(text, origin).map_err(|d| anyhow!("{d}"))?;
    for d in doc.diagnostics.iter().filter(|d| !d.is_error()) {
        eprintln!("{d}");
    }
    if doc.has_errors() {
        let lines: Vec<String> = doc
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        bail!("invalid configuration:\n{}", lines.join("\n"));
    }
    Ok(doc)
}

/// The user's cloud-config.yml as written; a file that does not parse is never overwritten.
fn read_input(input: Option<&Path>) -> Result<(String, Option<PathBuf>)> {
    match input {
        Some(p) if p != Path::new("-") => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok((text, Some(p.to_path_buf())))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            Ok((text, None))
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
fn print_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}
