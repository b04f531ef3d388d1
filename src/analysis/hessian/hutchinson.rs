//! The trace by Hutchinson's estimator with Rademacher probes.
//!
//! For `z` with independent entries `+-1`, `E[z^T H z] = tr H`. With `n` probes the
//! estimate is the sample mean of `z_j^T H z_j` and its standard error is the sample
//! standard deviation over `sqrt(n)`.

use super::{dot, rademacher, seeded_rng, F64Operator, LinearOperator};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Settings of [`hutchinson_trace`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HutchinsonParams {
    /// Number of Rademacher probes (Hessian-vector products), at least 2.
    pub probes: usize,
    /// Seed of the probes (ChaCha8).
    pub seed: u64,
}

impl Default for HutchinsonParams {
    fn default() -> Self {
        HutchinsonParams { probes: 100, seed: 0 }
    }
}

impl HutchinsonParams {
    pub fn validate(&self) -> Result<()> {
        if self.probes < 2 {
            return Err(Error::config(
                "probes",
                format!("need at least 2 probes for a standard error, got {}", self.probes),
            ));
        }
        Ok(())
    }
}

/// The result of [`hutchinson_trace`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEstimate {
    /// Estimated `tr H` (mean of the probe values).
    pub trace: f64,
    /// Standard error of the estimate (sample standard deviation over `sqrt(probes)`).
    pub std_error: f64,
    pub probes: usize,
    /// `z_j^T H z_j` for each probe, in order.
    pub probe_values: Vec<f64>,
    pub params: HutchinsonParams,
}

/// Hutchinson's estimate of `tr(op)` with Rademacher probes.
pub fn hutchinson_trace<O: LinearOperator + ?Sized>(op: &mut O, params: &HutchinsonParams) -> Result<TraceEstimate> {
    params.validate()?;
    let method = "hutchinson";
    let mut op = F64Operator::new(op);
    let dim = op.dim();
    let mut rng = seeded_rng(params.seed);
    let mut probe = vec![0f64; dim];
    let mut product = vec![0f64; dim];
    let mut probe_values = Vec::with_capacity(params.probes);
    for _ in 0..params.probes {
        rademacher(&mut rng, &mut probe);
        op.apply(method, &probe, &mut product)?;
        probe_values.push(dot(&probe, &product));
    }
    let n = probe_values.len() as f64;
    let trace = probe_values.iter().sum::<f64>() / n;
    let variance = probe_values.iter().map(|v| (v - trace).powi(2)).sum::<f64>() / (n - 1.0);
    Ok(TraceEstimate {
        trace,
        std_error: (variance / n).sqrt(),
        probes: params.probes,
        probe_values,
        params: params.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hessian::Diagonal;

    #[test]
    fn exact_on_a_diagonal_matrix() {
        // z^T D z = tr D for every Rademacher z: zero spread.
        let mut op = Diagonal(vec![1.0, -2.0, 3.5, 0.25]);
        let est = hutchinson_trace(&mut op, &HutchinsonParams { probes: 5, seed: 3 }).unwrap();
        assert!((est.trace - 2.75).abs() < 1e-12);
        assert!(est.std_error < 1e-12);
        assert!(hutchinson_trace(&mut op, &HutchinsonParams { probes: 1, seed: 0 }).is_err());
    }
}
