//! The files dockerd and the docker client read, written mode 0600 (keys are secret, and the
//! certificates are no one else's business), each atomically.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::{Pem, TlsError};

/// What `rancher.docker.tls_args` points dockerd at, under `/etc/docker/tls`.
pub const SERVER_FILES: [&str; 3] = ["ca.pem", "server-cert.pem", "server-key.pem"];
/// What `docker --tlsverify` reads from `~/.docker`.
pub const CLIENT_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// Writes the CA certificate and the server pair into `dir`.
pub fn write_server_files(dir: &Path, ca_cert: &str, server: &Pem) -> Result<(), TlsError> {
    let [ca, cert, key] = SERVER_FILES;
    write_all(
        dir,
        &[(ca, ca_cert), (cert, &server.cert), (key, &server.key)],
    )
}

/// Writes the CA certificate and a client pair into `dir`.
pub fn write_client_files(dir: &Path, ca_cert: &str, client: &Pem) -> Result<(), TlsError> {
    let [ca, cert, key] = CLIENT_FILES;
    write_all(
        dir,
        &[(ca, ca_cert), (cert, &client.cert), (key, &client.key)],
    )
}

fn write_all(dir: &Path, files: &[(&str, &str)]) -> Result<(), TlsError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    for (name, text) in files {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("writing", &tmp))?;
        // An existing file keeps its mode through rename only if we set it; 0600 either way.
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(io("setting the mode of", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("renaming into", &path))?;
    }
    Ok(())
}
