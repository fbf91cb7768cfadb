//! Services from outside: a `#compose` user-data part, or a cloud-config's `rancher.services`
//! and `rancher.environment`, through `Project::from_value` to the Docker create body. Nothing
//! panics; each body is labelled with its service and hashes the same twice; the dependency
//! graph, when it is acyclic, orders every service once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use sysdocker::container_spec::{container_body, LABEL_SERVICE};
use sysdocker::project::Project;
use sysdocker::service::Service;
use sysdocker::spec_hash::spec_hash;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Path::new("fuzz");
    let mut config = if text.starts_with("#compose") {
        let Ok(services) = cloud_init::user_data::parse_compose(text, origin) else {
            return;
        };
        let Some(config) = cloud_init::user_data::UserData::Compose(services).as_cloud_config()
        else {
            return;
        };
        config
    } else {
        let Ok(config) = os_config::document::parse_value(text, None) else {
            return;
        };
        config
    };
    // services_include names files to read (any path); the fuzzer must not open them.
    let includes = os_config::KeyPath::parse("rancher.services_include").expect("a key path");
    let _ = includes.remove(&mut config);
    let project = Project::from_value(&config, Path::new("/nonexistent/ros-fuzz"));
    for service in project.services.values() {
        if let Ok(body) = container_body(service) {
            let labels = body.labels.as_ref().expect("a body has labels");
            assert_eq!(labels.get(LABEL_SERVICE), Some(&service.name));
            assert_eq!(
                spec_hash(&body, "sha256:0"),
                spec_hash(&body.clone(), "sha256:0")
            );
        }
    }
    let all: Vec<&Service> = project.services.values().collect();
    if let Ok(graph) = Project::graph(&all) {
        let mut order: Vec<&str> = graph.order().iter().map(String::as_str).collect();
        order.sort_unstable();
        let mut names: Vec<&str> = project.services.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(order, names, "the start order is not every service once");
    }
    let names: Vec<String> = project.services.keys().take(2).cloned().collect();
    let _ = project.select(None, &names);
});
