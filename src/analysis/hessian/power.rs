//! The eigenvalue of largest magnitude by power iteration.
//!
//! From a random unit vector `v_0`, `w_k = H v_k`, `lambda_k = v_k^T w_k` (the Rayleigh
//! quotient), `v_{k+1} = w_k / ||w_k||`, until the relative change
//! `|lambda_k - lambda_{k-1}| / |lambda_k|` falls below the tolerance. The iterate
//! converges to the eigenvector of largest `|lambda|` at rate `|lambda_2 / lambda_1|`; a
//! negative dominant eigenvalue keeps its sign in the Rayleigh quotient.

use super::{dot, norm, random_unit_vector, seeded_rng, F64Operator, LinearOperator};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Settings of [`power_iteration`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PowerParams {
    /// Stop when the relative change of the eigenvalue estimate is below this.
    pub tol: f64,
    /// At most this many Hessian-vector products.
    pub max_iters: usize,
    /// Seed of the random start vector (ChaCha8).
    pub seed: u64,
    /// Return the eigenvector (for example to slice the landscape along it).
    pub keep_vector: bool,
}

impl Default for PowerParams {
    fn default() -> Self {
        PowerParams { tol: 1e-4, max_iters: 100, seed: 0, keep_vector: false }
    }
}

impl PowerParams {
    pub fn validate(&self) -> Result<()> {
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return Err(Error::config("tol", format!("must be a positive number, got {}", self.tol)));
        }
        if self.max_iters == 0 {
            return Err(Error::config("max-iters", "must be at least 1"));
        }
        Ok(())
    }
}

/// The result of [`power_iteration`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopEigenvalue {
    /// The eigenvalue of largest magnitude (signed; curvature units, nats per squared parameter).
    pub eigenvalue: f64,
    /// True when that eigenvalue is negative (a direction of negative curvature dominates).
    pub negative: bool,
    /// Hessian-vector products performed.
    pub iterations: usize,
    /// Relative change of the estimate at the last iteration.
    pub relative_change: f64,
    pub converged: bool,
    /// `||H v - lambda v||` for the returned unit vector `v`.
    pub residual_norm: f64,
    pub params: PowerParams,
    /// The unit eigenvector (flat parameter layout), when `params.keep_vector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eigenvector: Option<Vec<f32>>,
}

/// The eigenvalue of `op` of largest magnitude, by power iteration.
pub fn power_iteration<O: LinearOperator + ?Sized>(op: &mut O, params: &PowerParams) -> Result<TopEigenvalue> {
    params.validate()?;
    let method = "power iteration";
    let mut op = F64Operator::new(op);
    let dim = op.dim();
    if dim == 0 {
        return Err(Error::numerical(method, "the operator has dimension zero"));
    }
    let mut rng = seeded_rng(params.seed);
    let mut v = random_unit_vector(&mut rng, dim);
    let mut hv = vec![0f64; dim];
    op.apply(method, &v, &mut hv)?;
    let mut eigenvalue = dot(&v, &hv);
    let mut relative_change = f64::INFINITY;
    let mut converged = false;
    while op.products < params.max_iters {
        let len = norm(&hv);
        if len == 0.0 {
            // v lies in the null space: H v = 0 exactly.
            eigenvalue = 0.0;
            relative_change = 0.0;
            converged = true;
            break;
        }
        for (vi, &wi) in v.iter_mut().zip(&hv) {
            *vi = wi / len;
        }
        op.apply(method, &v, &mut hv)?;
        let next = dot(&v, &hv);
        relative_change = (next - eigenvalue).abs() / next.abs().max(f64::MIN_POSITIVE);
        eigenvalue = next;
        if relative_change < params.tol {
            converged = true;
            break;
        }
    }
    let residual_norm = hv.iter().zip(&v).map(|(&w, &x)| (w - eigenvalue * x).powi(2)).sum::<f64>().sqrt();
    Ok(TopEigenvalue {
        eigenvalue,
        negative: eigenvalue < 0.0,
        iterations: op.products,
        relative_change,
        converged,
        residual_norm,
        params: params.clone(),
        eigenvector: params.keep_vector.then(|| v.iter().map(|&x| x as f32).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hessian::Diagonal;

    #[test]
    fn finds_the_dominant_eigenvalue_and_its_sign() {
        let mut op = Diagonal(vec![0.5, -3.0, 1.0, 0.1, 2.0]);
        let params = PowerParams { tol: 1e-10, max_iters: 500, keep_vector: true, ..PowerParams::default() };
        let top = power_iteration(&mut op, &params).unwrap();
        assert!(top.converged);
        assert!((top.eigenvalue + 3.0).abs() < 1e-6, "{}", top.eigenvalue);
        assert!(top.negative);
        let v = top.eigenvector.unwrap();
        assert!((v[1].abs() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn stops_at_the_iteration_limit_and_reports_it() {
        let mut op = Diagonal(vec![1.0, 0.999, 0.5]);
        let params = PowerParams { tol: 1e-14, max_iters: 5, ..PowerParams::default() };
        let top = power_iteration(&mut op, &params).unwrap();
        assert_eq!(top.iterations, 5);
        assert!(!top.converged);
        assert!(top.eigenvector.is_none());
        assert!(power_iteration(&mut op, &PowerParams { max_iters: 0, ..params }).is_err());
    }
}
