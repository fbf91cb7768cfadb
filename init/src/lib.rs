//! PID 1 and the host-level boot steps: mounts, modules, root assembly, supervision, shutdown (not built yet).
