//! End-to-end tests' own helpers, on top of the QEMU harness (`tools/qemu-harness`, re-exported
//! here): a metadata server, shutdown logs, initrds and system images made by tests; the
//! host dockerd comes from `test-support`.

mod initrd;
mod metadata_server;
mod shutdown_log;
mod system_image;

pub use initrd::initrd_with_image;
pub use metadata_server::{MetadataServer, Request};
pub use qemu_harness::*;
pub use shutdown_log::{stop_order, uptime_of};
pub use system_image::{pack_system_image, unpack_system_image};
pub use test_support::TestDockerd;
