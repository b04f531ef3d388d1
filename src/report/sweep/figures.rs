//! Figures 1-6 of a sweep report (the seven items of `diag report SWEEP_DIR`; the summary
//! table is [`super::table`]). Colours follow the learning rule (bp black, fa grey, ifa a
//! sequential palette by initial angle); runs that share a configuration and differ only
//! in their seed become one mean line with a ±1 sd band.

use super::{test_curve, SweepRun};
use crate::plot::{Axis, Figure, Layer, Panel, Width};
use crate::report::align::{mean_finite, measures, StepAxis};
use crate::report::series::{grouped_lines, RunLabel, RunSeries};
use crate::train::CkptSchedule;
use std::collections::BTreeMap;

/// The distinct depths of the runs, increasing.
fn depths(runs: &[SweepRun]) -> Vec<usize> {
    let mut d: Vec<usize> = runs.iter().map(|r| r.depth).collect();
    d.sort_unstable();
    d.dedup();
    d
}

fn at_depth(runs: &[SweepRun], depth: usize) -> impl Iterator<Item = &SweepRun> {
    runs.iter().filter(move |r| r.depth == depth)
}

/// A run's label with a group that ignores depth (for curves across depths).
fn label_across_depths(run: &SweepRun) -> RunLabel {
    let mut label = RunLabel::of(&run.info);
    label.group = format!("{}|w{}", label.label, run.width);
    label
}

/// One series per (label group, seed) over the positions `xs` from `(label, seed, x, y)`
/// points, NaN where a point is missing: runs that differ only in their seed then share
/// their x positions and become one mean line with a band.
fn per_seed_series(xs: &[f64], points: impl Iterator<Item = (RunLabel, u64, f64, f64)>) -> Vec<RunSeries> {
    let mut by_seed: BTreeMap<(String, u64), RunSeries> = BTreeMap::new();
    for (run, seed, x, y) in points {
        let series = by_seed.entry((run.group.clone(), seed)).or_insert_with(|| RunSeries {
            run,
            xs: xs.to_vec(),
            ys: vec![f64::NAN; xs.len()],
        });
        let k = xs.iter().position(|&p| (p - x).abs() < 1e-9).expect("x position listed");
        series.ys[k] = y;
    }
    by_seed.into_values().collect()
}

/// Final test accuracy in percent, `None` for a diverged run.
pub fn final_accuracy(run: &SweepRun) -> Option<f64> {
    if run.info.status == crate::ckpt::RunStatus::Diverged {
        return None;
    }
    test_curve(&run.metrics).last().map(|t| 100.0 * t.1)
}

fn depth_title(what: &str, depth: usize, width: usize) -> String {
    format!("{what}, {depth} x {width}")
}

fn width_of(runs: &[SweepRun], depth: usize) -> usize {
    at_depth(runs, depth).next().map_or(0, |r| r.width)
}

/// 1. Final test accuracy against depth, per rule and initial angle.
pub fn accuracy_vs_depth(runs: &[SweepRun], command: &str) -> Figure {
    let depths = depths(runs);
    let xs: Vec<f64> = depths.iter().map(|&d| d as f64).collect();
    let accuracy = |r: &SweepRun| final_accuracy(r).unwrap_or(f64::NAN);
    let series =
        per_seed_series(&xs, runs.iter().map(|r| (label_across_depths(r), r.info.seed, r.depth as f64, accuracy(r))));
    Figure::new("fig1_accuracy_vs_depth")
        .caption(
            "Final test accuracy against network depth (hidden layers of equal width), per learning rule and initial \
             feedback angle; mean and ±1 sd band over seeds. Diverged runs are left out of the mean and counted in the \
             summary table.",
        )
        .command(command)
        .panel(
            Panel::new("final test accuracy")
                .x(Axis::linear("hidden layers"))
                .y(Axis::linear("test accuracy (%)"))
                .layers(grouped_lines(&series).into_iter().map(Layer::with_markers)),
        )
}

/// 2. Test accuracy and loss against epoch, one row per depth, divergences marked.
pub fn learning_curves(runs: &[SweepRun], command: &str) -> Figure {
    let mut fig = Figure::new("fig2_learning_curves")
        .caption(
            "Learning curves: test accuracy and test loss (nats, log scale) against epoch, one row per depth; mean and \
             ±1 sd band over seeds. × marks a run that diverged (non-finite loss or weights) at that epoch.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(2);
    for depth in depths(runs) {
        let width = width_of(runs, depth);
        let mut acc = Vec::new();
        let mut loss = Vec::new();
        let mut marks = Vec::new();
        for r in at_depth(runs, depth) {
            let curve = test_curve(&r.metrics);
            let label = RunLabel::of(&r.info);
            let xs: Vec<f64> = curve.iter().map(|t| t.0).collect();
            acc.push(RunSeries { run: label.clone(), xs: xs.clone(), ys: curve.iter().map(|t| 100.0 * t.1).collect() });
            loss.push(RunSeries { run: label.clone(), xs, ys: curve.iter().map(|t| t.2).collect() });
            if let Some(d) = &r.info.diverged {
                let epoch = d.step as f64 / r.info.steps_per_epoch.max(1) as f64;
                marks.push(Layer::marker(epoch, f64::NAN, "diverged", label.color));
            }
        }
        fig = fig
            .panel(
                Panel::new(depth_title("test accuracy", depth, width))
                    .x(Axis::linear("epoch"))
                    .y(Axis::linear("test accuracy (%)"))
                    .layers(grouped_lines(&acc))
                    .layers(marks.clone()),
            )
            .panel(
                Panel::new(depth_title("test loss", depth, width))
                    .x(Axis::linear("epoch"))
                    .y(Axis::log("test loss (nats)"))
                    .layers(grouped_lines(&loss))
                    .layers(marks),
            );
    }
    fig
}

/// 3. Weight and update alignment against training step, one row per depth.
pub fn alignment(runs: &[SweepRun], command: &str) -> Figure {
    let log_spaced = runs.iter().all(|r| {
        serde_json::from_value::<CkptSchedule>(r.info.config["ckpt_every"].clone())
            .is_ok_and(|c| matches!(c, CkptSchedule::Log(_)))
    });
    let steps = if log_spaced { StepAxis::LogPlusOne } else { StepAxis::Linear };
    let mut fig = Figure::new("fig3_alignment")
        .caption(
            "Alignment over training, one row per depth. Left: angle between the forward weights W_l^T and the \
             feedback B_l over all layers l >= 2 (0 for bp by definition). Right: angle between the rule's weight \
             update and the true gradient, mean over hidden layers. Degrees; mean and ±1 sd band over seeds; each \
             run's fixed evaluation batch of training samples.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(2);
    for depth in depths(runs) {
        let width = width_of(runs, depth);
        let mut panels = [Vec::new(), Vec::new()];
        for r in at_depth(runs, depth) {
            let Ok(al) = &r.analyses.alignment else { continue };
            for (k, series) in panels.iter_mut().enumerate() {
                series.push(RunSeries {
                    run: RunLabel::of(&r.info),
                    xs: al.iter().map(|c| steps.x(c.step)).collect(),
                    ys: al.iter().map(|c| measures(c)[k]).collect(),
                });
            }
        }
        for (series, what) in panels.iter().zip(["weight alignment", "update alignment"]) {
            // angles between updates can pass 90 degrees (a step against the true gradient)
            let top = if series.iter().flat_map(|s| &s.ys).any(|&y| y > 95.0) { 180.0 } else { 90.0 };
            fig = fig.panel(
                Panel::new(depth_title(what, depth, width))
                    .x(steps.axis())
                    .y(Axis::linear("angle (deg)").range(0.0, top))
                    .layers(grouped_lines(series)),
            );
        }
    }
    fig
}

/// Points of a drawn spectrum: enough for a smooth curve at column width, few enough to
/// keep the figure's data files small.
const CURVE_POINTS: usize = 256;

/// Sorted values (largest first) against their quantile `(k + 0.5) / n`, thinned to at most
/// [`CURVE_POINTS`] evenly spaced ranks (the first and last kept).
fn quantile_curve(mut values: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    values.sort_by(|a, b| b.total_cmp(a));
    let n = values.len();
    let ranks: Vec<usize> = if n <= CURVE_POINTS {
        (0..n).collect()
    } else {
        (0..CURVE_POINTS).map(|k| (k * (n - 1) + (CURVE_POINTS - 1) / 2) / (CURVE_POINTS - 1)).collect()
    };
    let xs = ranks.iter().map(|&k| (k as f64 + 0.5) / n as f64).collect();
    (xs, ranks.iter().map(|&k| values[k]).collect())
}

/// 4. Singular values of `P_2 = W_2 B_2` and of the gradient-flow map at the end of training.
pub fn spectra(runs: &[SweepRun], command: &str) -> Figure {
    let mut fig = Figure::new("fig4_spectra")
        .caption(
            "Spectra at the end of training, one row per depth. Left: singular values of the first layer product \
             P_2 = W_2 B_2 (forward weights times feedback; W_2 W_2^T for bp), largest first, against their rank \
             divided by the layer width. Right: singular values of the gradient-flow map J(x) along the rule's own \
             error path, pooled over a batch of training samples, largest first, against their quantile. Mean and ±1 \
             sd band over seeds.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(2);
    for depth in depths(runs) {
        let width = width_of(runs, depth);
        let mut products = Vec::new();
        let mut flows = Vec::new();
        for r in at_depth(runs, depth) {
            let Ok(sp) = &r.analyses.spectrum else { continue };
            let run = RunLabel::of(&r.info);
            if let Some(p) = sp.layer_products.first() {
                let (xs, ys) = quantile_curve(p.clone());
                products.push(RunSeries { run: run.clone(), xs, ys });
            }
            if !sp.flow_rule.is_empty() {
                let (xs, ys) = quantile_curve(sp.flow_rule.clone());
                flows.push(RunSeries { run, xs, ys });
            }
        }
        fig = fig
            .panel(
                Panel::new(depth_title("P_2 = W_2 B_2", depth, width))
                    .x(Axis::linear("rank / width"))
                    .y(Axis::log("singular value"))
                    .layers(grouped_lines(&products)),
            )
            .panel(
                Panel::new(depth_title("gradient flow J(x), rule's path", depth, width))
                    .x(Axis::linear("quantile"))
                    .y(Axis::log("singular value"))
                    .layers(grouped_lines(&flows)),
            );
    }
    fig
}

/// One panel of a quantity against the initial angle of `ifa` runs (mean and band over
/// seeds), with the other rules as dashed reference lines at their mean.
fn against_angle(runs: &[SweepRun], depth: usize, title: String, y: Axis, value: impl Fn(&SweepRun) -> f64) -> Panel {
    let mut angles: Vec<f64> = at_depth(runs, depth).filter_map(|r| r.info.align_angle_deg).collect();
    angles.sort_by(f64::total_cmp);
    angles.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let mut ifa = Vec::new();
    let mut others: BTreeMap<(u8, String), (RunLabel, Vec<f64>)> = BTreeMap::new();
    for r in at_depth(runs, depth) {
        let mut label = RunLabel::of(&r.info);
        match r.info.align_angle_deg {
            Some(a) => {
                label.label = "ifa".into();
                label.color = crate::plot::rule_color("ifa", Some(45.0));
                label.group = "ifa".into();
                ifa.push((label, r.info.seed, a, value(r)));
            }
            None => others.entry((label.order.0, label.label.clone())).or_insert((label, Vec::new())).1.push(value(r)),
        }
    }
    let series = per_seed_series(&angles, ifa.into_iter());
    let refs = others.into_values().filter_map(|(label, vs)| {
        let m = mean_finite(&vs);
        m.is_finite().then(|| Layer::hline(m, label.color).labelled(format!("{} (mean)", label.label)))
    });
    let x = match (angles.first(), angles.last()) {
        (Some(&lo), Some(&hi)) if hi > lo => Axis::linear("initial feedback angle (deg)").range(lo, hi),
        _ => Axis::linear("initial feedback angle (deg)"),
    };
    Panel::new(title).x(x).y(y).layers(grouped_lines(&series).into_iter().map(Layer::with_markers)).layers(refs)
}

/// 5. Hessian top eigenvalue and trace against initial angle, one column per depth.
pub fn sharpness(runs: &[SweepRun], command: &str) -> Figure {
    let depths = depths(runs);
    let top = |r: &SweepRun| r.analyses.curvature.as_ref().map_or(f64::NAN, |c| c.top.eigenvalue);
    let trace = |r: &SweepRun| r.analyses.curvature.as_ref().ok().and_then(|c| c.trace).map_or(f64::NAN, |t| t.0);
    let has_trace = runs.iter().any(|r| trace(r).is_finite());
    let mut fig = Figure::new("fig5_sharpness")
        .caption(
            "Curvature of the true training loss at the end of training against the initial feedback angle of \
             soft-aligned FA (ifa; mean and ±1 sd band over seeds), one column per depth; other rules as dashed \
             lines at their mean. Top: largest-magnitude Hessian eigenvalue (power iteration on exact \
             Hessian-vector products). Bottom: Hessian trace (Hutchinson, Rademacher probes). Negative values \
             (negative curvature dominating, as in a blown-up run) are not drawn on the log axes; the summary table \
             lists them.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(depths.len().max(1));
    for &depth in &depths {
        let title = depth_title("top eigenvalue", depth, width_of(runs, depth));
        fig = fig.panel(against_angle(runs, depth, title, Axis::log("top Hessian eigenvalue"), top));
    }
    if has_trace {
        for &depth in &depths {
            let title = depth_title("trace", depth, width_of(runs, depth));
            fig = fig.panel(against_angle(runs, depth, title, Axis::log("Hessian trace"), trace));
        }
    }
    fig
}

/// 6. Robust accuracy against eps under true gradients, and the gradient-source control.
pub fn robustness(runs: &[SweepRun], command: &str) -> Figure {
    let mut fig = Figure::new("fig6_robustness")
        .caption(
            "Robustness of the final weights to L-infinity PGD on test images, one row per depth. Left: robust \
             accuracy against the budget eps (pixels in [0, 1]) with the exact input gradient through the forward \
             weights, the only source a robustness claim rests on. Right: the gradient-masking control for the \
             rules with a feedback path: the same attack following the model's own feedback matrices (dashed) \
             against the true gradient (solid); a feedback curve above the true one is masking, not robustness. \
             Mean and ±1 sd band over seeds.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(2);
    for depth in depths(runs) {
        let width = width_of(runs, depth);
        let mut truth = Vec::new();
        let mut control_true = Vec::new();
        let mut control_feedback = Vec::new();
        for r in at_depth(runs, depth) {
            let Ok(rb) = &r.analyses.robustness else { continue };
            let run = RunLabel::of(&r.info);
            let xs: Vec<f64> = rb.eps.iter().map(|&e| e as f64).collect();
            let pct = |v: &Vec<f64>| v.iter().map(|a| 100.0 * a).collect::<Vec<_>>();
            truth.push(RunSeries { run: run.clone(), xs: xs.clone(), ys: pct(&rb.true_gradient) });
            if let Some(fb) = &rb.feedback_gradient {
                control_true.push(RunSeries { run: run.clone(), xs: xs.clone(), ys: pct(&rb.true_gradient) });
                control_feedback.push(RunSeries { run, xs, ys: pct(fb) });
            }
        }
        // feedback curves share their configuration's colour; one legend entry says what dashes mean
        let feedback_lines = grouped_lines(&control_feedback)
            .into_iter()
            .enumerate()
            .map(|(k, l)| l.dashed().labelled(if k == 0 { "dashed: feedback gradient" } else { "" }));
        fig = fig
            .panel(
                Panel::new(depth_title("PGD, true gradient", depth, width))
                    .x(Axis::linear("eps (L-inf, pixel units)"))
                    .y(Axis::linear("robust accuracy (%)").range(0.0, 100.0))
                    .layers(grouped_lines(&truth).into_iter().map(Layer::with_markers)),
            )
            .panel(
                Panel::new(depth_title("control: true vs feedback gradient", depth, width))
                    .x(Axis::linear("eps (L-inf, pixel units)"))
                    .y(Axis::linear("robust accuracy (%)").range(0.0, 100.0))
                    .layers(grouped_lines(&control_true))
                    .layers(feedback_lines),
            );
    }
    fig
}

/// Figures 1-6.
pub fn all(runs: &[SweepRun], command: &str) -> Vec<Figure> {
    vec![
        accuracy_vs_depth(runs, command),
        learning_curves(runs, command),
        alignment(runs, command),
        spectra(runs, command),
        sharpness(runs, command),
        robustness(runs, command),
    ]
}

#[cfg(test)]
mod tests {
    use super::quantile_curve;

    #[test]
    fn quantile_curves_are_sorted_and_thinned_keeping_both_ends() {
        let (xs, ys) = quantile_curve(vec![1.0, 3.0, 2.0]);
        assert_eq!(ys, [3.0, 2.0, 1.0]);
        assert_eq!(xs, [0.5 / 3.0, 1.5 / 3.0, 2.5 / 3.0]);
        let (xs, ys) = quantile_curve((0..1280).map(f64::from).collect());
        assert_eq!(ys.len(), super::CURVE_POINTS);
        assert_eq!((ys[0], ys[ys.len() - 1]), (1279.0, 0.0));
        assert!(xs.windows(2).all(|w| w[0] < w[1]) && ys.windows(2).all(|w| w[0] > w[1]));
    }
}
