//! `bootcmd` and `runcmd`: a list item is exec'd as argv, a string runs with `sh -c`.

use os_config::model::StringOrList;
use std::process::Command;

/// Runs every entry in order, each to completion, with this process's stdout and stderr (the
/// container's log). Unlike RancherOS v1, a failure does not skip the rest: each is reported
/// and counted. `stage` (`bootcmd`, `runcmd`) names the list in the logs.
pub fn run_commands(stage: &str, commands: &[StringOrList]) -> usize {
    let mut failed = 0;
    for (index, c) in commands.iter().enumerate() {
        let Some(mut cmd) = command(c) else {
            tracing::warn!(stage, index, "empty command skipped");
            continue;
        };
        let started = std::time::Instant::now();
        match cmd.status() {
            Ok(s) if s.success() => tracing::info!(
                stage,
                index,
                command = %shown(c),
                seconds = started.elapsed().as_secs_f32(),
                "command ok"
            ),
            Ok(s) => {
                failed += 1;
                tracing::error!(stage, index, command = %shown(c), status = %s, "command failed");
            }
            Err(e) => {
                failed += 1;
                tracing::error!(stage, index, command = %shown(c), error = %e, "cannot run command");
            }
        }
    }
    failed
}

fn command(c: &StringOrList) -> Option<Command> {
    match c {
        StringOrList::String(s) if s.trim().is_empty() => None,
        StringOrList::String(s) => {
            let mut cmd = Command::new("/bin/sh");
            cmd.args(["-c", s]);
            Some(cmd)
        }
        StringOrList::List(argv) => {
            let (prog, args) = argv.split_first()?;
            let mut cmd = Command::new(prog);
            cmd.args(args);
            Some(cmd)
        }
    }
}

fn shown(c: &StringOrList) -> String {
    match c {
        StringOrList::String(s) => s.clone(),
        StringOrList::List(argv) => format!("{argv:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_runs_and_failures_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let cmds = vec![
            StringOrList::List(vec!["touch".into(), p("one")]),
            StringOrList::String("exit 3".into()),
            StringOrList::List(vec!["/nonexistent/program".into()]),
            StringOrList::List(vec![]),
            StringOrList::String(format!("echo ok > {}", p("two"))),
        ];
        assert_eq!(run_commands("runcmd", &cmds), 2);
        assert!(dir.path().join("one").exists() && dir.path().join("two").exists());
    }

    #[test]
    fn commands_run_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log").display().to_string();
        let cmds: Vec<StringOrList> = (0..5)
            .map(|i| StringOrList::String(format!("echo {i} >> {log}")))
            .collect();
        assert_eq!(run_commands("bootcmd", &cmds), 0);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "0\n1\n2\n3\n4\n");
    }
}
