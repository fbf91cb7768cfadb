//! User-data decoding end to end: fetched through `file:` and `url:`, decoded (gzip, MIME
//! multipart, compose), saved, and loaded back as configuration; bad input names the source
//! and line.

mod common;

use cloud_init::save;
use cloud_init::user_data::UserData;
use cloud_init::{probe_all, Fetched};
use common::{names, options, HttpServer, Reply};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Probes `file:PATH` after writing `bytes` there.
fn from_file(dir: &Path, bytes: &[u8]) -> (Fetched, String) {
    let path = dir.join("user-data");
    std::fs::write(&path, bytes).unwrap();
    let report = probe_all(
        &names(&[&format!("file:{}", path.display())]),
        &options("http://unused"),
    );
    (
        report.into_fetched().expect("the file is read"),
        path.display().to_string(),
    )
}

const MIME: &str = "Content-Type: multipart/mixed; boundary=\"===ros===\"\r
MIME-Version: 1.0\r
\r
This preamble is ignored.\r
--===ros===\r
Content-Type: text/cloud-config; charset=\"utf-8\"\r
Content-Transfer-Encoding: base64\r
Content-Disposition: attachment; filename=\"base.yml\"\r
\r
I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogZmlyc3QKcmFuY2hlcjoKICBkZWJ1ZzogdHJ1ZQogIHN5\r
c2N0bDoKICAgIHZtLnN3YXBwaW5lc3M6IDEwCg==\r
--===ros===\r
Content-Type: text/x-shellscript; charset=\"utf-8\"\r
Content-Transfer-Encoding: quoted-printable\r
Content-Disposition: attachment; filename=\"setup.sh\"\r
\r
#!/bin/sh\r
echo \"long line that is wrapped by quoted-printable so it fits in seventy-six=\r
 characters\" > /tmp/x=3D1\r
--===ros===\r
Content-Type: text/cloud-config\r
Content-Disposition: attachment; filename=\"override.yml\"\r
\r
#cloud-config\r
hostname: second\r
rancher:\r
  sysctl:\r
    net.ipv4.ip_forward: 1\r
--===ros===\r
Content-Type: text/x-shellscript\r
\r
#!/bin/sh\r
echo two\r
--===ros===--\r
";

#[test]
fn gzip_user_data() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _) = from_file(dir.path(), &gzip(b"#cloud-config\nhostname: gzipped\n"));
    assert_eq!(f.diagnostics, vec![]);
    assert!(
        matches!(&f.user_data[..], [p] if matches!(&p.data, UserData::CloudConfig(v)
        if v["hostname"] == yaml_serde::Value::String("gzipped".into())))
    );
    // The raw bytes stay as fetched.
    assert_eq!(f.raw_user_data.as_ref().unwrap()[..2], [0x1f, 0x8b]);

    // Gzip over HTTP, and a gzipped MIME document.
    let body = gzip(MIME.as_bytes());
    let server = HttpServer::start(move |_| Reply::ok(body.clone()));
    let report = probe_all(
        &names(&[&format!("url:{}/ud", server.url())]),
        &options("http://unused"),
    );
    let f = report.into_fetched().unwrap();
    assert_eq!(f.user_data.len(), 4, "{:?}", f.diagnostics);
}

#[test]
fn mime_two_cloud_configs_merge_in_order_and_every_script_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _) = from_file(dir.path(), MIME.as_bytes());
    assert_eq!(f.diagnostics, vec![]);
    let kinds: Vec<(&str, bool)> = f
        .user_data
        .iter()
        .map(|p| (p.name.as_str(), matches!(p.data, UserData::Script(_))))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("base.yml", false),
            ("setup.sh", true),
            ("override.yml", false),
            ("part-4", true)
        ]
    );
    assert_eq!(
        f.user_data[1].data,
        UserData::Script(
            "#!/bin/sh\necho \"long line that is wrapped by quoted-printable so it fits in seventy-six characters\" > /tmp/x=1"
                .into()
        )
    );

    let root = tempfile::tempdir().unwrap();
    let saved = cloud_init::save_fetched(root.path(), &f);
    assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
    let cfg = os_config::load(root.path());
    // The second cloud-config wins where both set a key; maps merge.
    assert_eq!(cfg.config.hostname.as_deref(), Some("second"));
    assert!(cfg.config.rancher.debug);
    let sysctl = yaml_serde::to_value(&cfg.config.rancher.sysctl).unwrap();
    assert_eq!(
        sysctl,
        yaml_serde::from_str::<yaml_serde::Value>(
            "{vm.swappiness: \"10\", net.ipv4.ip_forward: \"1\"}"
        )
        .unwrap()
    );
    let scripts = save::scripts_dir(root.path());
    let mut listed: Vec<String> = std::fs::read_dir(&scripts)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["00-setup.sh", "01-part-4"]);
    let mode = std::fs::metadata(scripts.join("01-part-4"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // The line break before a boundary belongs to the boundary (RFC 2046).
    assert_eq!(
        std::fs::read_to_string(scripts.join("01-part-4")).unwrap(),
        "#!/bin/sh\necho two"
    );
}

#[test]
fn compose_user_data_becomes_rancher_services() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _) = from_file(
        dir.path(),
        b"#compose\nversion: '2'\nservices:\n  web:\n    image: nginx:1\n    restart: always\n    labels:\n      io.rancher.os.scope: system\n",
    );
    assert_eq!(f.diagnostics, vec![]);
    assert!(matches!(f.user_data[0].data, UserData::Compose(_)));
    let root = tempfile::tempdir().unwrap();
    let saved = cloud_init::save_fetched(root.path(), &f);
    assert!(saved.diagnostics.is_empty(), "{:?}", saved.diagnostics);
    let cfg = os_config::load(root.path());
    let web = &cfg.config.rancher.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:1"));

    // As a MIME part, by its Content-Type.
    let mime = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-compose\n\nweb2:\n  image: busybox\n--b--\n";
    let (f, _) = from_file(dir.path(), mime.as_bytes());
    assert!(matches!(&f.user_data[0].data, UserData::Compose(v) if v.get("web2").is_some()));
}

#[test]
fn malformed_yaml_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (f, path) = from_file(
        dir.path(),
        b"#cloud-config\nhostname: ok\nrancher:\n  debug: [true\n",
    );
    assert!(f.user_data.is_empty());
    assert_eq!(f.diagnostics.len(), 1);
    let msg = f.diagnostics[0].to_string();
    assert!(msg.starts_with(&format!("{path}:5:")), "{msg}");
    assert!(msg.contains("error: invalid YAML"), "{msg}");

    // In a MIME part: the part is named, and the line is the part's own.
    let mime = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/cloud-config\n\n#cloud-config\nhostname: fine\n--b\nContent-Type: text/cloud-config\nContent-Disposition: attachment; filename=\"bad.yml\"\n\n#cloud-config\nrancher:\n  debug: true\n   bad: indent\n--b--\n";
    let (f, path) = from_file(dir.path(), mime.as_bytes());
    assert_eq!(f.user_data.len(), 1, "the good part stays");
    let msg = f.diagnostics[0].to_string();
    assert!(
        msg.starts_with(&format!("{path} [MIME part 2: bad.yml]:4:")),
        "{msg}"
    );

    // Saving reports the bad part and keeps the last good save whole: a good part alone would
    // replace it with part of what was meant. Nothing panics.
    let root = tempfile::tempdir().unwrap();
    let (good, _) = from_file(dir.path(), b"#cloud-config\nhostname: last-good\n");
    assert!(cloud_init::save_fetched(root.path(), &good)
        .diagnostics
        .is_empty());
    let saved = cloud_init::save_fetched(root.path(), &f);
    assert_eq!(saved.diagnostics.len(), 1);
    assert!(saved.removed.is_empty(), "{:?}", saved.removed);
    assert_eq!(
        os_config::load(root.path()).config.hostname.as_deref(),
        Some("last-good")
    );
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<Vec<u8>> = vec![
        vec![0x1f, 0x8b],
        gzip(&[0xff; 64]),
        b"Content-Type: multipart/mixed; boundary=\n\n--\n--\n".to_vec(),
        b"Content-Type: multipart/mixed\n\n".to_vec(),
        b"MIME-Version: 1.0\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n!!!notbase64\n".to_vec(),
        b"#cloud-config\n- a list\n".to_vec(),
        b"#compose\n[1, 2]\n".to_vec(),
        b"#include http://x/\n".to_vec(),
    ];
    for input in inputs {
        let (f, path) = from_file(dir.path(), &input);
        for d in &f.diagnostics {
            assert!(d.to_string().starts_with(&path), "{d}");
        }
        assert!(
            !f.diagnostics.is_empty() || !f.user_data.is_empty(),
            "{input:?} gave nothing and said nothing"
        );
    }
}

#[test]
fn a_part_with_bad_base64_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mime = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n!!!notbase64\n--b\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\nIyEvYmluL3NoCmVjaG8gaGkK\n--b--\n";
    let (f, path) = from_file(dir.path(), mime.as_bytes());
    assert_eq!(
        f.user_data
            .iter()
            .map(|p| p.data.clone())
            .collect::<Vec<_>>(),
        vec![UserData::Script("#!/bin/sh\necho hi\n".into())]
    );
    assert_eq!(
        f.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        vec![format!(
            "{path} [MIME part 1: part-1]: error: invalid Content-Transfer-Encoding (bad base64 or quoted-printable); part skipped"
        )]
    );
}

#[test]
fn a_file_larger_than_the_limit_is_refused() {
    let mut opts = options("http://unused");
    opts.max_bytes = 1024;
    let report = probe_all(&names(&["file:/dev/zero"]), &opts);
    assert_eq!(
        report.sources[0].to_string(),
        "file:/dev/zero: failed: /dev/zero: larger than 1024 bytes"
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let report = probe_all(&names(&[&format!("file:{}", missing.display())]), &opts);
    assert!(matches!(
        &report.sources[0].outcome,
        cloud_init::Outcome::NotPresent(why) if why.ends_with("nope: no such file")
    ));
}
