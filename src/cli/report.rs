//! `diag report DIR`: for a sweep folder, every analysis the paper's figure set needs on
//! every run (cached next to each run) and the figures, summary table and `index.html`;
//! for a folder of figures, just its `index.html`.

use super::analysis_runs::command_line;
use super::progress::CountProgress;
use clap::Args;
use diag::report::sweep::{run_dirs, write_report, ReportOutput, ReportSettings};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A sweep folder (run directories under runs/, as `diag sweep` writes them) or a
    /// folder of figures written by `--out` of the analysis commands.
    dir: PathBuf,
    /// Where the sweep report goes. [default: DIR/report]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Title of the index page (figure folders).
    #[arg(long, default_value = "diag report")]
    title: String,
    /// Small evaluation sets (the `diag paper --quick` preset) instead of the full ones.
    #[arg(long)]
    quick: bool,
    /// Training samples of each run's fixed alignment batch. [default: 1024; quick 256]
    #[arg(long)]
    align_samples: Option<usize>,
    /// Training samples of the Hessian's loss. [default: 2048; quick 512]
    #[arg(long)]
    hessian_samples: Option<usize>,
    /// Hutchinson probes for the Hessian trace, 0 for none. [default: 30; quick 10]
    #[arg(long)]
    trace_probes: Option<usize>,
    /// First N test images attacked. [default: 1000; quick 300]
    #[arg(long)]
    robust_samples: Option<usize>,
    /// PGD budgets (L-inf): a list or LO:HI:COUNT. [default: 0:0.2:9; quick 0:0.2:5]
    #[arg(long)]
    eps: Option<String>,
    /// PGD steps. [default: 20; quick 10]
    #[arg(long)]
    pgd_steps: Option<usize>,
    /// Seed of the evaluation samples, random starts and probes. [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
    /// Print what was written (and the summary rows) as JSON.
    #[arg(long)]
    json: bool,
}

impl ReportArgs {
    fn settings(&self) -> anyhow::Result<ReportSettings> {
        let mut s = if self.quick { ReportSettings::quick() } else { ReportSettings::default() };
        s.align_samples = self.align_samples.unwrap_or(s.align_samples);
        s.hessian_samples = self.hessian_samples.unwrap_or(s.hessian_samples);
        s.trace_probes = self.trace_probes.unwrap_or(s.trace_probes);
        s.robust_samples = self.robust_samples.unwrap_or(s.robust_samples);
        s.pgd_steps = self.pgd_steps.unwrap_or(s.pgd_steps);
        s.seed = self.seed.unwrap_or(s.seed);
        if let Some(eps) = &self.eps {
            s.eps = super::robustness::parse_eps(eps)?;
        }
        s.validate()?;
        Ok(s)
    }
}

/// A folder holding run directories, directly or under `runs/`.
fn is_sweep(dir: &Path) -> bool {
    dir.join(diag::sweep::MANIFEST_FILE).is_file() || run_dirs(dir).is_ok_and(|d| !d.is_empty())
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("{}: no such folder", args.dir.display());
    }
    if !is_sweep(&args.dir) {
        let index = diag::report::write_index(&args.dir, &args.title)?;
        println!("{}", index.display());
        return Ok(());
    }
    let settings = args.settings()?;
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("report"));
    let output = sweep_report(&args.dir, &out, &settings, args.quiet)?;
    if args.json {
        println!("{}", serde_json::to_string(&output)?);
    } else {
        println!("{}", output.index.display());
    }
    Ok(())
}

/// Writes the report of a sweep with a progress bar, and says what came from the cache.
pub fn sweep_report(dir: &Path, out: &Path, settings: &ReportSettings, quiet: bool) -> anyhow::Result<ReportOutput> {
    let mut progress = CountProgress::new(quiet, "analysing runs");
    let output = write_report(dir, out, settings, &command_line(), |done, total, name| progress.set(done, total, name));
    progress.finish();
    let output = output?;
    if !quiet {
        let c = &output.counts;
        eprintln!(
            "{} runs: {} analyses computed, {} from the cache{}{}",
            output.runs,
            c.computed,
            c.cached,
            if c.failed > 0 { format!(", {} ended in an error (see report.json)", c.failed) } else { String::new() },
            if c.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} runs skipped (not finished)", c.skipped.len())
            }
        );
        eprintln!("wrote {} figures and {}", output.figures.len(), output.table_markdown.display());
    }
    Ok(output)
}
