//! The errors of this crate: each says what failed, in words an operator can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("User Docker: {0}")]
    Docker(#[from] sysdocker::Error),
    #[error("User Docker {action}: {source}")]
    Api {
        action: &'static str,
        source: bollard::errors::Error,
    },
}

pub(crate) fn io(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> SwarmError {
    let path = path.to_path_buf();
    move |source| SwarmError::Io { what, path, source }
}
