//! `diag paper`: the paper's comparison in one command — a sweep with a preset grid, then
//! the report of that sweep. It is exactly `diag sweep PRESET` followed by
//! `diag report SWEEP --out OUT`, and prints both commands so either can be re-run alone.

use clap::{Args, Parser};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Presets (each grid flag below overrides its part of the preset):
  --quick  the committed Fashion-MNIST fixture (5,000 training images), hidden layers of
           width 128 at depths 2, 4 and 8, rules bp, fa and ifa at 0, 30, 60 and 90 degrees,
           seeds 0 and 1, 8 epochs at SGD lr 0.005 (momentum 0.9, batch 128); small
           evaluation sets in the report. A few minutes or less on 2 cores.
  full     Fashion-MNIST (Debian's dataset-fashion-mnist), width 512 at depths 2, 4 and 8,
           ifa at 0, 15, ..., 90 degrees, seeds 0, 1 and 2, 10 epochs at lr 0.005 (81 runs).
           About 45 minutes on 2 cores: it prints its estimated time first. Interrupt it at any
           time; the same command resumes it.";

#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct PaperArgs {
    /// The small preset on the embedded fixture.
    #[arg(long)]
    quick: bool,
    /// Report folder. [default: reports/paper, or reports/paper-quick with --quick]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Sweep folder holding the runs. [default: sweeps/paper, or sweeps/paper-quick with --quick]
    #[arg(long)]
    sweep: Option<PathBuf>,
    /// Learning rules (comma-separated). [default: bp,fa,ifa]
    #[arg(long)]
    rules: Option<String>,
    /// Initial angles of ifa in degrees (comma-separated).
    #[arg(long)]
    align_angles: Option<String>,
    /// Numbers of hidden layers (comma-separated). [default: 2,4,8]
    #[arg(long)]
    depths: Option<String>,
    /// Width of every hidden layer.
    #[arg(long)]
    width: Option<usize>,
    /// Seeds (comma-separated).
    #[arg(long)]
    seeds: Option<String>,
    /// Epochs per run.
    #[arg(long)]
    epochs: Option<u64>,
    /// Data (fixture, fashion-mnist, idx:DIR, cifar10:DIR).
    #[arg(long)]
    data: Option<String>,
    /// Runs trained at once. [default: 1]
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Print the grid and the estimated time, and stop.
    #[arg(long)]
    plan: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

/// The preset's grid and training flags, with the user's overrides.
struct Preset {
    sweep: PathBuf,
    out: PathBuf,
    grid: Vec<(&'static str, String)>,
    train: Vec<(&'static str, String)>,
}

fn preset(args: &PaperArgs) -> Preset {
    let q = args.quick;
    let pick =
        |given: &Option<String>, quick: &str, full: &str| given.clone().unwrap_or(if q { quick } else { full }.into());
    Preset {
        sweep: args.sweep.clone().unwrap_or_else(|| (if q { "sweeps/paper-quick" } else { "sweeps/paper" }).into()),
        out: args.out.clone().unwrap_or_else(|| (if q { "reports/paper-quick" } else { "reports/paper" }).into()),
        grid: vec![
            ("--rules", pick(&args.rules, "bp,fa,ifa", "bp,fa,ifa")),
            ("--align-angles", pick(&args.align_angles, "0,30,60,90", "0,15,30,45,60,75,90")),
            ("--depths", pick(&args.depths, "2,4,8", "2,4,8")),
            ("--width", args.width.map_or(if q { "128" } else { "512" }.into(), |w| w.to_string())),
            ("--seeds", pick(&args.seeds, "0,1", "0,1,2")),
        ],
        train: vec![
            ("--data", pick(&args.data, "fixture", "fashion-mnist")),
            ("--epochs", args.epochs.map_or(if q { "8" } else { "10" }.into(), |e| e.to_string())),
            ("--lr", "0.005".into()),
            ("--momentum", "0.9".into()),
            ("--batch", "128".into()),
            ("--ckpt-every", if q { "log:12" } else { "log:20" }.into()),
        ],
    }
}

fn flags(pairs: &[(&'static str, String)]) -> Vec<String> {
    pairs.iter().flat_map(|(k, v)| [k.to_string(), v.clone()]).collect()
}

/// Runs a `diag` command line in this process.
fn diag(argv: &[String]) -> anyhow::Result<()> {
    let cli = super::Cli::try_parse_from(std::iter::once("diag".to_string()).chain(argv.iter().cloned()))
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().lines().next().unwrap_or("invalid arguments")))?;
    super::run(cli)
}

pub fn run(args: PaperArgs) -> anyhow::Result<()> {
    let p = preset(&args);
    let mut sweep = vec!["sweep".to_string(), "--out".into(), p.sweep.display().to_string()];
    sweep.extend(flags(&p.grid));
    sweep.extend(flags(&p.train));
    sweep.extend(["--jobs".into(), args.jobs.to_string()]);
    if args.quiet {
        sweep.push("--quiet".into());
    }
    let mut report =
        vec!["report".to_string(), p.sweep.display().to_string(), "--out".into(), p.out.display().to_string()];
    if args.quick {
        report.push("--quick".into());
    }
    if args.quiet {
        report.push("--quiet".into());
    }
    if !args.quiet {
        eprintln!("diag paper: diag {}\n            diag {}", sweep.join(" "), report.join(" "));
    }
    if args.plan || !args.quick {
        // the full grid states its cost before it starts
        let mut plan = sweep.clone();
        plan.push("--plan".into());
        diag(&plan)?;
        if args.plan {
            return Ok(());
        }
    }
    // a failed point is recorded by the sweep and the report still covers every run that
    // finished; the sweep's error then decides the exit status
    match diag(&sweep) {
        Ok(()) => diag(&report),
        Err(swept) => {
            eprintln!("diag paper: {swept:#}; reporting on the runs that finished");
            if let Err(e) = diag(&report) {
                eprintln!("diag paper: {e:#}");
            }
            Err(swept)
        }
    }
}
