//! The service engine against real dockerd instances started by the test harness.

use std::time::{Duration, Instant};

use sysdocker::testing::{
    self, docker_time, ensure_busybox, project_from_yaml, shared, unique_prefix, BUSYBOX,
};
use sysdocker::{Action, Engine, Error, Scope};

struct Times {
    started: f64,
    finished: f64,
    running: bool,
    exit_code: i64,
}

async fn times(client: &sysdocker::DaemonClient, name: &str) -> Times {
    let c = client.docker.inspect_container(name, None).await.unwrap();
    let s = c.state.unwrap();
    Times {
        started: docker_time(s.started_at.as_deref().unwrap()).unwrap(),
        finished: docker_time(s.finished_at.as_deref().unwrap()).unwrap(),
        running: s.running.unwrap(),
        exit_code: s.exit_code.unwrap(),
    }
}

async fn exists(client: &sysdocker::DaemonClient, name: &str) -> bool {
    client.docker.inspect_container(name, None).await.is_ok()
}

async fn id_of(client: &sysdocker::DaemonClient, name: &str) -> String {
    client
        .docker
        .inspect_container(name, None)
        .await
        .unwrap()
        .id
        .unwrap()
}

async fn system_engine() -> (Engine, sysdocker::DaemonClient) {
    let d = shared(Scope::System);
    let client = d.client().await.unwrap();
    ensure_busybox(&client).await.unwrap();
    (Engine::new(testing::engine_options(d, None)), client)
}

fn root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn six_service_graph_runs_in_order_with_parallel_branches() {
    let (engine, client) = system_engine().await;
    let p = unique_prefix("graph");
    let sys = "io.rancher.os.scope: system";
    let yaml = format!(
        r#"
rancher:
  services:
    {p}-b2:
      image: {BUSYBOX}
      command: sleep 600
      labels: {{{sys}}}
    {p}-a2:
      image: {BUSYBOX}
      command: ["sh", "-c", "test -f /data/ready && exec sleep 600"]
      volumes_from: [{p}-vol]
      labels: {{{sys}, io.rancher.os.after: {p}-a1}}
    {p}-a1:
      image: {BUSYBOX}
      command: sleep 2
      labels: {{{sys}, io.rancher.os.detach: "false", io.rancher.os.after: {p}-init}}
    {p}-b1:
      image: {BUSYBOX}
      command: sleep 2
      depends_on: [{p}-init]
      labels: {{{sys}, io.rancher.os.detach: "false", io.rancher.os.before: {p}-b2}}
    {p}-init:
      image: {BUSYBOX}
      command: ["sh", "-c", "sleep 1; echo ok > /data/ready"]
      volumes_from: [{p}-vol]
      labels: {{{sys}, io.rancher.os.detach: "false"}}
    {p}-vol:
      image: {BUSYBOX}
      volumes: [/data]
      labels: {{{sys}, io.rancher.os.createonly: "true"}}
"#
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    let report = engine.up(&project, Scope::System).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.services.len(), 6);

    let n = |s: &str| format!("{p}-{s}");
    let vol = client
        .docker
        .inspect_container(&n("vol"), None)
        .await
        .unwrap();
    assert_eq!(
        vol.state.unwrap().status.unwrap().to_string(),
        "created",
        "create-only never starts"
    );
    let init = times(&client, &n("init")).await;
    let (a1, a2) = (
        times(&client, &n("a1")).await,
        times(&client, &n("a2")).await,
    );
    let (b1, b2) = (
        times(&client, &n("b1")).await,
        times(&client, &n("b2")).await,
    );
    assert_eq!((init.exit_code, a1.exit_code, b1.exit_code), (0, 0, 0));
    assert!(
        a2.running && b2.running,
        "a2 found /data/ready from the shared volume and runs"
    );
    assert!(
        init.finished <= a1.started && init.finished <= b1.started,
        "one-shot blocks dependents"
    );
    assert!(a1.finished <= a2.started, "after label");
    assert!(b1.finished <= b2.started, "before label");
    let overlap = a1.finished.min(b1.finished) - a1.started.max(b1.started);
    assert!(
        overlap > 0.0,
        "independent branches run at the same time (overlap {overlap} s)"
    );

    engine.rm(&project, &[]).await.unwrap();
    assert!(!exists(&client, &n("a2")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_is_refused_with_its_members() {
    let (engine, _) = system_engine().await;
    let p = unique_prefix("cycle");
    let yaml = format!(
        "rancher:\n  services:\n    {p}-a: {{image: {BUSYBOX}, depends_on: [{p}-b], labels: {{io.rancher.os.scope: system}}}}\n    {p}-b: {{image: {BUSYBOX}, labels: {{io.rancher.os.scope: system, io.rancher.os.after: {p}-c}}}}\n    {p}-c: {{image: {BUSYBOX}, volumes_from: [{p}-a], labels: {{io.rancher.os.scope: system}}}}\n    {p}-free: {{image: {BUSYBOX}, labels: {{io.rancher.os.scope: system}}}}\n"
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let err = engine.up(&project, Scope::System).await.unwrap_err();
    let Error::Cycle { members } = &err else {
        panic!("{err}")
    };
    for m in ["a", "b", "c"] {
        assert!(members.contains(&format!("{p}-{m}")), "{err}");
    }
    assert!(!members.contains(&format!("{p}-free")));
    assert!(err.to_string().starts_with("dependency cycle: "), "{err}");
    assert!(
        !exists(
            &engine.client(Scope::System).await.unwrap().clone(),
            &format!("{p}-free")
        )
        .await,
        "nothing started"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_one_shot_stops_its_dependents() {
    let (engine, client) = system_engine().await;
    let p = unique_prefix("fail");
    let yaml = format!(
        r#"
rancher:
  services:
    {p}-fail:
      image: {BUSYBOX}
      command: ["sh", "-c", "echo boom; exit 3"]
      labels: {{io.rancher.os.scope: system, io.rancher.os.detach: "false"}}
    {p}-dep:
      image: {BUSYBOX}
      command: sleep 600
      labels: {{io.rancher.os.scope: system, io.rancher.os.after: {p}-fail}}
    {p}-other:
      image: {BUSYBOX}
      command: sleep 600
      labels: {{io.rancher.os.scope: system}}
"#
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let report = engine.up(&project, Scope::System).await.unwrap();
    assert!(!report.is_ok());
    let fail = report
        .get(&format!("{p}-fail"))
        .unwrap()
        .result
        .as_ref()
        .unwrap_err()
        .to_string();
    assert_eq!(
        fail,
        format!("one-shot service {p}-fail failed: exit code 3; last output: boom")
    );
    let dep = report
        .get(&format!("{p}-dep"))
        .unwrap()
        .result
        .as_ref()
        .unwrap_err()
        .to_string();
    assert_eq!(
        dep,
        format!("{p}-dep not started: dependency {p}-fail failed")
    );
    assert!(
        !exists(&client, &format!("{p}-dep")).await,
        "dependent never created"
    );
    assert!(
        times(&client, &format!("{p}-other")).await.running,
        "unrelated service still up"
    );
    engine.rm(&project, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_the_runtime_refuses_for_good_is_reported_at_once() {
    // runc refusing a start for good (no such executable: Docker's 400) is reported without
    // the retries that a passing runtime failure (a 500) gets.
    let (engine, _client) = system_engine().await;
    let p = unique_prefix("oci");
    let yaml = format!(
        r#"
rancher:
  services:
    {p}-missing:
      image: {BUSYBOX}
      entrypoint: [/no/such/program]
      labels: {{io.rancher.os.scope: system}}
"#
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let began = Instant::now();
    let report = engine.up(&project, Scope::System).await.unwrap();
    let took = began.elapsed();
    let err = report
        .get(&format!("{p}-missing"))
        .unwrap()
        .result
        .as_ref()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("start:") && err.contains("OCI runtime"),
        "{err}"
    );
    assert!(took < Duration::from_secs(4), "retried: {took:?}: {err}");
    engine.rm(&project, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn up_is_idempotent_and_recreates_only_changed_services() {
    let (engine, client) = system_engine().await;
    let p = unique_prefix("idem");
    let def = |cmd: &str| {
        format!(
            "rancher:\n  services:\n    {p}-x: {{image: {BUSYBOX}, command: sleep 600, restart: always, labels: {{io.rancher.os.scope: system}}}}\n    {p}-y: {{image: {BUSYBOX}, command: {cmd}, labels: {{io.rancher.os.scope: system, io.rancher.os.after: {p}-x}}}}\n    {p}-v: {{image: {BUSYBOX}, volumes: [/v], labels: {{io.rancher.os.scope: system, io.rancher.os.createonly: 'true'}}}}\n"
        )
    };
    let r = root();
    let first = project_from_yaml(&def("sleep 600"), r.path());
    let report = engine.up(&first, Scope::System).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");
    let names = [format!("{p}-x"), format!("{p}-y"), format!("{p}-v")];
    let mut ids = Vec::new();
    for n in &names {
        ids.push(id_of(&client, n).await);
    }

    let again = engine.up(&first, Scope::System).await.unwrap();
    for n in &names {
        assert_eq!(
            again.get(n).unwrap().result.as_ref().unwrap().action,
            Action::Unchanged,
            "{n}"
        );
    }
    for (n, id) in names.iter().zip(&ids) {
        assert_eq!(&id_of(&client, n).await, id, "{n} kept");
    }

    // A stopped matching container is started, not recreated.
    client
        .docker
        .stop_container(
            &names[1],
            None::<bollard::query_parameters::StopContainerOptions>,
        )
        .await
        .unwrap();
    let restarted = engine.up(&first, Scope::System).await.unwrap();
    assert_eq!(
        restarted
            .get(&names[1])
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .action,
        Action::Started
    );
    assert_eq!(id_of(&client, &names[1]).await, ids[1]);

    let changed = project_from_yaml(&def("sleep 601"), r.path());
    let report = engine.up(&changed, Scope::System).await.unwrap();
    assert_eq!(
        report
            .get(&names[0])
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .action,
        Action::Unchanged
    );
    assert_eq!(
        report
            .get(&names[1])
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .action,
        Action::Recreated
    );
    assert_eq!(id_of(&client, &names[0]).await, ids[0]);
    assert_eq!(id_of(&client, &names[2]).await, ids[2]);
    assert_ne!(id_of(&client, &names[1]).await, ids[1]);
    let cmd = client
        .docker
        .inspect_container(&names[1], None)
        .await
        .unwrap()
        .config
        .unwrap()
        .cmd
        .unwrap();
    assert_eq!(cmd, ["sleep", "601"]);
    engine.rm(&changed, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_always_comes_back_after_sigkill() {
    let (engine, client) = system_engine().await;
    let p = unique_prefix("always");
    let name = format!("{p}-r");
    let yaml = format!("rancher:\n  services:\n    {name}: {{image: {BUSYBOX}, command: sleep 600, restart: always, labels: {{io.rancher.os.scope: system}}}}\n");
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    assert!(engine.up(&project, Scope::System).await.unwrap().is_ok());
    let policy = client
        .docker
        .inspect_container(&name, None)
        .await
        .unwrap()
        .host_config
        .unwrap()
        .restart_policy
        .unwrap();
    assert_eq!(
        policy.name,
        Some(bollard::models::RestartPolicyNameEnum::ALWAYS)
    );
    let before = times(&client, &name).await.started;
    // A crash, not `docker kill`: Docker treats an API kill as a manual stop and keeps it down.
    let pid = client
        .docker
        .inspect_container(&name, None)
        .await
        .unwrap()
        .state
        .unwrap()
        .pid
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = client.docker.inspect_container(&name, None).await.unwrap();
        let t = times(&client, &name).await;
        if t.running && t.started > before && c.restart_count.unwrap_or(0) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not restarted within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.rm(&project, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_land_on_their_daemons() {
    let system = shared(Scope::System);
    let user = shared(Scope::User);
    let (sc, uc) = (system.client().await.unwrap(), user.client().await.unwrap());
    ensure_busybox(&sc).await.unwrap();
    ensure_busybox(&uc).await.unwrap();
    let engine = Engine::new(testing::engine_options(system, Some(user)));
    let p = unique_prefix("scope");
    let yaml = format!(
        "rancher:\n  services:\n    {p}-sys: {{image: {BUSYBOX}, command: sleep 600, labels: {{io.rancher.os.scope: system}}}}\n    {p}-usr: {{image: {BUSYBOX}, command: sleep 600}}\n"
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let sys_report = engine.up(&project, Scope::System).await.unwrap();
    assert_eq!(sys_report.services.len(), 1);
    assert!(exists(&sc, &format!("{p}-sys")).await && !exists(&uc, &format!("{p}-sys")).await);
    assert!(
        !exists(&uc, &format!("{p}-usr")).await,
        "user services wait for Scope::User"
    );
    assert!(engine.up(&project, Scope::User).await.unwrap().is_ok());
    assert!(exists(&uc, &format!("{p}-usr")).await && !exists(&sc, &format!("{p}-usr")).await);
    let status = engine.status(&project).await.unwrap();
    let usr = status
        .iter()
        .find(|s| s.name == format!("{p}-usr"))
        .unwrap();
    assert_eq!((usr.scope, usr.state.as_str()), (Scope::User, "running"));
    engine.rm(&project, &[]).await.unwrap();
    assert!(!exists(&uc, &format!("{p}-usr")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_supervisor_restarts_a_killed_daemon_and_up_restores_services() {
    let dir = testing::DaemonDir::new().unwrap();
    let spec = testing::test_daemon_spec(Scope::System, dir.path()).unwrap();
    let opts = sysdocker::SupervisorOptions {
        log_file: Some(dir.path().join("dockerd.log")),
        stop_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let sup = sysdocker::Supervisor::start(spec.clone(), opts)
        .await
        .unwrap();
    let client = sup.wait_ready(Duration::from_secs(5)).await.unwrap();
    ensure_busybox(&client).await.unwrap();
    let mut options = testing::engine_options(shared_free_daemon(), None);
    options.system_host = spec.host();
    let p = unique_prefix("sup");
    let yaml = format!(
        "rancher:\n  services:\n    {p}-plain: {{image: {BUSYBOX}, command: sleep 600, stop_signal: SIGKILL, labels: {{io.rancher.os.scope: system}}}}\n"
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    assert!(Engine::new(options.clone())
        .up(&project, Scope::System)
        .await
        .unwrap()
        .is_ok());

    let pid = sup.pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let client = sup
        .wait_restarted(0, Duration::from_secs(60))
        .await
        .unwrap();
    assert_ne!(sup.pid(), Some(pid));
    assert_eq!(
        sup.restarts(),
        1,
        "one restart, no failed attempt in between"
    );

    let report = Engine::new(options)
        .up(&project, Scope::System)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:#?}");
    let action = report.services[0].result.as_ref().unwrap().action;
    assert!(
        matches!(action, Action::Started | Action::Unchanged),
        "{action:?}"
    );
    assert!(times(&client, &format!("{p}-plain")).await.running);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_left_running_is_adopted_then_restarted_as_a_child_when_it_dies() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let dir = testing::DaemonDir::new().unwrap();
    let spec = testing::test_daemon_spec(Scope::System, dir.path()).unwrap();
    // A dockerd whose starter is gone (as after sysinit died); this thread reaps it as PID 1.
    let log = std::fs::File::create(dir.path().join("first.log")).unwrap();
    let mut first = std::process::Command::new(&spec.program)
        .args(spec.to_args())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let first_pid = first.id();
    let reaper = std::thread::spawn(move || first.wait());
    sysdocker::client::connect(&spec.host(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        sysdocker::supervisor::running_dockerd(&spec),
        Some(Pid::from_raw(first_pid as i32))
    );
    let opts = sysdocker::SupervisorOptions {
        log_file: Some(dir.path().join("dockerd.log")),
        stop_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let sup = sysdocker::Supervisor::adopt_or_start(spec.clone(), opts)
        .await
        .unwrap();
    assert_eq!((sup.pid(), sup.restarts()), (Some(first_pid), 0));

    kill(Pid::from_raw(first_pid as i32), Signal::SIGKILL).unwrap();
    reaper.join().unwrap().unwrap();
    sup.wait_restarted(0, Duration::from_secs(60))
        .await
        .unwrap();
    assert_ne!(sup.pid(), Some(first_pid));
    sup.stop().await;
    assert_eq!(sysdocker::supervisor::running_dockerd(&spec), None);
}

/// The supervisor test needs no shared daemon; this only supplies harmless defaults.
fn shared_free_daemon() -> &'static testing::TestDaemon {
    shared(Scope::System)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_warns_skips_and_names_things() {
    let (engine, client) = system_engine().await;
    let p = unique_prefix("bad");
    let r = root();
    let services = r.path().join(sysdocker::includes::LOCAL_DIR);
    std::fs::create_dir_all(&services).unwrap();
    std::fs::write(
        services.join(format!("{p}-broken.yml")),
        format!("{p}-broken:\n  image: {BUSYBOX}\n  command: [sleep, 600\n"),
    )
    .unwrap();
    std::fs::write(services.join(format!("{p}-fine.yml")), format!("services:\n  {p}-fine:\n    image: {BUSYBOX}\n    command: sleep 600\n    labels: {{io.rancher.os.scope: system}}\n")).unwrap();
    let yaml = format!(
        r#"
rancher:
  services_include:
    {p}-broken: true
    {p}-fine: true
  services:
    {p}-odd:
      image: {BUSYBOX}
      command: sleep 600
      colour: blue
      labels: {{io.rancher.os.scope: system}}
    {p}-noimg:
      image: ros-test/missing:1
      labels: {{io.rancher.os.scope: system}}
"#
    );
    let project = project_from_yaml(&yaml, r.path());
    let broken = services
        .join(format!("{p}-broken.yml"))
        .display()
        .to_string();
    assert_eq!(
        project.warnings,
        [
            format!("rancher.services: service {p}-odd: unknown key colour ignored"),
            format!("{broken}:4:1: did not find expected ',' or ']' at line 4 column 1, while parsing a flow sequence at line 3 column 12 (services_include {p}-broken skipped)"),
        ]
    );
    let report = engine.up(&project, Scope::System).await.unwrap();
    let err = report
        .get(&format!("{p}-noimg"))
        .unwrap()
        .result
        .as_ref()
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("service {p}-noimg: image ros-test/missing:1 is missing and no bundled archive has it (pulling is off)"));
    assert!(times(&client, &format!("{p}-odd")).await.running);
    assert!(times(&client, &format!("{p}-fine")).await.running);
    assert_eq!(report.services.len(), 3);
    engine.rm(&project, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bundled_archives_load_missing_images() {
    let d = shared(Scope::System);
    let client = d.client().await.unwrap();
    let p = unique_prefix("bundle");
    let tag = format!("ros-test/{p}:1");
    let images = tempfile::tempdir().unwrap();
    testing::busybox_archive(&images.path().join("one.tar"), &tag).unwrap();
    std::fs::write(images.path().join("notes.txt"), "not an image").unwrap();
    let mut options = testing::engine_options(d, None);
    options.images.archive_dirs = vec![images.path().to_path_buf()];
    let engine = Engine::new(options);
    let yaml = format!("rancher:\n  services:\n    {p}-svc: {{image: '{tag}', command: sleep 600, labels: {{io.rancher.os.scope: system}}}}\n");
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    assert!(client.docker.inspect_image(&tag).await.is_err());
    let report = engine.up(&project, Scope::System).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert!(client.docker.inspect_image(&tag).await.is_ok());
    assert!(times(&client, &format!("{p}-svc")).await.running);
    engine.rm(&project, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_system_image_that_could_not_be_served_is_never_loaded_or_pulled() {
    let d = shared(Scope::System);
    let p = unique_prefix("damaged");
    let tag = format!("ros-test/{p}:1");
    // An archive of it is there and pulling is on: neither may stand in for the damaged copy.
    let images = tempfile::tempdir().unwrap();
    testing::busybox_archive(&images.path().join("one.tar"), &tag).unwrap();
    let mut options = testing::engine_options(d, None);
    options.images.archive_dirs = vec![images.path().to_path_buf()];
    options.images.allow_pull = true;
    options.images.unavailable = vec![(tag.clone(), "its config blob is damaged".into())];
    let engine = Engine::new(options);
    let yaml = format!("rancher:\n  services:\n    {p}-svc: {{image: '{tag}', command: sleep 600, labels: {{io.rancher.os.scope: system}}}}\n");
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let report = engine.up(&project, Scope::System).await.unwrap();
    let svc = report.get(&format!("{p}-svc")).unwrap();
    let err = svc.result.as_ref().unwrap_err().to_string();
    assert_eq!(
        err,
        format!("service {p}-svc: image {tag} is missing and the system image's copy of it cannot be served: its config blob is damaged")
    );
    let client = d.client().await.unwrap();
    assert!(client.docker.inspect_image(&tag).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn images_load_ahead_of_their_services() {
    let d = shared(Scope::System);
    let client = d.client().await.unwrap();
    ensure_busybox(&client).await.unwrap();
    let p = unique_prefix("prefetch");
    let tag = format!("ros-test/{p}:1");
    let images = tempfile::tempdir().unwrap();
    testing::busybox_archive(&images.path().join("late.tar"), &tag).unwrap();
    let mut options = testing::engine_options(d, None);
    options.images.archive_dirs = vec![images.path().to_path_buf()];
    let engine = Engine::new(options);
    // `late` never starts: the one-shot it waits for fails. Its image is loaded all the same,
    // because `up` fetches every image from the start rather than when a service's turn comes.
    let yaml = format!(
        "rancher:\n  services:\n    {p}-first: {{image: {BUSYBOX}, command: [sh, -c, 'sleep 2; exit 1'], labels: {{io.rancher.os.scope: system, io.rancher.os.detach: 'false'}}}}\n    {p}-late: {{image: '{tag}', command: sleep 600, labels: {{io.rancher.os.scope: system, io.rancher.os.after: {p}-first}}}}\n"
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    assert!(client.docker.inspect_image(&tag).await.is_err());
    let report = engine.up(&project, Scope::System).await.unwrap();
    let late = report.get(&format!("{p}-late")).unwrap();
    assert!(
        matches!(late.result, Err(Error::DependencyFailed { .. })),
        "{report:#?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.docker.inspect_image(&tag).await.is_err() {
        assert!(Instant::now() < deadline, "{tag} was never loaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.rm(&project, &[]).await.unwrap();
    client
        .docker
        .remove_image(
            &tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_reloadconfig() {
    let (_, client) = system_engine().await;
    let d = shared(Scope::System);
    let p = unique_prefix("reload");
    let base = format!(
        "rancher:\n  environment: {{GREETING: hello}}\n  services:\n    {p}-ci:\n      image: {BUSYBOX}\n      command: [sh, -c, 'echo $$GREETING ${{GREETING}}; echo line2']\n      environment: [GREETING]\n      labels: {{io.rancher.os.scope: system, io.rancher.os.detach: 'false', io.rancher.os.reloadconfig: 'true'}}\n"
    );
    let extra = format!("{base}    {p}-late: {{image: {BUSYBOX}, command: sleep 600, labels: {{io.rancher.os.scope: system}}}}\n");
    let r = root();
    let project = project_from_yaml(&base, r.path());
    let later = project_from_yaml(&extra, r.path());
    let engine = Engine::new(testing::engine_options(d, None))
        .with_reloader(std::sync::Arc::new(move || later.clone()));
    let report = engine.up(&project, Scope::System).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(
        report.services.len(),
        2,
        "the newly enabled service came up after the reload"
    );
    assert!(times(&client, &format!("{p}-late")).await.running);

    use futures_util::StreamExt;
    let mut logs = engine
        .logs(&project, &format!("{p}-ci"), false, Some(2))
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = logs.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().into_bytes()));
    }
    assert_eq!(text, "hello hello\nline2\n");
    engine
        .rm(&project, &[format!("{p}-ci"), format!("{p}-late")])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_listed_restarts_named_system_services_once_and_names_the_rest() {
    let (engine, client) = system_engine().await;
    let p = unique_prefix("restart-listed");
    let yaml = format!(
        "rancher:\n  services:\n    {p}-net:\n      image: {BUSYBOX}\n      command: sleep 600\n      labels: {{io.rancher.os.scope: system}}\n"
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let report = engine.up(&project, Scope::System).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");
    let name = format!("{p}-net");
    let before = times(&client, &name).await;
    let results = engine
        .restart_listed(
            &project,
            &[name.clone(), format!("{p}-nosuch")],
            Duration::from_secs(2),
        )
        .await;
    assert!(results[0].1.is_ok(), "{results:?}");
    assert!(
        matches!(&results[1].1, Err(Error::UnknownService(n)) if *n == format!("{p}-nosuch")),
        "{results:?}"
    );
    let after = times(&client, &name).await;
    assert!(after.running && after.started > before.started);
    engine.rm(&project, &[name]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_that_cannot_start_gives_way_to_the_default_console() {
    use sysdocker::console_service::{fall_back_to_default, FallbackError};
    use sysdocker::consoles::{ConsoleList, CONSOLE_SERVICE};
    let (engine, client) = system_engine().await;
    let r = root();
    let list_file = r.path().join(sysdocker::consoles::CONSOLES_FILE);
    std::fs::create_dir_all(list_file.parent().unwrap()).unwrap();
    std::fs::write(
        &list_file,
        format!("consoles:\n- {{name: default, image: '{BUSYBOX}'}}\n- {{name: broken, image: 'ros-test/missing-console:1'}}\n"),
    )
    .unwrap();
    let yaml = format!(
        "rancher:\n  console: broken\n  services:\n    console:\n      image: {BUSYBOX}\n      command: sleep 600\n      labels: {{io.rancher.os.scope: system}}\n"
    );
    let project = project_from_yaml(&yaml, r.path());
    let report = engine.up(&project, Scope::System).await.unwrap();
    let err = report
        .get(CONSOLE_SERVICE)
        .unwrap()
        .result
        .as_ref()
        .unwrap_err();
    assert!(
        err.to_string().contains("ros-test/missing-console:1"),
        "{err}"
    );

    let list = ConsoleList::read(r.path()).unwrap();
    let ran = fall_back_to_default(&engine, &project, &list)
        .await
        .unwrap();
    assert_eq!(ran.name, "default");
    let c = client
        .docker
        .inspect_container(CONSOLE_SERVICE, None)
        .await
        .unwrap();
    assert!(c.state.unwrap().running.unwrap());
    assert_eq!(c.config.unwrap().image.as_deref(), Some(BUSYBOX));

    // The default console is the one that failed: nothing to fall back to.
    let broken_default = format!(
        "rancher:\n  services:\n    console:\n      image: {BUSYBOX}\n      command: sleep 600\n      labels: {{io.rancher.os.scope: system}}\n"
    );
    let project = project_from_yaml(&broken_default, r.path());
    let e = fall_back_to_default(&engine, &project, &list)
        .await
        .unwrap_err();
    assert!(matches!(e, FallbackError::DefaultFailed), "{e}");
    engine.rm(&project, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_shot_that_ran_in_this_boot_is_not_run_again_for_a_dependent() {
    // `ros service up console` must not run cloud-init's one-shot again; naming it does.
    let (engine, client) = system_engine().await;
    let p = unique_prefix("once");
    let yaml = format!(
        r#"
rancher:
  services:
    {p}-init:
      image: {BUSYBOX}
      command: ["sh", "-c", "echo ran"]
      labels: {{io.rancher.os.scope: system, io.rancher.os.detach: "false"}}
    {p}-console:
      image: {BUSYBOX}
      command: sleep 600
      labels: {{io.rancher.os.scope: system, io.rancher.os.after: {p}-init}}
"#
    );
    let r = root();
    let project = project_from_yaml(&yaml, r.path());
    let init = format!("{p}-init");
    let console = format!("{p}-console");
    assert!(engine.up(&project, Scope::System).await.unwrap().is_ok());
    let first = times(&client, &init).await.started;

    // The dependent, stopped, comes up again; the one-shot it waits for does not run again.
    engine
        .stop(
            &project,
            std::slice::from_ref(&console),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    let report = engine
        .up_services(
            &project,
            Some(Scope::System),
            std::slice::from_ref(&console),
        )
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        report.get(&init).unwrap().result.as_ref().unwrap().action,
        Action::Unchanged
    );
    assert_eq!(times(&client, &init).await.started, first, "ran again");
    assert!(times(&client, &console).await.running);

    // Named, it runs again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = engine
        .up_services(&project, Some(Scope::System), std::slice::from_ref(&init))
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(times(&client, &init).await.started > first, "not run again");
    engine.rm(&project, &[]).await.unwrap();
}
