//! `write_files` with `container:` against a real dockerd: the engine puts the files into the
//! container after creating it and before its first start, with their modes and owners.

use std::sync::{Arc, Mutex};

use os_config::model::{Encoding, WriteFile};
use sysdocker::container_files::{download, for_container, Existing};
use sysdocker::testing::{self, ensure_busybox, project_from_yaml, shared, unique_prefix, BUSYBOX};
use sysdocker::{Action, ContainerFiles, Engine, Scope};

fn file(container: &str, path: &str, content: &str) -> WriteFile {
    WriteFile {
        path: path.into(),
        content: content.into(),
        container: Some(container.into()),
        ..WriteFile::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_in_place_before_the_first_start_with_mode_owner_and_append() {
    let d = shared(Scope::System);
    let client = d.client().await.unwrap();
    ensure_busybox(&client).await.unwrap();
    let p = unique_prefix("files");
    let svc = format!("{p}-svc");
    let other = format!("{p}-other");

    let mut conf = file(&svc, "/etc/app/app.conf", "hello\n");
    conf.permissions = Some("0640".into());
    conf.owner = Some("1234:5678".into());
    let mut passwd = file(&svc, "/etc/passwd", "app:x:1500:1600::/:/bin/sh\n");
    passwd.append = true;
    let mut motd = file(&svc, "/etc/motd", "H4sIAAAAAAAAA8vI5AIAenpv7QMAAAA=");
    motd.encoding = Some(Encoding::GzipBase64);
    motd.owner = Some("root".into());
    let mut broken = file(&svc, "/etc/broken", "!!not base64");
    broken.encoding = Some(Encoding::Base64);
    let elsewhere = file(&other, "/etc/elsewhere", "x");
    let files = Arc::new(Mutex::new(vec![conf, passwd, motd, broken, elsewhere]));
    let source = {
        let files = files.clone();
        ContainerFiles::new(move |name| for_container(&files.lock().unwrap(), name))
    };
    let engine = Engine::new(testing::engine_options(d, None)).with_container_files(source);

    // A one-shot that fails unless every file is there when it first starts.
    let check = "test \"$(cat /etc/app/app.conf)\" = hello \
                 && test \"$(stat -c '%a %u %g' /etc/app/app.conf)\" = '640 1234 5678' \
                 && grep -q '^root:' /etc/passwd && grep -q '^app:x:1500' /etc/passwd \
                 && test \"$(cat /etc/motd)\" = hi && test ! -e /etc/broken";
    let yaml = format!(
        "rancher:\n  services:\n    {svc}:\n      image: {BUSYBOX}\n      command: [sh, -c, \"{}\"]\n      labels: {{io.rancher.os.scope: system, io.rancher.os.detach: 'false'}}\n    {other}:\n      image: {BUSYBOX}\n      command: [sh, -c, 'test -f /etc/elsewhere && ! test -e /etc/app']\n      labels: {{io.rancher.os.scope: system, io.rancher.os.detach: 'false'}}\n",
        check.replace('"', "\\\"")
    );
    let root = tempfile::tempdir().unwrap();
    let project = project_from_yaml(&yaml, root.path());
    let report = engine.up(&project, Scope::System).await.unwrap();
    assert!(report.is_ok(), "{report:#?}");

    let id = |r: &sysdocker::UpReport, n: &str| {
        r.get(n)
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .container_id
            .clone()
    };
    let first_id = id(&report, &svc);
    let passwd_file = download(&client, &first_id, "/etc/passwd")
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&passwd_file.content).into_owned();
    assert_eq!(
        text,
        "root:x:0:0:root:/:/bin/sh\napp:x:1500:1600::/:/bin/sh\n"
    );
    let motd_file = download(&client, &first_id, "/etc/motd")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        motd_file,
        Existing {
            content: b"hi\n".to_vec(),
            mode: 0o644,
            uid: 0,
            gid: 0
        }
    );

    // Unchanged files: the stopped one-shot is started again as it is; nothing is appended
    // twice.
    let again = engine.up(&project, Scope::System).await.unwrap();
    assert_eq!(
        again.get(&svc).unwrap().result.as_ref().unwrap().action,
        Action::Started
    );
    assert_eq!(id(&again, &svc), first_id);
    let passwd_again = download(&client, &first_id, "/etc/passwd")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(passwd_again.content, passwd_file.content);

    // Changed files: the container is recreated and the new one gets them.
    files.lock().unwrap()[0].content = "hello again\n".into();
    let changed = engine.up(&project, Scope::System).await.unwrap();
    let r = changed.get(&svc).unwrap();
    // The check now fails on the content, which shows the new file was there at start.
    assert!(r.result.is_err(), "{r:?}");
    let recreated = client.docker.inspect_container(&svc, None).await.unwrap();
    let new_id = recreated.id.unwrap();
    assert_ne!(new_id, first_id);
    let conf = download(&client, &new_id, "/etc/app/app.conf")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conf.content, b"hello again\n");
    assert_eq!((conf.mode, conf.uid, conf.gid), (0o640, 1234, 5678));
    // The other service's files did not change, so neither did it.
    assert_eq!(
        changed.get(&other).unwrap().result.as_ref().unwrap().action,
        Action::Started
    );

    engine.rm(&project, &[]).await.unwrap();
}
