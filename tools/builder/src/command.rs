//! Running the Debian tools the build drives, with their name and stderr in every error.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Lines of stdout kept in an error: apt explains an unmet dependency there, not on stderr.
const STDOUT_TAIL_LINES: usize = 30;

/// Runs `cmd`, failing with its stderr and the tail of its stdout if it exits non-zero;
/// returns its stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    tracing::debug!(?cmd, "run");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", program(cmd)))?;
    if !out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let tail = lines[lines.len().saturating_sub(STDOUT_TAIL_LINES)..].join("\n");
        bail!(
            "{} failed ({}):\n{}{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            if tail.is_empty() {
                String::new()
            } else {
                format!("\nits output ended with:\n{tail}")
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_command_and_shows_stderr_and_the_end_of_stdout() {
        let e = output(Command::new("sh").args([
            "-c",
            "for i in $(seq 1 40); do echo line$i; done; echo broken >&2; exit 100",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("sh -c"), "{e}");
        assert!(e.contains("exit status: 100"), "{e}");
        assert!(
            e.contains("broken\nits output ended with:\nline11\n"),
            "{e}"
        );
        assert!(e.ends_with("line40"), "{e}");
        assert!(!e.contains("line10\n"), "{e}");
    }
}
