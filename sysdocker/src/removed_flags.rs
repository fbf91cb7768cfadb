//! dockerd flags that RancherOS v1 configs may carry but Docker Engine 26 no longer has. An
//! unknown flag stops dockerd from starting, so each is mapped to its successor or left out,
//! with a warning that names the config key.

/// What became of one removed flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Renamed: the value goes to this flag.
    Renamed(&'static str),
    /// Gone with no successor (the v1 overlay/cluster store, OOM score tuning).
    Dropped,
}

/// Removed flags, by every spelling they had, and whether they take a value.
const REMOVED: &[(&str, Fate)] = &[
    ("--graph", Fate::Renamed("--data-root")),
    ("-g", Fate::Renamed("--data-root")),
    ("--cluster-store", Fate::Dropped),
    ("--cluster-advertise", Fate::Dropped),
    ("--cluster-store-opt", Fate::Dropped),
    ("--oom-score-adjust", Fate::Dropped),
];

/// `args` (the value of `key`, e.g. `rancher.docker.extra_args`) with removed flags mapped or
/// left out. A flag given as `--flag value` takes the next argument with it.
pub fn modernize(key: &str, args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let Some((_, fate)) = REMOVED.iter().find(|(name, _)| *name == flag) else {
            out.push(arg.clone());
            continue;
        };
        let value = inline.or_else(|| rest.next().cloned()).unwrap_or_default();
        match fate {
            Fate::Renamed(to) => {
                tracing::warn!(
                    key,
                    flag,
                    to,
                    "dockerd no longer has this flag; passing its value to the new one"
                );
                out.push(format!("{to}={value}"));
            }
            Fate::Dropped => {
                tracing::warn!(key, flag, value = %value, "dockerd no longer has this flag; left out");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn graph_becomes_data_root_in_every_spelling() {
        for args in [v(&["--graph=/d"]), v(&["--graph", "/d"]), v(&["-g", "/d"])] {
            assert_eq!(modernize("k", &args), v(&["--data-root=/d"]), "{args:?}");
        }
    }

    #[test]
    fn dropped_flags_take_their_value_with_them_and_the_rest_stays() {
        let args = v(&[
            "--mtu",
            "1460",
            "--cluster-store",
            "consul://x:8500",
            "--cluster-advertise=eth0:2376",
            "--oom-score-adjust=-500",
            "--debug",
        ]);
        assert_eq!(modernize("k", &args), v(&["--mtu", "1460", "--debug"]));
    }
}
