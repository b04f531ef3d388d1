//! Subcommands: one file each. Flags are parsed here into validated library settings.

mod align;
mod analysis_runs;
mod bench;
mod eval;
mod hessian;
mod landscape;
mod paper;
mod progress;
mod report;
mod robustness;
mod spectrum;
mod summary;
mod sweep;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "diag",
    version,
    about = "Learning without weight transport: train BP / FA / soft-aligned FA networks and analyse their checkpoints"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train an MLP with a learning rule, writing checkpoints to a run directory.
    Train(Box<train::TrainArgs>),
    /// Run a grid of training runs (rules x angles x depths x seeds), resumable, or emit it for a cluster.
    Sweep(Box<sweep::SweepArgs>),
    /// The paper's figure set in one command: a preset sweep, then its report (--quick: minutes, on the fixture).
    Paper(paper::PaperArgs),
    /// Loss and accuracy of a checkpoint.
    Eval(eval::EvalArgs),
    /// Weight, update and error-signal alignment over every checkpoint.
    Align(align::AlignArgs),
    /// Singular values of forward and feedback products and of the gradient-flow map.
    Spectrum(spectrum::SpectrumArgs),
    /// Accuracy under FGSM, PGD and Gaussian noise, with the gradient source stated.
    Robustness(robustness::RobustnessArgs),
    /// Curvature of the true loss: top eigenvalue, top-k, trace, spectral density.
    Hessian(hessian::HessianArgs),
    /// Loss along random, Hessian or interpolation directions (1-D curves, 2-D maps).
    Landscape(landscape::LandscapeArgs),
    /// Measure throughput (JSON with --json).
    Bench(bench::BenchArgs),
    /// A table of runs: rule, angle, status, test accuracy by epoch, loss blow-ups.
    Summary(summary::SummaryArgs),
    /// Write index.html for a folder of figures.
    Report(report::ReportArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Sweep(args) => sweep::run(*args),
        Command::Paper(args) => paper::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Align(args) => align::run(args),
        Command::Spectrum(args) => spectrum::run(args),
        Command::Robustness(args) => robustness::run(args),
        Command::Hessian(args) => hessian::run(args),
        Command::Landscape(args) => landscape::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Report(args) => report::run(args),
    }
}

/// A comma-separated list of positive layer widths (`512,512,512`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Widths(pub Vec<usize>);

impl std::str::FromStr for Widths {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("needs at least one width, e.g. 512,512".into());
        }
        s.split(',')
            .map(|w| match w.trim().parse::<usize>() {
                Ok(0) => Err("widths must be positive".to_string()),
                Ok(d) => Ok(d),
                Err(_) => Err(format!("'{w}' is not a width")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Widths)
    }
}

/// Loads the data named by a `--data` value.
pub(crate) fn load_data(spec: &str) -> anyhow::Result<diag::data::DataSplits> {
    let spec: diag::data::DataSpec = spec.parse().map_err(|e| anyhow::anyhow!("--data: {e}"))?;
    Ok(diag::data::load(&spec)?)
}
