//! Sweeps: a grid of training runs (rules x ifa angles x depths x seeds, with training flags
//! shared by every point), each an ordinary run directory trained by a child `diag train`
//! process. Finished points are skipped, so re-running a sweep resumes it; the same
//! `diag train` lines can instead be emitted for GNU parallel, a queue or a Slurm job array,
//! and their results land in the same layout.
//!
//! ```text
//! SWEEP/
//!   sweep.json          {"format": "diag-sweep/1", "grid": {...}, "points": [...]}
//!   sweep-status.json   every point's state, action, seconds and exit code (rewritten after each point)
//!   runs/NAME/          one standard run directory per point (run.json, metrics.jsonl, step-*.safetensors)
//!   logs/NAME.log       the point's command line, then the stdout and stderr of its `diag train`
//!   commands.txt        with `--emit`: one `diag train ...` line per pending point
//!   sweep.slurm         with `--emit slurm`: a job-array script whose task i runs line i+1 of commands.txt
//! ```

use crate::ckpt::{CkptError, RunDir, RunStatus};
use crate::error::{Error, Result};
use crate::net::Rule;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Run directories live in `<sweep>/runs/<name>/`.
pub const RUNS_DIR: &str = "runs";
/// Each point's output goes to `<sweep>/logs/<name>.log`.
pub const LOGS_DIR: &str = "logs";
/// The grid of a sweep, in `<sweep>/sweep.json`.
pub const MANIFEST_FILE: &str = "sweep.json";
/// Every point's outcome, in `<sweep>/sweep-status.json`.
pub const STATUS_FILE: &str = "sweep-status.json";
pub const MANIFEST_FORMAT: &str = "diag-sweep/1";
pub const STATUS_FORMAT: &str = "diag-sweep-status/1";
const LOCK_FILE: &str = "sweep.lock";

/// The grid: rules x (angles, for ifa only) x depths x seeds, plus training flags shared by every point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepGrid {
    pub rules: Vec<Rule>,
    /// Initial angles between `W_l^T` and `B_l` in degrees; used by ifa only.
    pub align_angles: Vec<f64>,
    /// Numbers of hidden layers.
    pub depths: Vec<usize>,
    /// Every hidden layer's width.
    pub width: usize,
    pub seeds: Vec<u64>,
    /// Further `diag train` flags shared by every point, verbatim, e.g. `["--data","fixture","--epochs","3"]`.
    pub train_args: Vec<String>,
}

/// One training run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    /// Readable, file-name safe and unique within the grid: `d4-w512-bp-s0`, `d4-w512-ifa30-s1`.
    pub name: String,
    pub rule: Rule,
    /// Initial angle in degrees (ifa only).
    pub align_angle: Option<f64>,
    /// Number of hidden layers.
    pub depth: usize,
    pub width: usize,
    pub seed: u64,
}

impl SweepGrid {
    /// Checks every list; the error names the flag (`--rules`, `--align-angles`, ...).
    pub fn validate(&self) -> Result<()> {
        fn distinct<T: PartialEq + fmt::Display>(flag: &str, values: &[T]) -> Result<()> {
            if values.is_empty() {
                return Err(Error::config(flag, "needs at least one value"));
            }
            match values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)) {
                Some((_, v)) => Err(Error::config(flag, format!("{v} is given twice"))),
                None => Ok(()),
            }
        }
        distinct("--rules", &self.rules)?;
        distinct("--depths", &self.depths)?;
        distinct("--seeds", &self.seeds)?;
        if self.depths.contains(&0) {
            return Err(Error::config("--depths", "each depth (number of hidden layers) must be positive"));
        }
        if self.width == 0 {
            return Err(Error::config("--width", "must be positive"));
        }
        if self.rules.contains(&Rule::Ifa) && self.align_angles.is_empty() {
            return Err(Error::config("--align-angles", "rule ifa needs at least one angle in [0, 90] degrees"));
        }
        if !self.align_angles.is_empty() {
            distinct("--align-angles", &self.align_angles)?;
        }
        if let Some(a) = self.align_angles.iter().find(|a| !(0.0..=90.0).contains(*a)) {
            return Err(Error::config("--align-angles", format!("{a} is outside [0, 90] degrees")));
        }
        Ok(())
    }

    /// Every point, ordered by depth, then rule (in the order given; ifa expands over the
    /// angles in the order given), then seed.
    pub fn points(&self) -> Vec<GridPoint> {
        let mut points = Vec::new();
        for &depth in &self.depths {
            for &rule in &self.rules {
                let angles: Vec<Option<f64>> =
                    if rule == Rule::Ifa { self.align_angles.iter().map(|&a| Some(a)).collect() } else { vec![None] };
                for align_angle in angles {
                    for &seed in &self.seeds {
                        let angle = align_angle.map(|a| (a + 0.0).to_string()).unwrap_or_default();
                        points.push(GridPoint {
                            name: format!("d{depth}-w{}-{rule}{angle}-s{seed}", self.width),
                            rule,
                            align_angle,
                            depth,
                            width: self.width,
                            seed,
                        });
                    }
                }
            }
        }
        points
    }

    /// The `diag train` arguments (without the program name) of a point trained from scratch.
    pub fn train_argv(&self, sweep_dir: &Path, p: &GridPoint) -> Vec<String> {
        let mut argv: Vec<String> = ["train", "--out"].map(String::from).into();
        argv.push(run_dir(sweep_dir, p).to_string_lossy().into_owned());
        argv.extend(["--rule".into(), p.rule.to_string()]);
        if let Some(angle) = p.align_angle {
            argv.extend(["--align-angle".into(), angle.to_string()]);
        }
        argv.extend(["--hidden".into(), vec![p.width.to_string(); p.depth].join(",")]);
        argv.extend(["--seed".into(), p.seed.to_string()]);
        argv.extend(self.train_args.iter().cloned());
        argv.push("--quiet".into());
        argv
    }
}

/// `<sweep>/runs/<name>`.
pub fn run_dir(sweep_dir: &Path, p: &GridPoint) -> PathBuf {
    sweep_dir.join(RUNS_DIR).join(&p.name)
}

/// `<sweep>/logs/<name>.log`.
pub fn log_path(sweep_dir: &Path, p: &GridPoint) -> PathBuf {
    sweep_dir.join(LOGS_DIR).join(format!("{}.log", p.name))
}

/// Where a point stands on disk, from its `run.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointState {
    /// No `run.json`.
    Pending,
    Completed,
    /// A recorded result: never re-run.
    Diverged,
    /// A failed child, an unreadable `run.json`, or a run left `running`/`interrupted`
    /// without a resume state: trained again from scratch.
    Failed,
    /// Left `running` or `interrupted` with a resume state: continued with `--resume`.
    Partial,
}

impl PointState {
    pub fn name(self) -> &'static str {
        match self {
            PointState::Pending => "pending",
            PointState::Completed => "completed",
            PointState::Diverged => "diverged",
            PointState::Failed => "failed",
            PointState::Partial => "partial",
        }
    }

    /// Completed and diverged points are results; the others still need training.
    pub fn is_finished(self) -> bool {
        matches!(self, PointState::Completed | PointState::Diverged)
    }
}

impl fmt::Display for PointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state of a point on disk. A run left `running` is taken to have no live process:
/// [`run_sweep`] holds a lock on the sweep directory, so only another machine writing into
/// the same directory (e.g. cluster jobs still running) could break this.
pub fn point_state(sweep_dir: &Path, p: &GridPoint) -> PointState {
    let run = RunDir::new(run_dir(sweep_dir, p));
    if !run.run_json().exists() {
        return PointState::Pending;
    }
    match run.info().map(|info| info.status) {
        Ok(RunStatus::Completed) => PointState::Completed,
        Ok(RunStatus::Diverged) => PointState::Diverged,
        Ok(RunStatus::Running | RunStatus::Interrupted) if run.resume_state().is_file() => PointState::Partial,
        _ => PointState::Failed,
    }
}

/// The `diag train` arguments that bring a point from `state` to a result: from scratch
/// (with `--force` when something is in the way), `--resume` for a partial run, or `None`
/// for a finished one. [`run_sweep`] and [`emit_commands`] both use exactly these.
pub fn point_argv(sweep_dir: &Path, grid: &SweepGrid, p: &GridPoint, state: PointState) -> Option<Vec<String>> {
    let out = run_dir(sweep_dir, p);
    match state {
        PointState::Completed | PointState::Diverged => None,
        PointState::Partial => {
            let mut argv: Vec<String> = ["train", "--out"].map(String::from).into();
            argv.push(out.to_string_lossy().into_owned());
            argv.extend(["--resume", "--quiet"].map(String::from));
            Some(argv)
        }
        PointState::Failed | PointState::Pending => {
            let mut argv = grid.train_argv(sweep_dir, p);
            if state == PointState::Failed || out.exists() {
                argv.push("--force".into());
            }
            Some(argv)
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    grid: SweepGrid,
    points: Vec<GridPoint>,
}

/// Writes `<sweep>/sweep.json` atomically (creating the sweep directory), replacing any
/// earlier grid.
pub fn write_manifest(sweep_dir: &Path, grid: &SweepGrid) -> Result<()> {
    std::fs::create_dir_all(sweep_dir).map_err(|e| Error::io(sweep_dir, e))?;
    let path = sweep_dir.join(MANIFEST_FILE);
    let manifest = Manifest { format: MANIFEST_FORMAT.into(), grid: grid.clone(), points: grid.points() };
    crate::io::write_json_atomic(&path, &manifest).map_err(|e| Error::io(&path, e))
}

/// Reads the grid from `<sweep>/sweep.json`.
pub fn read_manifest(sweep_dir: &Path) -> Result<SweepGrid> {
    let path = sweep_dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::from(CkptError::invalid(&path, "no such file: not a diag sweep directory"))
        } else {
            Error::io(&path, e)
        }
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| CkptError::invalid(&path, format!("not a diag sweep manifest: {e}")))?;
    if manifest.format != MANIFEST_FORMAT {
        let msg = format!("format '{}' is not {MANIFEST_FORMAT}", manifest.format);
        return Err(CkptError::invalid(&path, msg).into());
    }
    Ok(manifest.grid)
}

/// Names of run directories in `<sweep>/runs/` that are not points of `grid` (left alone).
pub fn stray_runs(sweep_dir: &Path, grid: &SweepGrid) -> Vec<String> {
    let names: Vec<String> = grid.points().into_iter().map(|p| p.name).collect();
    let mut strays: Vec<String> = std::fs::read_dir(sweep_dir.join(RUNS_DIR))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !names.contains(n))
                .collect()
        })
        .unwrap_or_default();
    strays.sort();
    strays
}

/// How [`run_sweep`] runs the points.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Points trained at once.
    pub jobs: usize,
    /// The `diag` binary to launch (the CLI passes `std::env::current_exe()`).
    pub exe: PathBuf,
}

/// What [`run_sweep`] did with a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointAction {
    /// Already completed or diverged.
    Skipped,
    /// Trained from scratch.
    Trained,
    /// A partial run continued with `--resume`.
    Resumed,
    /// A failed run trained again from scratch (`--force`).
    Retrained,
}

/// A point after [`run_sweep`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointOutcome {
    pub point: GridPoint,
    /// `completed`, `diverged` or `failed` for the points run now; the state on disk for the others.
    pub state: PointState,
    pub action: PointAction,
    /// Wall time of the child process (0 when skipped).
    pub seconds: f64,
    /// Exit code of the child process (`diag train` exits 3 on divergence).
    pub exit_code: Option<i32>,
    pub log: PathBuf,
}

/// Threads for each of `jobs` concurrent children: `RAYON_NUM_THREADS` if set, otherwise
/// `max(1, available cores / jobs)`.
pub fn threads_per_job(jobs: usize) -> usize {
    if let Some(n) = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
        return n;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// Trains every point that is not finished: pending and failed points from scratch, partial
/// ones with `--resume`, at most `opts.jobs` at once, each as a child `exe train ...` (the
/// arguments of [`point_argv`]) with stdout and stderr in `<sweep>/logs/<name>.log`.
/// Writes `sweep.json` first and `sweep-status.json` after every finished point; a failed
/// or diverged point never stops the others. `point_done(done, total, outcome)` is called
/// as each point run now finishes (`total` counts those points). Returns every point's
/// outcome, in grid order.
pub fn run_sweep(
    sweep_dir: &Path,
    grid: &SweepGrid,
    opts: &SweepOptions,
    mut point_done: impl FnMut(usize, usize, &PointOutcome),
) -> Result<Vec<PointOutcome>> {
    grid.validate()?;
    if opts.jobs == 0 {
        return Err(Error::config("--jobs", "must be positive"));
    }
    write_manifest(sweep_dir, grid)?;
    let _lock = SweepLock::acquire(sweep_dir)?;
    for dir in [RUNS_DIR, LOGS_DIR] {
        let dir = sweep_dir.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }

    let mut outcomes = Vec::new();
    let mut todo = Vec::new();
    for p in grid.points() {
        let state = point_state(sweep_dir, &p);
        let log = log_path(sweep_dir, &p);
        if let Some(argv) = point_argv(sweep_dir, grid, &p, state) {
            todo.push((outcomes.len(), argv, log.clone()));
        }
        let action = match state {
            PointState::Pending => PointAction::Trained,
            PointState::Partial => PointAction::Resumed,
            PointState::Failed => PointAction::Retrained,
            PointState::Completed | PointState::Diverged => PointAction::Skipped,
        };
        outcomes.push(PointOutcome { point: p, state, action, seconds: 0.0, exit_code: None, log });
    }
    write_status(sweep_dir, &outcomes)?;

    let threads = threads_per_job(opts.jobs);
    let mut done = 0;
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut status_error = None;
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(todo.len()) {
            let (tx, todo, next) = (tx.clone(), &todo, &next);
            scope.spawn(move || {
                while let Some((i, argv, log)) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let started = Instant::now();
                    let exit_code = run_child(&opts.exe, argv, log, threads);
                    if tx.send((*i, exit_code, started.elapsed().as_secs_f64())).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, exit_code, seconds) in rx {
            let outcome = &mut outcomes[i];
            outcome.state = match (point_state(sweep_dir, &outcome.point), exit_code) {
                (PointState::Completed, Some(0)) => PointState::Completed,
                (PointState::Diverged, _) => PointState::Diverged,
                _ => PointState::Failed,
            };
            outcome.exit_code = exit_code;
            outcome.seconds = seconds;
            done += 1;
            point_done(done, todo.len(), outcome);
            if let Err(e) = write_status(sweep_dir, &outcomes) {
                status_error.get_or_insert(e);
            }
        }
    });
    match status_error {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

/// Runs `exe argv...` with its output in `log` (after a first line holding the command);
/// the exit code, or `None` if it could not be started or was killed by a signal.
fn run_child(exe: &Path, argv: &[String], log: &Path, threads: usize) -> Option<i32> {
    let mut file = std::fs::File::create(log).ok()?;
    let _ = writeln!(file, "$ {}", command_line(&exe.to_string_lossy(), argv));
    let mut cmd = Command::new(exe);
    cmd.args(argv).stdin(Stdio::null()).stdout(file.try_clone().ok()?).stderr(file.try_clone().ok()?);
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        cmd.env("RAYON_NUM_THREADS", threads.to_string());
    }
    match cmd.status() {
        Ok(status) => status.code(),
        Err(e) => {
            let _ = writeln!(file, "diag sweep: cannot start {}: {e}", exe.display());
            None
        }
    }
}

fn write_status(sweep_dir: &Path, outcomes: &[PointOutcome]) -> Result<()> {
    let path = sweep_dir.join(STATUS_FILE);
    let status = serde_json::json!({"format": STATUS_FORMAT, "points": outcomes});
    crate::io::write_json_atomic(&path, &status).map_err(|e| Error::io(&path, e))
}

/// One shell-quoted command line: `program` followed by `argv`.
pub fn command_line(program: &str, argv: &[String]) -> String {
    std::iter::once(program).chain(argv.iter().map(String::as_str)).map(shell_quote).collect::<Vec<_>>().join(" ")
}

/// `s` as one word for a POSIX shell: unchanged when it holds only safe characters,
/// otherwise in single quotes (an embedded `'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./,:=+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// One `program train ...` line per point that still needs training (the arguments
/// [`run_sweep`] would use), in grid order.
pub fn emit_commands(sweep_dir: &Path, grid: &SweepGrid, program: &str) -> String {
    grid.points()
        .iter()
        .filter_map(|p| point_argv(sweep_dir, grid, p, point_state(sweep_dir, p)))
        .map(|argv| command_line(program, &argv) + "\n")
        .collect()
}

/// A Slurm job-array script over `count` (> 0) command lines: task `i` (0-based,
/// `--array=0-(count-1)`) runs line `i + 1` of `commands_file`.
pub fn emit_slurm(commands_file: &Path, count: usize, job_name: &str) -> String {
    let job_name: String =
        job_name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
    let commands = shell_quote(&commands_file.to_string_lossy());
    format!(
        r#"#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --array=0-{last}
# Written by `diag sweep --emit slurm`: array task i runs line i+1 of {commands}.
# Submit from the directory where `diag sweep` ran (the paths are relative to it), adding
# the #SBATCH lines your cluster needs (partition, time, cpus-per-task, memory):
#   sbatch path/to/sweep.slurm
set -euo pipefail
commands={commands}
line_no=$((SLURM_ARRAY_TASK_ID + 1))
line=$(sed -n "${{line_no}}p" "$commands")
if [ -z "$line" ]; then
    echo "sweep.slurm: no line $line_no in $commands" >&2
    exit 1
fi
if [ -n "${{SLURM_CPUS_PER_TASK:-}}" ]; then
    export RAYON_NUM_THREADS="${{RAYON_NUM_THREADS:-$SLURM_CPUS_PER_TASK}}"
fi
eval "$line"
"#,
        last = count.saturating_sub(1)
    )
}

/// `<sweep>/sweep.lock` while a sweep runs, holding its process id; a lock whose process
/// is gone (where `/proc` tells) is taken over.
struct SweepLock(PathBuf);

impl SweepLock {
    fn acquire(sweep_dir: &Path) -> Result<SweepLock> {
        let path = sweep_dir.join(LOCK_FILE);
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
                    return Ok(SweepLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = pid.trim();
                    let gone = Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists();
                    if !gone || pid.is_empty() {
                        let msg = format!(
                            "another diag sweep (process {pid}) is running in {}; if none is, delete {}",
                            sweep_dir.display(),
                            path.display()
                        );
                        return Err(Error::config("--out", msg));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::config("--out", format!("cannot take the lock {}", path.display())))
    }
}

impl Drop for SweepLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> SweepGrid {
        SweepGrid {
            rules: vec![Rule::Bp, Rule::Fa, Rule::Ifa],
            align_angles: vec![0.0, 30.0],
            depths: vec![1, 2],
            width: 16,
            seeds: vec![0, 1],
            train_args: vec!["--epochs".into(), "1".into()],
        }
    }

    #[test]
    fn the_grid_expands_by_depth_then_rule_and_angle_then_seed() {
        let g = grid();
        g.validate().unwrap();
        let names: Vec<String> = g.points().into_iter().map(|p| p.name).collect();
        assert_eq!(names.len(), (1 + 1 + 2) * 2 * 2);
        let expected = [
            "d1-w16-bp-s0",
            "d1-w16-bp-s1",
            "d1-w16-fa-s0",
            "d1-w16-fa-s1",
            "d1-w16-ifa0-s0",
            "d1-w16-ifa0-s1",
            "d1-w16-ifa30-s0",
            "d1-w16-ifa30-s1",
        ];
        assert_eq!(names[..8], expected);
        assert_eq!(names[8..], expected.map(|n| n.replacen("d1", "d2", 1)));
        let p = &g.points()[15];
        assert_eq!((p.rule, p.align_angle, p.depth, p.width, p.seed), (Rule::Ifa, Some(30.0), 2, 16, 1));
        let angled = SweepGrid { rules: vec![Rule::Ifa], align_angles: vec![22.5], ..grid() };
        assert_eq!(angled.points()[0].name, "d1-w16-ifa22.5-s0");
    }

    #[test]
    fn train_arguments_come_from_the_point_then_the_shared_flags() {
        let g = grid();
        let p = &g.points()[15];
        let argv = g.train_argv(Path::new("sw"), p);
        let expected = "train --out sw/runs/d2-w16-ifa30-s1 --rule ifa --align-angle 30 --hidden 16,16 --seed 1 --epochs 1 --quiet";
        assert_eq!(argv.join(" "), expected);
        assert_eq!(command_line("diag", &["--out".into(), "a b".into(), "it's".into()]), r"diag --out 'a b' 'it'\''s'");
    }

    #[test]
    fn bad_grids_name_the_flag() {
        let bad = |g: SweepGrid, flag: &str| {
            let err = g.validate().unwrap_err().to_string();
            assert!(err.starts_with(flag), "{err}");
        };
        bad(SweepGrid { rules: vec![], ..grid() }, "--rules");
        bad(SweepGrid { rules: vec![Rule::Bp, Rule::Bp], ..grid() }, "--rules");
        bad(SweepGrid { seeds: vec![], ..grid() }, "--seeds");
        bad(SweepGrid { depths: vec![0], ..grid() }, "--depths");
        bad(SweepGrid { width: 0, ..grid() }, "--width");
        bad(SweepGrid { align_angles: vec![], ..grid() }, "--align-angles");
        bad(SweepGrid { align_angles: vec![95.0], ..grid() }, "--align-angles");
        SweepGrid { rules: vec![Rule::Bp], align_angles: vec![], ..grid() }.validate().unwrap();
    }

    #[test]
    fn the_manifest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_manifest(dir.path()).unwrap_err().to_string().contains("sweep.json"));
        write_manifest(dir.path(), &grid()).unwrap();
        assert_eq!(read_manifest(dir.path()).unwrap(), grid());
    }
}
