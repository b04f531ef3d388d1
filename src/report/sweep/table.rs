//! The summary table of a sweep (item 7 of its report): one row per configuration (depth,
//! rule, initial angle), means and standard deviations over its seeds, as Markdown and CSV.

use super::figures::final_accuracy;
use super::SweepRun;
use crate::ckpt::RunStatus;
use crate::report::series::{sig3, RunLabel};
use serde::Serialize;
use std::collections::BTreeMap;

/// One configuration of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub depth: usize,
    pub width: usize,
    pub rule: String,
    pub align_angle_deg: Option<f64>,
    pub seeds: usize,
    /// Runs that diverged (non-finite loss or weights).
    pub diverged: usize,
    /// Runs whose logged training loss blew up (rose 10x above its lowest) without diverging.
    pub loss_blowups: usize,
    /// Final test accuracy (%) over the runs that did not diverge: mean and sd.
    pub test_accuracy: (f64, f64),
    /// Largest-magnitude Hessian eigenvalue: mean and sd.
    pub top_eigenvalue: (f64, f64),
    pub trace: (f64, f64),
    /// PGD robust accuracy (%) at `eps`, true gradient and the model's feedback path.
    pub eps: f32,
    pub robust_true: (f64, f64),
    pub robust_feedback: (f64, f64),
}

fn mean_sd(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    match v.len() {
        0 => (f64::NAN, f64::NAN),
        1 => (v[0], f64::NAN),
        n => {
            let m = v.iter().sum::<f64>() / n as f64;
            (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt())
        }
    }
}

/// The rows, ordered by depth, then bp, fa, ifa by angle, then other rules.
pub fn rows(runs: &[SweepRun], eps: f32) -> Vec<Row> {
    // (depth, legend order, configuration group): rows sort by depth, then bp, fa, ifa by angle
    type Config = (usize, (u8, i64), String);
    let mut groups: BTreeMap<Config, Vec<&SweepRun>> = BTreeMap::new();
    for r in runs {
        let label = RunLabel::of(&r.info);
        groups.entry((r.depth, label.order, label.group)).or_default().push(r);
    }
    groups
        .into_values()
        .map(|members| {
            let first = members[0];
            let at_eps = |v: &[f64], r: &SweepRun| {
                let rb = r.analyses.robustness.as_ref().ok()?;
                let k = rb.eps.iter().position(|&e| (e - eps).abs() < 1e-6)?;
                v.get(k).map(|a| 100.0 * a)
            };
            Row {
                depth: first.depth,
                width: first.width,
                rule: first.info.rule.to_string(),
                align_angle_deg: first.info.align_angle_deg,
                seeds: members.len(),
                diverged: members.iter().filter(|r| r.info.status == RunStatus::Diverged).count(),
                loss_blowups: members
                    .iter()
                    .filter(|r| r.info.status != RunStatus::Diverged && crate::train::loss_blowup(&r.metrics).is_some())
                    .count(),
                test_accuracy: mean_sd(members.iter().filter_map(|r| final_accuracy(r))),
                top_eigenvalue: mean_sd(
                    members.iter().filter_map(|r| r.analyses.curvature.as_ref().ok().map(|c| c.top.eigenvalue)),
                ),
                trace: mean_sd(
                    members
                        .iter()
                        .filter_map(|r| r.analyses.curvature.as_ref().ok().and_then(|c| c.trace))
                        .map(|t| t.0),
                ),
                eps,
                robust_true: mean_sd(
                    members.iter().filter_map(|r| at_eps(&r.analyses.robustness.as_ref().ok()?.true_gradient, r)),
                ),
                robust_feedback: mean_sd(
                    members
                        .iter()
                        .filter_map(|r| at_eps(r.analyses.robustness.as_ref().ok()?.feedback_gradient.as_ref()?, r)),
                ),
            }
        })
        .collect()
}

fn angle(row: &Row) -> String {
    row.align_angle_deg.map_or("—".into(), |a| format!("{a:.0}°"))
}

fn pm(v: (f64, f64), fmt: impl Fn(f64) -> String) -> String {
    match v {
        (m, _) if !m.is_finite() => "—".into(),
        (m, s) if !s.is_finite() => fmt(m),
        (m, s) => format!("{} ± {}", fmt(m), fmt(s)),
    }
}

/// The table in Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let eps = rows.first().map_or(0.1, |r| r.eps);
    let mut out = format!(
        "| depth x width | rule | initial angle | seeds | test accuracy (%) | top Hessian eigenvalue | Hessian trace | robust acc. @ eps {eps} (%), true gradient | same, feedback gradient (control) | diverged | loss blow-ups |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        out.push_str(&format!(
            "| {} x {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.depth,
            r.width,
            r.rule,
            angle(r),
            r.seeds,
            pm(r.test_accuracy, |v| format!("{v:.2}")),
            pm(r.top_eigenvalue, sig3),
            pm(r.trace, sig3),
            pm(r.robust_true, |v| format!("{v:.1}")),
            pm(r.robust_feedback, |v| format!("{v:.1}")),
            r.diverged,
            r.loss_blowups,
        ));
    }
    out
}

/// The table as CSV: one row per configuration, means and sds in separate columns.
pub fn csv(rows: &[Row]) -> String {
    let header = [
        "depth",
        "width",
        "rule",
        "align_angle_deg",
        "seeds",
        "diverged",
        "loss_blowups",
        "test_accuracy_mean",
        "test_accuracy_sd",
        "top_eigenvalue_mean",
        "top_eigenvalue_sd",
        "trace_mean",
        "trace_sd",
        "eps",
        "robust_true_mean",
        "robust_true_sd",
        "robust_feedback_mean",
        "robust_feedback_sd",
    ];
    let num = |v: f64| if v.is_finite() { format!("{v}") } else { String::new() };
    let mut out = crate::report::csv_line(header);
    for r in rows {
        out.push_str(&crate::report::csv_line([
            r.depth.to_string(),
            r.width.to_string(),
            r.rule.clone(),
            r.align_angle_deg.map_or(String::new(), |a| format!("{a}")),
            r.seeds.to_string(),
            r.diverged.to_string(),
            r.loss_blowups.to_string(),
            num(r.test_accuracy.0),
            num(r.test_accuracy.1),
            num(r.top_eigenvalue.0),
            num(r.top_eigenvalue.1),
            num(r.trace.0),
            num(r.trace.1),
            format!("{}", r.eps),
            num(r.robust_true.0),
            num(r.robust_true.1),
            num(r.robust_feedback.0),
            num(r.robust_feedback.1),
        ]));
    }
    out
}
