//! Bounded time: endpoints that accept connections and never answer, a port where nothing
//! listens, and the early return once the winner is known. The bounds asserted are the
//! guarantees (never hang), with generous slack, not performance figures.

mod common;

use cloud_init::{probe_all, Outcome, ProbeError};
use common::{closed_port_url, names, options, Blackhole, HttpServer, Reply};
use std::time::{Duration, Instant};

const SLACK: Duration = Duration::from_millis(1500);

#[test]
fn each_probe_times_out_on_its_own_and_they_run_at_once() {
    let hole = Blackhole::start();
    let mut opts = options(&hole.url());
    opts.probe_timeout = Duration::from_secs(1);
    opts.total_timeout = Duration::from_secs(30);
    let url = format!("url:{}/cc.yml", hole.url());
    let list = names(&["ec2", "gce", "digitalocean", "openstack", &url]);

    let start = Instant::now();
    let report = probe_all(&list, &opts);
    let elapsed = start.elapsed();
    // Five probes of 1 s each, run one after another, would take 5 s.
    assert!(
        elapsed < opts.probe_timeout + SLACK,
        "took {elapsed:?}: {report:#?}"
    );
    assert!(report.fetched().is_none());
    for s in &report.sources {
        match &s.outcome {
            Outcome::Failed(e @ ProbeError::Timeout { url, .. }) => {
                assert!(url.starts_with(&hole.url()), "{s}");
                assert!(e.to_string().contains("no answer within"), "{s}");
            }
            other => panic!("{}: {other:?}", s.name),
        }
    }
    // EC2 gave half its time to the token, then tried IMDSv1.
    assert_eq!(
        report.sources[0].to_string(),
        format!(
            "ec2: failed: {}/latest/meta-data/instance-id: no answer within 1s",
            hole.url()
        )
    );
}

/// Unblocks a reader stuck opening a FIFO, when the test ends.
struct FifoWriter(std::path::PathBuf);

impl Drop for FifoWriter {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.0);
    }
}

#[test]
fn the_total_bound_holds_whatever_the_probes_do() {
    // A FIFO nobody writes to: reading it blocks forever, whatever the probe's own deadline.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("user-data");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let _unblock = FifoWriter(fifo.clone());
    let hole = Blackhole::start();
    let mut opts = options(&hole.url());
    opts.probe_timeout = Duration::from_secs(60);
    opts.total_timeout = Duration::from_millis(1200);
    let file = format!("file:{}", fifo.display());

    let start = Instant::now();
    let report = probe_all(&names(&[&file, "ec2", "gce"]), &opts);
    let elapsed = start.elapsed();
    assert!(
        elapsed < opts.total_timeout + SLACK,
        "took {elapsed:?}: {report:#?}"
    );
    assert!(elapsed >= opts.total_timeout, "returned early: {elapsed:?}");
    assert!(report.fetched().is_none());
    assert_eq!(
        report.sources[0].to_string(),
        format!("{file}: timed out (still running at the total bound)")
    );
    assert_eq!(report.sources[0].elapsed, None);
    // The network probes got the total as their budget: they end with it, one way or the
    // other (their own timeout and the total bound fire together).
    for s in &report.sources[1..] {
        match &s.outcome {
            Outcome::TimedOut => {}
            Outcome::Failed(ProbeError::Timeout { after, .. }) => {
                assert_eq!(*after, opts.total_timeout, "{s}")
            }
            other => panic!("{}: {other:?}", s.name),
        }
    }
}

#[test]
fn nothing_listening_is_not_present_and_fast() {
    let url = closed_port_url();
    let opts = options(&url);
    let start = Instant::now();
    let report = probe_all(
        &names(&[
            "ec2",
            "gce",
            "digitalocean",
            "openstack",
            &format!("url:{url}/x"),
        ]),
        &opts,
    );
    assert!(start.elapsed() < SLACK, "took {:?}", start.elapsed());
    for s in &report.sources {
        match &s.outcome {
            Outcome::NotPresent(why) => {
                assert!(why.starts_with(&url), "{s}");
                assert!(why.contains("cannot connect"), "{s}");
                assert!(why.contains("Connection refused"), "{s}");
            }
            other => panic!("{}: {other:?}", s.name),
        }
    }
}

#[test]
fn a_winner_first_in_line_does_not_wait_for_the_rest() {
    let hole = Blackhole::start();
    let server = HttpServer::start(|_| Reply::ok("#cloud-config\nhostname: quick\n"));
    let mut opts = options(&hole.url());
    opts.probe_timeout = Duration::from_secs(20);
    opts.total_timeout = Duration::from_secs(30);
    let first = format!("url:{}/cc.yml", server.url());
    let start = Instant::now();
    let report = probe_all(&names(&[&first, "ec2", "gce"]), &opts);
    assert!(start.elapsed() < SLACK, "took {:?}", start.elapsed());
    assert_eq!(report.chosen, Some(0));
    assert!(matches!(report.sources[1].outcome, Outcome::NotWaitedFor));
    assert_eq!(
        report.sources[2].to_string(),
        "gce: not waited for (an earlier datasource answered)"
    );
}
