use std::path::PathBuf;

/// Errors from building layers and writing archives.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode image config: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid repo tag {0:?}: expected name:tag")]
    RepoTag(String),
    #[error("an image needs at least one layer")]
    NoLayers,
    #[error(
        "layer {diff_id} changed while it was written: expected {expected} bytes, wrote {written}"
    )]
    LayerSize {
        diff_id: String,
        expected: u64,
        written: u64,
    },
    #[error("{what}: expected {expected}, got {got}")]
    Mismatch {
        what: String,
        expected: String,
        got: String,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
