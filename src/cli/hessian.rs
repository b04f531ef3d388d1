//! `diag hessian`: curvature of the true loss at checkpoints (`SPEC.md` section 5) —
//! top eigenvalue (power iteration), top-k (Lanczos), trace (Hutchinson), density (SLQ).

use super::analysis_runs::{command_line, load_runs, write_figures};
use anyhow::Context;
use clap::Args;
use diag::analysis::align::model_alignment;
use diag::analysis::batch::EvalBatch;
use diag::analysis::hessian::{
    hutchinson_trace, lanczos_eigenvalues, power_iteration, spectral_density, HutchinsonParams, LanczosParams,
    LayerHessian, LinearOperator, PowerParams, SlqParams,
};
use diag::ckpt::{load_checkpoint, resolve_checkpoint, CkptSelector};
use diag::net::HessianOperator;
use diag::plot::{Axis, Figure, Layer, Panel, Width};
use diag::report::series::{grouped_lines, RunSeries};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct HessianArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Checkpoints: a step, 'last' or 'all'.
    #[arg(long, default_value = "last")]
    ckpt: CkptSelector,
    /// Split of the run's data to evaluate the loss on: train or test.
    #[arg(long, default_value = "train", value_parser = ["train", "test"])]
    split: String,
    /// Samples drawn by --seed, or 'all' (the whole split in file order).
    #[arg(long, default_value = "2048")]
    samples: String,
    /// Seed of the sample draw and of the random vectors.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also the top-k eigenvalues by Lanczos with full reorthogonalisation.
    #[arg(long)]
    top_k: Option<usize>,
    /// Also the trace by Hutchinson (Rademacher probes), with its standard error.
    #[arg(long)]
    trace: bool,
    /// Also the spectral density by stochastic Lanczos quadrature.
    #[arg(long)]
    density: bool,
    /// Only the block of the Hessian of one layer's parameters (its weights and bias;
    /// layers counted from 1 at the input, as in SPEC.md).
    #[arg(long)]
    layer: Option<usize>,
    /// Print the full results as JSON.
    #[arg(long)]
    json: bool,
    /// Write figures and an index.html here.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: HessianArgs) -> anyhow::Result<()> {
    let runs = load_runs(&args.runs)?;
    let mut rows = Vec::new();
    let mut sharpness: Vec<RunSeries> = Vec::new();
    let mut sharpness_by_angle: Vec<RunSeries> = Vec::new();
    let mut densities: Vec<(String, diag::plot::Color, Vec<f64>, Vec<f64>)> = Vec::new();
    for r in &runs {
        let split = if args.split == "train" { &r.train } else { &r.data.test };
        let samples = match args.samples.as_str() {
            "all" => split.len(),
            n => n.parse().ok().filter(|&n| n > 0).context("--samples: expected a positive number or 'all'")?,
        };
        // `all` (or more than the split holds) takes every sample, in file order
        let eval = EvalBatch::from_dataset(split, samples, args.seed);
        let mut series = RunSeries { run: r.label.clone(), xs: Vec::new(), ys: Vec::new() };
        // (weight alignment angle, top eigenvalue) per checkpoint, in step order
        let mut by_angle = RunSeries { run: r.label.clone(), xs: Vec::new(), ys: Vec::new() };
        for (step, path) in resolve_checkpoint(&r.dir, args.ckpt)? {
            let model = load_checkpoint(&path, Some(r.info.activation))?.model;
            eval.check_fits(&path, &model.mlp)?;
            let mut full = HessianOperator::new(&model.mlp, &model.params, &eval.x, &eval.y, 1024);
            let mut block;
            let op: &mut dyn LinearOperator = match args.layer {
                None => &mut full,
                Some(l) => {
                    let layers = model.mlp.num_layers();
                    block = l
                        .checked_sub(1)
                        .and_then(|i| LayerHessian::new(&mut full, i))
                        .with_context(|| format!("--layer: {l} is not a layer of this network (1..={layers})"))?;
                    &mut block
                }
            };
            let top = power_iteration(op, &PowerParams { seed: args.seed, ..PowerParams::default() })?;
            let top_k = match args.top_k {
                Some(k) => {
                    Some(lanczos_eigenvalues(op, &LanczosParams { k, seed: args.seed, ..LanczosParams::default() })?)
                }
                None => None,
            };
            let trace = if args.trace {
                Some(hutchinson_trace(op, &HutchinsonParams { seed: args.seed, ..HutchinsonParams::default() })?)
            } else {
                None
            };
            let density = if args.density {
                Some(spectral_density(op, &SlqParams { seed: args.seed, ..SlqParams::default() })?)
            } else {
                None
            };
            if !args.json {
                println!(
                    "{} step {step} ({}){}: top eigenvalue {:.4}{} after {} products (relative change {:.1e}{}){}{}",
                    r.dir.path.display(),
                    r.label.label,
                    args.layer.map_or(String::new(), |l| format!(", layer {l} block")),
                    top.eigenvalue,
                    if top.negative { " (NEGATIVE: negative curvature dominates)" } else { "" },
                    top.iterations,
                    top.relative_change,
                    if top.converged { "" } else { ", NOT converged: see the Lanczos values" },
                    top_k.as_ref().map_or(String::new(), |l| format!(
                        "; top-{}: {:?}",
                        l.eigenvalues.len(),
                        l.eigenvalues.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>()
                    )),
                    trace.as_ref().map_or(String::new(), |t| format!(
                        "; trace {:.3} ± {:.3} (SE, {} probes)",
                        t.trace, t.std_error, t.probes
                    )),
                );
            }
            series.xs.push(step as f64 + 1.0);
            series.ys.push(top.eigenvalue);
            let angle = model_alignment(&model, step, &eval).weight_alignment_overall_deg;
            if let Some(angle) = angle {
                by_angle.xs.push(angle);
                by_angle.ys.push(top.eigenvalue);
            }
            if let Some(d) = &density {
                densities.push((
                    format!("{} step {step}", r.label.label),
                    r.label.color,
                    d.grid.clone(),
                    d.density.clone(),
                ));
            }
            rows.push(
                json!({"run": r.dir.path, "step": step, "samples": eval.len(), "split": args.split, "seed": args.seed, "layer": args.layer,
                "top_eigenvalue": top, "top_k": top_k, "trace": trace, "density": density}),
            );
        }
        sharpness.push(series);
        if !by_angle.xs.is_empty() {
            sharpness_by_angle.push(by_angle);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
    }
    if let Some(out) = &args.out {
        let command = command_line();
        let mut figs = vec![Figure::new("hessian_sharpness")
            .caption("Top eigenvalue of the Hessian of the true training loss (largest magnitude, power iteration on exact Hessian-vector products) against training step; curvature whatever rule trained the weights.")
            .command(&command)
            .panel(
                Panel::new("sharpness")
                    .x(Axis::log("training step + 1"))
                    .y(Axis::log("top Hessian eigenvalue"))
                    .layers(grouped_lines(&sharpness).into_iter().map(|l| l.with_markers())),
            )];
        if !sharpness_by_angle.is_empty() {
            // one trajectory per run (checkpoints in step order), not averaged: angles differ between seeds
            let layers = sharpness_by_angle.iter().enumerate().map(|(k, s)| {
                let first = sharpness_by_angle[..k].iter().all(|o| o.run.label != s.run.label);
                Layer::line(
                    if first { s.run.label.clone() } else { String::new() },
                    s.run.color,
                    s.xs.clone(),
                    s.ys.clone(),
                )
                .with_markers()
            });
            figs.push(
                Figure::new("hessian_sharpness_vs_alignment")
                    .caption("Top eigenvalue of the Hessian of the true training loss against the weight alignment angle between W_l^T and B_l (all layers l >= 2 together) at the same checkpoint; one trajectory per run through its evaluated checkpoints (bp sits at 0 degrees). Negative top eigenvalues are not drawn on the log axis.")
                    .command(&command)
                    .panel(
                        Panel::new("sharpness against alignment")
                            .x(Axis::linear("weight alignment angle (deg)").range(0.0, 90.0))
                            .y(Axis::log("top Hessian eigenvalue"))
                            .layers(layers),
                    ),
            );
        }
        if !densities.is_empty() {
            let layers = densities.into_iter().map(|(label, color, grid, density)| {
                // below 1e-10 the broadened tails are numerical dust: not drawn
                let floor = density.iter().map(|&d| if d > 1e-10 { d } else { f64::NAN }).collect();
                Layer::line(label, color, grid, floor)
            });
            figs.push(
                Figure::new("hessian_density")
                    .caption("Spectral density of the Hessian by stochastic Lanczos quadrature with Gaussian broadening, on a log density axis.")
                    .command(&command)
                    .width(Width::SingleColumn)
                    .panel(Panel::new("eigenvalue density").x(Axis::linear("eigenvalue")).y(Axis::log("density")).layers(layers)),
            );
        }
        write_figures(out, &figs, "diag hessian")?;
    }
    Ok(())
}
