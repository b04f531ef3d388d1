//! Figures of singular-value spectra (`SPEC.md` section 4) from [`RunSpectrum`] results.

use super::series::{grouped_lines, RunLabel, RunSeries};
use crate::analysis::spectrum::{ModelSpectrum, RunSpectrum};
use crate::ckpt::RunInfo;
use crate::plot::{Axis, Figure, Layer, Panel, Width};

fn ranks(n: usize) -> Vec<f64> {
    (1..=n).map(|r| r as f64).collect()
}

/// Sorted singular values against rank, one line per run, for a value picked from each
/// run's last checkpoint.
fn curves(runs: &[(RunInfo, RunSpectrum)], pick: impl Fn(&ModelSpectrum) -> Option<Vec<f64>>) -> Vec<Layer> {
    let series: Vec<RunSeries> = runs
        .iter()
        .filter_map(|(info, sp)| {
            let values = pick(sp.checkpoints.last()?)?;
            Some(RunSeries { run: RunLabel::of(info), xs: ranks(values.len()), ys: values })
        })
        .collect();
    grouped_lines(&series)
}

fn sv_panel(title: String) -> Panel {
    Panel::new(title).x(Axis::linear("rank")).y(Axis::log("singular value"))
}

/// Singular values of the layer products `P_l = W_l B_l`, one panel per layer.
pub fn layer_products(runs: &[(RunInfo, RunSpectrum)], command: &str) -> Figure {
    let layers = runs.first().map_or(0, |(i, _)| i.sizes.len() - 1);
    let mut fig = Figure::new("spectrum_layer_products")
        .caption(
            "Singular values of the layer products P_l = W_l B_l (forward weights times feedback), sorted, at the last checkpoint of each run. \
             For backpropagation B_l = W_l^T and P_l = W_l W_l^T.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(layers.saturating_sub(1).clamp(1, 4));
    for l in 2..=layers {
        let lines = curves(runs, |c| Some(c.layer_products.as_ref()?.get(l - 2)?.singular_values.clone()));
        fig = fig.panel(sv_panel(format!("P_{l} = W_{l} B_{l}")).layers(lines));
    }
    fig
}

/// Singular values of each `W_l` (solid) and `B_l` (dashed).
pub fn weights_and_feedback(runs: &[(RunInfo, RunSpectrum)], command: &str) -> Figure {
    let layers = runs.first().map_or(0, |(i, _)| i.sizes.len() - 1);
    let mut fig = Figure::new("spectrum_weights")
        .caption("Singular values of the forward weights W_l (solid) and feedback matrices B_l (dashed) at the last checkpoint, sorted.")
        .command(command)
        .width(Width::DoubleColumn)
        .columns(layers.clamp(1, 4));
    for l in 1..=layers {
        let w = curves(runs, |c| c.weight_singular_values.get(l - 1).cloned());
        let b = curves(runs, |c| c.feedback_singular_values.as_ref()?.get(l - 1).cloned());
        let b = b.into_iter().map(|layer| match layer {
            Layer::Line { label, .. } if label == "bp" => None,
            other => Some(other.dashed()),
        });
        let mut panel = sv_panel(format!("layer {l}")).layers(w);
        panel = panel.layers(b.flatten().map(|layer| match layer {
            Layer::Line { label, color, xs, ys, band, dashed, markers } => {
                Layer::Line { label: format!("{label} (B)"), color, xs, ys, band, dashed, markers }
            }
            other => other,
        }));
        fig = fig.panel(panel);
    }
    fig
}

/// Singular values of the end-to-end products `F = W_L...W_2`, `G = B_2...B_L` and `F G`.
pub fn end_to_end(runs: &[(RunInfo, RunSpectrum)], command: &str) -> Figure {
    Figure::new("spectrum_end_to_end")
        .caption(
            "Singular values of the end-to-end forward product F = W_L ... W_2, the feedback product G = B_2 ... B_L, \
             and their loop F G, at the last checkpoint. Under backpropagation G = F^T and F G is positive semi-definite.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(3)
        .panel(sv_panel("F = W_L ... W_2".into()).layers(curves(runs, |c| c.forward_product_singular_values.clone())))
        .panel(sv_panel("G = B_2 ... B_L".into()).layers(curves(runs, |c| c.feedback_product_singular_values.clone())))
        .panel(sv_panel("F G".into()).layers(curves(runs, |c| c.loop_product_singular_values.clone())))
}

/// Eigenvalues of `P_l` in the complex plane, one panel per layer.
pub fn eigenvalues(runs: &[(RunInfo, RunSpectrum)], command: &str) -> Figure {
    let layers = runs.first().map_or(0, |(i, _)| i.sizes.len() - 1);
    let mut fig = Figure::new("spectrum_eigenvalues")
        .caption(
            "Eigenvalues of the layer products P_l = W_l B_l in the complex plane at the last checkpoint. \
             Alignment of B_l with W_l^T moves them onto the positive real axis.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(layers.saturating_sub(1).clamp(1, 4));
    for l in 2..=layers {
        let mut panel = Panel::new(format!("P_{l}")).x(Axis::linear("real part")).y(Axis::linear("imaginary part"));
        let mut ordered: Vec<&(RunInfo, RunSpectrum)> = runs.iter().collect();
        ordered.sort_by_key(|(info, _)| RunLabel::of(info).order);
        for (info, sp) in ordered {
            let Some(p) = sp.checkpoints.last().and_then(|c| c.layer_products.as_ref()?.get(l - 2).cloned()) else {
                continue;
            };
            let run = RunLabel::of(info);
            panel = panel.layer(Layer::scatter(run.label, run.color, p.eigenvalues_re, p.eigenvalues_im).sized(1.5));
        }
        fig = fig.panel(panel.layer(Layer::hline(0.0, crate::plot::Color::rgb(150, 150, 150))));
    }
    fig
}

/// Histogram edges over log10 of all positive values, `bins` wide.
fn log_edges(values: &[f64], bins: usize) -> Vec<f64> {
    let logs: Vec<f64> = values.iter().filter(|v| **v > 0.0 && v.is_finite()).map(|v| v.log10()).collect();
    let (lo, hi) = logs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return vec![0.0, 1.0];
    }
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
    (0..=bins).map(|k| lo + (hi - lo) * k as f64 / bins as f64).collect()
}

fn counts(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let (lo, hi) = (edges[0], edges[bins]);
    let mut c = vec![0.0; bins];
    for v in values.iter().filter(|v| **v > 0.0 && v.is_finite()) {
        let k = (((v.log10() - lo) / (hi - lo)) * bins as f64).floor() as isize;
        c[k.clamp(0, bins as isize - 1) as usize] += 1.0;
    }
    c
}

/// Histograms of the singular values of the gradient-flow map `J(x)`, pooled over samples:
/// (a) along the rule's path, (b) along the true path.
pub fn gradient_flow(runs: &[(RunInfo, RunSpectrum)], command: &str) -> Figure {
    let all: Vec<f64> = runs
        .iter()
        .filter_map(|(_, sp)| sp.checkpoints.last()?.gradient_flow.clone())
        .flat_map(|g| g.rule_path.singular_values.into_iter().chain(g.true_path.singular_values))
        .collect();
    let edges = log_edges(&all, 40);
    let mut panels = [
        Panel::new("rule's path (feedback)").x(Axis::linear("log10 singular value of J(x)")).y(Axis::linear("density")),
        Panel::new("true path (W^T)").x(Axis::linear("log10 singular value of J(x)")).y(Axis::linear("density")),
    ];
    let mut ordered: Vec<&(RunInfo, RunSpectrum)> = runs.iter().collect();
    ordered.sort_by_key(|(info, _)| RunLabel::of(info).order);
    for (info, sp) in ordered {
        let Some(flow) = sp.checkpoints.last().and_then(|c| c.gradient_flow.clone()) else { continue };
        let run = RunLabel::of(info);
        for (panel, path) in panels.iter_mut().zip([&flow.rule_path, &flow.true_path]) {
            let label = format!("{} (median cond. {})", run.label, super::series::sig3(path.median_condition_number));
            let layer =
                Layer::histogram(label, run.color, edges.clone(), counts(&path.singular_values, &edges)).as_density();
            *panel = std::mem::replace(panel, Panel::new("")).layer(layer);
        }
    }
    let [a, b] = panels;
    Figure::new("spectrum_gradient_flow")
        .caption(
            "Singular values of the backward map J(x) = D_1 M_2 D_2 ... D_{L-1} M_L from the output error to the first hidden layer, \
             pooled over samples at the last checkpoint: (a) M_l = B_l (the rule's path), (b) M_l = W_l^T (the true path). \
             Legend: median condition number over samples.",
        )
        .command(command)
        .width(Width::DoubleColumn)
        .columns(2)
        .panel(a)
        .panel(b)
}

/// For one run over all its checkpoints: the singular values of each `P_l` as a heat map
/// (checkpoint x rank, log colour).
pub fn evolution(info: &RunInfo, sp: &RunSpectrum, name: &str, command: &str) -> Option<Figure> {
    let layers = info.sizes.len() - 1;
    if sp.checkpoints.len() < 2 {
        return None;
    }
    let label = RunLabel::of(info).label;
    let steps: Vec<f64> = sp.checkpoints.iter().map(|c| c.step as f64).collect();
    let mut fig = Figure::new(name)
        .caption(format!(
            "Singular values of P_l = W_l B_l over training for {label}: rows are checkpoints (training step, in order), columns ranks; log colour scale."
        ))
        .command(command)
        .width(Width::DoubleColumn)
        .columns(layers.saturating_sub(1).clamp(1, 4));
    for l in 2..=layers {
        let values: Vec<Vec<f64>> = sp
            .checkpoints
            .iter()
            .map(|c| c.layer_products.as_ref().and_then(|p| p.get(l - 2)).map_or(vec![], |p| p.singular_values.clone()))
            .collect();
        let width = values.iter().map(Vec::len).max().unwrap_or(0);
        if width == 0 {
            continue;
        }
        let rows: Vec<f64> = (0..steps.len()).map(|k| k as f64).collect();
        fig = fig.panel(
            Panel::new(format!("P_{l}, checkpoints at steps {:.0}..{:.0}", steps[0], steps[steps.len() - 1]))
                .x(Axis::linear("rank"))
                .y(Axis::linear("checkpoint index"))
                .layer(Layer::heat_map(rows, ranks(width), values).log_color().labelled("singular value")),
        );
    }
    Some(fig)
}
