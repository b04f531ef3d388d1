//! `diag spectrum`: singular values of W_l, B_l, P_l = W_l B_l (and its eigenvalues), of the
//! end-to-end products, and of the gradient-flow map J(x), per checkpoint.

use super::analysis_runs::{command_line, load_runs, write_figures};
use clap::Args;
use diag::analysis::spectrum::{spectrum_run, SpectrumOptions};
use diag::ckpt::CkptSelector;
use diag::report::series::sig3;
use diag::report::spectrum as figures;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SpectrumArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Checkpoints: a step, 'last' or 'all'.
    #[arg(long, default_value = "last")]
    ckpt: CkptSelector,
    /// Write figures (SVG, PNG, JSON, CSV) and an index.html here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the full results as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Training samples over which the gradient-flow spectrum is pooled (0 skips it).
    #[arg(long, default_value_t = 128)]
    flow_samples: usize,
    /// Seed that picks the gradient-flow samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Eigenvalues of P_l at every selected checkpoint ('all') or only the last ('last').
    #[arg(long, default_value = "last", value_parser = ["last", "all"])]
    eigenvalues: String,
}

pub fn run(args: SpectrumArgs) -> anyhow::Result<()> {
    let runs = load_runs(&args.runs)?;
    let options = SpectrumOptions {
        flow_samples: args.flow_samples,
        seed: args.seed,
        eigenvalues_at_every_checkpoint: args.eigenvalues == "all",
        ..SpectrumOptions::default()
    };
    let start = std::time::Instant::now();
    let results = runs
        .iter()
        .map(|r| spectrum_run(&r.dir, &r.train, args.ckpt, &options).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        let out: Vec<_> = runs.iter().zip(&results).map(|(r, s)| json!({"run": r.dir.path, "spectrum": s})).collect();
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("| run | rule | checkpoints | sigma_max(F G) | median cond. J(x), rule path | median cond. J(x), true path |");
        println!("|---|---|---|---|---|---|");
        for (r, s) in runs.iter().zip(&results) {
            let Some(last) = s.checkpoints.last() else { continue };
            let top =
                last.loop_product_singular_values.as_ref().and_then(|v| v.first()).map_or("—".into(), |v| sig3(*v));
            let (rule, truth) = last.gradient_flow.as_ref().map_or(("—".into(), "—".into()), |g| {
                (sig3(g.rule_path.median_condition_number), sig3(g.true_path.median_condition_number))
            });
            println!(
                "| {} | {} | {} | {top} | {rule} | {truth} |",
                r.dir.path.display(),
                r.label.label,
                s.checkpoints.len()
            );
        }
        eprintln!(
            "spectra of {} checkpoints in {seconds:.2} s",
            results.iter().map(|s| s.checkpoints.len()).sum::<usize>()
        );
    }
    if let Some(out) = &args.out {
        let command = command_line();
        let pairs: Vec<_> = runs.iter().map(|r| r.info.clone()).zip(results.iter().cloned()).collect();
        let mut figs = vec![
            figures::layer_products(&pairs, &command),
            figures::weights_and_feedback(&pairs, &command),
            figures::end_to_end(&pairs, &command),
            figures::eigenvalues(&pairs, &command),
        ];
        if args.flow_samples > 0 {
            figs.push(figures::gradient_flow(&pairs, &command));
        }
        for (r, (info, sp)) in runs.iter().zip(&pairs) {
            if let Some(f) = figures::evolution(info, sp, &format!("spectrum_evolution_{}", r.slug), &command) {
                figs.push(f);
            }
        }
        write_figures(out, &figs, "diag spectrum")?;
    }
    Ok(())
}
