//! The multi-call `ros` binary: argv[0] picks the personality, everything else lives in the crates.

fn main() {
    std::process::exit(0);
}
