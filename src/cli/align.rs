//! `diag align`: weight, update and error-signal alignment over every checkpoint of runs.

use super::analysis_runs::{command_line, load_runs, write_figures};
use clap::Args;
use diag::analysis::align::{align_run, AlignOptions};
use diag::report::align::{alignment_by_layer, alignment_by_run, StepAxis};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct AlignArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Write figures (SVG, PNG, JSON, CSV) and an index.html here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the full results as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Training samples in the fixed evaluation batch.
    #[arg(long, default_value_t = 1024)]
    samples: usize,
    /// Seed that picks the evaluation samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One line per run (runs sharing a configuration are averaged over seeds), or per layer (one figure per run).
    #[arg(long, default_value = "run", value_parser = ["run", "layer"])]
    by: String,
    /// Step axis: log (step + 1) or linear. [default: log when a run's checkpoints are log-spaced]
    #[arg(long, value_parser = ["log", "linear"])]
    steps: Option<String>,
}

pub fn run(args: AlignArgs) -> anyhow::Result<()> {
    if args.samples == 0 {
        anyhow::bail!("--samples: must be positive");
    }
    let runs = load_runs(&args.runs)?;
    let options = AlignOptions { samples: args.samples, seed: args.seed };
    let results = runs
        .iter()
        .map(|r| align_run(&r.dir, &r.train, &options).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.json {
        let out: Vec<_> = runs.iter().zip(&results).map(|(r, a)| json!({"run": r.dir.path, "alignment": a})).collect();
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("| run | rule | checkpoints | weight alignment (deg) first → last | update alignment, hidden mean (deg) | error-signal alignment, hidden mean (deg) |");
        println!("|---|---|---|---|---|---|");
        for (r, a) in runs.iter().zip(&results) {
            let (Some(first), Some(last)) = (a.checkpoints.first(), a.checkpoints.last()) else { continue };
            let w = |c: &diag::analysis::align::ModelAlignment| {
                c.weight_alignment_overall_deg.map_or("—".into(), |v| format!("{v:.1}"))
            };
            let hidden = last.update_alignment_deg.len().saturating_sub(1);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            println!(
                "| {} | {} | {} | {} → {} | {:.1} | {:.1} |",
                r.dir.path.display(),
                r.label.label,
                a.checkpoints.len(),
                w(first),
                w(last),
                mean(&last.update_alignment_deg[..hidden]),
                mean(&last.error_alignment_deg)
            );
        }
    }
    if let Some(out) = &args.out {
        let log = match args.steps.as_deref() {
            Some("log") => true,
            Some(_) => false,
            None => runs.iter().any(|r| r.info.config["ckpt_every"]["every"] == "log"),
        };
        let steps = if log { StepAxis::LogPlusOne } else { StepAxis::Linear };
        let command = command_line();
        let pairs: Vec<_> = runs.iter().map(|r| r.info.clone()).zip(results.iter().cloned()).collect();
        let figures = if args.by == "layer" {
            pairs
                .iter()
                .enumerate()
                .map(|(k, (info, a))| {
                    alignment_by_layer(info, a, &format!("alignment_layers_{}", runs[k].slug), steps, &command)
                })
                .collect()
        } else {
            vec![alignment_by_run(&pairs, steps, &command)]
        };
        write_figures(out, &figures, "diag align")?;
    }
    Ok(())
}
