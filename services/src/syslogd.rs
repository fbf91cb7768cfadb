//! The syslog container's entry point (`ros syslogd`): reads datagrams on /dev/log and appends
//! them to /var/log/syslog, rotating by size. Debian's busybox syslogd is built without
//! rotation, and rsyslog would need logrotate and cron besides; this is the whole job.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where and how much to keep.
#[derive(Debug, Clone)]
pub struct Options {
    pub socket: PathBuf,
    pub file: PathBuf,
    /// A file is rotated before it would grow beyond this many bytes.
    pub max_size: u64,
    /// Rotated files kept: syslog.1 (newest) to syslog.N.
    pub keep: u32,
}

/// Serves forever; returns only when the socket cannot be bound.
pub fn run(opts: &Options) -> std::io::Error {
    exit_on_term();
    let _ = fs::remove_file(&opts.socket);
    let socket = match UnixDatagram::bind(&opts.socket) {
        Ok(s) => s,
        Err(e) => return e,
    };
    // Every service logs here, whatever its user.
    let _ = fs::set_permissions(&opts.socket, fs::Permissions::from_mode(0o666));
    tracing::info!(socket = %opts.socket.display(), file = %opts.file.display(), "syslogd listening");
    let mut log = LogFile::new(&opts.file, opts.max_size, opts.keep);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return e,
        };
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        for line in format_message(&buf[..n], &stamp, &host) {
            if let Err(e) = log.append(&line) {
                tracing::warn!(file = %opts.file.display(), error = %e, "cannot write syslog");
            }
        }
    }
}

/// In its own PID namespace this process is PID 1, which ignores SIGTERM unless it handles it.
/// Every line is written whole with one write(2), so exiting at any point loses nothing.
fn exit_on_term() {
    extern "C" fn bye(_: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) }
    }
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(bye), SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only calls _exit.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One datagram as log lines: `STAMP HOST facility.severity tag[pid]: message`. The sender's
/// own RFC 3164 timestamp is dropped so every line carries the same clock.
pub fn format_message(datagram: &[u8], stamp: &str, host: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(datagram);
    let text = text.trim_end_matches(['\0', '\n', '\r']);
    let (priority, rest) = split_priority(text);
    let rest = strip_bsd_timestamp(rest);
    let label = format!(
        "{}.{}",
        FACILITIES
            .get(usize::from(priority >> 3))
            .copied()
            .unwrap_or("unknown"),
        SEVERITIES[usize::from(priority & 7)]
    );
    rest.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{stamp} {host} {label} {l}\n"))
        .collect()
}

/// `<PRI>` at the front; messages without one are user.notice, as RFC 3164 says.
fn split_priority(text: &str) -> (u8, &str) {
    if let Some(inner) = text.strip_prefix('<') {
        if let Some((num, rest)) = inner.split_once('>') {
            if let Ok(p) = num.parse::<u8>() {
                if p < 192 {
                    return (p, rest);
                }
            }
        }
    }
    (13, text)
}

/// Removes a leading `Mmm dd hh:mm:ss ` (what glibc's syslog(3) sends).
fn strip_bsd_timestamp(s: &str) -> &str {
    let b = s.as_bytes();
    let looks_like = b.len() > 16
        && b[0].is_ascii_uppercase()
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
        && b[15] == b' ';
    if looks_like {
        &s[16..]
    } else {
        s
    }
}

/// Mode of the log and its rotated copies: messages carry logins and commands, so only root
/// (owner and group, as created by root) reads them; the console's `rancher` uses sudo.
pub const LOG_MODE: u32 = 0o640;

/// The log file with size-based rotation.
pub struct LogFile {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: Option<(File, u64)>,
}

impl LogFile {
    pub fn new(path: &Path, max_size: u64, keep: u32) -> Self {
        LogFile {
            path: path.to_owned(),
            max_size,
            keep,
            file: None,
        }
    }

    /// Appends one line, rotating first when it would not fit.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64;
        if let Some((_, size)) = &self.file {
            if *size > 0 && size + len > self.max_size {
                self.rotate()?;
            }
        }
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                fs::create_dir_all(parent)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(LOG_MODE)
                .open(&self.path)?;
            // A file an older version left world-readable is narrowed, its rotated copies too.
            f.set_permissions(fs::Permissions::from_mode(LOG_MODE))?;
            for n in 1..=self.keep {
                let _ = fs::set_permissions(self.rotated(n), fs::Permissions::from_mode(LOG_MODE));
            }
            let size = f.metadata()?.len();
            self.file = Some((f, size));
            if size > 0 && size + len > self.max_size {
                return self.append(line);
            }
        }
        if let Some((f, size)) = &mut self.file {
            f.write_all(line.as_bytes())?;
            *size += len;
        }
        Ok(())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            return fs::remove_file(&self.path);
        }
        let _ = fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_glibc_messages() {
        let lines = format_message(
            b"<38>Nov 27 15:47:01 sshd[42]: Accepted publickey\n",
            "2026-11-27T15:47:01Z",
            "ros",
        );
        assert_eq!(
            lines,
            ["2026-11-27T15:47:01Z ros auth.info sshd[42]: Accepted publickey\n"]
        );
    }

    #[test]
    fn no_priority_is_user_notice_and_lines_split() {
        let lines = format_message(b"hello\nworld\0", "T", "h");
        assert_eq!(
            lines,
            ["T h user.notice hello\n", "T h user.notice world\n"]
        );
        assert_eq!(
            format_message(b"<999>x", "T", "h"),
            ["T h user.notice <999>x\n"]
        );
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("syslog");
        let mut log = LogFile::new(&path, 100, 2);
        for i in 0..40 {
            log.append(&format!("line {i:03} padding padding\n"))
                .unwrap();
        }
        for p in [
            path.clone(),
            dir.path().join("syslog.1"),
            dir.path().join("syslog.2"),
        ] {
            let len = fs::metadata(&p).unwrap().len();
            assert!(len > 0 && len <= 100, "{} is {len} bytes", p.display());
        }
        assert!(!dir.path().join("syslog.3").exists());
        let newest = fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 039"));
        let older = fs::read_to_string(dir.path().join("syslog.1")).unwrap();
        assert!(!older.contains("line 039"));
    }

    #[test]
    fn the_log_and_its_rotations_are_not_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("syslog");
        let old = dir.path().join("syslog.2");
        fs::write(&old, "left by an older version\n").unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o644)).unwrap();
        let mut log = LogFile::new(&path, 10, 3);
        log.append("first line\n").unwrap();
        log.append("second line\n").unwrap();
        // The old copy moved up one place; the first line is now syslog.1.
        assert!(!old.exists());
        for p in [
            path.clone(),
            dir.path().join("syslog.1"),
            dir.path().join("syslog.3"),
        ] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o640, "{}", p.display());
        }
    }

    #[test]
    fn reopening_a_full_file_rotates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("syslog");
        fs::write(&path, "x".repeat(100)).unwrap();
        LogFile::new(&path, 100, 1).append("new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(
            fs::read_to_string(dir.path().join("syslog.1"))
                .unwrap()
                .len(),
            100
        );
    }

    #[test]
    fn serves_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            socket: dir.path().join("log"),
            file: dir.path().join("syslog"),
            max_size: 1 << 20,
            keep: 1,
        };
        let o = opts.clone();
        std::thread::spawn(move || run(&o));
        let client = UnixDatagram::unbound().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let _ = client.send_to(b"<30>test: ping", &opts.socket);
            if fs::read_to_string(&opts.file).is_ok_and(|s| s.contains("daemon.info test: ping")) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no line written");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
