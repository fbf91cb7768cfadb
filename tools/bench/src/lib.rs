//! The benchmark behind `scripts/bench`: boot time, memory and size of ros against a baseline
//! (the same kernel plus one dockerd) booted under the same QEMU in the same run. The pure
//! parts (statistics, the memory bisection, console and guest parsing, the report) are here
//! and unit-tested; `runner` drives QEMU through the `ros-e2e` harness.

pub mod guest;
pub mod host;
pub mod memsearch;
pub mod report;
pub mod runner;
pub mod serial;
pub mod stats;
