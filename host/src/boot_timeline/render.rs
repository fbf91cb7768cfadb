//! The boot timeline drawn for people: one row per step or service, as a table (`ros
//! boot-time`) or an SVG waterfall (`ros boot-time --svg`, the benchmark's chart).

use super::Timeline;
use std::fmt::Write as _;

/// One row: a step or a service, from its first to its last event.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub start: f64,
    pub end: f64,
    /// Event kinds in order, with times (`started 3.21`).
    pub events: Vec<(String, f64)>,
}

pub fn rows(tl: &Timeline) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for e in &tl.events {
        match rows.iter_mut().find(|r| r.name == e.name) {
            Some(r) => {
                r.start = r.start.min(e.t);
                r.end = r.end.max(e.t);
                r.events.push((e.kind.clone(), e.t));
            }
            None => rows.push(Row {
                name: e.name.clone(),
                start: e.t,
                end: e.t,
                events: vec![(e.kind.clone(), e.t)],
            }),
        }
    }
    rows.sort_by(|a, b| a.start.total_cmp(&b.start));
    rows
}

pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<28} {:>9} {:>9}  {}\n",
        "STEP / SERVICE", "START s", "END s", "EVENTS"
    );
    for r in rows {
        let events: Vec<String> = r
            .events
            .iter()
            .map(|(k, t)| format!("{k} {t:.2}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:>9.2} {:>9.2}  {}",
            r.name,
            r.start,
            r.end,
            events.join(", ")
        );
    }
    out
}

pub fn svg(rows: &[Row]) -> String {
    let end = rows.iter().map(|r| r.end).fold(1.0_f64, f64::max);
    let (label_w, chart_w, row_h) = (220.0, 760.0, 20.0);
    let scale = chart_w / end;
    let height = row_h * (rows.len() as f64 + 2.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"monospace\" font-size=\"12\">\n",
        label_w + chart_w + 20.0
    );
    let mut s = 0.0;
    while s <= end {
        let x = label_w + s * scale;
        let _ = writeln!(out, "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{height}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" fill=\"#666\">{s:.0}s</text>", height - 4.0);
        s += if end > 30.0 { 5.0 } else { 1.0 };
    }
    for (i, r) in rows.iter().enumerate() {
        let y = row_h * (i as f64 + 0.5);
        let x = label_w + r.start * scale;
        let w = ((r.end - r.start) * scale).max(2.0);
        let color = if r.name.starts_with("service:") {
            "#4a90d9"
        } else {
            "#e3a21a"
        };
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{:.1}\">{}</text><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} {:.2}-{:.2} s</title></rect>",
            y + 12.0,
            escape(&r.name),
            row_h - 6.0,
            escape(&r.name),
            r.start,
            r.end
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot_timeline::{Event, Timeline};

    fn ev(name: &str, kind: &str, t: f64) -> Event {
        Event {
            name: name.into(),
            kind: kind.into(),
            t,
            detail: None,
        }
    }

    #[test]
    fn rows_group_events_and_draw() {
        let tl = Timeline {
            events: vec![
                ev("pid1", "step", 1.5),
                ev("service:udev", "created", 4.0),
                ev("service:udev", "started", 4.5),
                ev("service:cloud-init", "exited", 9.0),
                ev("service:cloud-init", "started", 6.0),
            ],
        };
        let rows = rows(&tl);
        assert_eq!(
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            vec!["pid1", "service:udev", "service:cloud-init"]
        );
        assert_eq!((rows[2].start, rows[2].end), (6.0, 9.0));
        let t = table(&rows);
        assert!(t.contains("service:udev") && t.contains("started 4.50"));
        let svg = svg(&rows);
        assert!(svg.starts_with("<svg") && svg.matches("<rect").count() == 3);
    }
}
