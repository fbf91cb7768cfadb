//! PID 1 and the host-level boot steps: mounts, modules, root assembly, supervision, shutdown.

mod first_light;

pub use first_light::run;
