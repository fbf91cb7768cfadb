use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} is missing: run scripts/build first (or set ROS_DIST to a build's output)")]
    MissingArtifact(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid pattern {0:?}: {1}")]
    Pattern(String, regex::Error),
    #[error("no boot medium: call .iso(..) or .kernel(..)")]
    NoBootMedium,
    #[error("{tool} failed: {stderr}")]
    Tool { tool: String, stderr: String },
    #[error("timed out after {secs} s waiting for /{pattern}/ on the serial console; last {lines} lines:\n{tail}")]
    SerialTimeout {
        pattern: String,
        secs: u64,
        lines: usize,
        tail: String,
    },
    #[error("QEMU exited ({status}) before /{pattern}/ appeared; QEMU said:\n{qemu_log}\nlast {lines} serial lines:\n{tail}")]
    QemuExited {
        pattern: String,
        status: String,
        qemu_log: String,
        lines: usize,
        tail: String,
    },
    #[error("the guest froze before /{pattern}/ appeared ({reason}); last {lines} lines:\n{tail}")]
    GuestFrozen {
        pattern: String,
        reason: String,
        lines: usize,
        tail: String,
    },
    #[error("kernel panic before /{pattern}/ appeared; last {lines} serial lines:\n{tail}")]
    KernelPanic {
        pattern: String,
        lines: usize,
        tail: String,
    },
    #[error("QEMU still running after {secs} s; last {lines} serial lines:\n{tail}")]
    ExitTimeout {
        secs: u64,
        lines: usize,
        tail: String,
    },
    #[error("QEMU monitor: {0}")]
    Monitor(String),
}

/// Maps an io::Error to [`Error::Io`] saying what was being done.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
