//! `ros completion bash|zsh|fish`: shell completion scripts generated from the CLI definition.

use clap::CommandFactory;
use clap_complete::Shell;

pub fn run(shell: Shell) -> anyhow::Result<()> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(shell, &mut cmd, "ros", &mut std::io::stdout());
    Ok(())
}
