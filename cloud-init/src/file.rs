//! `file:PATH`: user-data from a file on this machine. A missing file means not present; a
//! file larger than `max_bytes` is refused.

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::probe::{Ctx, Probed};
use os_config::metadata::Metadata;
use std::io::Read;
use std::path::Path;

pub(crate) fn probe(ctx: &Ctx, path: &Path) -> Result<Probed, ProbeError> {
    let io = |source| ProbeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Probed::NotPresent(format!(
                "{}: no such file",
                path.display()
            )))
        }
        Err(e) => return Err(io(e)),
    };
    let limit = ctx.opts.max_bytes;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(io(std::io::Error::other(format!(
            "larger than {limit} bytes"
        ))));
    }
    Ok(Probed::found(Fetched::new(
        ctx.name,
        &path.display().to_string(),
        Some(bytes),
        Metadata::default(),
        Vec::new(),
    )))
}
