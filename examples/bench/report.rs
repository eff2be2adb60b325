//! The markdown report: one table per cell (medians over the rounds, the min–max
//! spread of the main figure, the ratio of ringloop's median to each peer's), the
//! N/A and failed cells, and the goals with their measured ratios.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::args::size_label;
use crate::peers::Peer;
use crate::worker::Metrics;
use crate::Cell;

/// Everything measured: per (cell, peer) the figures of each round, or why not.
#[derive(Default)]
pub(crate) struct Results {
    /// The rounds' figures.
    pub(crate) runs: BTreeMap<(String, &'static str), Vec<Metrics>>,
    /// Failures, one message per failed round.
    pub(crate) failed: BTreeMap<(String, &'static str), Vec<String>>,
}

impl Results {
    /// The median of `metric` for `peer` in `cell`.
    pub(crate) fn median(&self, cell: &Cell, peer: Peer, metric: &str) -> Option<f64> {
        let values = self.values(cell, peer, metric);
        (!values.is_empty()).then(|| median(values))
    }

    /// Every round's `metric` for `peer` in `cell`.
    fn values(&self, cell: &Cell, peer: Peer, metric: &str) -> Vec<f64> {
        self.runs
            .get(&(cell.key(), peer.name()))
            .map(|runs| runs.iter().filter_map(|m| m.get(metric).copied()).collect())
            .unwrap_or_default()
    }
}

/// The median (the mean of the middle two for an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// A figure with a sensible number of digits.
fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 10_000.0 {
        let s = format!("{x:.0}");
        // Thousands separators.
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A column of a cell's table.
struct Column {
    /// The heading.
    title: &'static str,
    /// The metric.
    metric: &'static str,
    /// Multiplies the stored value (e.g. 100 for a share in %).
    scale: f64,
    /// Whether to show the min–max spread.
    spread: bool,
}

const fn col(title: &'static str, metric: &'static str, scale: f64, spread: bool) -> Column {
    Column {
        title,
        metric,
        scale,
        spread,
    }
}

/// Whether an echo cell's messages are large (reported as throughput).
pub(crate) fn large(size: usize) -> bool {
    size >= 256 * 1024
}

/// The columns of `cell`'s table, and the metrics ratios are given for.
fn columns(cell: &Cell) -> (Vec<Column>, Vec<(&'static str, &'static str)>) {
    match cell {
        Cell::Echo(c) if large(c.size) => (
            vec![
                col("MiB/s", "mib_per_s", 1.0, true),
                col("server CPU µs/MiB", "server_us_per_mib", 1.0, true),
                col("p50 ms", "p50_us", 1e-3, false),
                col("p99 ms", "p99_us", 1e-3, false),
                col("server busy %", "server_busy", 100.0, false),
                col("client busy %", "client_busy", 100.0, false),
            ],
            vec![("MiB/s", "mib_per_s"), ("CPU/MiB", "server_us_per_mib")],
        ),
        Cell::Echo(_) => (
            vec![
                col("req/s", "req_per_s", 1.0, false),
                col("server CPU µs/req", "server_us_per_req", 1.0, true),
                col("p50 µs", "p50_us", 1.0, false),
                col("p99 µs", "p99_us", 1.0, true),
                col("server busy %", "server_busy", 100.0, false),
                col("client busy %", "client_busy", 100.0, false),
            ],
            vec![("CPU/req", "server_us_per_req"), ("p99", "p99_us")],
        ),
        Cell::File(_) => (
            vec![
                col("reads/s", "reads_per_s", 1.0, true),
                col("MiB/s", "mib_per_s", 1.0, false),
                col("CPU µs/read", "cpu_us_per_read", 1.0, false),
            ],
            vec![("reads/s", "reads_per_s")],
        ),
        Cell::Sched(_) => (
            vec![
                col("ns/op", "ns_per_op", 1.0, true),
                col("CPU ns/op", "cpu_ns_per_op", 1.0, false),
            ],
            vec![("time", "ns_per_op")],
        ),
        Cell::Cross => (
            vec![
                col("round trip p50 µs", "rtt_p50_us", 1.0, true),
                col("p99 µs", "rtt_p99_us", 1.0, false),
                col("ran on the other thread %", "cross_share", 100.0, false),
            ],
            vec![("p50", "rtt_p50_us")],
        ),
    }
}

/// The table of one cell over `peers`.
pub(crate) fn table(cell: &Cell, peers: &[Peer], results: &Results) -> String {
    let (cols, ratios) = columns(cell);
    let mut out = String::new();
    let _ = writeln!(out, "\n### {}\n", cell.title());
    let mut head = String::from("| peer |");
    let mut rule = String::from("|---|");
    for c in &cols {
        let _ = write!(head, " {} |", c.title);
        rule.push_str("--:|");
    }
    for (name, _) in &ratios {
        let _ = write!(head, " ringloop ÷ peer, {name} |");
        rule.push_str("--:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for &peer in peers {
        let key = (cell.key(), peer.name());
        if let Err(why) = peer.supports(cell.workload()) {
            let _ = writeln!(out, "| {} | N/A: {why} |", peer.name());
            continue;
        }
        if !results.runs.contains_key(&key) {
            if let Some(errs) = results.failed.get(&key) {
                let _ = writeln!(out, "| {} | FAILED: {} |", peer.name(), errs[0]);
            }
            continue;
        }
        let mut row = format!("| {} |", peer.name());
        for c in &cols {
            let values: Vec<f64> = results
                .values(cell, peer, c.metric)
                .into_iter()
                .map(|v| v * c.scale)
                .collect();
            if values.is_empty() {
                row.push_str(" – |");
                continue;
            }
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let med = median(values.clone());
            if c.spread && values.len() > 1 {
                let _ = write!(row, " {} ({}–{}) |", num(med), num(lo), num(hi));
            } else {
                let _ = write!(row, " {} |", num(med));
            }
        }
        for (_, metric) in &ratios {
            match (
                results.median(cell, Peer::Ringloop, metric),
                results.median(cell, peer, metric),
            ) {
                (Some(r), Some(p)) if p > 0.0 => {
                    let _ = write!(row, " {:.2}× |", r / p);
                }
                _ => row.push_str(" – |"),
            }
        }
        if let Some(errs) = results.failed.get(&key) {
            let _ = write!(row, " ({} round(s) failed: {}) |", errs.len(), errs[0]);
        }
        let _ = writeln!(out, "{row}");
    }
    out
}

/// One goal: a ratio of medians and the bound it must meet.
struct Goal {
    text: String,
    ratio: Option<f64>,
    bound: f64,
    /// `true`: the ratio must be at least `bound`; `false`: at most.
    at_least: bool,
}

impl Goal {
    fn line(&self) -> String {
        let cmp = if self.at_least { "≥" } else { "≤" };
        match self.ratio {
            Some(r) => {
                let met = if self.at_least {
                    r >= self.bound
                } else {
                    r <= self.bound
                };
                format!(
                    "| {} | {:.2}× | {cmp} {:.2} | {} |",
                    self.text,
                    r,
                    self.bound,
                    if met { "met" } else { "**NOT met**" }
                )
            }
            None => format!(
                "| {} | – | {cmp} {:.2} | not measured in this run |",
                self.text, self.bound
            ),
        }
    }
}

/// `ringloop`'s median over `peer`'s.
fn ratio(results: &Results, cell: &Cell, peer: Peer, metric: &str) -> Option<f64> {
    let r = results.median(cell, Peer::Ringloop, metric)?;
    let p = results.median(cell, peer, metric)?;
    (p > 0.0).then(|| r / p)
}

/// The goals of issue 16, each with its ratio from this run.
pub(crate) fn goals(cells: &[Cell], results: &Results) -> String {
    let mut goals = Vec::new();
    for mode in crate::files::MODES {
        let cell = Cell::File(mode);
        for (peer, what) in [
            (Peer::Pread, "the pread loop"),
            (Peer::RingloopEpoll, "ringloop-epoll"),
        ] {
            goals.push(Goal {
                text: format!("file reads {mode}: ringloop reads/s ÷ {what}"),
                ratio: ratio(results, &cell, peer, "reads_per_s"),
                bound: 1.0,
                at_least: true,
            });
        }
    }
    let small: Vec<_> = cells
        .iter()
        .filter(|c| matches!(c, Cell::Echo(e) if !large(e.size)))
        .collect();
    for cell in &small {
        let Cell::Echo(e) = cell else { continue };
        let at = format!("echo {} conn × {}", e.conns, size_label(e.size));
        let cpu = "server CPU/req";
        if e.conns == 1 {
            goals.push(Goal {
                text: format!("{at}: ringloop {cpu} ÷ tokio"),
                ratio: ratio(results, cell, Peer::Tokio, "server_us_per_req"),
                bound: 1.0,
                at_least: false,
            });
            goals.push(Goal {
                text: format!("{at}: ringloop p99 ÷ tokio"),
                ratio: ratio(results, cell, Peer::Tokio, "p99_us"),
                bound: 1.0,
                at_least: false,
            });
        } else {
            goals.push(Goal {
                text: format!("{at}: ringloop {cpu} ÷ tokio"),
                ratio: ratio(results, cell, Peer::Tokio, "server_us_per_req"),
                bound: 1.0,
                at_least: false,
            });
            goals.push(Goal {
                text: format!("{at}: ringloop {cpu} ÷ bare-uring"),
                ratio: ratio(results, cell, Peer::BareUring, "server_us_per_req"),
                bound: 1.05,
                at_least: false,
            });
        }
    }
    for cell in cells {
        let Cell::Echo(e) = cell else { continue };
        if !large(e.size) {
            continue;
        }
        let at = format!("echo {} conn × {}", e.conns, size_label(e.size));
        // The best other peer's throughput.
        let best = Peer::ALL
            .into_iter()
            .filter(|&p| p != Peer::Ringloop)
            .filter_map(|p| Some((p, results.median(cell, p, "mib_per_s")?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        goals.push(Goal {
            text: format!(
                "{at}: ringloop MiB/s ÷ the best other peer's ({})",
                best.map_or("none", |b| b.0.name())
            ),
            ratio: best.and_then(|(p, _)| ratio(results, cell, p, "mib_per_s")),
            bound: 1.0,
            at_least: true,
        });
        goals.push(Goal {
            text: format!("{at}: ringloop server CPU/MiB ÷ tokio"),
            ratio: ratio(results, cell, Peer::Tokio, "server_us_per_mib"),
            bound: 1.0,
            at_least: false,
        });
    }
    for shape in crate::sched::SHAPES {
        goals.push(Goal {
            text: format!("scheduler {shape}: ringloop time ÷ monoio (was 0.25–0.43×)"),
            ratio: ratio(results, &Cell::Sched(shape), Peer::Monoio, "ns_per_op"),
            bound: 1.0,
            at_least: false,
        });
    }
    let mut out = String::from(
        "\n## Goals\n\nEach ratio is ringloop's median over the peer's, from this run.\n\n",
    );
    out.push_str("| goal | ratio | bound | |\n|---|--:|--:|---|\n");
    for g in &goals {
        out.push_str(&g.line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians_and_numbers() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(super::num(1234567.0), "1,234,567");
        assert_eq!(super::num(12.345), "12.3");
        assert_eq!(super::num(1.234), "1.23");
    }
}
