//! Metadata services' answers (DigitalOcean's `metadata/v1.json`, OpenStack's
//! `meta_data.json`, GCE's `ssh-keys`, EC2's `public-keys/` listing): parsing never panics,
//! the keys and key indexes it yields are usable, and metadata saved by cloud-init reads back
//! the same in the config layers.
#![no_main]
use cloud_init::save::metadata_text;
use cloud_init::{digitalocean, ec2, gce, openstack};
use libfuzzer_sys::fuzz_target;
use os_config::metadata::Metadata;

/// `save_parts` writes `metadata_text`; `layers::load` reads it with `from_value`.
fn saved_reads_back(m: &Metadata) {
    let text = metadata_text(m).expect("metadata serialises");
    let value = os_config::document::parse_value(&text, None).expect("saved metadata parses");
    assert_eq!(
        &Metadata::from_value(&value),
        m,
        "saved metadata reads back differently"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(droplet)) = digitalocean::parse_metadata(data) {
        saved_reads_back(&droplet.metadata);
    }
    if let Ok(Some(metadata)) = openstack::parse_metadata(data) {
        saved_reads_back(&metadata);
    }
    let text = String::from_utf8_lossy(data);
    for key in gce::parse_ssh_keys(&text) {
        assert!(!key.is_empty() && key.trim() == key && !key.contains('\n'));
    }
    // Each index becomes a path segment of the next request.
    for index in ec2::public_key_indices(&text) {
        assert!(!index.is_empty() && !index.contains(['=', '\n']));
    }
});
