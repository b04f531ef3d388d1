//! Analyses over checkpoints (`SPEC.md` sections 3 to 6). Each returns plain,
//! serialisable results; callers decide where they go (terminal, JSON, figures).

pub mod align;
pub mod attack;
pub mod batch;
pub mod hessian;
pub mod landscape;
pub mod spectrum;
