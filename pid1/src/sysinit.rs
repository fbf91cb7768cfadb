//! The boot's second half, in PID 1's one child (`ros-sysinit`): System Docker under a
//! supervisor, the system services in dependency order, the ready line; then, on SIGTERM from
//! PID 1, the ordered shutdown. PID 1 stays free to reap, and tokio owns its own children.

use crate::timeline::{self, Timeline};
use os_config::LoadedConfig;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use sysdocker::{
    daemon_spec_from_config, DaemonClient, Engine, EngineOptions, Project, Scope, Supervisor,
    SupervisorOptions, UpReport,
};

/// Why sysinit gave up, for PID 1's recovery banner.
pub const FAILURE_FILE: &str = "/run/ros/sysinit-failure";
const SYSTEM_DOCKER_LOG: &str = "/var/log/system-docker.log";
/// How long User Docker may take to answer before the ready line is given up on.
const USER_DOCKER_WAIT: Duration = Duration::from_secs(180);

pub fn run(loaded: LoadedConfig) -> ExitCode {
    let _ = nix::sys::prctl::set_name(c"ros-sysinit");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(boot_and_serve(loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => fail(&reason.to_string()),
    }
}

/// Why sysinit gives up; PID 1 shows it in the recovery banner.
#[derive(Debug, thiserror::Error)]
enum SysinitError {
    #[error("cannot watch for SIGTERM: {0}")]
    Signal(std::io::Error),
    #[error("System Docker never answered: {0}")]
    SystemDocker(sysdocker::Error),
    #[error("the system services cannot be scheduled: {0}")]
    Schedule(sysdocker::Error),
    #[error("no system service could start; see the errors above")]
    NothingStarted,
}

fn fail(reason: &str) -> ExitCode {
    tracing::error!(reason, "sysinit failed");
    let _ = os_config::atomic_write(Path::new(FAILURE_FILE), reason.as_bytes(), 0o644);
    ExitCode::FAILURE
}

async fn boot_and_serve(loaded: LoadedConfig) -> Result<(), SysinitError> {
    let tl_path = Timeline::default_path();
    let mut tl = Timeline::load(&tl_path);
    if crate::boot_slot::is_trial_boot() {
        tokio::spawn(crate::boot_slot::trial_watchdog());
    }
    // Catch SIGTERM from the start, so an early shutdown request is not lost.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(SysinitError::Signal)?;

    let mut spec = daemon_spec_from_config(Scope::System, &loaded.config.rancher.system_docker);
    sysdocker::add_proxy_environment(&mut spec, &loaded.config.rancher.network);
    // After PID 1 restarted sysinit, System Docker and the services are still running.
    let served = match sysdocker::supervisor::running_dockerd(&spec) {
        Some(_) => crate::bundled_images::keep_serving(&mut spec),
        None => crate::bundled_images::serve(&mut spec),
    };
    tl.step("images-served");
    let options = SupervisorOptions {
        log_file: Some(SYSTEM_DOCKER_LOG.into()),
        ..SupervisorOptions::default()
    };
    tl.step("system-docker-start");
    let exec_root = spec
        .exec_root
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("/var/run/system-docker"));
    let supervisor = Supervisor::adopt_or_start(spec, options)
        .await
        .map_err(SysinitError::SystemDocker)?;
    tl.step("system-docker-ready");
    timeline::save(&tl, &tl_path);
    tracing::info!(pid = supervisor.pid(), "System Docker is up");

    let project = Project::from_value(&loaded.value, Path::new("/"));
    for w in &project.warnings {
        tracing::warn!("services: {w}");
    }
    let mut options = EngineOptions {
        system_host: supervisor.spec().host(),
        ..EngineOptions::default()
    };
    // A system image that could not be served is never pulled from a registry instead.
    options.images.unavailable = served
        .damaged
        .iter()
        .map(|d| (d.tag.clone(), d.reason.clone()))
        .collect();
    let engine = sysdocker::admin::engine_for_root(Path::new("/"), options);
    // The system preload directory loads before the services, so they may use its images.
    if let Ok(client) = engine.client(Scope::System).await {
        sysdocker::preload::load_and_log(client, Path::new("/"), Scope::System).await;
    }
    let report = engine
        .up(&project, Scope::System)
        .await
        .map_err(SysinitError::Schedule)?;
    log_report(&report);
    restart_after_cloud_init(&engine, &project, &loaded.config.rancher.restart_services).await;
    if !report.services.is_empty() && report.failures().count() == report.services.len() {
        return Err(SysinitError::NothingStarted);
    }
    keep_a_console(&engine, &project, &report, &served.damaged).await;
    if let Ok(client) = engine.client(Scope::System).await {
        let client = client.clone();
        let stale = served.stale.clone();
        tokio::spawn(async move { crate::bundled_images::prune(&client, stale).await });
    }
    if let Ok(client) = engine.client(Scope::System).await {
        record_service_times(&mut tl, client, &report).await;
    }
    timeline::save(&tl, &tl_path);

    if announce_ready(&engine, &mut tl, loaded.config.rancher.preload_wait).await {
        bring_up_user_services(&engine, &project).await;
    }
    timeline::save(&tl, &tl_path);

    let keeper = match engine.client(Scope::System).await {
        Ok(c) => Some(tokio::spawn(crate::service_keeper::run(
            c.docker.clone(),
            crate::service_keeper::kept_services(&project),
        ))),
        Err(_) => None,
    };
    watch_until_shutdown(&mut term, &engine, &project, &supervisor, &exec_root).await;
    // The ordered shutdown stops services on purpose; nothing may start them again.
    if let Some(k) = keeper {
        k.abort();
    }
    shutdown(
        &engine,
        &project,
        supervisor,
        crate::power::shutdown_timeout(),
    )
    .await;
    Ok(())
}

/// `rancher.restart_services`: restarted once the boot's services (cloud-init among them) are up.
async fn restart_after_cloud_init(engine: &Engine, project: &Project, names: &[String]) {
    for (name, result) in engine
        .restart_listed(project, names, Duration::from_secs(10))
        .await
    {
        match result {
            Ok(()) => {
                tracing::info!(service = %name, "restarted after cloud-init (rancher.restart_services)")
            }
            Err(e) => {
                tracing::error!(service = %name, error = %e, "rancher.restart_services: not restarted")
            }
        }
    }
}

fn log_report(report: &UpReport) {
    for r in &report.services {
        match &r.result {
            Ok(done) => tracing::info!(service = %r.name, result = ?done.action, "service up"),
            Err(e) => tracing::error!(service = %r.name, error = %e, "service failed"),
        }
    }
}

/// A console that could not start must not leave the machine without one: a console other than
/// the default gives way to the default console (sysdocker `console_service`); when that is
/// not possible, the recovery shell takes the console, saying why (a damaged image is named).
async fn keep_a_console(
    engine: &Engine,
    project: &Project,
    report: &UpReport,
    damaged_images: &[sysdocker::bundled_store::Damaged],
) {
    let Some(failure) = report
        .services
        .iter()
        .find(|r| r.name == sysdocker::consoles::CONSOLE_SERVICE)
        .and_then(|r| r.result.as_ref().err())
    else {
        return;
    };
    let list = sysdocker::consoles::ConsoleList::read(Path::new("/"));
    let fallback = match &list {
        Ok(list) => sysdocker::console_service::fall_back_to_default(engine, project, list)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut reason = format!("the console service could not start: {failure}");
    match fallback {
        Ok(default) => {
            tracing::error!(
                key = "rancher.console",
                error = %failure,
                console = %default.name,
                "the configured console could not start; the default console runs instead"
            );
            return;
        }
        Err(why) => reason.push_str(&format!("; no fallback: {why}")),
    }
    if !damaged_images.is_empty() {
        reason.push_str(&format!(
            " (damaged system images: {})",
            damaged_images
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    tracing::error!(reason, "opening the recovery console");
    crate::recovery::console_fallback(reason);
}

/// Docker's wall-clock timestamps as seconds since boot, for the timeline.
async fn record_service_times(tl: &mut Timeline, client: &DaemonClient, report: &UpReport) {
    let wall_now = std::time::SystemTime::now();
    let boot_now = timeline::now();
    let since_boot = |rfc3339: Option<String>| -> Option<f64> {
        let t = humantime::parse_rfc3339_weak(rfc3339.as_deref()?).ok()?;
        let age = wall_now.duration_since(t).ok()?.as_secs_f64();
        let v = boot_now - age;
        (v > 0.0).then_some(v)
    };
    for r in &report.services {
        let name = format!("service:{}", r.name);
        let Ok(info) = client.docker.inspect_container(&r.name, None).await else {
            tl.record(&name, "failed", None);
            continue;
        };
        let state = info.state.unwrap_or_default();
        let mut push = |kind: &str, t: Option<f64>| {
            if let Some(t) = t {
                tl.events.push(timeline::Event {
                    name: name.clone(),
                    kind: kind.into(),
                    t,
                    detail: None,
                });
            }
        };
        push("created", since_boot(info.created));
        push("started", since_boot(state.started_at));
        if !state.running.unwrap_or(false) {
            push("exited", since_boot(state.finished_at));
        }
    }
    tl.events.sort_by(|a, b| a.t.total_cmp(&b.t));
}

/// How often the services are brought up after System Docker restarted, and the wait between.
const RESTORE_TRIES: u32 = 6;
const RESTORE_RETRY: Duration = Duration::from_secs(5);

/// Restores the services whenever the supervisor had to restart System Docker, until SIGTERM.
async fn watch_until_shutdown(
    term: &mut tokio::signal::unix::Signal,
    engine: &Engine,
    project: &Project,
    supervisor: &Supervisor,
    exec_root: &Path,
) {
    let mut seen = supervisor.restarts();
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let now = supervisor.restarts();
        if now == seen {
            continue;
        }
        seen = now;
        tracing::warn!(
            restarts = now,
            "System Docker was restarted; restoring the services"
        );
        if let Err(e) = supervisor.wait_ready(Duration::from_secs(60)).await {
            tracing::error!(error = %e, "System Docker does not answer after its restart");
            continue;
        }
        for attempt in 1..=RESTORE_TRIES {
            let failed: Vec<String> = match engine.up(project, Scope::System).await {
                Ok(report) => {
                    log_report(&report);
                    if report.is_ok() {
                        break;
                    }
                    report.failures().map(|r| r.name.clone()).collect()
                }
                Err(e) => {
                    tracing::error!(error = %e, "restoring the services failed");
                    Vec::new()
                }
            };
            if attempt == RESTORE_TRIES {
                break;
            }
            clear_leftovers(engine, project, &failed, exec_root).await;
            tracing::warn!(attempt, "restoring the services again in 5 s");
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::time::sleep(RESTORE_RETRY) => {}
            }
        }
    }
}

/// A system service the restarted System Docker failed to start may still have the old
/// daemon's shim and processes (see orphan_shim): they go, with its cgroup, before the next try.
async fn clear_leftovers(engine: &Engine, project: &Project, failed: &[String], exec_root: &Path) {
    let Ok(client) = engine.client(Scope::System).await else {
        return;
    };
    // dockerd starts its containerd there; the shims are told this address.
    let address = exec_root.join("containerd/containerd.sock");
    let address = address.to_string_lossy();
    for service in project
        .services
        .values()
        .filter(|s| s.scope == Scope::System && failed.contains(&s.name))
    {
        let name = service.container_name();
        let Ok(info) = client.docker.inspect_container(name, None).await else {
            continue;
        };
        if info.state.and_then(|s| s.running).unwrap_or(false) || service.create_only {
            continue;
        }
        let Some(id) = info.id else { continue };
        let killed = crate::orphan_shim::kill_shims(Path::new("/proc"), &address, &id);
        let parent = info.host_config.and_then(|h| h.cgroup_parent);
        if let Some(dir) = crate::stale_cgroup::dir_of(
            Path::new(crate::stale_cgroup::CGROUP_ROOT),
            parent.as_deref(),
            &id,
        ) {
            if let Err(e) = crate::stale_cgroup::clear(&dir).await {
                tracing::warn!(service = name, error = %e, "cannot clear the service's cgroup");
            }
        }
        if killed > 0 {
            tracing::warn!(
                service = name,
                killed,
                "the old System Docker's shim of the service killed"
            );
        }
    }
}

/// Services without `io.rancher.os.scope: system` run on User Docker once it answers.
async fn bring_up_user_services(engine: &Engine, project: &Project) {
    if !project.services.values().any(|s| s.scope == Scope::User) {
        return;
    }
    match engine.up(project, Scope::User).await {
        Ok(report) => log_report(&report),
        Err(e) => tracing::error!(error = %e, "user services cannot be scheduled"),
    }
}

/// Waits (bounded) for User Docker, then prints the ready line and writes /etc/issue.
/// Waits for User Docker, loads its preload directory (before the ready line only with
/// `rancher.preload_wait`, as in RancherOS v1; else in the background), then says ready.
async fn announce_ready(engine: &Engine, tl: &mut Timeline, preload_wait: bool) -> bool {
    let user = match engine.client(Scope::User).await {
        Ok(c) => c.clone(),
        Err(_) => {
            match sysdocker::client::connect(&Scope::User.host_from_env(), USER_DOCKER_WAIT).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "User Docker did not answer; the system is up without it");
                    return false;
                }
            }
        }
    };
    let preload = async move {
        sysdocker::preload::load_and_log(&user, Path::new("/"), Scope::User).await;
    };
    if preload_wait {
        preload.await;
    } else {
        tokio::spawn(preload);
    }
    tl.step("ready");
    let t = timeline::now();
    eprintln!("ros: ready in {t:.1} s");
    crate::boot_slot::on_ready();
    crate::issue::write(Path::new("/etc/issue"));
    true
}

/// User containers first, then system services in reverse dependency order with the console
/// last, each bounded by `timeout`; then System Docker itself.
async fn shutdown(engine: &Engine, project: &Project, supervisor: Supervisor, timeout: Duration) {
    tracing::info!(
        timeout_s = timeout.as_secs(),
        "shutdown: stopping user containers"
    );
    if let Ok(user) =
        sysdocker::client::connect(&Scope::User.host_from_env(), Duration::from_secs(2)).await
    {
        stop_all_containers(&user, timeout).await;
    }
    let mut order: Vec<String> = project
        .select(Some(Scope::System), &[])
        .and_then(|services| Project::graph(&services))
        .map(|g| g.order().iter().rev().cloned().collect())
        .unwrap_or_else(|_| project.services.keys().rev().cloned().collect());
    // The console goes last, so an operator sees the shutdown to its end.
    if let Some(i) = order.iter().position(|n| n == "console") {
        let console = order.remove(i);
        order.push(console);
    }
    for name in order {
        tracing::info!(service = %name, "shutdown: stopping");
        if let Err(e) = engine
            .stop(project, std::slice::from_ref(&name), timeout)
            .await
        {
            tracing::warn!(service = %name, error = %e, "shutdown: stop failed");
        }
    }
    tracing::info!("shutdown: stopping System Docker");
    supervisor.stop().await;
}

/// Stops every running container of a daemon at once, each with `timeout` before SIGKILL.
async fn stop_all_containers(client: &DaemonClient, timeout: Duration) {
    use bollard::query_parameters::{ListContainersOptions, StopContainerOptionsBuilder};
    let Ok(list) = client
        .docker
        .list_containers(None::<ListContainersOptions>)
        .await
    else {
        return;
    };
    let mut tasks = Vec::new();
    for c in list {
        let Some(id) = c.id else { continue };
        let docker = client.docker.clone();
        let opts = StopContainerOptionsBuilder::default()
            .t(i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX))
            .build();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = docker.stop_container(&id, Some(opts)).await {
                tracing::warn!(container = %id, error = %e, "shutdown: user container stop failed");
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
