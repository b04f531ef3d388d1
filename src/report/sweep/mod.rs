//! The report of a sweep (`diag report SWEEP_DIR`): every analysis the figure set needs,
//! run on every run and cached next to it ([`cache`]), then the seven items of the
//! paper's comparison ([`figures`], [`table`]).
//!
//! A sweep folder holds run directories under `runs/` (as `diag sweep` writes them, or
//! as they came back from a cluster); a folder of run directories works too. Completed
//! and diverged runs enter the report; others are listed as skipped.

pub mod cache;
pub mod figures;
pub mod table;

use crate::analysis::align::{align_checkpoints, ModelAlignment};
use crate::analysis::attack::{evaluate_robustness, AttackSettings, GradientSource};
use crate::analysis::batch::EvalBatch;
use crate::analysis::hessian::{hutchinson_trace, power_iteration, HutchinsonParams, PowerParams, TopEigenvalue};
use crate::analysis::spectrum::spectrum_checkpoints;
use crate::ckpt::{list_checkpoints, load_checkpoint, read_metrics, RunData, RunDir, RunInfo, RunStatus};
use crate::data::{DataSplits, Dataset};
use crate::error::{Error, Result};
use crate::net::{HessianOperator, Model, Rule};
use cache::{file_sha256, Input, RunCache, Source};
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};

/// Settings of every analysis of the report; part of each cache key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSettings {
    /// Training samples of the fixed alignment batch, and its seed.
    pub align_samples: usize,
    /// Training samples over which the gradient-flow spectrum is pooled.
    pub flow_samples: usize,
    /// Training samples of the Hessian's loss.
    pub hessian_samples: usize,
    /// Power-iteration products at most, and its relative tolerance.
    pub power_max_iters: usize,
    pub power_tol: f64,
    /// Hutchinson probes for the trace (0: no trace).
    pub trace_probes: usize,
    /// First N test samples attacked.
    pub robust_samples: usize,
    /// L-infinity budgets of PGD.
    pub eps: Vec<f32>,
    pub pgd_steps: usize,
    /// Seed of every sample draw, random start and probe.
    pub seed: u64,
}

impl Default for ReportSettings {
    /// The full report: the analysis commands' defaults, 1,000 attacked test samples.
    fn default() -> Self {
        ReportSettings {
            align_samples: 1024,
            flow_samples: 128,
            hessian_samples: 2048,
            power_max_iters: 100,
            power_tol: 1e-3,
            trace_probes: 30,
            robust_samples: 1000,
            eps: (0..=8).map(|k| k as f32 * 0.025).collect(),
            pgd_steps: 20,
            seed: 0,
        }
    }
}

impl ReportSettings {
    /// Small evaluation sets for a quick look (the `diag paper --quick` preset).
    pub fn quick() -> Self {
        ReportSettings {
            align_samples: 256,
            flow_samples: 32,
            hessian_samples: 512,
            power_max_iters: 50,
            trace_probes: 10,
            robust_samples: 300,
            eps: (0..=4).map(|k| k as f32 * 0.05).collect(),
            pgd_steps: 10,
            ..ReportSettings::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let positive = |v: usize, flag: &str| {
            if v == 0 {
                Err(Error::config(flag, "must be positive"))
            } else {
                Ok(())
            }
        };
        positive(self.align_samples, "--align-samples")?;
        positive(self.hessian_samples, "--hessian-samples")?;
        positive(self.robust_samples, "--robust-samples")?;
        positive(self.pgd_steps, "--pgd-steps")?;
        positive(self.power_max_iters, "--power-iters")?;
        if self.trace_probes == 1 {
            return Err(Error::config("--trace-probes", "needs 0 (no trace) or at least 2 probes"));
        }
        if self.eps.is_empty() || self.eps.iter().any(|e| !(0.0..=1.0).contains(e)) {
            return Err(Error::config("--eps", "needs budgets in [0, 1]"));
        }
        Ok(())
    }

    /// The budget closest to 0.1 (the summary table's robust accuracy).
    pub fn table_eps(&self) -> f32 {
        self.eps.iter().copied().min_by(|a, b| (a - 0.1).abs().total_cmp(&(b - 0.1).abs())).unwrap_or(0.1)
    }
}

/// A run of the sweep with what the report knows about it.
pub struct SweepRun {
    pub dir: RunDir,
    pub info: RunInfo,
    /// Folder name (`d4-w512-ifa30-s0`).
    pub name: String,
    /// Hidden layers and their width (the first hidden width).
    pub depth: usize,
    pub width: usize,
    pub metrics: Vec<serde_json::Value>,
    pub analyses: RunAnalyses,
}

/// Alignment over training, and the spectra, curvature and robustness of the last checkpoint.
/// Each is `Err(message)` when the analysis could not run on this run (e.g. non-finite weights).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunAnalyses {
    pub alignment: std::result::Result<Vec<ModelAlignment>, String>,
    pub spectrum: std::result::Result<EndSpectrum, String>,
    pub curvature: std::result::Result<Curvature, String>,
    pub robustness: std::result::Result<Robustness, String>,
}

/// Spectra at the last checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndSpectrum {
    pub step: u64,
    /// Singular values of `P_l = W_l B_l`, `l = 2..L` (index `l - 2`); empty for `dfa`.
    pub layer_products: Vec<Vec<f64>>,
    /// Pooled singular values of `J(x)` along the true path and the rule's path.
    pub flow_true: Vec<f64>,
    pub flow_rule: Vec<f64>,
    pub flow_true_median_condition: f64,
    pub flow_rule_median_condition: f64,
}

/// Curvature of the true training loss at the last checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Curvature {
    pub step: u64,
    pub top: TopEigenvalue,
    /// Hutchinson's trace and its standard error.
    pub trace: Option<(f64, f64)>,
}

/// PGD robust accuracy at the last checkpoint, true gradients, and the same attack along
/// the model's own feedback path (the gradient-masking control; `None` for `bp`, where it
/// is the true gradient, and `dfa`, which has no path to the input).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Robustness {
    pub step: u64,
    pub samples: usize,
    pub eps: Vec<f32>,
    pub clean_accuracy: f64,
    pub true_gradient: Vec<f64>,
    pub feedback_gradient: Option<Vec<f64>>,
}

/// Counts of analyses taken from the cache and computed, and runs left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReportCounts {
    pub computed: usize,
    pub cached: usize,
    /// Analyses that ended in an error (reported in the table as missing).
    pub failed: usize,
    /// `(run folder, reason)` for runs not in the report.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The run directories of a sweep folder (`<dir>/runs/*`, or `<dir>/*`), sorted by name.
pub fn run_dirs(sweep_dir: &Path) -> Result<Vec<PathBuf>> {
    let runs = sweep_dir.join(crate::sweep::RUNS_DIR);
    let root = if runs.is_dir() { runs } else { sweep_dir.to_path_buf() };
    let entries = std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))?;
    let mut dirs: Vec<PathBuf> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("run.json").is_file()).collect();
    dirs.sort();
    Ok(dirs)
}

/// Loads every finished run of `sweep_dir` and runs (or takes from the cache) each analysis.
/// `progress(done, total, run name)` is called as runs finish.
pub fn analyse_sweep(
    sweep_dir: &Path,
    settings: &ReportSettings,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<(Vec<SweepRun>, ReportCounts)> {
    settings.validate()?;
    let dirs = run_dirs(sweep_dir)?;
    if dirs.is_empty() {
        return Err(Error::config(
            "SWEEP_DIR",
            format!("{}: no run directories (runs/<name>/run.json) to report on", sweep_dir.display()),
        ));
    }
    let mut counts = ReportCounts::default();
    let mut data = RunData::default();
    let mut runs = Vec::new();
    for (k, path) in dirs.iter().enumerate() {
        let dir = RunDir::new(path);
        let info = dir.info()?;
        if !matches!(info.status, RunStatus::Completed | RunStatus::Diverged) {
            counts.skipped.push((path.clone(), format!("status {:?}", info.status).to_lowercase()));
            progress(k + 1, dirs.len(), &path.display().to_string());
            continue;
        }
        let metrics = read_metrics(&dir)?;
        let splits = data.of(path, &info)?;
        let analyses = analyse_run(&dir, &info, &splits, settings, &mut counts)?;
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        progress(k + 1, dirs.len(), &name);
        runs.push(SweepRun {
            depth: info.sizes.len() - 2,
            width: info.sizes.get(1).copied().unwrap_or(0),
            name,
            dir,
            info,
            metrics,
            analyses,
        });
    }
    Ok((runs, counts))
}

fn analyse_run(
    dir: &RunDir,
    info: &RunInfo,
    data: &DataSplits,
    s: &ReportSettings,
    counts: &mut ReportCounts,
) -> Result<RunAnalyses> {
    let checkpoints = list_checkpoints(dir)?;
    let Some((last_step, last_path)) = checkpoints.last().cloned() else {
        return Err(crate::ckpt::CkptError::invalid(&dir.path, "no checkpoints (step-*.safetensors)").into());
    };
    let inputs = checkpoints
        .iter()
        .map(|(step, path)| Ok(Input { step: *step, sha256: file_sha256(path)? }))
        .collect::<Result<Vec<_>>>()?;
    let last_input = std::slice::from_ref(inputs.last().expect("non-empty"));
    let cache = RunCache::new(&dir.path);
    let activation = Some(info.activation);
    // The training split and the last model are built at most once, and only if some
    // analysis is not in the cache.
    let train_split = OnceCell::new();
    let train = || -> &Dataset { train_split.get_or_init(|| data.train.head(info.data.train_samples)) };
    let last = OnceCell::new();
    let last_model = || -> Result<&Model> {
        if let Some(model) = last.get() {
            return Ok(model);
        }
        let model = load_checkpoint(&last_path, activation)?.model;
        Ok(last.get_or_init(|| model))
    };
    let mut tally = |source: Source, ok: bool| {
        match source {
            Source::Cache => counts.cached += 1,
            Source::Computed => counts.computed += 1,
        }
        counts.failed += usize::from(!ok);
    };

    let (alignment, src) = cache.get_or_compute("alignment", &(s.align_samples, s.seed), &inputs, || {
        let batch = EvalBatch::from_dataset(train(), s.align_samples, s.seed);
        align_checkpoints(&checkpoints, &batch, activation)
    })?;
    tally(src, alignment.is_ok());

    let (spectrum, src) = cache.get_or_compute("spectrum", &(s.flow_samples, s.seed), last_input, || {
        let flow = EvalBatch::from_dataset(train(), s.flow_samples, s.seed);
        let ms = spectrum_checkpoints(&[(last_step, last_path.clone())], &flow, activation, 1e-6, false)?
            .pop()
            .expect("one checkpoint");
        let flow = ms.gradient_flow.as_ref();
        Ok(EndSpectrum {
            step: last_step,
            layer_products: ms.layer_products.iter().flatten().map(|p| p.singular_values.clone()).collect(),
            flow_true: flow.map_or_else(Vec::new, |f| f.true_path.singular_values.clone()),
            flow_rule: flow.map_or_else(Vec::new, |f| f.rule_path.singular_values.clone()),
            flow_true_median_condition: flow.map_or(f64::NAN, |f| f.true_path.median_condition_number),
            flow_rule_median_condition: flow.map_or(f64::NAN, |f| f.rule_path.median_condition_number),
        })
    })?;
    tally(src, spectrum.is_ok());

    let hessian_settings = (s.hessian_samples, s.power_max_iters, s.power_tol, s.trace_probes, s.seed);
    let (curvature, src) = cache.get_or_compute("curvature", &hessian_settings, last_input, || {
        let model = last_model()?;
        let eval = EvalBatch::from_dataset(train(), s.hessian_samples, s.seed);
        eval.check_fits(&last_path, &model.mlp)?;
        let mut op = HessianOperator::new(&model.mlp, &model.params, &eval.x, &eval.y, 1024);
        let power = PowerParams { tol: s.power_tol, max_iters: s.power_max_iters, seed: s.seed, keep_vector: false };
        let top = power_iteration(&mut op, &power)?;
        let trace = match s.trace_probes {
            0 => None,
            probes => {
                let t = hutchinson_trace(&mut op, &HutchinsonParams { probes, seed: s.seed })?;
                Some((t.trace, t.std_error))
            }
        };
        Ok(Curvature { step: last_step, top, trace })
    })?;
    tally(src, curvature.is_ok());

    let robust_settings = (s.robust_samples, &s.eps, s.pgd_steps, s.seed);
    let (robustness, src) = cache.get_or_compute("robustness", &robust_settings, last_input, || {
        let model = last_model()?;
        let mut attack = AttackSettings::pgd(s.eps.clone());
        attack.steps = s.pgd_steps;
        attack.seed = s.seed;
        attack.samples = Some(s.robust_samples);
        let truth = evaluate_robustness(model, &data.test, &attack)?;
        let feedback = match info.rule {
            Rule::Bp | Rule::Dfa => None,
            _ => {
                attack.gradient = GradientSource::Feedback;
                let r = evaluate_robustness(model, &data.test, &attack)?;
                Some(r.per_eps.iter().map(|e| e.robust_accuracy).collect())
            }
        };
        Ok(Robustness {
            step: last_step,
            samples: truth.settings.samples,
            eps: s.eps.clone(),
            clean_accuracy: truth.clean_accuracy,
            true_gradient: truth.per_eps.iter().map(|e| e.robust_accuracy).collect(),
            feedback_gradient: feedback,
        })
    })?;
    tally(src, robustness.is_ok());

    Ok(RunAnalyses { alignment, spectrum, curvature, robustness })
}

/// Test accuracy and loss per epoch from a run's metrics: `(epoch, accuracy, loss)`.
pub fn test_curve(metrics: &[serde_json::Value]) -> Vec<(f64, f64, f64)> {
    metrics
        .iter()
        .filter(|r| r["kind"] == "test")
        .filter_map(|r| Some((r["epoch"].as_f64()?, r["test_accuracy"].as_f64()?, r["test_loss"].as_f64()?)))
        .collect()
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ReportOutput {
    pub out: PathBuf,
    /// PNG of each figure.
    pub figures: Vec<PathBuf>,
    pub table_markdown: PathBuf,
    pub table_csv: PathBuf,
    pub index: PathBuf,
    pub runs: usize,
    pub counts: ReportCounts,
    pub rows: Vec<table::Row>,
}

/// Analyses every run of `sweep_dir` (through the cache) and writes the figure set, the
/// summary table (`summary.md`, `summary.csv`), `report.json` and `index.html` into `out`.
pub fn write_report(
    sweep_dir: &Path,
    out: &Path,
    settings: &ReportSettings,
    command: &str,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ReportOutput> {
    let (runs, counts) = analyse_sweep(sweep_dir, settings, progress)?;
    if runs.is_empty() {
        return Err(Error::config(
            "SWEEP_DIR",
            format!("{}: no completed or diverged runs yet ({} skipped)", sweep_dir.display(), counts.skipped.len()),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut figures = Vec::new();
    for fig in figures::all(&runs, command) {
        let written = crate::plot::render(&fig, out)?;
        figures.push(written.png);
    }
    let rows = table::rows(&runs, settings.table_eps());
    let table_markdown = out.join("summary.md");
    let table_csv = out.join("summary.csv");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::io(path, e)
    };
    crate::io::write_atomic(&table_markdown, table::markdown(&rows).as_bytes()).map_err(io(&table_markdown))?;
    crate::io::write_atomic(&table_csv, table::csv(&rows).as_bytes()).map_err(io(&table_csv))?;
    let index = crate::report::write_index(out, &format!("diag report: {}", sweep_dir.display()))?;
    let output = ReportOutput {
        out: out.to_path_buf(),
        figures,
        table_markdown,
        table_csv,
        index,
        runs: runs.len(),
        counts,
        rows,
    };
    let json = out.join("report.json");
    crate::io::write_json_atomic(
        &json,
        &serde_json::json!({"settings": settings, "command": command, "output": &output}),
    )
    .map_err(io(&json))?;
    Ok(output)
}
