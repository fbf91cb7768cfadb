//! Boot logging: compact lines on the console (serial included), prefixed so they stand out
//! among kernel messages. `rancher.debug` raises the level.

use tracing_subscriber::fmt::time::uptime;

pub fn init(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false)
        .with_timer(uptime())
        .with_writer(std::io::stderr)
        .try_init();
}
