//! Docker Swarm across three guests, configured by cloud-config only, on a private L2 segment
//! the test makes itself: a network namespace holding the bridge `br0` and one tap per guest
//! (qemu-harness `L2Segment`). Each guest's eth0 is QEMU's user network (`restrict=on`, ssh
//! forwarded on 127.0.0.1 inside the namespace); its eth1 is its tap, at 10.10.0.1N/24. The
//! bridge itself gets 10.10.0.1/24 so that the test can reach the manager's sshd on the
//! segment from inside the namespace (the join-token check); nothing routes out of the
//! namespace, so nothing leaves the machine.
//!
//! One test, five boots (two workers, the manager, then two workers again):
//! 1. the two workers boot first (concurrently): with no manager yet their swarm agent logs
//!    that the manager is `unreachable`, and they stay out of any swarm;
//! 2. the manager boots (`init: true`): `docker node ls` lists three Ready nodes; the manager's
//!    sshd hands the join key the worker token and nothing else, and refuses any other key;
//! 3. an image imported on each node (no registry) runs as a 3-replica service;
//! 4. a worker that runs a replica (the victim) is powered off hard: the service is back to 3
//!    running replicas on the two other nodes within [`FAILOVER_LIMIT`], and it is Down;
//! 5. the other worker (the leaver) loses its `rancher.swarm` and its power; both workers boot
//!    again together: the victim (unchanged) rejoins as the same node (same ID), the leaver
//!    leaves the swarm by itself, the service is back to 3 replicas, and `ros swarm status`
//!    says so on each.
//!
//! The victim is chosen from where the replicas landed: Swarm may place none on a given worker
//! (it avoids a node where a task just failed), and powering off a node with no replica would
//! prove nothing about failover.
//!
//! Each phase's time goes to stderr (`swarm: ...`).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use ros_e2e::{boot_ready, dist, L2Segment, Qemu, QemuBuilder, Ssh, SshKey};

/// Memory per guest: the smallest that passed (docs/performance.md, "Swarm"); it needs the
/// small initrd (see `builder`).
const MEMORY_MIB: u32 = 512;

const TEST_IMAGE: &str = "ros-test/busybox:latest";

/// The guests' hostnames; guest `i` is at 10.10.0.1(i+1) on its tap `swarm-(i+1)`.
const NODES: [&str; 3] = ["swarm-1", "swarm-2", "swarm-3"];
const MANAGER: usize = 0;
const WORKERS: [usize; 2] = [1, 2];
const MANAGER_ADDR: &str = "10.10.0.11";
/// The bridge's own address, for the checks run from the namespace.
const BRIDGE_ADDR: &str = "10.10.0.1/24";

/// From the manager's ready line to three Ready nodes (workers retry on their own schedule).
const JOIN_LIMIT: Duration = Duration::from_secs(300);
/// Workers booted without a manager log `unreachable` within this (after ready).
const UNREACHABLE_LIMIT: Duration = Duration::from_secs(120);
/// From `docker service create` to three running tasks.
const REPLICAS_LIMIT: Duration = Duration::from_secs(240);
/// The stated bound: from the hard power-off of a worker to three running replicas on the
/// other two nodes (a node is marked down after missed heartbeats, then its tasks are
/// scheduled again and their containers started).
const FAILOVER_LIMIT: Duration = Duration::from_secs(120);
/// From a hard power-off to the node listed Down (missed heartbeats).
const DOWN_LIMIT: Duration = Duration::from_secs(60);
/// From the worker's ready line (booted again) to it being Ready in `docker node ls`.
const REJOIN_LIMIT: Duration = Duration::from_secs(240);

const SWARM_LOGS: &str = "sudo system-docker logs swarm 2>&1";
const NODE_LS: &str = "docker node ls --format '{{.Hostname}} {{.Status}} {{.ID}}'";
const TASKS: &str =
    "docker service ps web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}'";

const MIB: u64 = 1 << 20;

/// A running guest of the cluster.
struct Node {
    vm: Qemu,
    ssh: Ssh,
}

/// The three guests (`None` while one is powered off) and what every failure prints.
struct Cluster {
    nodes: [Option<Node>; 3],
    start: Instant,
}

impl Cluster {
    fn node(&self, i: usize) -> &Node {
        self.nodes[i]
            .as_ref()
            .unwrap_or_else(|| self.fail(&format!("{} is not running", NODES[i])))
    }

    /// Panics with `what`, then each running guest's last 200 serial lines and its swarm
    /// agent's last log lines.
    fn fail(&self, what: &str) -> ! {
        let mut report = format!("{what}\n");
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            report.push_str(&format!(
                "\n===== {}: last 200 serial lines =====\n{}\n",
                NODES[i],
                node.vm.serial_tail(200)
            ));
            let logs = node
                .ssh
                .run("sudo system-docker logs --tail 40 swarm 2>&1")
                .map(|o| text(&o))
                .unwrap_or_else(|e| e.to_string());
            report.push_str(&format!(
                "===== {}: system-docker logs swarm =====\n{logs}\n",
                NODES[i]
            ));
        }
        panic!("{report}");
    }

    /// `cmd`'s stdout on guest `i`; a failure fails the test.
    fn ok(&self, i: usize, cmd: &str) -> String {
        match self.node(i).ssh.ok(cmd) {
            Ok(out) => out,
            Err(e) => self.fail(&format!("{}: {e}", NODES[i])),
        }
    }

    /// Runs `cmd` on guest `i` every 2 s until `check` accepts its stdout, at most `limit`.
    fn eventually(
        &self,
        i: usize,
        limit: Duration,
        cmd: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        match self.node(i).ssh.eventually(limit, cmd, check) {
            Ok(out) => out,
            Err(last) => self.fail(&format!(
                "{}: `{cmd}` not as expected after {} s; last output:\n{last}",
                NODES[i],
                limit.as_secs()
            )),
        }
    }

    /// Boots guests `which` at the same time, each from `builders[i]`, until ready with ssh.
    fn boot_together(&mut self, which: &[usize], builders: &[QemuBuilder], key: &Path) {
        let booted: Vec<(Qemu, Ssh)> = std::thread::scope(|s| {
            let boots: Vec<_> = which
                .iter()
                .map(|&i| {
                    let b = builders[i].clone();
                    s.spawn(move || boot_ready(b, key))
                })
                .collect();
            boots
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for (&i, (vm, ssh)) in which.iter().zip(booted) {
            self.nodes[i] = Some(Node { vm, ssh });
        }
    }

    fn phase(&self, what: &str) {
        eprintln!("swarm: {what} (at {} s)", self.start.elapsed().as_secs());
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `docker node ls` as (hostname, status, ID) triples.
fn nodes_listed(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.into(), w.next()?.into(), w.next()?.into()))
        })
        .collect()
}

/// Exactly the three guests, each once, all Ready.
fn three_ready(out: &str) -> bool {
    let mut listed = nodes_listed(out);
    listed.sort();
    listed.len() == 3
        && listed
            .iter()
            .zip(NODES)
            .all(|((host, status, _), name)| host == name && status == "Ready")
}

/// The service's tasks meant to run, as (node, current state's first word).
fn tasks(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.into(), w.next()?.into()))
        })
        .collect()
}

/// Three tasks meant to run, all running, none on `avoid`.
fn three_running(out: &str, avoid: Option<&str>) -> bool {
    let tasks = tasks(out);
    tasks.len() == 3
        && tasks
            .iter()
            .all(|(node, state)| state == "Running" && Some(node.as_str()) != avoid)
}

/// The worker to power off: the one running the most replicas (the later one on a tie), or
/// `None` when every replica is on the manager.
fn choose_victim(out: &str) -> Option<usize> {
    let tasks = tasks(out);
    let count = |i: usize| tasks.iter().filter(|(n, _)| n == NODES[i]).count();
    WORKERS
        .into_iter()
        .filter(|&i| count(i) > 0)
        .max_by_key(|&i| (count(i), i))
}

fn placement(out: &str) -> String {
    let mut nodes: Vec<String> = tasks(out).into_iter().map(|(n, _)| n).collect();
    nodes.sort();
    nodes.join(", ")
}

/// A sparse raw disk of `mib` MiB, all zero: the state partition's autoformat takes it.
fn blank_disk(path: &Path, mib: u64) {
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    f.set_len(mib * MIB).unwrap_or_else(|e| panic!("{e}"));
}

/// The cloud-config of guest `i`: hostname, the test's ssh key, eth1 on the segment, and its
/// swarm role.
fn cloud_config(i: usize, key: &SshKey, join: &SshKey) -> String {
    let swarm = if i == MANAGER {
        format!(
            "    role: manager\n    init: true\n    advertise_addr: eth1\n    token_keys:\n      worker:\n        - {}\n",
            join.public
        )
    } else {
        let private = std::fs::read_to_string(&join.private).unwrap_or_else(|e| panic!("{e}"));
        let indented: String = private.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "    role: worker\n    manager: {MANAGER_ADDR}\n    advertise_addr: eth1\n    join_key: |\n{indented}"
        )
    };
    format!(
        "#cloud-config\nhostname: {name}\nssh_authorized_keys:\n  - {public}\nrancher:\n  ntp:\n    servers: []\n  network:\n    interfaces:\n      eth1: {{address: 10.10.0.1{n}/24, dhcp: false}}\n  swarm:\n{swarm}",
        name = NODES[i],
        public = key.public,
        n = i + 1,
    )
}

/// Guest `i`: kernel + small initrd with the ISO as its system image, its cloud-config (vda), its state disk (vdb), eth0 on the
/// user network and eth1 on its tap, in the segment's namespace.
fn builder(segment: &L2Segment, dir: &Path, i: usize) -> QemuBuilder {
    let d = dist();
    let n = i + 1;
    // The small initrd finds the system image on the ISO (a CD-ROM, as an ISO boot does), so
    // the system image is not unpacked into RAM: that is what lets the guest run in 512 MiB
    // (the full initrd needs about 700).
    Qemu::builder()
        .kernel(d.vmlinuz(), d.small_initrd())
        .arg("-drive")
        .arg(&format!(
            "file={},if=ide,media=cdrom,readonly=on",
            d.iso().display()
        ))
        .append("rancher.state.autoformat=[/dev/vdb]")
        .memory(MEMORY_MIB)
        .cpus(1)
        .cloud_config(dir.join(format!("swarm-{n}.yml")))
        .disk_file(state_disk(dir, i))
        .netns(segment.name())
        .tap(NODES[i], &format!("52:54:00:10:10:1{n}"))
}

fn state_disk(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("swarm-{}.img", i + 1))
}

/// Copies the test image to guest `i` and loads it into its User Docker.
fn import_image(cluster: &Cluster, i: usize, archive: &Path) {
    if let Err(e) = cluster
        .node(i)
        .ssh
        .copy_to(archive, "/home/rancher/busybox.tar")
    {
        cluster.fail(&format!("{}: {e}", NODES[i]));
    }
    cluster.ok(i, "docker load -i /home/rancher/busybox.tar");
}

#[test]
fn swarm_of_three_guests_on_a_private_segment_reschedules_a_lost_worker_and_takes_it_back_after_a_reboot(
) {
    let start = Instant::now();
    // 1. The segment (dropped last: after every guest), keys, image, state disks.
    let segment = L2Segment::create("ros-l2").unwrap_or_else(|e| panic!("{e}"));
    for name in NODES {
        segment.add_tap(name).unwrap_or_else(|e| panic!("{e}"));
    }
    segment
        .set_bridge_address(BRIDGE_ADDR)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let join = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    for i in 0..NODES.len() {
        let cc = dir.path().join(format!("swarm-{}.yml", i + 1));
        std::fs::write(&cc, cloud_config(i, &key, &join)).unwrap_or_else(|e| panic!("{e}"));
        blank_disk(&state_disk(dir.path(), i), 2048);
    }
    let archive = dir.path().join("busybox.tar");
    sysdocker::testing::busybox_archive(&archive, TEST_IMAGE).unwrap_or_else(|e| panic!("{e}"));
    let mut cluster = Cluster {
        nodes: [None, None, None],
        start,
    };

    // 2. The workers, together, with no manager yet: the agent says it cannot reach it, and
    //    the node stays out of any swarm.
    let builders: Vec<QemuBuilder> = (0..NODES.len())
        .map(|i| builder(&segment, dir.path(), i))
        .collect();
    cluster.boot_together(&WORKERS, &builders, &key.private);
    cluster.phase("workers swarm-2 and swarm-3 ready");
    for i in WORKERS {
        let logs = cluster.eventually(i, UNREACHABLE_LIMIT, SWARM_LOGS, |o| {
            o.contains("unreachable")
        });
        let line = logs
            .lines()
            .find(|l| l.contains("unreachable"))
            .unwrap_or_default();
        eprintln!("swarm: {}: {line}", NODES[i]);
        let state = cluster.ok(i, "docker info --format '{{.Swarm.LocalNodeState}}'");
        if state.trim() != "inactive" {
            cluster.fail(&format!(
                "{} without a manager is in swarm state {state:?}, not \"inactive\"",
                NODES[i]
            ));
        }
    }
    cluster.phase("both workers report the manager unreachable");

    // 3. The manager; the workers get the image while it boots.
    let (vm, ssh) = std::thread::scope(|s| {
        let b = builders[MANAGER].clone();
        let key = &key.private;
        let manager = s.spawn(move || boot_ready(b, key));
        for i in WORKERS {
            import_image(&cluster, i, &archive);
        }
        manager
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    cluster.nodes[MANAGER] = Some(Node { vm, ssh });
    cluster.phase("manager swarm-1 ready (image loaded on the workers meanwhile)");
    let joined = Instant::now();
    let listed = cluster.eventually(MANAGER, JOIN_LIMIT, NODE_LS, three_ready);
    cluster.phase(&format!(
        "3 nodes ready {} s after the manager was",
        joined.elapsed().as_secs()
    ));
    let ids_at_join = nodes_listed(&listed);

    // The join token over ssh: the join key gets the worker token whatever it asks for (here
    // a shell), and nothing else; the test's own key is refused.
    let token = cluster.ok(MANAGER, "docker swarm join-token -q worker");
    let token = token.trim();
    assert!(token.starts_with("SWMTKN-1-"), "{token}");
    let swarm_ssh = |k: &Path| {
        Ssh::new(22, k)
            .in_netns(segment.name())
            .user("swarm")
            .host(MANAGER_ADDR)
    };
    let served = swarm_ssh(&join.private)
        .run("bash")
        .unwrap_or_else(|e| panic!("{e}"));
    if !served.status.success() || String::from_utf8_lossy(&served.stdout).trim() != token {
        cluster.fail(&format!(
            "ssh -i joinkey swarm@{MANAGER_ADDR} bash ({}) did not print only the worker token {token}:\n{}",
            served.status,
            text(&served)
        ));
    }
    let refused = swarm_ssh(&key.private)
        .run("bash")
        .unwrap_or_else(|e| panic!("{e}"));
    let said = text(&refused);
    if refused.status.code() != Some(255)
        || !said.contains("Permission denied")
        || said.contains("SWMTKN")
    {
        cluster.fail(&format!(
            "swarm@{MANAGER_ADDR} with the rancher key ({}) was not refused:\n{said}",
            refused.status
        ));
    }

    // 4. The image on the manager too, then a service of 3 replicas from it.
    import_image(&cluster, MANAGER, &archive);
    let created = Instant::now();
    cluster.ok(
        MANAGER,
        &format!(
            "docker service create --detach --name web --replicas 3 --no-resolve-image {TEST_IMAGE} sleep 100000"
        ),
    );
    let mut running =
        cluster.eventually(MANAGER, REPLICAS_LIMIT, TASKS, |o| three_running(o, None));
    cluster.phase(&format!(
        "3 replicas running {} s after service create, on: {}",
        created.elapsed().as_secs(),
        placement(&running)
    ));
    if choose_victim(&running).is_none() {
        // Every replica on the manager: a forced update schedules them again, spread.
        cluster.ok(MANAGER, "docker service update --detach --force web");
        running = cluster.eventually(MANAGER, REPLICAS_LIMIT, TASKS, |o| {
            three_running(o, None) && choose_victim(o).is_some()
        });
        cluster.phase(&format!("spread again, on: {}", placement(&running)));
    }
    let Some(victim) = choose_victim(&running) else {
        cluster.fail(&format!("no replica on a worker:\n{running}"));
    };
    let leaver = if victim == WORKERS[0] {
        WORKERS[1]
    } else {
        WORKERS[0]
    };
    let victim_id = ids_at_join
        .iter()
        .find(|(host, _, _)| host == NODES[victim])
        .map(|(_, _, id)| id.clone())
        .unwrap_or_default();

    // 5. The victim loses its power: the replicas are back to 3 on the two others.
    if let Some(mut node) = cluster.nodes[victim].take() {
        node.vm.kill();
    }
    let lost = Instant::now();
    let running = cluster.eventually(MANAGER, FAILOVER_LIMIT, TASKS, |o| {
        three_running(o, Some(NODES[victim]))
    });
    cluster.phase(&format!(
        "{} powered off; 3 replicas running again after {} s (bound {} s), on: {}",
        NODES[victim],
        lost.elapsed().as_secs(),
        FAILOVER_LIMIT.as_secs(),
        placement(&running)
    ));
    cluster.eventually(MANAGER, DOWN_LIMIT, NODE_LS, |o| {
        nodes_listed(o)
            .into_iter()
            .any(|(host, status, _)| host == NODES[victim] && status == "Down")
    });

    // 6. The leaver's cloud-config loses its `rancher.swarm`, and it loses its power too.
    //    Both boot again together: the victim, its config unchanged, rejoins as the same
    //    node; the leaver leaves the swarm it joined.
    let cc = dir.path().join(format!("swarm-{}.yml", leaver + 1));
    let without_swarm = cloud_config(leaver, &key, &join);
    let without_swarm = &without_swarm[..without_swarm
        .find("  swarm:\n")
        .unwrap_or(without_swarm.len())];
    std::fs::write(&cc, without_swarm).unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut node) = cluster.nodes[leaver].take() {
        node.vm.kill();
    }
    cluster.boot_together(&[victim, leaver], &builders, &key.private);
    cluster.phase(&format!(
        "{} (unchanged) and {} (no rancher.swarm) ready again",
        NODES[victim], NODES[leaver]
    ));
    let back = Instant::now();
    let expected = |out: &str| {
        let listed = nodes_listed(out);
        let status_of = |name: &str| {
            listed
                .iter()
                .filter(|(h, _, _)| h == name)
                .map(|(_, s, _)| s.as_str())
                .collect::<Vec<_>>()
        };
        listed.len() == 3
            && status_of(NODES[MANAGER]) == ["Ready"]
            && status_of(NODES[victim]) == ["Ready"]
            && status_of(NODES[leaver]) == ["Down"]
    };
    let listed = cluster.eventually(MANAGER, REJOIN_LIMIT, NODE_LS, expected);
    let id_now = nodes_listed(&listed)
        .into_iter()
        .find(|(host, _, _)| host == NODES[victim])
        .map(|(_, _, id)| id)
        .unwrap_or_default();
    if id_now != victim_id {
        cluster.fail(&format!(
            "{} came back as node {id_now}, not as {victim_id}:\n{listed}",
            NODES[victim]
        ));
    }
    cluster.phase(&format!(
        "{} rejoined as the same node and {} is Down, {} s after their ready lines",
        NODES[victim],
        NODES[leaver],
        back.elapsed().as_secs()
    ));
    // The leaver left by itself: out of any swarm, its marker gone, the service done.
    let state = cluster.eventually(
        leaver,
        Duration::from_secs(60),
        "docker info --format '{{.Swarm.LocalNodeState}}'",
        |o| o.trim() == "inactive",
    );
    let logs = cluster.ok(leaver, SWARM_LOGS);
    if !logs.contains("left the swarm") {
        cluster.fail(&format!(
            "{} ({state}) did not log leaving:\n{logs}",
            NODES[leaver]
        ));
    }
    cluster.ok(leaver, "test ! -e /var/lib/rancher/swarm/joined");
    // The service is back to 3 replicas, on the manager and the victim.
    let running = cluster.eventually(MANAGER, FAILOVER_LIMIT, TASKS, |o| {
        three_running(o, Some(NODES[leaver]))
    });
    cluster.phase(&format!(
        "{} left the swarm; 3 replicas on: {}",
        NODES[leaver],
        placement(&running)
    ));

    // `ros swarm status` on the manager and on a worker.
    let status = cluster.ok(MANAGER, "sudo ros swarm status");
    let has = |s: &str, line: &str| s.lines().any(|l| l.trim() == line);
    let node_line = |name: &str, word: &str| {
        status.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.contains(&name) && words.contains(&word)
        })
    };
    if !(has(&status, "role: manager")
        && has(&status, "state: active")
        && has(&status, &format!("managers: {MANAGER_ADDR}:2377"))
        && node_line(NODES[MANAGER], "ready")
        && node_line(NODES[victim], "ready")
        && node_line(NODES[leaver], "down"))
    {
        cluster.fail(&format!("ros swarm status on the manager:\n{status}"));
    }
    let status = cluster.ok(victim, "sudo ros swarm status");
    if !(has(&status, "role: worker")
        && has(&status, "state: active")
        && has(&status, &format!("managers: {MANAGER_ADDR}:2377")))
    {
        cluster.fail(&format!("ros swarm status on {}:\n{status}", NODES[victim]));
    }
    let status = cluster.ok(leaver, "sudo ros swarm status");
    if !(has(&status, "configured: none") && has(&status, "state: inactive")) {
        cluster.fail(&format!("ros swarm status on {}:\n{status}", NODES[leaver]));
    }
    cluster.phase("ros swarm status agrees");

    // The guests go before the segment.
    cluster.nodes = [None, None, None];
    drop(segment);
    eprintln!("swarm: total {} s", start.elapsed().as_secs());
}

/// The parsers above, on `docker` output of the shapes the test asks for.
mod parse {
    use super::*;

    #[test]
    fn three_ready_needs_each_guest_once_and_ready() {
        let ok = "swarm-2 Ready a\nswarm-1 Ready b\nswarm-3 Ready c\n";
        assert!(three_ready(ok));
        assert!(!three_ready(
            "swarm-2 Ready a\nswarm-1 Ready b\nswarm-3 Down c\n"
        ));
        assert!(!three_ready(
            "swarm-2 Ready a\nswarm-1 Ready b\nswarm-3 Ready c\nswarm-3 Down d\n"
        ));
        assert!(!three_ready("swarm-2 Ready a\nswarm-1 Ready b\n"));
    }

    #[test]
    fn three_running_counts_running_tasks_off_the_avoided_node() {
        let out = "swarm-1 Running 3 seconds ago\nswarm-2 Running 4 seconds ago\nswarm-2 Running 1 second ago\n";
        assert!(three_running(out, Some("swarm-3")));
        assert!(!three_running(out, Some("swarm-2")));
        assert!(!three_running(
            "swarm-1 Running 3 seconds ago\nswarm-2 Starting 1 second ago\nswarm-3 Running 5 seconds ago\n",
            None
        ));
        assert_eq!(placement(out), "swarm-1, swarm-2, swarm-2");
    }

    #[test]
    fn the_victim_is_a_worker_running_a_replica() {
        let on = |nodes: &[&str]| {
            nodes
                .iter()
                .map(|n| format!("{n} Running 1 second ago\n"))
                .collect::<String>()
        };
        assert_eq!(
            choose_victim(&on(&["swarm-1", "swarm-2", "swarm-3"])),
            Some(2)
        );
        // The CI run that failed: nothing on swarm-3.
        assert_eq!(
            choose_victim(&on(&["swarm-1", "swarm-1", "swarm-2"])),
            Some(1)
        );
        assert_eq!(
            choose_victim(&on(&["swarm-2", "swarm-3", "swarm-2"])),
            Some(1)
        );
        assert_eq!(choose_victim(&on(&["swarm-1", "swarm-1", "swarm-1"])), None);
    }
}
