//! The agent against a real dockerd (Debian's docker.io, on a private socket): it creates the
//! swarm and publishes valid join tokens; with `rancher.swarm` removed, the swarm's last
//! manager is not forced out, a swarm it no longer is in is forgotten, and a swarm joined by
//! hand is left alone. (A worker leaving needs a second node: the QEMU test has it.)

use std::path::Path;
use std::time::{Duration, Instant};

use os_config::model::SwarmConfig;
use swarm::agent::Agent;
use swarm::{marker, token_files};
use test_support::TestDockerd;

fn swarm_config(yaml: &str) -> SwarmConfig {
    os_config::parse_document(&format!("rancher:\n  swarm: {yaml}\n"), None)
        .unwrap_or_else(|d| panic!("{d}"))
        .config
        .rancher
        .swarm
}

fn agent(daemon: &TestDockerd, root: &Path, config: SwarmConfig) -> Agent {
    Agent {
        root: root.to_path_buf(),
        run_dir: root.join("run"),
        docker_host: daemon.host().to_owned(),
        config,
        token_gid: None,
    }
}

fn local_state(daemon: &TestDockerd) -> String {
    let out = daemon
        .docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn creates_the_swarm_serves_its_tokens_and_leaves_only_what_it_may() {
    let daemon = TestDockerd::start().unwrap_or_else(|e| panic!("{e}"));
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));

    // A manager with init: the agent never finishes (it watches), so it runs until the
    // tokens are published, then is dropped.
    let manager = agent(
        &daemon,
        root.path(),
        swarm_config("{role: manager, init: true, advertise_addr: 127.0.0.1}"),
    );
    let run_dir = manager.run_dir.clone();
    runtime.block_on(async {
        let task = tokio::spawn(manager.run());
        let deadline = Instant::now() + Duration::from_secs(60);
        while token_files::read(&run_dir, os_config::model::SwarmRole::Worker).is_err() {
            assert!(
                Instant::now() < deadline,
                "no token after 60 s; dockerd:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        task.abort();
    });
    assert_eq!(local_state(&daemon), "active");
    assert!(marker::exists(root.path()));
    let served = token_files::read(&run_dir, os_config::model::SwarmRole::Worker)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = daemon
        .docker(&["swarm", "join-token", "-q", "worker"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served, String::from_utf8_lossy(&out.stdout).trim());

    // rancher.swarm removed: this manager is the swarm's only one, and Docker refuses a leave
    // that loses the quorum without --force; the agent reports it and keeps the marker.
    let unconfigured = agent(&daemon, root.path(), SwarmConfig::default());
    runtime
        .block_on(unconfigured.run())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(local_state(&daemon), "active");
    assert!(marker::exists(root.path()));

    // Once it may leave (here: the operator left and joined again by hand, as a worker would
    // be), a node with the marker and no rancher.swarm leaves and forgets it.
    let left = daemon
        .docker(&["swarm", "leave", "--force"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(left.status.success(), "{left:?}");
    let unconfigured = agent(&daemon, root.path(), SwarmConfig::default());
    runtime
        .block_on(unconfigured.run())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !marker::exists(root.path()),
        "the marker of a swarm it left stays"
    );

    // A swarm joined by hand (no marker) is the operator's: the agent leaves it alone.
    let init = daemon
        .docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(init.status.success(), "{init:?}");
    let unconfigured = agent(&daemon, root.path(), SwarmConfig::default());
    runtime
        .block_on(unconfigured.run())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(local_state(&daemon), "active");
    let _ = daemon.docker(&["swarm", "leave", "--force"]);
}
