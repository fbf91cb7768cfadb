//! End-to-end tests: boot the built artifacts in QEMU and check them from the outside (not built yet).
