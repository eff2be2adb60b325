//! The tables: per connection count, one row per server with the medians over its
//! rounds, and its ratios against tokio (medians of the per-round ratios); then the
//! issue's goals, checked against those ratios.

use std::fmt::Write as _;

use crate::peers::Peer;
use crate::run::Figures;

/// Everything measured for one server at one connection count.
pub(crate) struct Row {
    /// The server.
    pub(crate) peer: Peer,
    /// Its runs, one per round (a failed run leaves its round out).
    pub(crate) runs: Vec<(usize, Figures)>,
}

/// The median of `values` (the mean of the middle two for an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The median over `row`'s runs of one figure.
fn med(row: &Row, figure: impl Fn(&Figures) -> f64) -> f64 {
    median(row.runs.iter().map(|(_, f)| figure(f)).collect())
}

/// The median over the rounds both rows ran of `row`'s figure divided by
/// `reference`'s in the same round (the servers of a round run back to back, so a
/// slow phase of the machine hits both sides of each quotient); NaN without one.
fn paired_ratio(row: &Row, reference: &Row, figure: impl Fn(&Figures) -> f64) -> f64 {
    let ratios: Vec<f64> = row
        .runs
        .iter()
        .filter_map(|(round, f)| {
            let (_, r) = reference.runs.iter().find(|(r, _)| r == round)?;
            Some(figure(f) / figure(r))
        })
        .filter(|r| r.is_finite())
        .collect();
    median(ratios)
}

/// A ratio as `0.97×`, or `–`.
fn times(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{ratio:.2}×")
    } else {
        "–".into()
    }
}

/// The markdown table for one connection count, and the goal lines under it.
pub(crate) fn table(conns: usize, rows: &[Row]) -> String {
    let cpu = |f: &Figures| f.server_cpu;
    let p99 = |f: &Figures| f.p99;
    let rps = |f: &Figures| f.rps;
    let tokio = rows
        .iter()
        .find(|r| r.peer == Peer::Tokio && !r.runs.is_empty());
    let runs = rows.iter().map(|r| r.runs.len()).max().unwrap_or(0);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### {conns} connections (medians of {runs} round{}; ratios: medians of the \
         per-round ratios)\n",
        if runs == 1 { "" } else { "s" },
    );
    let _ = writeln!(
        out,
        "| server | req/s | p50 µs | p99 µs | server CPU µs/req | (min–max) | server busy \
         | req/s vs tokio | p99 vs tokio | CPU/req vs tokio |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    let mut goals = String::new();
    for row in rows.iter().filter(|r| !r.runs.is_empty()) {
        let lo = row
            .runs
            .iter()
            .map(|(_, f)| f.server_cpu)
            .fold(f64::INFINITY, f64::min);
        let hi = row
            .runs
            .iter()
            .map(|(_, f)| f.server_cpu)
            .fold(0.0, f64::max);
        let ratio = |figure: &dyn Fn(&Figures) -> f64| {
            tokio.map_or(f64::NAN, |t| paired_ratio(row, t, figure))
        };
        let (rps_ratio, p99_ratio, cpu_ratio) = (ratio(&rps), ratio(&p99), ratio(&cpu));
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {lo:.2}–{hi:.2} | {:.0}% | {} | {} | {} |",
            row.peer.name(),
            med(row, rps),
            med(row, |f| f.p50),
            med(row, p99),
            med(row, cpu),
            med(row, |f| f.server_busy) * 100.0,
            times(rps_ratio),
            times(p99_ratio),
            times(cpu_ratio),
        );
        if row.peer != Peer::Tokio && cpu_ratio.is_finite() && p99_ratio.is_finite() {
            let verdict = |r: f64| if r <= 1.0 { "met" } else { "NOT met" };
            let _ = writeln!(
                goals,
                "- {}: CPU/req {} tokio's (goal ≤ 1.00×: {}), p99 {} (goal ≤ 1.00×: {})",
                row.peer.name(),
                times(cpu_ratio),
                verdict(cpu_ratio),
                times(p99_ratio),
                verdict(p99_ratio),
            );
        }
    }
    if !goals.is_empty() {
        out.push('\n');
        out += &goals;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{median, table, Row};
    use crate::peers::Peer;
    use crate::run::Figures;

    fn figures(rps: f64, p99: f64, server_cpu: f64) -> Figures {
        Figures {
            rps,
            p50: p99 / 2.0,
            p99,
            server_cpu,
            server_busy: 1.0,
            requests: 1000,
            response: String::new(),
        }
    }

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
        let rows = [
            Row {
                peer: Peer::Ringloop,
                runs: vec![
                    (0, figures(110.0, 90.0, 9.0)),
                    (1, figures(100.0, 100.0, 10.0)),
                ],
            },
            Row {
                peer: Peer::Tokio,
                runs: vec![
                    (0, figures(100.0, 100.0, 10.0)),
                    (1, figures(100.0, 100.0, 10.0)),
                ],
            },
        ];
        let out = table(64, &rows);
        assert!(
            out.contains(
                "| ringloop | 105 | 48 | 95 | 9.50 | 9.00–10.00 | 100% | 1.05× | 0.95× | 0.95× |"
            ),
            "{out}"
        );
        assert!(out.contains("| tokio | 100 |"), "{out}");
        assert!(out.contains("- ringloop: CPU/req 0.95× tokio's (goal ≤ 1.00×: met), p99 0.95× (goal ≤ 1.00×: met)"), "{out}");
    }
}
