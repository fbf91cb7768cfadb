//! Probing the configured datasources: all at once, one thread each, every probe bounded by
//! `probe_timeout` and the whole run by `total_timeout`. The winner is the first datasource in
//! the configured order that answered (RancherOS's rule); a later one that answered sooner
//! waits for the earlier ones to finish or fail. `probe_all` returns as soon as the winner is
//! known, and never later than the total bound: a probe still running then is reported as
//! timed out and left to end on its own (its own deadline has passed by then or soon will).

use crate::error::ProbeError;
use crate::fetched::Fetched;
use crate::options::ProbeOptions;
use crate::source::{self, Datasource};
use crate::{digitalocean, drive, ec2, file, gce, openstack, url};
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one datasource's probe ended.
#[derive(Debug)]
pub enum Outcome {
    /// It answered, with this data (the user-data may be empty).
    Found(Box<Fetched>),
    /// It is not there: no drive with its label, nothing listening, no such file.
    NotPresent(String),
    /// It is there (or was asked for) but could not be read.
    Failed(ProbeError),
    /// Still running when the total bound ran out.
    TimedOut,
    /// Not waited for: a datasource earlier in the list answered.
    NotWaitedFor,
}

impl Outcome {
    pub fn is_found(&self) -> bool {
        matches!(self, Outcome::Found(_))
    }
}

/// One configured datasource and how its probe ended.
#[derive(Debug)]
pub struct SourceOutcome {
    /// The name as configured (`*` expanded).
    pub name: String,
    pub outcome: Outcome,
    /// How long the probe ran; `None` when it did not finish.
    pub elapsed: Option<Duration>,
}

impl fmt::Display for SourceOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.outcome {
            Outcome::Found(d) => {
                let ud = match &d.raw_user_data {
                    Some(raw) => format!(
                        "{} bytes of user-data from {} ({} part(s))",
                        raw.len(),
                        d.origin,
                        d.user_data.len()
                    ),
                    None => "no user-data".into(),
                };
                write!(f, "{name}: found: {ud}")
            }
            Outcome::NotPresent(why) => write!(f, "{name}: not present: {why}"),
            Outcome::Failed(e) => write!(f, "{name}: failed: {e}"),
            Outcome::TimedOut => write!(f, "{name}: timed out (still running at the total bound)"),
            Outcome::NotWaitedFor => {
                write!(f, "{name}: not waited for (an earlier datasource answered)")
            }
        }
    }
}

/// Every configured datasource's outcome, in the configured order, and the winner.
#[derive(Debug)]
pub struct ProbeReport {
    pub sources: Vec<SourceOutcome>,
    /// Index into `sources` of the datasource whose data is used.
    pub chosen: Option<usize>,
    pub elapsed: Duration,
}

impl ProbeReport {
    /// The winner's data.
    pub fn fetched(&self) -> Option<&Fetched> {
        match &self.sources.get(self.chosen?)?.outcome {
            Outcome::Found(f) => Some(f),
            _ => None,
        }
    }

    pub fn into_fetched(mut self) -> Option<Fetched> {
        let i = self.chosen?;
        if i >= self.sources.len() {
            return None;
        }
        match self.sources.swap_remove(i).outcome {
            Outcome::Found(f) => Some(*f),
            _ => None,
        }
    }

    /// The outcome of the datasource configured as `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.outcome)
    }
}

/// A probe's own result, before it becomes an `Outcome`.
pub(crate) enum Probed {
    Found(Box<Fetched>),
    NotPresent(String),
}

impl Probed {
    pub fn found(f: Fetched) -> Probed {
        Probed::Found(Box::new(f))
    }
}

/// What every probe gets: its name (as configured), the options, and its time: `budget`
/// from the start, ending at `deadline`.
pub(crate) struct Ctx<'a> {
    pub name: &'a str,
    pub opts: &'a ProbeOptions,
    pub budget: Duration,
    pub deadline: Instant,
}

/// Turns "nothing is listening" into `NotPresent`, and passes other errors on.
pub(crate) fn absent_or(e: ProbeError) -> Result<Probed, ProbeError> {
    if e.is_absence() {
        Ok(Probed::NotPresent(e.to_string()))
    } else {
        Err(e)
    }
}

/// For the first request to a metadata service: nothing listening, or a refusal (4xx other
/// than 401) from some other cloud's service at the same address, means not present. A 401
/// stays an error: it is what EC2 says when IMDSv2 is required and no token could be had.
pub(crate) fn not_this_service(e: ProbeError, service: &str) -> Result<Probed, ProbeError> {
    match e {
        ProbeError::Status { url, status } if (400..500).contains(&status) && status != 401 => Ok(
            Probed::NotPresent(format!("{url}: HTTP status {status} (not {service})")),
        ),
        e => absent_or(e),
    }
}

/// Probes one datasource on this thread, within `budget`.
pub fn probe_one(name: &str, ds: &Datasource, opts: &ProbeOptions, budget: Duration) -> Outcome {
    let ctx = Ctx {
        name,
        opts,
        budget,
        deadline: Instant::now() + budget,
    };
    let result = match ds {
        Datasource::ConfigDrive { dir } => {
            drive::probe(&ctx, crate::drive::DriveKind::ConfigDrive, dir)
        }
        Datasource::NoCloud { dir } => drive::probe(&ctx, crate::drive::DriveKind::NoCloud, dir),
        Datasource::Cmdline => url::probe_cmdline(&ctx),
        Datasource::Url(u) => url::probe_url(&ctx, u),
        Datasource::File(p) => file::probe(&ctx, p),
        Datasource::Ec2 => ec2::probe(&ctx),
        Datasource::Gce => gce::probe(&ctx),
        Datasource::DigitalOcean => digitalocean::probe(&ctx),
        Datasource::OpenStack => openstack::probe(&ctx),
    };
    match result {
        Ok(Probed::Found(f)) => Outcome::Found(f),
        Ok(Probed::NotPresent(why)) => Outcome::NotPresent(why),
        Err(e) => Outcome::Failed(e),
    }
}

/// Probes every configured datasource (`names` as in `rancher.cloud_init.datasources`)
/// concurrently and picks the first in the configured order that answered.
pub fn probe_all(names: &[String], opts: &ProbeOptions) -> ProbeReport {
    let start = Instant::now();
    let total_deadline = start + opts.total_timeout;
    // A probe never outlives the whole run.
    let budget = opts.probe_timeout.min(opts.total_timeout);
    let opts = Arc::new(opts.clone());
    let entries = source::expand(names);
    let names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
    let mut done: Vec<Option<(Outcome, Duration)>> = entries.iter().map(|_| None).collect();

    let (tx, rx) = mpsc::channel::<(usize, Outcome, Duration)>();
    for (i, (name, parsed)) in entries.into_iter().enumerate() {
        let ds = match parsed {
            Ok(ds) => ds,
            Err(e) => {
                done[i] = Some((Outcome::Failed(e), Duration::ZERO));
                continue;
            }
        };
        let (tx, opts) = (tx.clone(), Arc::clone(&opts));
        let spawned = std::thread::Builder::new()
            .name(format!("datasource-{i}"))
            .spawn(move || {
                let t = Instant::now();
                let outcome = probe_one(&name, &ds, &opts, budget);
                // The receiver is gone when probe_all already returned; nothing to do then.
                let _ = tx.send((i, outcome, t.elapsed()));
            });
        if let Err(e) = spawned {
            done[i] = Some((
                Outcome::Failed(ProbeError::Spawn(e.to_string())),
                Duration::ZERO,
            ));
        }
    }
    drop(tx);

    let mut senders_gone = false;
    while chosen(&done).is_none() && done.iter().any(Option::is_none) {
        let now = Instant::now();
        if now >= total_deadline {
            break;
        }
        match rx.recv_timeout(total_deadline - now) {
            Ok((i, outcome, elapsed)) => {
                if let Some(slot) = done.get_mut(i) {
                    *slot = Some((outcome, elapsed));
                }
            }
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                senders_gone = true;
                break;
            }
        }
    }

    let winner = chosen(&done);
    let sources: Vec<SourceOutcome> = names
        .into_iter()
        .zip(done)
        .enumerate()
        .map(|(i, (name, slot))| {
            let (outcome, elapsed) = match slot {
                Some((o, e)) => (o, Some(e)),
                None if senders_gone => (
                    Outcome::Failed(ProbeError::Spawn("the probe ended without a result".into())),
                    None,
                ),
                None if winner.is_some_and(|w| i > w) => (Outcome::NotWaitedFor, None),
                None => (Outcome::TimedOut, None),
            };
            SourceOutcome {
                name,
                outcome,
                elapsed,
            }
        })
        .collect();
    let report = ProbeReport {
        sources,
        chosen: winner,
        elapsed: start.elapsed(),
    };
    log(&report);
    report
}

/// The first datasource that answered, once every one before it has finished.
fn chosen(done: &[Option<(Outcome, Duration)>]) -> Option<usize> {
    for (i, slot) in done.iter().enumerate() {
        match slot {
            None => return None,
            Some((o, _)) if o.is_found() => return Some(i),
            Some(_) => {}
        }
    }
    None
}

fn log(report: &ProbeReport) {
    for (i, s) in report.sources.iter().enumerate() {
        let elapsed_ms = s.elapsed.map(|e| e.as_millis() as u64);
        let chosen = report.chosen == Some(i);
        match &s.outcome {
            Outcome::Found(_) => {
                tracing::info!(datasource = %s.name, chosen, elapsed_ms, "{s}")
            }
            Outcome::Failed(_) | Outcome::TimedOut => {
                tracing::warn!(datasource = %s.name, elapsed_ms, "{s}")
            }
            Outcome::NotPresent(_) | Outcome::NotWaitedFor => {
                tracing::info!(datasource = %s.name, elapsed_ms, "{s}")
            }
        }
    }
    match report.fetched() {
        Some(f) => tracing::info!(
            datasource = %f.source,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "cloud-init: using {}",
            f.source
        ),
        None => tracing::info!(
            elapsed_ms = report.elapsed.as_millis() as u64,
            "cloud-init: no datasource answered"
        ),
    }
}
