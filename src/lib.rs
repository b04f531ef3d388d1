//! `diag`: learning without weight transport.
//!
//! Train multilayer perceptrons with backpropagation, feedback alignment, one-time
//! soft-aligned feedback alignment and related rules; log checkpoints; and analyse
//! them (alignment, spectra, curvature, robustness). See `SPEC.md` for the definition
//! of every quantity and `ARCHITECTURE.md` for the shape of the code.

pub mod analysis;
pub mod ckpt;
pub mod data;
pub mod error;
pub mod io;
pub mod linalg;
pub mod net;
pub mod plot;
pub mod report;
pub mod stats;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
