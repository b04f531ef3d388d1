//! Figures of alignment over training (`SPEC.md` section 3) from [`RunAlignment`] results.

use super::series::{grouped_lines, RunLabel, RunSeries};
use crate::analysis::align::RunAlignment;
use crate::ckpt::RunInfo;
use crate::plot::{palette, Axis, Figure, Layer, Panel, Width};

/// How the step axis is drawn: log-spaced checkpoints read best on a log axis, which
/// cannot show step 0, so it plots `step + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAxis {
    Linear,
    LogPlusOne,
}

impl StepAxis {
    pub fn x(self, step: u64) -> f64 {
        match self {
            StepAxis::Linear => step as f64,
            StepAxis::LogPlusOne => step as f64 + 1.0,
        }
    }
    pub fn axis(self) -> Axis {
        match self {
            StepAxis::Linear => Axis::linear("training step"),
            StepAxis::LogPlusOne => Axis::log("training step + 1"),
        }
    }
}

/// Mean of the finite values (NaN if there are none).
pub(crate) fn mean_finite(v: &[f64]) -> f64 {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        f64::NAN
    } else {
        finite.iter().sum::<f64>() / finite.len() as f64
    }
}

/// The three alignment measures of a checkpoint: weight (all layers l >= 2 together),
/// update and error signal (each the mean over hidden layers), in degrees.
pub(crate) fn measures(c: &crate::analysis::align::ModelAlignment) -> [f64; 3] {
    let hidden = c.update_alignment_deg.len().saturating_sub(1);
    [
        c.weight_alignment_overall_deg.unwrap_or(f64::NAN),
        mean_finite(&c.update_alignment_deg[..hidden]),
        mean_finite(&c.error_alignment_deg),
    ]
}

const TITLES: [&str; 3] = [
    "weight alignment, layers 2..L",
    "update alignment (mean over hidden layers)",
    "error-signal alignment (mean over hidden layers)",
];

/// One panel per measure, one line per run (mean and ±1 sd band across seeds).
pub fn alignment_by_run(runs: &[(RunInfo, RunAlignment)], steps: StepAxis, command: &str) -> Figure {
    let mut fig = Figure::new("alignment")
        .caption(
            "Alignment over training. (a) angle between the forward weights W_l^T and the feedback B_l over all layers l >= 2; \
             (b) angle between the rule's weight update and the true gradient, mean over hidden layers; \
             (c) angle between the rule's and backpropagation's error signals, per sample, mean over the batch and hidden layers. \
             Degrees; 0 = exact agreement, 90 = orthogonal.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(3);
    for (k, title) in TITLES.iter().enumerate() {
        let series: Vec<RunSeries> = runs
            .iter()
            .map(|(info, al)| RunSeries {
                run: RunLabel::of(info),
                xs: al.checkpoints.iter().map(|c| steps.x(c.step)).collect(),
                ys: al.checkpoints.iter().map(|c| measures(c)[k]).collect(),
            })
            .collect();
        fig = fig.panel(
            Panel::new(*title)
                .x(steps.axis())
                .y(Axis::linear("angle (deg)").range(0.0, 90.0))
                .layers(grouped_lines(&series))
                .layer(Layer::hline(90.0, crate::plot::Color::rgb(150, 150, 150)).labelled("orthogonal (90°)")),
        );
    }
    fig
}

/// For one run: one panel per measure, one line per layer.
pub fn alignment_by_layer(info: &RunInfo, al: &RunAlignment, name: &str, steps: StepAxis, command: &str) -> Figure {
    let label = RunLabel::of(info).label;
    let xs: Vec<f64> = al.checkpoints.iter().map(|c| steps.x(c.step)).collect();
    let layers = al.sizes.len() - 1;
    let line = |l: usize, ys: Vec<f64>| Layer::line(format!("layer {l}"), palette(l - 1), xs.clone(), ys);
    let weight = (2..=layers).map(|l| {
        line(l, al.checkpoints.iter().map(|c| c.weight_alignment_deg.as_ref().map_or(f64::NAN, |w| w[l - 2])).collect())
    });
    let update = (1..layers).map(|l| line(l, al.checkpoints.iter().map(|c| c.update_alignment_deg[l - 1]).collect()));
    let error = (1..layers).map(|l| line(l, al.checkpoints.iter().map(|c| c.error_alignment_deg[l - 1]).collect()));
    let panel = |title: &str, lines: Vec<Layer>| {
        Panel::new(title).x(steps.axis()).y(Axis::linear("angle (deg)").range(0.0, 90.0)).layers(lines)
    };
    Figure::new(name)
        .caption(format!(
            "Alignment over training of {label} ({}), per layer l (1-based, as in SPEC.md): (a) W_l^T vs B_l; (b) update vs true gradient; (c) error signal vs backpropagation's. Degrees.",
            info.data.spec
        ))
        .command(command)
        .width(Width::DoubleColumn)
        .columns(3)
        .panel(panel("weight alignment", weight.collect()))
        .panel(panel("update alignment", update.collect()))
        .panel(panel("error-signal alignment", error.collect()))
}
