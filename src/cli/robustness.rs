//! `diag robustness`: accuracy under FGSM, PGD and Gaussian noise (`SPEC.md` section 6),
//! with the gradient source stated in every result.

use super::analysis_runs::{command_line, write_figures};
use anyhow::{bail, Context};
use clap::Args;
use diag::analysis::attack::{
    adversarial_examples, evaluate_robustness, AttackKind, AttackSettings, ExampleGrid, GradientSource, Norm,
    RobustnessReport,
};
use diag::ckpt::{load_checkpoint, resolve_checkpoint, CkptSelector, RunDir, RunInfo};
use diag::net::OutputLoss;
use diag::plot::{Axis, Figure, Layer, Panel, Width};
use diag::report::series::{grouped_lines, RunLabel, RunSeries};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RobustnessArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Checkpoint: a step or 'last'.
    #[arg(long, default_value = "last")]
    ckpt: CkptSelector,
    /// fgsm, pgd, noise or all.
    #[arg(long, default_value = "pgd", value_parser = ["fgsm", "pgd", "noise", "all"])]
    attack: String,
    /// Budgets: one value, a comma list, or LO:HI:COUNT (noise: the standard deviations).
    #[arg(long, default_value = "0.1")]
    eps: String,
    /// Norm of the PGD ball: linf or l2.
    #[arg(long, default_value = "linf")]
    norm: Norm,
    /// PGD steps per restart.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// PGD step size. [default: 2.5 eps / steps]
    #[arg(long)]
    step_size: Option<f32>,
    /// PGD restarts (the worst case per sample is kept).
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// Gradient sources, comma-separated: true (exact, the default and the only basis of a
    /// robustness claim), feedback (the model's feedback path: a gradient-masking control),
    /// transfer:RUN_DIR (crafted on another run's last checkpoint).
    #[arg(long, default_value = "true", value_delimiter = ',')]
    grad: Vec<String>,
    /// Loss the attacks ascend: ce (softmax cross-entropy, the paper's) or margin (the
    /// Carlini-Wagner logit margin, whose gradient survives a saturated softmax).
    #[arg(long, default_value = "ce")]
    loss: OutputLoss,
    /// Data to attack. [default: the run's own]
    #[arg(long)]
    data: Option<String>,
    /// Split: test or train.
    #[arg(long, default_value = "test", value_parser = ["test", "train"])]
    split: String,
    /// First N samples of the split, or 'all'.
    #[arg(long, default_value = "all")]
    samples: String,
    /// Seed of random starts and noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the full results (with the eps x sample success matrix) as JSON.
    #[arg(long)]
    json: bool,
    /// Write figures and an index.html here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `0.1`, `0.05,0.1`, or `0:0.3:13` (13 evenly spaced values from 0 to 0.3).
pub(crate) fn parse_eps(s: &str) -> anyhow::Result<Vec<f32>> {
    let bad = || anyhow::anyhow!("--eps: '{s}' is not a number, a comma list or LO:HI:COUNT");
    let parts: Vec<&str> = s.split(':').collect();
    let values = match parts[..] {
        [one] => {
            one.split(',').map(|v| v.trim().parse::<f32>().map_err(|_| bad())).collect::<anyhow::Result<Vec<_>>>()?
        }
        [lo, hi, count] => {
            let (lo, hi): (f32, f32) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
            let count: usize = count.parse().map_err(|_| bad())?;
            if count < 2 || hi < lo {
                bail!("--eps: LO:HI:COUNT needs HI >= LO and COUNT >= 2");
            }
            (0..count).map(|k| lo + (hi - lo) * k as f32 / (count - 1) as f32).collect()
        }
        _ => return Err(bad()),
    };
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return Err(bad());
    }
    Ok(values)
}

/// Fashion-MNIST's class names, for the fashion-mnist data and the fixture drawn from it.
const FASHION_CLASSES: [&str; 10] =
    ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"];

/// Clean and adversarial images of one run, with labels and predictions.
fn example_figure(info: &RunInfo, grid: &ExampleGrid, name: &str, command: &str) -> Option<Figure> {
    let fashion = matches!(info.data.spec.as_str(), "fashion-mnist" | "fixture");
    let class = |c: u8| {
        if fashion {
            FASHION_CLASSES.get(c as usize).map_or(c.to_string(), |n| n.to_string())
        } else {
            c.to_string()
        }
    };
    let side = (grid.dim as f64).sqrt().round() as usize;
    if side * side != grid.dim || grid.examples.is_empty() {
        return None; // only square single-channel images are drawn
    }
    let image = |pixels: &[f32]| -> Layer {
        // row r of the image at y = side - 1 - r, so it is drawn upright
        let values: Vec<Vec<f64>> =
            (0..side).rev().map(|r| pixels[r * side..(r + 1) * side].iter().map(|&v| v as f64).collect()).collect();
        let coords: Vec<f64> = (0..side).map(|k| k as f64).collect();
        Layer::heat_map(coords.clone(), coords, values).color_range(0.0, 1.0).labelled("pixel value")
    };
    let mut fig = Figure::new(name)
        .caption(format!(
            "Clean (top row) and adversarial (bottom row) test images for {}: PGD, eps {} (L-inf), true gradient. Titles: true label → prediction.",
            RunLabel::of(info).label,
            grid.eps
        ))
        .command(command)
        .width(Width::DoubleColumn)
        .columns(grid.examples.len())
        .panel_height(1.6);
    for clean in [true, false] {
        for ex in &grid.examples {
            let (pixels, pred) =
                if clean { (&ex.clean, ex.clean_prediction) } else { (&ex.perturbed, ex.perturbed_prediction) };
            fig = fig.panel(
                Panel::new(format!("{} → {}", class(ex.label), class(pred)))
                    .x(Axis::linear("").range(-0.5, side as f64 - 0.5))
                    .y(Axis::linear("").range(-0.5, side as f64 - 0.5))
                    .grid(false)
                    .layer(image(pixels)),
            );
        }
    }
    Some(fig)
}

struct Attacked {
    run: PathBuf,
    info: RunInfo,
    step: u64,
    gradient: String,
    report: RobustnessReport,
}

pub fn run(args: RobustnessArgs) -> anyhow::Result<()> {
    if args.ckpt == CkptSelector::All {
        bail!("--ckpt: robustness takes one checkpoint per run (a step or 'last')");
    }
    let eps = parse_eps(&args.eps)?;
    let samples = match args.samples.as_str() {
        "all" => None,
        n => {
            Some(n.parse::<usize>().ok().filter(|&n| n > 0).context("--samples: expected a positive number or 'all'")?)
        }
    };
    let kinds: Vec<AttackKind> = match args.attack.as_str() {
        "all" => vec![AttackKind::Fgsm, AttackKind::Pgd, AttackKind::Noise],
        one => vec![one.parse().map_err(|e: String| anyhow::anyhow!("--attack: {e}"))?],
    };
    let mut results: Vec<Attacked> = Vec::new();
    let mut grids: Vec<(RunInfo, ExampleGrid, String)> = Vec::new();
    let mut data_cache: std::collections::HashMap<String, diag::data::DataSplits> = Default::default();
    for path in &args.runs {
        let dir = RunDir::new(path);
        let info = dir.info()?;
        let (step, ckpt_path) = resolve_checkpoint(&dir, args.ckpt)?.remove(0);
        let model = load_checkpoint(&ckpt_path, Some(info.activation))?.model;
        let spec = args.data.clone().unwrap_or_else(|| info.data.spec.clone());
        if !data_cache.contains_key(&spec) {
            data_cache.insert(spec.clone(), super::load_data(&spec)?);
        }
        let data = &data_cache[&spec];
        let split = if args.split == "train" { &data.train } else { &data.test };
        if args.out.is_some() {
            let settings = AttackSettings { seed: args.seed, loss: args.loss, ..AttackSettings::pgd(vec![0.1]) };
            let grid =
                adversarial_examples(&model, split, &settings, 0.1, 4).with_context(|| path.display().to_string())?;
            let slug: String = path.file_name().map_or("run".into(), |n| {
                n.to_string_lossy().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
            });
            grids.push((info.clone(), grid, format!("examples_{slug}")));
        }
        for grad in &args.grad {
            let source = match grad.as_str() {
                "true" => GradientSource::True,
                "feedback" => GradientSource::Feedback,
                other => match other.strip_prefix("transfer:") {
                    Some(src) => {
                        let src_dir = RunDir::new(src);
                        let (_, src_ckpt) = resolve_checkpoint(&src_dir, CkptSelector::Last)?.remove(0);
                        let src_info = src_dir.info()?;
                        let source = load_checkpoint(&src_ckpt, Some(src_info.activation))?.model;
                        GradientSource::Transfer { source, name: src_ckpt.display().to_string() }
                    }
                    None => bail!("--grad: '{other}' is not true, feedback or transfer:RUN_DIR"),
                },
            };
            for &kind in &kinds {
                let noise = kind == AttackKind::Noise;
                if noise && grad != "true" {
                    continue; // noise uses no gradient: reported once
                }
                let settings = AttackSettings {
                    attack: kind,
                    eps: eps.clone(),
                    norm: args.norm,
                    steps: if kind == AttackKind::Pgd { args.steps } else { AttackSettings::pgd(vec![]).steps },
                    step_size: if kind == AttackKind::Pgd { args.step_size } else { None },
                    restarts: if kind == AttackKind::Pgd { args.restarts } else { 1 },
                    seed: args.seed,
                    gradient: if noise { GradientSource::True } else { source.clone() },
                    loss: args.loss,
                    samples,
                    ..AttackSettings::pgd(vec![])
                };
                let settings = match kind {
                    AttackKind::Fgsm => AttackSettings { norm: Norm::Linf, ..settings },
                    _ => settings,
                };
                let report =
                    evaluate_robustness(&model, split, &settings).with_context(|| path.display().to_string())?;
                results.push(Attacked { run: path.clone(), info: info.clone(), step, gradient: grad.clone(), report });
            }
        }
    }
    if args.json {
        let out: Vec<_> = results
            .iter()
            .map(|r| json!({"run": r.run, "step": r.step, "claim": claim(&r.info, r.report.settings.attack, &r.gradient), "report": r.report}))
            .collect();
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("| run | rule | attack | gradient | eps | clean acc | robust acc | adversarial loss | success rate | claim |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for r in &results {
            for e in &r.report.per_eps {
                println!(
                    "| {} | {} | {} | {} | {:.3} | {:.2}% | {:.2}% | {:.4} | {:.2}% | {} |",
                    r.run.display(),
                    RunLabel::of(&r.info).label,
                    r.report.settings.attack,
                    if r.report.settings.attack == AttackKind::Noise { "—" } else { r.gradient.as_str() },
                    e.eps,
                    100.0 * e.clean_accuracy,
                    100.0 * e.robust_accuracy,
                    e.adversarial_loss,
                    100.0 * e.attack_success_rate,
                    claim(&r.info, r.report.settings.attack, &r.gradient)
                );
            }
        }
    }
    if let Some(out) = &args.out {
        let command = command_line();
        let mut figs = figures(&results, &kinds, args.loss, &command);
        figs.extend(grids.iter().filter_map(|(info, grid, name)| example_figure(info, grid, name, &command)));
        write_figures(out, &figs, "diag robustness")?;
    }
    Ok(())
}

/// What a result may be used for: only the true gradient supports a robustness claim about
/// a feedback-alignment model; its own feedback path is a gradient-masking control.
fn claim(info: &RunInfo, kind: AttackKind, gradient: &str) -> &'static str {
    if kind == AttackKind::Noise {
        return "corruption robustness (no gradient)";
    }
    match gradient {
        "true" => "robustness (white-box, true gradient)",
        "feedback" if info.rule == diag::net::Rule::Bp => "robustness (bp: feedback = true gradient)",
        "feedback" => "gradient-masking control, not a robustness claim",
        _ => "transfer attack",
    }
}

fn figures(results: &[Attacked], kinds: &[AttackKind], loss: OutputLoss, command: &str) -> Vec<Figure> {
    let ascending = match loss {
        OutputLoss::CrossEntropy => "ascending the cross-entropy",
        OutputLoss::Margin => "ascending the logit margin",
    };
    let series = |kind: AttackKind, grad: &str| -> Vec<RunSeries> {
        results
            .iter()
            .filter(|r| r.report.settings.attack == kind && (kind == AttackKind::Noise || r.gradient == grad))
            .map(|r| RunSeries {
                run: RunLabel::of(&r.info),
                xs: r.report.per_eps.iter().map(|e| e.eps as f64).collect(),
                ys: r.report.per_eps.iter().map(|e| 100.0 * e.robust_accuracy).collect(),
            })
            .collect()
    };
    let x_label = |kind: AttackKind| {
        if kind == AttackKind::Noise {
            "noise sd sigma (pixels in [0, 1])"
        } else {
            "eps (pixels in [0, 1])"
        }
    };
    let mut main = Figure::new("robust_accuracy")
        .caption(format!(
            "Accuracy under attack against the budget, with the exact (true) input gradient for FGSM and PGD \
                 ({ascending}), and under additive Gaussian noise (clipped to [0, 1]). Mean and ±1 sd band over seeds \
                 where runs share a configuration."
        ))
        .command(command)
        .width(Width::DoubleColumn)
        .columns(kinds.len());
    for &kind in kinds {
        main = main.panel(
            Panel::new(format!("{kind}"))
                .x(Axis::linear(x_label(kind)))
                .y(Axis::linear("accuracy (%)").range(0.0, 100.0))
                .layers(grouped_lines(&series(kind, "true"))),
        );
    }
    let mut figs = vec![main];
    let sources: Vec<&String> = {
        let mut s: Vec<&String> = results.iter().map(|r| &r.gradient).collect();
        s.sort();
        s.dedup();
        s
    };
    if sources.len() > 1 {
        let attack = if kinds.contains(&AttackKind::Pgd) { AttackKind::Pgd } else { kinds[0] };
        let mut layers = Vec::new();
        for r in results.iter().filter(|r| r.report.settings.attack == attack && r.info.rule != diag::net::Rule::Bp) {
            let label = RunLabel::of(&r.info);
            let xs = r.report.per_eps.iter().map(|e| e.eps as f64).collect();
            let ys = r.report.per_eps.iter().map(|e| 100.0 * e.robust_accuracy).collect();
            let line = Layer::line(format!("{} ({} gradient)", label.label, r.gradient), label.color, xs, ys);
            layers.push(if r.gradient == "true" { line } else { line.dashed() });
        }
        figs.push(
            Figure::new("gradient_sources")
                .caption(format!(
                    "{attack} accuracy of feedback-alignment models attacked with the exact input gradient (solid) and along the model's \
                     own feedback path or a transfer source (dashed). Higher accuracy under the feedback path than under the true \
                     gradient is gradient masking, not robustness."
                ))
                .command(command)
                .panel(
                    Panel::new(format!("{attack}: gradient source"))
                        .x(Axis::linear("eps (pixels in [0, 1])"))
                        .y(Axis::linear("accuracy (%)").range(0.0, 100.0))
                        .layers(layers),
                ),
        );
    }
    figs
}
