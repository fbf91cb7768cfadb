//! Running containers on System Docker and User Docker: launching a dockerd (system or user)
//! with its flags under a supervisor, and the compose-style service engine over `bollard`
//! (dependency graph, parallel start, one-shots, reconcile by spec hash, bundled images).
//!
//! PID 1 uses [`Supervisor::start`] with a [`DaemonSpec`] from [`daemon_spec_from_config`],
//! then [`admin::load_project`] and [`Engine::up`]. `ros service` uses [`admin`] and [`Engine`].

// sysinit, PID 1's child, runs System Docker and the services through this crate: nothing here
// may panic outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::panic))]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod admin;
pub mod bundled_store;
pub mod client;
pub mod console_service;
pub mod consoles;
pub mod container_files;
pub mod container_spec;
pub mod daemon;
pub mod daemon_config;
pub mod docker_engines;
pub mod engine;
pub mod error;
pub mod executor;
pub mod graph;
pub mod image_loads;
pub mod images;
pub mod includes;
pub mod interpolate;
pub mod one_shot;
pub mod preload;
pub mod project;
pub mod reconcile;
pub mod registry_auth;
pub mod removed_flags;
pub mod scope;
pub mod service;
pub mod spec_hash;
pub mod supervisor;
// The test harness runs only in tests, where a panic is how a test fails.
#[cfg(feature = "testing")]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
pub mod testing;

pub use bollard::container::LogOutput;
pub use client::DaemonClient;
pub use container_files::ContainerFiles;
pub use daemon::DaemonSpec;
pub use daemon_config::{add_proxy_environment, daemon_spec_from_config};
pub use engine::{Engine, EngineOptions, ServiceStatus, UpReport};
pub use error::{Error, Result};
pub use executor::ServiceReport;
pub use images::ImageSources;
pub use project::Project;
pub use reconcile::{Action, Reconciled};
pub use scope::Scope;
pub use service::Service;
pub use supervisor::{Supervisor, SupervisorOptions};
