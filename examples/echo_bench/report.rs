//! The tables: per connection count, one row per server with the medians over its
//! runs, and the server-CPU and p99 ratios against tokio, monoio and the bare ring
//! loop.

use std::fmt::Write as _;

use crate::peers::Peer;
use crate::run::{Figures, SyscallFigures};

/// Everything measured for one server at one connection count.
pub(crate) struct Row {
    /// The server.
    pub(crate) peer: Peer,
    /// Its untraced runs.
    pub(crate) runs: Vec<Figures>,
    /// Its traced run, if any.
    pub(crate) syscalls: Option<SyscallFigures>,
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
    median(row.runs.iter().map(figure).collect())
}

/// `value / reference` as `0.97×`, or `–` without a reference.
fn ratio(value: f64, reference: Option<f64>) -> String {
    match reference {
        Some(r) if r > 0.0 && value.is_finite() => format!("{:.2}×", value / r),
        _ => "–".into(),
    }
}

/// The median over rounds of `row`'s figure divided by `reference`'s in the same
/// round (the servers of a round run back to back, so a slow phase of the machine
/// hits both sides of each quotient), as `0.97×`; `–` without a reference.
fn paired_ratio(row: &Row, reference: Option<&Row>, figure: impl Fn(&Figures) -> f64) -> String {
    let Some(reference) = reference else {
        return "–".into();
    };
    let ratios: Vec<f64> = row
        .runs
        .iter()
        .zip(&reference.runs)
        .map(|(a, b)| figure(a) / figure(b))
        .filter(|r| r.is_finite())
        .collect();
    if ratios.is_empty() {
        return "–".into();
    }
    ratio(median(ratios), Some(1.0))
}

/// The markdown table for one connection count.
pub(crate) fn table(
    conns: usize,
    size: usize,
    threads: usize,
    rows: &[Row],
    with_syscalls: bool,
) -> String {
    let cpu = |f: &Figures| f.server_cpu;
    let p99 = |f: &Figures| f.p99;
    let reference = |peer: Peer| rows.iter().find(|r| r.peer == peer && !r.runs.is_empty());
    let (tokio, monoio, bare) = (
        reference(Peer::Tokio),
        reference(Peer::Monoio),
        reference(Peer::BareUring),
    );

    let mut out = String::new();
    let runs = rows.iter().map(|r| r.runs.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "\n### {conns} connection{} × {size}-byte messages, {threads} server thread{} \
         (medians of {runs} run{}; ratios: median of the per-round ratios)\n",
        if conns == 1 { "" } else { "s" },
        if threads == 1 { "" } else { "s" },
        if runs == 1 { "" } else { "s" },
    );
    let mut header = "| server | req/s | p50 µs | p99 µs | p99.9 µs | max µs | server CPU µs/req \
                      | (min–max) | client CPU µs/req | server busy | client busy |"
        .to_owned();
    let mut rule = "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|".to_owned();
    if with_syscalls {
        header += " syscalls/req (strace) | syscalls/req (perf, rough) |";
        rule += "--:|--:|";
    }
    header += " CPU vs tokio | CPU vs monoio | CPU vs bare | p99 vs tokio | p99 vs bare |";
    rule += "--:|--:|--:|--:|--:|";
    let _ = writeln!(out, "{header}\n{rule}");

    for row in rows.iter().filter(|r| !r.runs.is_empty()) {
        let server_cpu = med(row, cpu);
        let row_p99 = med(row, p99);
        let lo = row.runs.iter().map(cpu).fold(f64::INFINITY, f64::min);
        let hi = row.runs.iter().map(cpu).fold(0.0, f64::max);
        let _ = write!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} | {:.2}–{:.2} | {:.2} | {:.0}% | {:.0}% |",
            row.peer.name(),
            med(row, |f| f.rps),
            med(row, |f| f.p50),
            row_p99,
            med(row, |f| f.p999),
            med(row, |f| f.max),
            server_cpu,
            lo,
            hi,
            med(row, |f| f.client_cpu),
            med(row, |f| f.server_busy) * 100.0,
            med(row, |f| f.client_busy) * 100.0,
        );
        if with_syscalls {
            match &row.syscalls {
                Some(s) => {
                    let perf = s.perf.map_or("–".into(), |p| format!("{p:.3}"));
                    let _ = write!(out, " {:.3} | {perf} |", s.strace);
                }
                None => out += " – | – |",
            }
        }
        let _ = writeln!(
            out,
            " {} | {} | {} | {} | {} |",
            paired_ratio(row, tokio, cpu),
            paired_ratio(row, monoio, cpu),
            paired_ratio(row, bare, cpu),
            paired_ratio(row, tokio, p99),
            paired_ratio(row, bare, p99),
        );
    }
    if with_syscalls {
        let _ = writeln!(out, "\nBusiest syscalls per request (strace):");
        for row in rows {
            if let Some(s) = &row.syscalls {
                let top: Vec<String> = s
                    .top
                    .iter()
                    .map(|(name, n)| format!("{name} {n:.3}"))
                    .collect();
                let _ = writeln!(out, "- {}: {}", row.peer.name(), top.join(", "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(super::median(vec![]).is_nan());
        assert_eq!(super::ratio(7.0, Some(7.0)), "1.00×");
        assert_eq!(super::ratio(7.0, None), "–");
    }
}
