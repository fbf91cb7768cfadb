//! `ros service` and `system-docker`, run as the real binary against a private dockerd.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use sysdocker::testing::{ensure_busybox, shared, unique_prefix, TestDaemon, BUSYBOX};
use sysdocker::Scope;

fn daemon() -> &'static TestDaemon {
    let d = shared(Scope::System);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { ensure_busybox(&d.client().await.unwrap()).await.unwrap() });
    d
}

fn ros(d: &TestDaemon, root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ros"))
        .arg("service")
        .arg("--root")
        .arg(root)
        .args(args)
        .env("ROS_SYSTEM_DOCKER_HOST", d.host())
        .env("ROS_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("ROS_NO_PULL", "true")
        .env("ROS_IMAGES_DIR", root.join("images"))
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state(d: &TestDaemon, name: &str) -> String {
    let out = d
        .docker_cli(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            name,
        ])
        .unwrap();
    if !out.status.success() {
        return "absent".into();
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn cloud_config(root: &Path) -> std::path::PathBuf {
    root.join("var/lib/rancher/conf/cloud-config.yml")
}

#[test]
fn lifecycle_commands() {
    let d = daemon();
    let p = unique_prefix("cli");
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let a = format!("{p}-a");
    write(
        &cloud_config(r),
        &format!(
            "rancher:\n  services:\n    {a}:\n      image: {BUSYBOX}\n      command: [sh, -c, 'echo one; echo two; exec sleep 600']\n      stop_signal: SIGKILL\n      labels: {{io.rancher.os.scope: system}}\n"
        ),
    );
    assert_eq!(
        ok(&ros(d, r, &["list"])),
        format!("enabled  {a:<24} missing\n")
    );
    assert_eq!(ok(&ros(d, r, &["up"])), format!("{a}: created\n"));
    assert_eq!(ok(&ros(d, r, &["up", &a])), format!("{a}: up to date\n"));
    assert_eq!(state(d, &a), "running 0");
    assert_eq!(
        ok(&ros(d, r, &["list"])),
        format!("enabled  {a:<24} running\n")
    );
    let ps = ok(&ros(d, r, &["ps"]));
    let line = ps.lines().find(|l| l.starts_with(&a)).unwrap();
    assert!(
        line.contains(" system ") && line.contains(" running ") && line.ends_with(BUSYBOX),
        "{ps}"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = ok(&ros(d, r, &["logs", &a, "--tail", "1"]));
        if logs == "two\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "logs: {logs:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(ok(&ros(d, r, &["logs", &a])), "one\ntwo\n");

    ok(&ros(d, r, &["stop", "-t", "1", &a]));
    assert_eq!(state(d, &a), "exited 137");
    ok(&ros(d, r, &["start", &a]));
    assert_eq!(state(d, &a), "running 0");
    ok(&ros(d, r, &["restart", "-t", "1", &a]));
    assert_eq!(state(d, &a), "running 0");
    ok(&ros(d, r, &["kill", &a]));
    assert_eq!(state(d, &a), "exited 137");
    ok(&ros(d, r, &["rm", &a]));
    assert_eq!(state(d, &a), "absent");

    let bad = ros(d, r, &["stop", &format!("{p}-nope")]);
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        format!("ros: unknown service {p}-nope\n")
    );
}

#[test]
fn enable_disable_delete_by_name_path_and_url() {
    let d = daemon();
    let p = unique_prefix("opt");
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let svc = |n: &str| {
        format!("{n}:\n  image: {BUSYBOX}\n  command: sleep 600\n  stop_signal: SIGKILL\n  labels: {{io.rancher.os.scope: system}}\n")
    };
    let local = format!("{p}-local");
    write(
        &r.join("var/lib/rancher/conf/services")
            .join(format!("{local}.yml")),
        &svc(&local),
    );
    let bundled = format!("{p}-bundled");
    write(
        &r.join("usr/share/ros/services")
            .join(format!("{bundled}.yml")),
        &svc(&bundled),
    );

    assert_eq!(
        ok(&ros(d, r, &["list"])),
        format!("disabled {bundled:<24} \ndisabled {local:<24} \n")
    );
    assert_eq!(
        ok(&ros(d, r, &["enable", &local])),
        format!("enabled {local}\n")
    );
    let mode = std::fs::metadata(cloud_config(r))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let cfg = std::fs::read_to_string(cloud_config(r)).unwrap();
    assert!(
        cfg.contains(&format!("services_include:\n    {local}: true")),
        "{cfg}"
    );
    assert_eq!(
        ok(&ros(d, r, &["up", &local])),
        format!("{local}: created\n")
    );
    assert_eq!(state(d, &local), "running 0");
    assert!(ok(&ros(d, r, &["list"])).contains(&format!("enabled  {local:<24} running\n")));

    ok(&ros(d, r, &["disable", &local]));
    assert!(std::fs::read_to_string(cloud_config(r))
        .unwrap()
        .contains(&format!("{local}: false")));
    assert!(ok(&ros(d, r, &["list"])).contains(&format!("disabled {local:<24} \n")));
    ok(&ros(d, r, &["delete", &local]));
    assert!(!std::fs::read_to_string(cloud_config(r))
        .unwrap()
        .contains(&local));

    // A path.
    let file = r.join("elsewhere/mine.yml");
    let path_svc = format!("{p}-path");
    write(
        &file,
        &format!(
            "services:\n{}",
            svc(&path_svc)
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        ),
    );
    let abs = format!("/{}", file.strip_prefix(r).unwrap().display());
    ok(&ros(d, r, &["enable", &abs]));
    assert_eq!(
        ok(&ros(d, r, &["up", &path_svc])),
        format!("{path_svc}: created\n")
    );

    // A URL, fetched once from a server on loopback.
    let url_svc = format!("{p}-url");
    let body = svc(&url_svc);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).unwrap();
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        )
        .unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/svc.yml");
    ok(&ros(d, r, &["enable", &url]));
    server.join().unwrap();
    ok(&ros(d, r, &["enable", &url]));
    assert_eq!(
        ok(&ros(d, r, &["up", &url_svc])),
        format!("{url_svc}: created\n")
    );

    let missing = ros(d, r, &["enable", &format!("{p}-nothing")]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        format!(
            "ros: {p}-nothing: no service definition found (looked at {}, {})\n",
            r.join(format!("usr/share/ros/services/{p}-nothing.yml"))
                .display(),
            r.join(format!("var/lib/rancher/conf/services/{p}-nothing.yml"))
                .display()
        )
    );
    ok(&ros(d, r, &["rm", &path_svc, &url_svc, &local]));
}

#[test]
fn bad_input_is_reported_and_the_rest_comes_up() {
    let d = daemon();
    let p = unique_prefix("clibad");
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let good = format!("{p}-good");
    let broken = r.join("var/lib/rancher/conf/services/broken.yml");
    write(&broken, "x:\n  image: [oops\n");
    write(
        &cloud_config(r),
        &format!(
            "rancher:\n  services_include: {{broken: true}}\n  services:\n    {good}: {{image: {BUSYBOX}, command: sleep 600, stop_signal: SIGKILL, labels: {{io.rancher.os.scope: system}}}}\n    {p}-noimg: {{image: 'ros-test/missing:1', labels: {{io.rancher.os.scope: system}}}}\n"
        ),
    );
    let out = ros(d, r, &["up"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("warning: {}:3:1: ", broken.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("error: service {p}-noimg: image ros-test/missing:1 is missing and no bundled archive has it (pulling is off)\n")),
        "{stderr}"
    );
    assert!(stderr.ends_with("ros: 1 service(s) failed\n"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{good}: created\n")
    );
    assert_eq!(state(d, &good), "running 0");
    ok(&ros(d, r, &["rm", &good]));
}

#[test]
fn system_docker_runs_the_docker_cli_on_the_system_socket() {
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("system-docker");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ros"), &link).unwrap();
    let out = Command::new(&link)
        .args([
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            BUSYBOX,
        ])
        .env("ROS_SYSTEM_DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert_eq!(ok(&out), format!("{BUSYBOX}\n"));
}

/// Serves `files` (path → body) on loopback to every request, 404 for anything else.
fn serve_files(files: Vec<(String, String)>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            let reply = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = s.write_all(reply.as_bytes());
        }
    });
    port
}

/// `rancher.repositories` (issue 17): an index on a loopback server lists its services in
/// `ros service list`; `enable NAME` takes the repository's definition, which then runs.
#[test]
fn repository_services_are_listed_enabled_and_run() {
    let d = daemon();
    let p = unique_prefix("repo");
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let name = format!("{p}-svc");
    let port = serve_files(vec![
        (
            "/repo/index.yml".into(),
            format!("services:\n  - {name}\n  - {{name: {p}-other}}\n"),
        ),
        (
            format!("/repo/{name}.yml"),
            format!("{name}:\n  image: {BUSYBOX}\n  command: sleep 600\n  stop_signal: SIGKILL\n  labels: {{io.rancher.os.scope: system}}\n"),
        ),
    ]);
    write(
        &cloud_config(r),
        &format!(
            "rancher:\n  repositories:\n    test: {{url: 'http://127.0.0.1:{port}/repo'}}\n    gone: {{url: 'http://127.0.0.1:9/x'}}\n"
        ),
    );
    let out = ros(d, r, &["list"]);
    let listed = ok(&out);
    assert!(
        listed.contains(&format!("disabled {name:<24} (repository test)")),
        "{listed}"
    );
    assert!(listed.contains(&format!("{p}-other")), "{listed}");
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(warned.contains("rancher.repositories.gone:"), "{warned}");

    let url = format!("http://127.0.0.1:{port}/repo/{name}.yml");
    assert_eq!(
        ok(&ros(d, r, &["enable", &name])),
        format!("enabled {url}\n")
    );
    assert_eq!(ok(&ros(d, r, &["up", &name])), format!("{name}: created\n"));
    assert!(
        state(d, &name).starts_with("running"),
        "{}",
        state(d, &name)
    );
    ok(&ros(d, r, &["rm", &name]));
}
