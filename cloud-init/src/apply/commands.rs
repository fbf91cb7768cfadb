//! `bootcmd` and `runcmd`: a list item is exec'd as argv, a string runs with `sh -c`.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use os_config::model::StringOrList;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Runs every entry in order, each to completion, with this process's stdout and stderr (the
/// container's log). Unlike RancherOS v1, a failure does not skip the rest: each is reported
/// and counted. `stage` (`bootcmd`, `runcmd`) names the list in the logs. A command still
/// running after `timeout` is killed with everything it started, and counts as failed.
pub fn run_commands(stage: &str, commands: &[StringOrList], timeout: Option<Duration>) -> usize {
    let mut failed = 0;
    for (index, c) in commands.iter().enumerate() {
        let Some(mut cmd) = command(c) else {
            tracing::warn!(stage, index, "empty command skipped");
            continue;
        };
        let started = Instant::now();
        // Its own process group, so a timeout kills what it started as well.
        cmd.process_group(0);
        match cmd.spawn().and_then(|child| wait_within(child, timeout)) {
            Ok(Some(s)) if s.success() => tracing::info!(
                stage,
                index,
                command = %shown(c),
                seconds = started.elapsed().as_secs_f32(),
                "command ok"
            ),
            Ok(None) => {
                failed += 1;
                tracing::error!(stage, index, command = %shown(c), timeout_s = timeout.map(|t| t.as_secs()), "command timed out; killed");
            }
            Ok(Some(s)) => {
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

/// The exit status, or `None` when `timeout` passed first (the group is then killed and reaped).
fn wait_within(mut child: Child, timeout: Option<Duration>) -> std::io::Result<Option<ExitStatus>> {
    let Some(timeout) = timeout else {
        return child.wait().map(Some);
    };
    let deadline = Instant::now().checked_add(timeout);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
        assert_eq!(run_commands("runcmd", &cmds, None), 2);
        assert!(dir.path().join("one").exists() && dir.path().join("two").exists());
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_with_its_children_and_the_rest_run() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let cmds = vec![
            // The child sleep would write `late` if the group survived the timeout.
            StringOrList::String(format!("(sleep 2; touch {}) & sleep 30", p("late"))),
            StringOrList::List(vec!["touch".into(), p("next")]),
        ];
        let started = Instant::now();
        assert_eq!(
            run_commands("runcmd", &cmds, Some(Duration::from_millis(500))),
            1
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(dir.path().join("next").exists());
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            !dir.path().join("late").exists(),
            "the timed-out group lived on"
        );
    }

    #[test]
    fn commands_run_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log").display().to_string();
        let cmds: Vec<StringOrList> = (0..5)
            .map(|i| StringOrList::String(format!("echo {i} >> {log}")))
            .collect();
        assert_eq!(run_commands("bootcmd", &cmds, None), 0);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "0\n1\n2\n3\n4\n");
    }
}
