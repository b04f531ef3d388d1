//! `diag landscape`: the loss (and accuracy) along filter-normalised random directions,
//! the top Hessian eigenvector, or the line from the initial to the final weights.

use super::analysis_runs::{command_line, load_runs, write_figures};
use anyhow::{bail, Context};
use clap::Args;
use diag::analysis::batch::EvalBatch;
use diag::analysis::hessian::{power_iteration, PowerParams};
use diag::analysis::landscape::{filter_normalized_direction, line_direction, slice_1d, slice_2d, EvalSet, GridSpec};
use diag::ckpt::{load_checkpoint, resolve_checkpoint, CkptSelector};
use diag::net::HessianOperator;
use diag::plot::{Axis, Figure, Layer, Panel, Width};
use diag::report::series::{grouped_lines, RunSeries};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct LandscapeArgs {
    /// Run directories (1-D slices overlay; 2-D maps share one colour scale).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Checkpoint: a step or 'last'.
    #[arg(long, default_value = "last")]
    ckpt: CkptSelector,
    /// 1 or 2 dimensions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    dims: u8,
    /// Direction: random (filter-normalised), hessian (top eigenvector; 1-D), interp (initial to final weights; 1-D).
    #[arg(long, default_value = "random", value_parser = ["random", "hessian", "interp"])]
    dir: String,
    /// Grid START:END:POINTS.
    #[arg(long, default_value = "-1:1:51", allow_hyphen_values = true)]
    range: GridSpec,
    /// Training samples (drawn by --seed) on which the loss is evaluated.
    #[arg(long, default_value_t = 2048)]
    samples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: LandscapeArgs) -> anyhow::Result<()> {
    if args.dims == 2 && args.dir != "random" {
        bail!("--dims 2 takes --dir random (two filter-normalised directions)");
    }
    if args.ckpt == CkptSelector::All {
        bail!("--ckpt: landscape takes one checkpoint per run");
    }
    let runs = load_runs(&args.runs)?;
    let mut rows = Vec::new();
    let (mut losses, mut accs) = (Vec::new(), Vec::new());
    let mut maps = Vec::new();
    for r in &runs {
        let eval = EvalBatch::from_dataset(&r.train, args.samples, args.seed);
        let set = EvalSet { x: &eval.x, labels: &eval.y, batch: 512 };
        let (step, path) = resolve_checkpoint(&r.dir, args.ckpt)?.remove(0);
        let model = load_checkpoint(&path, Some(r.info.activation))?.model;
        eval.check_fits(&path, &model.mlp)?;
        let mlp = &model.mlp;
        if args.dims == 2 {
            let d1 = filter_normalized_direction(mlp, &model.params, args.seed);
            let d2 = filter_normalized_direction(mlp, &model.params, args.seed + 1);
            let map = slice_2d(mlp, &model.params, &d1, &d2, args.range, args.range, &set);
            rows.push(json!({"run": r.dir.path, "step": step, "direction": "random", "slice": map}));
            maps.push((r.label.label.clone(), map));
            continue;
        }
        let direction = match args.dir.as_str() {
            "random" => filter_normalized_direction(mlp, &model.params, args.seed),
            "hessian" => {
                let mut op = HessianOperator::new(mlp, &model.params, &eval.x, &eval.y, 1024);
                let top = power_iteration(
                    &mut op,
                    &PowerParams { seed: args.seed, keep_vector: true, ..PowerParams::default() },
                )?;
                top.eigenvector.context("power iteration kept no eigenvector")?
            }
            _ => {
                let (_, first) = resolve_checkpoint(&r.dir, CkptSelector::Step(0))
                    .context("interp needs the step-0 checkpoint")?
                    .remove(0);
                let init = load_checkpoint(&first, Some(r.info.activation))?.model;
                line_direction(&init.params, &model.params)
            }
        };
        // interp: s = 0 at the initial weights and s = 1 at the final ones
        let base = if args.dir == "interp" {
            load_checkpoint(&resolve_checkpoint(&r.dir, CkptSelector::Step(0))?.remove(0).1, Some(r.info.activation))?
                .model
                .params
        } else {
            model.params.clone()
        };
        let slice = slice_1d(mlp, &base, &direction, args.range, &set);
        if !args.json {
            let at = |v: f64| slice.s.iter().position(|&s| s == v);
            println!(
                "{} step {step} ({}): loss at s=0 {:.4}, min over the grid {:.4}, max {:.4}",
                r.dir.path.display(),
                r.label.label,
                at(0.0).map_or(f64::NAN, |k| slice.loss[k]),
                slice.loss.iter().cloned().fold(f64::INFINITY, f64::min),
                slice.loss.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            );
        }
        losses.push(RunSeries { run: r.label.clone(), xs: slice.s.clone(), ys: slice.loss.clone() });
        accs.push(RunSeries {
            run: r.label.clone(),
            xs: slice.s.clone(),
            ys: slice.accuracy.iter().map(|a| 100.0 * a).collect(),
        });
        rows.push(json!({"run": r.dir.path, "step": step, "direction": args.dir, "slice": slice}));
    }
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
    }
    if let Some(out) = &args.out {
        let command = command_line();
        let what = match args.dir.as_str() {
            "random" => "a filter-normalised random direction (each row scaled to its weight row's norm, biases fixed)",
            "hessian" => "the top Hessian eigenvector (unit norm)",
            _ => "the straight line from the initial (s = 0) to the final (s = 1) weights",
        };
        let fig = if args.dims == 1 {
            Figure::new(format!("landscape_{}", args.dir))
                .caption(format!("Training loss and accuracy along {what}, on {} training samples.", args.samples))
                .command(&command)
                .width(Width::DoubleColumn)
                .columns(2)
                .panel(
                    Panel::new("loss")
                        .x(Axis::linear("step along direction, s"))
                        .y(Axis::log("loss (nats)"))
                        .layers(grouped_lines(&losses)),
                )
                .panel(
                    Panel::new("accuracy")
                        .x(Axis::linear("step along direction, s"))
                        .y(Axis::linear("accuracy (%)"))
                        .layers(grouped_lines(&accs)),
                )
        } else {
            let (lo, hi) = maps
                .iter()
                .flat_map(|(_, m)| m.loss.iter().flatten())
                .filter(|v| v.is_finite() && **v > 0.0)
                .fold((f64::INFINITY, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
            let mut fig = Figure::new("landscape_2d")
                .caption(format!("Training loss on the plane of two filter-normalised random directions, shared log colour scale across runs, {} samples.", args.samples))
                .command(&command)
                .width(Width::DoubleColumn)
                .columns(maps.len().clamp(1, 3));
            for (label, m) in &maps {
                fig = fig.panel(
                    Panel::new(label.clone())
                        .x(Axis::linear("s (direction 1)"))
                        .y(Axis::linear("t (direction 2)"))
                        .layer(
                            Layer::heat_map(m.t.clone(), m.s.clone(), m.loss.clone())
                                .log_color()
                                .color_range(lo, hi)
                                .labelled("loss (nats)"),
                        ),
                );
            }
            fig
        };
        write_figures(out, &[fig], "diag landscape")?;
    }
    Ok(())
}
