//! Running the Debian tools the build drives, with their name and stderr in every error.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Runs `cmd`, failing with its stderr if it exits non-zero; returns its stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    tracing::debug!(?cmd, "run");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", program(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` for its effect.
pub fn run(cmd: &mut Command) -> Result<()> {
    output(cmd).map(|_| ())
}

/// Fails with an install hint when a host tool is missing.
pub fn require_tool(tool: &str, package: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if !found && !Path::new(tool).is_file() {
        bail!("{tool} not found: install it with `apt-get install {package}`");
    }
    Ok(())
}

fn program(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

fn describe(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .take(8)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("{} {}", program(cmd), args.join(" "))
}
