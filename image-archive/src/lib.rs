//! Writes `docker load`-able image archives from root filesystem directories, daemonless (not built yet).
