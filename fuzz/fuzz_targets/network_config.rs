//! Network settings from outside: NoCloud's `network-config` (v1 and v2) translated to
//! `rancher.network`, the `rancher.network` model with netconf's interface matching, and the
//! DHCP lease files netconf reads. Nothing panics; a translation the model refuses is a bug
//! (the metadata layer would lose it); a DHCP server cannot add lines to resolv.conf.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netconf::{dns, matching};
use os_config::model::network::DnsConfig;
use os_config::{KeyPath, Value};

/// `{rancher: {network: fragment}}`, as the metadata layer applies it.
fn under_rancher_network(fragment: Value) -> Value {
    let mut doc = Value::Null;
    KeyPath::parse("rancher.network")
        .expect("a valid key path")
        .set(&mut doc, fragment)
        .expect("set on an empty document");
    doc
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lease = dns::parse_lease("eth0", "dhcp4", text);
    let resolved = dns::resolve(&DnsConfig::default(), &[lease], &DnsConfig::default());
    if let Some(conf) = dns::render(&resolved) {
        let expected = 1 + usize::from(!resolved.search.is_empty()) + resolved.nameservers.len();
        assert_eq!(
            conf.lines().count(),
            expected,
            "a lease added lines: {conf:?}"
        );
    }

    let Ok(doc) = os_config::document::parse_value(text, None) else {
        return;
    };
    if let Ok((Some(fragment), _warnings)) = cloud_init::network_config::translate(&doc) {
        let checked = os_config::document::validate(under_rancher_network(fragment), None, None);
        assert!(
            !checked.has_errors(),
            "the model refuses a translated network-config: {:?}",
            checked.diagnostics
        );
    }

    // The same text as `rancher.network` itself, matched against a link as netconf does.
    let checked = os_config::document::validate(under_rancher_network(doc), None, None);
    let interfaces = &checked.config.rancher.network.interfaces;
    for (key, cfg) in interfaces {
        let _ = matching::Matcher::parse(matching::expression(key, cfg));
    }
    let _ = matching::find_match("eth0", Some("52:54:00:12:34:56"), None, interfaces);
});
