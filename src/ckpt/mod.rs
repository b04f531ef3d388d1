//! Run directories (`SPEC.md` section 7).
//!
//! ```text
//! RUN_DIR/
//!   run.json                     configuration, rule, seed, data fingerprint, layer sizes, status
//!   metrics.jsonl                one JSON object per logged step (train) or epoch (test)
//!   step-00000000.safetensors    one checkpoint per saved step; step 0 is the initialisation
//!   resume.safetensors           optimiser state at the last checkpoint (for --resume)
//! ```
//!
//! Checkpoint tensors use PyTorch `nn.Linear` names and layout: `layers.{i}.weight` and
//! `layers.{i}.feedback` are `out x in`, `layers.{i}.bias` is `out`, and
//! `layers.{i}.direct_feedback` (dfa, hidden layers) is `classes x out`, so that
//! `grad_input = grad_output @ feedback` and `grad_hidden = e @ direct_feedback`.
//! Rule, alpha and seed are repeated in the safetensors `__metadata__`.

mod run;
mod tensors;

pub use run::{
    list_checkpoints, read_metrics, resolve_checkpoint, CkptSelector, DataInfo, Divergence, RunData, RunDir, RunInfo,
    RunStatus,
};
pub use tensors::{load_checkpoint, save_checkpoint, Checkpoint, CheckpointMeta, TensorMap};
pub use tensors::{read_tensors, serialize_tensors};

use std::path::PathBuf;

/// A problem with a run directory or checkpoint file, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum CkptError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl CkptError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> CkptError {
        CkptError::Invalid { path: path.into(), message: message.into() }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CkptError {
        CkptError::Io { path: path.into(), source }
    }
}
