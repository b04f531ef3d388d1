//! Curvature of the true loss (`SPEC.md` section 5), matrix-free.
//!
//! Every method sees the Hessian `H` of the mean softmax cross-entropy only through
//! exact Hessian-vector products ([`HessianOperator`], Pearlmutter's R-operator), behind
//! the [`LinearOperator`] trait, so the same code runs on the whole Hessian, on one
//! layer's block ([`LayerHessian`]) or on a dense test matrix:
//!
//! - [`power_iteration`]: the eigenvalue of largest magnitude, `lambda = v^T H v` for the
//!   normalised iterate `v <- H v / ||H v||`;
//! - [`lanczos_eigenvalues`]: the top (or bottom) `k` eigenvalues from an `m`-step Krylov
//!   space with full reorthogonalisation, each with its residual `||H y - theta y||`;
//! - [`hutchinson_trace`]: `tr H ~ mean_j z_j^T H z_j` over Rademacher probes `z_j`, with
//!   its standard error;
//! - [`spectral_density`]: stochastic Lanczos quadrature, `phi(t) ~ mean_r sum_j
//!   tau_rj N(t; theta_rj, sigma^2)` from the Ritz values `theta_rj` and weights
//!   `tau_rj` (squared first components of the tridiagonal's eigenvectors).
//!
//! The algorithms keep their vectors in `f64` and convert at the operator boundary
//! (products are `f32`). Each parameter struct carries its seed (ChaCha8) and is echoed
//! into its result, so every result can be reproduced.

pub mod bench;
mod hutchinson;
mod lanczos;
mod power;
mod slq;

pub use hutchinson::{hutchinson_trace, HutchinsonParams, TraceEstimate};
pub use lanczos::{lanczos_eigenvalues, LanczosEigen, LanczosParams, Which};
pub use power::{power_iteration, PowerParams, TopEigenvalue};
pub use slq::{spectral_density, SlqParams, SpectralDensity};

use crate::error::{Error, Result};
use crate::net::HessianOperator;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A symmetric linear map `v -> A v` on `f32` vectors of length [`dim`](Self::dim).
pub trait LinearOperator {
    /// The side of the (square) matrix.
    fn dim(&self) -> usize;
    /// `out = A v`; both slices have length `dim()`.
    fn apply(&mut self, v: &[f32], out: &mut [f32]);
}

impl LinearOperator for HessianOperator {
    fn dim(&self) -> usize {
        HessianOperator::dim(self)
    }
    fn apply(&mut self, v: &[f32], out: &mut [f32]) {
        HessianOperator::apply(self, v, out);
    }
}

/// The Hessian restricted to one layer's parameters (weight then bias), `H_ii`.
#[derive(Debug)]
pub struct LayerHessian<'a> {
    op: &'a mut HessianOperator,
    layer: usize,
}

impl<'a> LayerHessian<'a> {
    /// Layer `layer`'s diagonal block, or `None` if the network has no such layer.
    pub fn new(op: &'a mut HessianOperator, layer: usize) -> Option<LayerHessian<'a>> {
        (layer < op.mlp().num_layers()).then_some(LayerHessian { op, layer })
    }
}

impl LinearOperator for LayerHessian<'_> {
    fn dim(&self) -> usize {
        self.op.block_dim(self.layer)
    }
    fn apply(&mut self, v: &[f32], out: &mut [f32]) {
        self.op.apply_block(self.layer, v, out);
    }
}

/// Applies an `f32` operator to `f64` vectors through two buffers sized once.
struct F64Operator<'a, O: LinearOperator + ?Sized> {
    op: &'a mut O,
    input: Vec<f32>,
    output: Vec<f32>,
    /// Products performed.
    products: usize,
}

impl<'a, O: LinearOperator + ?Sized> F64Operator<'a, O> {
    fn new(op: &'a mut O) -> Self {
        let dim = op.dim();
        F64Operator { op, input: vec![0.0; dim], output: vec![0.0; dim], products: 0 }
    }

    fn dim(&self) -> usize {
        self.input.len()
    }

    /// `out = A v`, or an error naming `method` when the product is not finite.
    fn apply(&mut self, method: &str, v: &[f64], out: &mut [f64]) -> Result<()> {
        for (dst, &src) in self.input.iter_mut().zip(v) {
            *dst = src as f32;
        }
        self.op.apply(&self.input, &mut self.output);
        self.products += 1;
        for (dst, &src) in out.iter_mut().zip(&self.output) {
            *dst = src as f64;
        }
        if out.iter().all(|x| x.is_finite()) {
            Ok(())
        } else {
            Err(Error::numerical(method, "a Hessian-vector product is not finite (diverged weights?)"))
        }
    }
}

/// `a . b`, with four running sums (so that it vectorises).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4.remainder().iter().zip(b4.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            sums[k] += x[k] * y[k];
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `y += alpha * x`.
fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

fn scale(alpha: f64, x: &mut [f64]) {
    for xi in x.iter_mut() {
        *xi *= alpha;
    }
}

/// The seeded generator of every method here.
fn seeded_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A unit vector with independent standard-normal entries before normalisation.
fn random_unit_vector(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
    let len = norm(&v);
    scale(1.0 / len, &mut v);
    v
}

/// A Rademacher vector: entries `+1` or `-1` with probability one half each.
fn rademacher(rng: &mut ChaCha8Rng, out: &mut [f64]) {
    for x in out.iter_mut() {
        *x = if rng.random::<bool>() { 1.0 } else { -1.0 };
    }
}

/// Tests' operator: a diagonal matrix with known eigenvalues.
#[cfg(test)]
pub(crate) struct Diagonal(pub Vec<f32>);

#[cfg(test)]
impl LinearOperator for Diagonal {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn apply(&mut self, v: &[f32], out: &mut [f32]) {
        for ((o, &x), &d) in out.iter_mut().zip(v).zip(&self.0) {
            *o = d * x;
        }
    }
}
