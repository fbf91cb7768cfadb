//! A scratch file for the targets whose API reads a file, not bytes: one fixed name per
//! target, rewritten for every input, on tmpfs when there is one (a disk write per input cost
//! most of the time).
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn write(name: &str, data: &[u8]) -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("ros-fuzz-{name}"))
    });
    std::fs::write(path, data).expect("write the scratch file");
    path
}
