//! `run.json`, `metrics.jsonl` and the listing of checkpoints in a run directory.

use super::CkptError;
use crate::data::DataSplits;
use crate::error::Error;
use crate::net::{Activation, Rule};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// Where a run stands. A run that is not `completed` is never mistaken for a finished one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    Diverged,
    Interrupted,
    Failed,
}

/// The data a run was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The `--data` value (`fashion-mnist`, `fixture`, `idx:DIR`, `cifar10:DIR`).
    pub spec: String,
    /// Short hash of the loaded pixels and labels of both splits.
    pub fingerprint: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub input_dim: usize,
    pub classes: usize,
    /// `--subset`: training samples used (the first N in file order), if limited.
    pub subset: Option<usize>,
}

/// The contents of `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub format: String,
    pub diag_version: String,
    pub status: RunStatus,
    pub rule: Rule,
    /// Initial cosine between `W_l^T` and `B_l` (ifa only).
    pub alpha: Option<f64>,
    /// `arccos(alpha)` in degrees (ifa only).
    pub align_angle_deg: Option<f64>,
    pub seed: u64,
    /// Layer widths `[d_0, ..., d_L]`.
    pub sizes: Vec<usize>,
    pub activation: Activation,
    pub data: DataInfo,
    pub steps_per_epoch: u64,
    pub total_steps: u64,
    /// The full training configuration (as resolved from the flags).
    pub config: serde_json::Value,
    /// Step and cause of divergence, when `status` is `diverged`.
    pub diverged: Option<Divergence>,
    /// Final figures of a completed run (test loss and accuracy, wall time).
    pub summary: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub step: u64,
    pub what: String,
}

/// Which checkpoint of a run to use: a step, the last one, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CkptSelector {
    Step(u64),
    Last,
    All,
}

impl FromStr for CkptSelector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last" => Ok(CkptSelector::Last),
            "all" => Ok(CkptSelector::All),
            _ => s.parse().map(CkptSelector::Step).map_err(|_| format!("'{s}' is not a step number, 'last' or 'all'")),
        }
    }
}

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }
    pub fn run_json(&self) -> PathBuf {
        self.path.join("run.json")
    }
    pub fn metrics(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    pub fn resume_state(&self) -> PathBuf {
        self.path.join("resume.safetensors")
    }
    pub fn checkpoint(&self, step: u64) -> PathBuf {
        self.path.join(format!("step-{step:08}.safetensors"))
    }

    /// Reads `run.json`.
    pub fn info(&self) -> Result<RunInfo, CkptError> {
        let path = self.run_json();
        let text = fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && !self.path.is_dir() {
                CkptError::invalid(&self.path, "no such run directory")
            } else {
                CkptError::io(&path, e)
            }
        })?;
        serde_json::from_str(&text).map_err(|e| CkptError::invalid(&path, format!("not a diag run.json: {e}")))
    }

    /// Writes `run.json` atomically.
    pub fn write_info(&self, info: &RunInfo) -> Result<(), CkptError> {
        let path = self.run_json();
        crate::io::write_json_atomic(&path, info).map_err(|e| CkptError::io(&path, e))
    }

    /// Appends one JSON object as a line to `metrics.jsonl`.
    pub fn append_metrics(&self, record: &serde_json::Value) -> Result<(), CkptError> {
        let path = self.metrics();
        let mut line = serde_json::to_string(record).expect("JSON values serialise");
        line.push('\n');
        let mut file =
            fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| CkptError::io(&path, e))?;
        file.write_all(line.as_bytes()).map_err(|e| CkptError::io(&path, e))
    }

    /// Keeps only the metric records with `step <= step` (used when resuming). Kept lines
    /// are copied verbatim, so their numbers are bit-for-bit those first written.
    pub fn truncate_metrics(&self, step: u64) -> Result<(), CkptError> {
        let path = self.metrics();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CkptError::io(&path, e)),
        };
        let mut kept = String::with_capacity(text.len());
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let record: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if record.get("step").and_then(|s| s.as_u64()).is_some_and(|s| s <= step) {
                kept.push_str(line);
            }
        }
        crate::io::write_atomic(&path, kept.as_bytes()).map_err(|e| CkptError::io(&path, e))
    }
}

/// All metric records of a run, in file order. A trailing partial line (a run killed
/// mid-write) is ignored; any other malformed line is an error naming the line.
pub fn read_metrics(run: &RunDir) -> Result<Vec<serde_json::Value>, CkptError> {
    let path = run.metrics();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CkptError::io(&path, e)),
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (k, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) if k + 1 == lines.len() && !complete => break,
            Err(e) => return Err(CkptError::invalid(&path, format!("line {}: {e}", k + 1))),
        }
    }
    Ok(out)
}

/// `(step, path)` of every checkpoint in the run directory, by increasing step.
pub fn list_checkpoints(run: &RunDir) -> Result<Vec<(u64, PathBuf)>, CkptError> {
    let entries = fs::read_dir(&run.path).map_err(|e| CkptError::io(&run.path, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CkptError::io(&run.path, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(step) =
            name.strip_prefix("step-").and_then(|s| s.strip_suffix(".safetensors")).and_then(|s| s.parse().ok())
        {
            out.push((step, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The checkpoints a selector picks, by increasing step; an error names the run when none match.
pub fn resolve_checkpoint(run: &RunDir, which: CkptSelector) -> Result<Vec<(u64, PathBuf)>, CkptError> {
    let all = list_checkpoints(run)?;
    let picked: Vec<_> = match which {
        CkptSelector::All => all,
        CkptSelector::Last => all.last().cloned().into_iter().collect(),
        CkptSelector::Step(s) => all.into_iter().filter(|(step, _)| *step == s).collect(),
    };
    if picked.is_empty() {
        let what = match which {
            CkptSelector::Step(s) => format!("no checkpoint at step {s}"),
            _ => "no checkpoints (step-*.safetensors)".to_string(),
        };
        return Err(CkptError::invalid(&run.path, what));
    }
    Ok(picked)
}

/// The data sets runs were trained on, each loaded once however many runs share it, and
/// checked against the fingerprint a run recorded (a `--subset` run records the subset's
/// sizes, not a fingerprint of what it used, so it is not checked).
#[derive(Default)]
pub struct RunData {
    loaded: HashMap<String, Arc<DataSplits>>,
}

impl RunData {
    /// Both splits of the data `info` (read from the run directory `run`) was trained on.
    pub fn of(&mut self, run: &Path, info: &RunInfo) -> crate::error::Result<Arc<DataSplits>> {
        let data = match self.loaded.get(&info.data.spec) {
            Some(d) => d.clone(),
            None => {
                let spec = info.data.spec.parse().map_err(Error::Data)?;
                let d = Arc::new(crate::data::load(&spec)?);
                self.loaded.insert(info.data.spec.clone(), d.clone());
                d
            }
        };
        if data.fingerprint != info.data.fingerprint && info.data.subset.is_none() {
            return Err(Error::config(
                "--data",
                format!(
                    "{}: data {} now has fingerprint {} but the run was trained on {}",
                    run.display(),
                    info.data.spec,
                    data.fingerprint,
                    info.data.fingerprint
                ),
            ));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_append_truncate_and_tolerate_a_partial_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        for step in [0u64, 10, 20, 30] {
            run.append_metrics(&serde_json::json!({"kind": "train", "step": step})).unwrap();
        }
        run.truncate_metrics(20).unwrap();
        assert_eq!(read_metrics(&run).unwrap().len(), 3);
        let mut f = fs::OpenOptions::new().append(true).open(run.metrics()).unwrap();
        f.write_all(b"{\"kind\": \"tr").unwrap();
        assert_eq!(read_metrics(&run).unwrap().len(), 3);
    }

    #[test]
    fn checkpoints_are_listed_by_step_and_selected() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        for step in [100u64, 0, 20] {
            fs::write(run.checkpoint(step), b"").unwrap();
        }
        fs::write(dir.path().join("resume.safetensors"), b"").unwrap();
        let steps: Vec<u64> = list_checkpoints(&run).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, [0, 20, 100]);
        assert_eq!(resolve_checkpoint(&run, CkptSelector::Last).unwrap()[0].0, 100);
        assert!(resolve_checkpoint(&run, CkptSelector::Step(5)).unwrap_err().to_string().contains("step 5"));
        assert_eq!("last".parse::<CkptSelector>().unwrap(), CkptSelector::Last);
        assert_eq!("40".parse::<CkptSelector>().unwrap(), CkptSelector::Step(40));
    }
}
