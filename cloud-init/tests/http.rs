//! The network datasources against HTTP servers on 127.0.0.1: EC2 (IMDSv2 and the IMDSv1
//! fallback), GCE, DigitalOcean, OpenStack, `url:` and `cmdline`, and the configured-order rule.

mod common;

use cloud_init::user_data::UserData;
use cloud_init::{probe_all, Outcome, ProbeError};
use common::{names, options, HttpServer, Reply, Request};
use std::io::{Read, Write};
use std::time::Duration;

const TOKEN: &str = "AQAEAtest-token==";

fn ec2_routes(req: &Request, require_token: bool) -> Reply {
    if req.method == "PUT" {
        return Reply::status(405, "");
    }
    if require_token && req.header("x-aws-ec2-metadata-token") != Some(TOKEN) {
        return Reply::status(401, "");
    }
    match req.path.as_str() {
        "/latest/meta-data/instance-id" => Reply::ok("i-0123456789"),
        "/latest/user-data" => Reply::ok("#cloud-config\nrancher:\n  debug: true\n"),
        "/latest/meta-data/local-hostname" => Reply::ok("ip-10-0-0-7.ec2.internal"),
        "/latest/meta-data/public-keys/" => Reply::ok("0=alice\n1=bob"),
        "/latest/meta-data/public-keys/0/openssh-key" => Reply::ok("ssh-ed25519 AAAAalice alice\n"),
        "/latest/meta-data/public-keys/1/openssh-key" => Reply::ok("ssh-rsa AAAAbob bob"),
        _ => Reply::not_found(),
    }
}

fn found(report: &cloud_init::ProbeReport) -> &cloud_init::Fetched {
    match report.fetched() {
        Some(f) => f,
        None => panic!(
            "nothing found: {:?}",
            report
                .sources
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        ),
    }
}

#[test]
fn ec2_imdsv2_sends_the_token_on_every_get() {
    let server = HttpServer::start(|req| {
        if req.method == "PUT" && req.path == "/latest/api/token" {
            return match req.header("x-aws-ec2-metadata-token-ttl-seconds") {
                Some(_) => Reply::ok(TOKEN),
                None => Reply::status(400, "missing ttl"),
            };
        }
        ec2_routes(req, true)
    });
    let report = probe_all(&names(&["ec2"]), &options(&server.url()));
    let f = found(&report);
    assert_eq!(f.source, "ec2");
    assert_eq!(f.origin, format!("{}/latest/user-data", server.url()));
    assert_eq!(
        f.metadata.hostname.as_deref(),
        Some("ip-10-0-0-7.ec2.internal")
    );
    assert_eq!(
        f.metadata.ssh_keys,
        vec!["ssh-ed25519 AAAAalice alice", "ssh-rsa AAAAbob bob"]
    );
    assert!(matches!(&f.user_data[0].data, UserData::CloudConfig(v)
        if v["rancher"]["debug"] == yaml_serde::Value::Bool(true)));

    let reqs = server.requests();
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(
        reqs[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    let gets: Vec<&Request> = reqs.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(gets.len(), 6, "{gets:?}");
    for g in gets {
        assert_eq!(
            g.header("x-aws-ec2-metadata-token"),
            Some(TOKEN),
            "{}",
            g.path
        );
    }
}

#[test]
fn ec2_never_carries_the_token_through_a_redirect_to_another_host() {
    let other = HttpServer::start(|_| Reply::ok("#cloud-config\nhostname: stolen\n"));
    let elsewhere = format!("{}/user-data", other.url());
    let server = HttpServer::start(move |req| {
        if req.method == "PUT" {
            return Reply::ok(TOKEN);
        }
        if req.path == "/latest/user-data" {
            return Reply::status(302, "").with_header("Location", &elsewhere);
        }
        ec2_routes(req, true)
    });
    let report = probe_all(&names(&["ec2"]), &options(&server.url()));
    assert!(report.fetched().is_none());
    match &report.sources[0].outcome {
        Outcome::Failed(ProbeError::Transport { url, message }) => {
            assert_eq!(url, &format!("{}/latest/user-data", server.url()));
            assert!(
                message.contains("redirect to another host refused"),
                "{message}"
            );
        }
        o => panic!("{o:?}"),
    }
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[test]
fn ec2_falls_back_to_imdsv1_when_the_token_put_is_refused() {
    for refusal in ["405", "403", "404", "reset"] {
        let server = HttpServer::start(move |req| {
            if req.method == "PUT" {
                return match refusal {
                    "reset" => Reply::Reset,
                    s => Reply::status(s.parse().unwrap(), ""),
                };
            }
            ec2_routes(req, false)
        });
        let report = probe_all(&names(&["ec2"]), &options(&server.url()));
        let f = found(&report);
        assert_eq!(f.metadata.ssh_keys.len(), 2, "{refusal}");
        let reqs = server.requests();
        assert_eq!(reqs[0].method, "PUT", "{refusal}");
        assert!(
            reqs.iter()
                .filter(|r| r.method == "GET")
                .all(|r| r.header("x-aws-ec2-metadata-token").is_none()),
            "{refusal}"
        );
        assert_eq!(reqs.len(), 7, "{refusal}: {reqs:?}");
    }
}

#[test]
fn ec2_needs_an_instance_id() {
    // Some other service at the address: it answers, but not like EC2.
    let server = HttpServer::start(|_| Reply::not_found());
    let report = probe_all(&names(&["ec2"]), &options(&server.url()));
    assert!(report.fetched().is_none());
    assert_eq!(
        report.sources[0].to_string(),
        format!(
            "ec2: not present: {}/latest/meta-data/instance-id: no instance-id (not an EC2 metadata service)",
            server.url()
        )
    );
}

fn gce_server() -> HttpServer {
    HttpServer::start(|req| {
        // The real server refuses requests without the header.
        if req.header("metadata-flavor") != Some("Google") {
            return Reply::status(403, "Missing Metadata-Flavor:Google header.\n");
        }
        let reply = match req.path.as_str() {
            "/computeMetadata/v1/instance/id" => Reply::ok("4242"),
            "/computeMetadata/v1/instance/hostname" => Reply::ok("vm-1.c.proj.internal"),
            "/computeMetadata/v1/instance/attributes/user-data" => {
                Reply::ok("#!/bin/sh\necho gce\n")
            }
            "/computeMetadata/v1/instance/attributes/ssh-keys" => {
                Reply::ok("alice:ssh-ed25519 AAAAalice alice\n")
            }
            "/computeMetadata/v1/project/attributes/ssh-keys" => {
                Reply::ok("bob:ssh-rsa AAAAbob bob\nalice:ssh-ed25519 AAAAalice alice\n")
            }
            _ => Reply::not_found(),
        };
        reply.with_header("Metadata-Flavor", "Google")
    })
}

#[test]
fn gce_sends_metadata_flavor_and_reads_instance_and_project_keys() {
    let server = gce_server();
    // The server really refuses a request without the header.
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /computeMetadata/v1/instance/id HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    let report = probe_all(&names(&["gce"]), &options(&server.url()));
    let f = found(&report);
    assert_eq!(f.metadata.hostname.as_deref(), Some("vm-1.c.proj.internal"));
    assert_eq!(
        f.metadata.ssh_keys,
        vec!["ssh-ed25519 AAAAalice alice", "ssh-rsa AAAAbob bob"]
    );
    assert_eq!(
        f.user_data[0].data,
        UserData::Script("#!/bin/sh\necho gce\n".into())
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 7, "{reqs:?}");
    assert!(reqs[1..]
        .iter()
        .all(|r| r.header("metadata-flavor") == Some("Google")));
}

#[test]
fn gce_is_not_a_server_without_the_flavor_answer() {
    let server = HttpServer::start(|_| Reply::ok("4242"));
    let report = probe_all(&names(&["gce"]), &options(&server.url()));
    assert!(
        matches!(&report.sources[0].outcome, Outcome::NotPresent(why)
        if why.contains("without `Metadata-Flavor: Google`"))
    );
}

#[test]
fn digitalocean_metadata_and_interfaces() {
    let doc = serde_json::json!({
        "droplet_id": 2756294,
        "hostname": "droplet-1",
        "user_data": "#cloud-config\nhostname: from-user-data\n",
        "public_keys": ["ssh-rsa AAAAdo do@x"],
        "interfaces": {
            "public": [{
                "mac": "04:01:2A:0F:2A:01",
                "type": "public",
                "ipv4": {"ip_address": "104.131.20.105", "netmask": "255.255.192.0", "gateway": "104.131.0.1"},
                "ipv6": {"ip_address": "2604:A880:0800:0010:0000:0000:017D:2001", "cidr": 64,
                         "gateway": "2604:A880:0800:0010:0000:0000:0000:0001"},
                "anchor_ipv4": {"ip_address": "10.17.0.5", "netmask": "255.255.0.0", "gateway": "10.17.0.1"}
            }],
            "private": [{
                "mac": "04:01:2a:0f:2a:02",
                "type": "private",
                "ipv4": {"ip_address": "10.132.255.113", "netmask": "255.255.0.0", "gateway": "10.132.0.1"}
            }]
        },
        "dns": {"nameservers": ["2001:4860:4860::8844", "8.8.8.8"]}
    });
    let body = doc.to_string();
    let server = HttpServer::start(move |req| match req.path.as_str() {
        "/metadata/v1.json" => Reply::ok(body.clone()),
        _ => Reply::not_found(),
    });
    let report = probe_all(&names(&["digitalocean"]), &options(&server.url()));
    let f = found(&report);
    assert_eq!(f.metadata.hostname.as_deref(), Some("droplet-1"));
    assert_eq!(f.metadata.ssh_keys, vec!["ssh-rsa AAAAdo do@x"]);
    assert!(matches!(&f.user_data[0].data, UserData::CloudConfig(_)));
    let expected: yaml_serde::Value = yaml_serde::from_str(
        r#"
interfaces:
  mac=04:01:2a:0f:2a:01:
    addresses: [104.131.20.105/18, 10.17.0.5/16, "2604:a880:0800:0010:0000:0000:017d:2001/64"]
    gateway: 104.131.0.1
    gateway_ipv6: "2604:a880:0800:0010:0000:0000:0000:0001"
  mac=04:01:2a:0f:2a:02:
    addresses: [10.132.255.113/16]
dns:
  nameservers: ["2001:4860:4860::8844", 8.8.8.8]
"#,
    )
    .unwrap();
    assert_eq!(f.metadata.network.as_ref(), Some(&expected));
    // The fragment is valid `rancher.network`.
    let typed: os_config::model::network::NetworkConfig = yaml_serde::from_value(expected).unwrap();
    assert_eq!(typed.interfaces.len(), 2);
}

#[test]
fn openstack_metadata_service() {
    let server = HttpServer::start(|req| match req.path.as_str() {
        "/openstack/latest/meta_data.json" => Reply::ok(
            r#"{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "os-vm.novalocal",
                "name": "os-vm", "public_keys": {"mykey": "ssh-rsa AAAAos os@x"}}"#,
        ),
        "/openstack/latest/user_data" => Reply::ok("#cloud-config\nrancher: {debug: true}\n"),
        _ => Reply::not_found(),
    });
    let report = probe_all(&names(&["openstack"]), &options(&server.url()));
    let f = found(&report);
    assert_eq!(f.metadata.hostname.as_deref(), Some("os-vm.novalocal"));
    assert_eq!(f.metadata.ssh_keys, vec!["ssh-rsa AAAAos os@x"]);
    assert_eq!(
        f.origin,
        format!("{}/openstack/latest/user_data", server.url())
    );
    assert_eq!(f.user_data.len(), 1);

    // Without user-data the service is still found, with its metadata.
    let server = HttpServer::start(|req| match req.path.as_str() {
        "/openstack/latest/meta_data.json" => Reply::ok(r#"{"uuid": "u", "hostname": "h"}"#),
        _ => Reply::not_found(),
    });
    let report = probe_all(&names(&["openstack"]), &options(&server.url()));
    let f = found(&report);
    assert_eq!(f.raw_user_data, None);
    assert_eq!(f.metadata.hostname.as_deref(), Some("h"));
}

#[test]
fn url_and_cmdline() {
    let server = HttpServer::start(|req| match req.path.as_str() {
        "/cc.yml" => Reply::ok("#cloud-config\nhostname: from-url\n"),
        "/error" => Reply::status(500, "boom"),
        _ => Reply::not_found(),
    });
    let url = format!("{}/cc.yml", server.url());
    let report = probe_all(&names(&[&format!("url:{url}")]), &options("http://unused"));
    let f = found(&report);
    assert_eq!(
        (f.source.as_str(), f.origin.as_str()),
        (&*format!("url:{url}"), &*url)
    );

    let mut opts = options("http://unused");
    opts.cmdline = Some(format!("console=ttyS0 cloud-config-url={url} quiet"));
    let report = probe_all(&names(&["cmdline"]), &opts);
    let f = found(&report);
    assert_eq!((f.source.as_str(), f.origin.as_str()), ("cmdline", &*url));
    assert!(matches!(&f.user_data[0].data, UserData::CloudConfig(v)
        if v["hostname"] == yaml_serde::Value::String("from-url".into())));

    opts.cmdline = Some("console=ttyS0".into());
    let missing = format!("url:{}/missing", server.url());
    let error = format!("url:{}/error", server.url());
    let report = probe_all(&names(&["cmdline", &missing, &error]), &opts);
    assert!(report.fetched().is_none());
    let lines: Vec<String> = report.sources.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "cmdline: not present: no cloud-config-url= on the kernel command line".to_string(),
            format!("{missing}: not present: {}/missing: HTTP 404", server.url()),
            format!("{error}: failed: {}/error: HTTP status 500", server.url()),
        ]
    );
}

#[test]
fn https_goes_through_tls() {
    // A plain-HTTP server behind an https URL: the TLS handshake fails, with a clear error.
    let server = HttpServer::start(|_| Reply::ok("x"));
    let url = format!("https://{}/cc.yml", server.addr);
    let report = probe_all(&names(&[&format!("url:{url}")]), &options("http://unused"));
    match &report.sources[0].outcome {
        Outcome::Failed(e @ (ProbeError::Connect { .. } | ProbeError::Transport { .. })) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&url), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_first_configured_datasource_that_answers_wins() {
    let server = HttpServer::start(|req| match req.path.as_str() {
        "/slow" => Reply::Delayed(
            Duration::from_millis(700),
            Box::new(Reply::ok("#cloud-config\nhostname: slow\n")),
        ),
        "/fast" => Reply::ok("#cloud-config\nhostname: fast\n"),
        _ => Reply::not_found(),
    });
    let slow = format!("url:{}/slow", server.url());
    let fast = format!("url:{}/fast", server.url());
    let missing = format!("url:{}/missing", server.url());

    // The fast one answers first, but the slow one is listed first.
    let report = probe_all(&names(&[&slow, &fast]), &options("http://unused"));
    assert_eq!(found(&report).source, slow);
    assert_eq!(report.chosen, Some(0));
    assert!(report.sources[1].outcome.is_found());

    // A missing one does not block the next.
    let report = probe_all(&names(&[&missing, &fast, &slow]), &options("http://unused"));
    assert_eq!(found(&report).source, fast);
    assert!(matches!(report.sources[0].outcome, Outcome::NotPresent(_)));

    // Unknown names are reported, and the rest still probed.
    let report = probe_all(&names(&["packet", &fast]), &options("http://unused"));
    assert_eq!(found(&report).source, fast);
    assert!(report.sources[0]
        .to_string()
        .starts_with("packet: failed: unknown datasource \"packet\""));
}

#[test]
fn each_cloud_is_told_apart_from_the_others_at_the_same_address() {
    let list = names(&["ec2", "gce", "digitalocean", "openstack"]);

    // On GCE, the others get 403 (no Metadata-Flavor header): not present, not failed.
    let gce = gce_server();
    let report = probe_all(&list, &options(&gce.url()));
    assert_eq!(found(&report).source, "gce");
    for i in [0, 2, 3] {
        assert!(
            matches!(&report.sources[i].outcome, Outcome::NotPresent(why) if why.contains("HTTP status 403 (not ")),
            "{}",
            report.sources[i]
        );
    }

    // On EC2, the others get 404.
    let ec2 = HttpServer::start(|req| ec2_routes(req, false));
    let report = probe_all(&list, &options(&ec2.url()));
    assert_eq!(found(&report).source, "ec2");
    for i in [1, 2, 3] {
        assert!(
            matches!(report.sources[i].outcome, Outcome::NotPresent(_)),
            "{}",
            report.sources[i]
        );
    }
}

#[test]
fn a_response_larger_than_the_limit_is_refused() {
    let server = HttpServer::start(|_| Reply::ok(vec![b'#'; 4096]));
    let mut opts = options("http://unused");
    opts.max_bytes = 1024;
    let url = format!("{}/big", server.url());
    let report = probe_all(&names(&[&format!("url:{url}")]), &opts);
    assert_eq!(
        report.sources[0].to_string(),
        format!("url:{url}: failed: {url}: the response is larger than 1024 bytes")
    );
}
