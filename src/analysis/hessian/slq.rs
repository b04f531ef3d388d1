//! The spectral density by stochastic Lanczos quadrature.
//!
//! The density of eigenvalues `phi(t) = (1/n) sum_i delta(t - lambda_i)` is estimated
//! from `R` random unit starts `q_r` (normalised Rademacher vectors): `m` Lanczos steps
//! from each give a tridiagonal `T_r` whose eigenpairs `(theta_rj, s_rj)` are the nodes
//! and weights `tau_rj = s_rj[0]^2` of a Gauss quadrature for `q_r^T f(H) q_r`, whose
//! expectation is `(1/n) tr f(H)`. Broadening each node by a Gaussian of width `sigma`:
//!
//! ```text
//! phi(t) ~ (1/R) sum_r sum_j tau_rj exp(-(t - theta_rj)^2 / (2 sigma^2)) / (sigma sqrt(2 pi))
//! ```
//!
//! evaluated on a uniform grid and normalised so that its trapezoid integral is one.

use super::lanczos::{lanczos, tridiagonal_eigen};
use super::{norm, rademacher, scale, seeded_rng, F64Operator, LinearOperator};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Settings of [`spectral_density`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlqParams {
    /// Number of random starts `R`.
    pub starts: usize,
    /// Lanczos steps `m` per start (capped at the operator's dimension).
    pub steps: usize,
    /// Gaussian broadening (eigenvalue units); `None`: 1% of the span of the Ritz values.
    pub sigma: Option<f64>,
    /// Grid `[low, high]`; `None`: the span of the Ritz values widened by `5 sigma`.
    pub range: Option<[f64; 2]>,
    /// Grid points, at least 2.
    pub grid_points: usize,
    /// Seed of the starts (ChaCha8).
    pub seed: u64,
}

impl Default for SlqParams {
    fn default() -> Self {
        SlqParams { starts: 8, steps: 64, sigma: None, range: None, grid_points: 1000, seed: 0 }
    }
}

impl SlqParams {
    pub fn validate(&self) -> Result<()> {
        if self.starts == 0 {
            return Err(Error::config("starts", "must be at least 1"));
        }
        if self.steps == 0 {
            return Err(Error::config("steps", "must be at least 1"));
        }
        if self.grid_points < 2 {
            return Err(Error::config("grid-points", "must be at least 2"));
        }
        if let Some(sigma) = self.sigma {
            if !(sigma > 0.0 && sigma.is_finite()) {
                return Err(Error::config("sigma", format!("must be a positive number, got {sigma}")));
            }
        }
        if let Some([low, high]) = self.range {
            if !(low.is_finite() && high.is_finite() && low < high) {
                return Err(Error::config("range", format!("needs finite low < high, got [{low}, {high}]")));
            }
        }
        Ok(())
    }
}

/// The result of [`spectral_density`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectralDensity {
    /// Eigenvalue axis (uniform).
    pub grid: Vec<f64>,
    /// Density at each grid point (per unit eigenvalue; integrates to one over the grid).
    pub density: Vec<f64>,
    /// The Gaussian width used.
    pub sigma: f64,
    /// Ritz values `theta_rj`, one list per start.
    pub nodes: Vec<Vec<f64>>,
    /// Quadrature weights `tau_rj` (each list sums to one), matching `nodes`.
    pub weights: Vec<Vec<f64>>,
    pub params: SlqParams,
}

/// The spectral density of `op` by stochastic Lanczos quadrature.
pub fn spectral_density<O: LinearOperator + ?Sized>(op: &mut O, params: &SlqParams) -> Result<SpectralDensity> {
    params.validate()?;
    let method = "spectral density";
    let mut op = F64Operator::new(op);
    let dim = op.dim();
    if dim == 0 {
        return Err(Error::numerical(method, "the operator has dimension zero"));
    }
    let mut rng = seeded_rng(params.seed);
    let mut nodes = Vec::with_capacity(params.starts);
    let mut weights = Vec::with_capacity(params.starts);
    for _ in 0..params.starts {
        let mut start = vec![0f64; dim];
        rademacher(&mut rng, &mut start);
        scale(1.0 / norm(&start), &mut start);
        let krylov = lanczos(&mut op, method, start, params.steps.min(dim))?;
        let (theta, vectors) = tridiagonal_eigen(&krylov.alpha, &krylov.beta)?;
        weights.push((0..theta.len()).map(|j| vectors[(0, j)].powi(2)).collect());
        nodes.push(theta);
    }

    let all = nodes.iter().flatten();
    let (min, max) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    let span = if max > min { max - min } else { max.abs().max(1.0) };
    let sigma = params.sigma.unwrap_or(0.01 * span);
    let [low, high] = params.range.unwrap_or([min - 5.0 * sigma, max + 5.0 * sigma]);
    let step = (high - low) / (params.grid_points - 1) as f64;
    let grid: Vec<f64> = (0..params.grid_points).map(|i| low + i as f64 * step).collect();
    let norm_const = 1.0 / (params.starts as f64 * sigma * (2.0 * std::f64::consts::PI).sqrt());
    let mut density: Vec<f64> = grid
        .iter()
        .map(|&t| {
            let mass: f64 = nodes
                .iter()
                .zip(&weights)
                .flat_map(|(th, w)| th.iter().zip(w))
                .map(|(&theta, &tau)| tau * (-(t - theta).powi(2) / (2.0 * sigma * sigma)).exp())
                .sum();
            mass * norm_const
        })
        .collect();
    let integral = trapezoid(&density, step);
    if integral.is_nan() || integral <= 0.0 {
        return Err(Error::numerical(method, format!("no spectral mass on the grid [{low}, {high}]")));
    }
    scale(1.0 / integral, &mut density);
    Ok(SpectralDensity { grid, density, sigma, nodes, weights, params: params.clone() })
}

/// Trapezoid rule on a uniform grid of spacing `step`.
pub(crate) fn trapezoid(values: &[f64], step: f64) -> f64 {
    match values {
        [] | [_] => 0.0,
        [first, inner @ .., last] => step * (0.5 * (first + last) + inner.iter().sum::<f64>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hessian::Diagonal;

    #[test]
    fn density_integrates_to_one_and_peaks_at_the_eigenvalues() {
        // Half the eigenvalues at 1, half at 5.
        let mut op = Diagonal((0..50).map(|i| if i < 25 { 1.0 } else { 5.0 }).collect());
        let params = SlqParams { starts: 3, steps: 10, sigma: Some(0.1), ..SlqParams::default() };
        let slq = spectral_density(&mut op, &params).unwrap();
        let step = slq.grid[1] - slq.grid[0];
        assert!((trapezoid(&slq.density, step) - 1.0).abs() < 1e-12);
        for w in &slq.weights {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        let mass_near = |c: f64| -> f64 {
            let near: Vec<f64> =
                slq.grid.iter().zip(&slq.density).map(|(&t, &d)| if (t - c).abs() < 0.5 { d } else { 0.0 }).collect();
            trapezoid(&near, step)
        };
        let (m1, m5) = (mass_near(1.0), mass_near(5.0));
        assert!(m1 + m5 > 0.99, "{m1} + {m5}");
        assert!((m1 - 0.5).abs() < 0.2, "{m1}");
    }

    #[test]
    fn trapezoid_of_a_line() {
        assert!((trapezoid(&[0.0, 1.0, 2.0], 0.5) - 1.0).abs() < 1e-15);
        assert_eq!(trapezoid(&[3.0], 1.0), 0.0);
    }
}
