//! `diag sweep`: flags → a validated [`SweepGrid`] → child `diag train` runs, a plan with an
//! estimated time, or command lines / a Slurm job array for a cluster.

use super::progress::CountProgress;
use anyhow::{bail, Context};
use clap::Args;
use diag::ckpt::{list_checkpoints, RunDir};
use diag::net::Rule;
use diag::sweep::{self, GridPoint, PointState, SweepGrid, SweepOptions};
use diag::train::{self, TrainConfig};
use serde_json::json;
use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

const AFTER_HELP: &str = "\
Each point is an ordinary run directory OUT/runs/NAME (e.g. d4-w512-ifa30-s1) trained by
`diag train` with the point's --rule, --align-angle, --hidden and --seed plus the training
flags given here; its output goes to OUT/logs/NAME.log. Re-running the same command resumes
the sweep: completed and diverged points are skipped, interrupted ones continue with
--resume, failed ones are trained again. The grid may change between runs (OUT/sweep.json is
replaced; run directories outside the new grid are left alone), but the training flags of
points already trained may not: use a new --out for that.

With --emit, nothing is trained: OUT/commands.txt gets one `diag train` line per pending
point (for GNU parallel or any queue), and with --emit slurm OUT/sweep.slurm runs line i+1
in array task i. Results land in the same layout wherever they ran.";

#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct SweepArgs {
    /// Learning rules, comma-separated: bp, fa, ifa, dfa, sign, kp.
    #[arg(long, default_value = "bp,fa,ifa")]
    rules: String,
    /// ifa only: initial angles between W_l^T and B_l in degrees, comma-separated, each in [0, 90].
    #[arg(long, default_value = "0,30,60,90")]
    align_angles: String,
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, default_value = "4")]
    depths: String,
    /// Width of every hidden layer.
    #[arg(long, default_value_t = 512)]
    width: usize,
    /// Seeds, comma-separated.
    #[arg(long, default_value = "0")]
    seeds: String,
    /// Sweep directory (sweep.json, sweep-status.json, runs/, logs/).
    #[arg(long)]
    out: PathBuf,
    /// Points trained at once; each gets max(1, cores / jobs) threads unless RAYON_NUM_THREADS is set.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Print every point (name, state, command) and an estimated wall time from a few measured steps; train nothing.
    #[arg(long, conflicts_with = "emit")]
    plan: bool,
    /// Write the pending points' commands to OUT/commands.txt (and a Slurm job-array script OUT/sweep.slurm); train nothing.
    #[arg(long, value_name = "KIND", value_parser = ["commands", "slurm"])]
    emit: Option<String>,
    /// No progress output (the summary is still printed).
    #[arg(long, short)]
    quiet: bool,
    /// Print the outcomes (or the plan) as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: super::train::ConfigFlags,
}

/// A comma-separated list; the error names the flag and the value.
fn list<T: FromStr>(flag: &str, text: &str) -> anyhow::Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<T>().map_err(|e| anyhow::anyhow!("{flag}: '{s}' is not valid ({e})")))
        .collect()
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    // Everything is checked before the sweep directory is touched.
    if args.jobs == 0 {
        bail!("--jobs: must be positive");
    }
    let grid = SweepGrid {
        rules: list("--rules", &args.rules)?,
        align_angles: list::<f64>("--align-angles", &args.align_angles)?.into_iter().map(|a| a + 0.0).collect(),
        depths: list("--depths", &args.depths)?,
        width: args.width,
        seeds: list("--seeds", &args.seeds)?,
        train_args: args.config.to_argv(),
    };
    grid.validate()?;
    let points = grid.points();
    // Each point's configuration, through `diag train`'s own parser and checks.
    let configs = points
        .iter()
        .map(|p| super::train::parse_config(&grid.train_argv(&args.out, p)))
        .collect::<anyhow::Result<Vec<TrainConfig>>>()?;
    let loading = Instant::now();
    let data = super::load_data(&configs[0].data)?;
    let load_seconds = loading.elapsed().as_secs_f64();
    let train_samples = train::training_split(&configs[0], &data)?.len();
    check_existing_runs(&args.out, &points, &configs)?;

    if args.plan {
        return plan(&args, &grid, &points, &configs, &data, train_samples, load_seconds);
    }
    let strays = sweep::stray_runs(&args.out, &grid);
    if !strays.is_empty() {
        eprintln!(
            "diag sweep: {} run directories in {} are not in this grid and are left alone: {}",
            strays.len(),
            args.out.join(sweep::RUNS_DIR).display(),
            strays.join(", ")
        );
    }
    if let Some(kind) = &args.emit {
        return emit(&args.out, &grid, kind);
    }

    let exe = std::env::current_exe().context("cannot locate the diag binary")?;
    let opts = SweepOptions { jobs: args.jobs, exe };
    let mut progress = CountProgress::new(args.quiet, "sweep");
    let outcomes = sweep::run_sweep(&args.out, &grid, &opts, |done, total, outcome| {
        let mut what = format!("{}: {} in {:.1} s", outcome.point.name, outcome.state, outcome.seconds);
        if outcome.state != PointState::Completed {
            what += &format!(" (log: {})", outcome.log.display());
            progress.keep(&what);
        }
        progress.set(done, total, &what);
    });
    progress.finish();
    let outcomes = outcomes?;
    let count = |state: PointState| outcomes.iter().filter(|o| o.state == state).count();
    let ran = outcomes.iter().filter(|o| o.action != sweep::PointAction::Skipped).count();
    if args.json {
        println!("{}", serde_json::to_string(&outcomes)?);
    } else {
        println!(
            "{}: {} points ({ran} run now): {} completed, {} diverged, {} failed; status in {}",
            args.out.display(),
            outcomes.len(),
            count(PointState::Completed),
            count(PointState::Diverged),
            count(PointState::Failed),
            args.out.join(sweep::STATUS_FILE).display()
        );
    }
    let failed = count(PointState::Failed);
    if failed > 0 {
        bail!(
            "{failed} of {} points failed (logs in {}; run the same command again to retry them)",
            outcomes.len(),
            args.out.join(sweep::LOGS_DIR).display()
        );
    }
    Ok(())
}

/// Refuses to mix training flags: a point already trained (or partly trained) must have
/// the configuration this sweep would give it.
fn check_existing_runs(out: &Path, points: &[GridPoint], configs: &[TrainConfig]) -> anyhow::Result<()> {
    for (p, cfg) in points.iter().zip(configs) {
        if matches!(sweep::point_state(out, p), PointState::Pending | PointState::Failed) {
            continue;
        }
        let run = RunDir::new(sweep::run_dir(out, p));
        let Ok(info) = run.info() else { continue };
        let wanted = serde_json::to_value(cfg)?;
        if info.config != wanted {
            let fields = wanted.as_object().map_or_else(Vec::new, |w| {
                w.iter().filter(|(k, v)| info.config.get(k.as_str()) != Some(v)).map(|(k, _)| k.clone()).collect()
            });
            bail!(
                "--out: {} was trained with other settings ({}) than this sweep gives it; use another --out or delete that run directory",
                run.path.display(),
                fields.join(", ")
            );
        }
    }
    Ok(())
}

fn emit(out: &Path, grid: &SweepGrid, kind: &str) -> anyhow::Result<()> {
    sweep::write_manifest(out, grid)?;
    let commands = sweep::emit_commands(out, grid, "diag");
    let count = commands.lines().count();
    let commands_file = out.join("commands.txt");
    diag::io::write_atomic(&commands_file, commands.as_bytes())
        .with_context(|| format!("{}: cannot write", commands_file.display()))?;
    println!("{}: {count} commands", commands_file.display());
    if kind == "slurm" {
        if count == 0 {
            println!("every point is finished: no Slurm script written");
            return Ok(());
        }
        let name = out.file_name().map_or_else(|| "diag-sweep".into(), |n| n.to_string_lossy().into_owned());
        let script = out.join("sweep.slurm");
        diag::io::write_atomic(&script, sweep::emit_slurm(&commands_file, count, &name).as_bytes())
            .with_context(|| format!("{}: cannot write", script.display()))?;
        println!("{}: array of {count} tasks (sbatch {})", script.display(), script.display());
    }
    Ok(())
}

/// `--plan`: every point with its state and command, and the wall time the pending ones
/// should take, from steps measured here with the threads each child would get.
fn plan(
    args: &SweepArgs,
    grid: &SweepGrid,
    points: &[GridPoint],
    configs: &[TrainConfig],
    data: &diag::data::DataSplits,
    train_samples: usize,
    load_seconds: f64,
) -> anyhow::Result<()> {
    let threads = sweep::threads_per_job(args.jobs);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let mut costs: HashMap<(Rule, usize), train::bench::StepCost> = HashMap::new();
    let mut rows = Vec::new();
    for (p, cfg) in points.iter().zip(configs) {
        let state = sweep::point_state(&args.out, p);
        let argv = sweep::point_argv(&args.out, grid, p, state);
        let mut seconds = 0.0;
        if argv.is_some() {
            let cost = match costs.entry((p.rule, p.depth)) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(pool.install(|| train::bench::step_cost(cfg, data, 0.3))?),
            };
            let steps_per_epoch = train_samples.div_ceil(cfg.batch) as u64;
            let done = match state {
                PointState::Partial => list_checkpoints(&RunDir::new(sweep::run_dir(&args.out, p)))
                    .ok()
                    .and_then(|c| c.last().map(|(step, _)| *step))
                    .unwrap_or(0),
                _ => 0,
            };
            let steps = (steps_per_epoch * cfg.epochs).saturating_sub(done);
            let evaluations = steps.div_ceil(steps_per_epoch) + 1;
            seconds = load_seconds
                + steps as f64 * cost.seconds_per_step
                + (evaluations * data.test.len() as u64) as f64 * cost.seconds_per_test_sample;
        }
        let command = argv.map(|a| sweep::command_line("diag", &a));
        rows.push((p, state, command, seconds));
    }
    let total: f64 = rows.iter().map(|r| r.3).sum();
    let longest = rows.iter().map(|r| r.3).fold(0.0, f64::max);
    let wall = (total / args.jobs as f64).max(longest);
    let to_run = rows.iter().filter(|r| r.2.is_some()).count();
    let mut measured: Vec<_> = costs.iter().collect();
    measured.sort_by_key(|((rule, depth), _)| (*depth, rule.name()));

    if args.json {
        let points: Vec<_> = rows
            .iter()
            .map(|(p, state, command, seconds)| {
                json!({"name": p.name, "state": state, "command": command, "estimated_seconds": seconds})
            })
            .collect();
        let measured: Vec<_> =
            measured.iter().map(|((rule, depth), c)| json!({"rule": rule, "depth": depth, "cost": c})).collect();
        let plan = json!({"grid": grid, "points": points, "to_run": to_run, "jobs": args.jobs,
            "threads_per_job": threads, "estimated_wall_seconds": wall, "measured": measured});
        println!("{}", serde_json::to_string(&plan)?);
        return Ok(());
    }
    let width = points.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for (p, state, command, _) in &rows {
        println!("{:width$}  {:9}  {}", p.name, state.name(), command.as_deref().unwrap_or("-"));
    }
    println!(
        "{} points, {to_run} to run ({} at a time, {threads} threads each): estimated wall time {} \
         (measured steps, evaluation and data loading; checkpoint writing not counted)",
        rows.len(),
        args.jobs,
        duration(wall)
    );
    for ((rule, depth), c) in measured {
        println!(
            "  {rule} depth {depth}: {:.2} ms/step, {:.1} us per test sample",
            1e3 * c.seconds_per_step,
            1e6 * c.seconds_per_test_sample
        );
    }
    Ok(())
}

/// `42 s`, `12 min`, `3 h 05 min`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=99 => format!("{s} s"),
        100..=5999 => format!("{} min", (s + 30) / 60),
        _ => {
            let minutes = (s + 30) / 60;
            format!("{} h {:02} min", minutes / 60, minutes % 60)
        }
    }
}
