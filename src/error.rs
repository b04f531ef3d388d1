//! The library's error type: what was wrong with which input, in one line.

use std::path::PathBuf;

/// Everything that can go wrong in `diag`, each naming the file, folder or flag at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Checkpoint(#[from] crate::ckpt::CkptError),
    /// An impossible flag or configuration value.
    #[error("{flag}: {message}")]
    Config { flag: String, message: String },
    /// Training produced a non-finite loss or weights: a result, recorded in `run.json`.
    #[error("training diverged at step {step} ({what}); checkpoints up to step {last_ckpt} are kept in {run_dir}")]
    Diverged { step: u64, what: String, last_ckpt: u64, run_dir: PathBuf },
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A numerical method could not produce a result from its input (for example
    /// non-finite Hessian-vector products from a diverged checkpoint).
    #[error("{method}: {message}")]
    Numerical { method: String, message: String },
}

impl Error {
    pub fn config(flag: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config { flag: flag.into(), message: message.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }
    pub fn numerical(method: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Numerical { method: method.into(), message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
