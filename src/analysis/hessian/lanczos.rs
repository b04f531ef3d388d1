//! Extreme eigenvalues by the Lanczos method with full reorthogonalisation.
//!
//! From a unit vector `q_1`, `m` steps build an orthonormal basis `Q = [q_1 .. q_m]` of
//! the Krylov space `span{q_1, H q_1, .., H^{m-1} q_1}` and the tridiagonal
//! `T = Q^T H Q` (diagonal `alpha_j = q_j^T H q_j`, off-diagonal `beta_j`):
//!
//! ```text
//! w = H q_j - alpha_j q_j - beta_{j-1} q_{j-1},  w <- w - Q (Q^T w)  (once or twice),
//! beta_j = ||w||,  q_{j+1} = w / beta_j
//! ```
//!
//! The eigenpairs `(theta_i, s_i)` of `T` (faer's self-adjoint eigensolver) give Ritz
//! values `theta_i` and Ritz vectors `y_i = Q s_i`; each reported pair carries its
//! residual `||H y_i - theta_i y_i||`, computed by one more product. The basis is held in
//! `f64`: `m * dim * 8` bytes.

use super::{axpy, dot, norm, random_unit_vector, scale, seeded_rng, F64Operator, LinearOperator};
use crate::error::{Error, Result};
use faer::{Mat, Side};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which end of the spectrum [`lanczos_eigenvalues`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// The largest (most positive) eigenvalues, in descending order.
    #[default]
    Largest,
    /// The smallest (most negative) eigenvalues, in ascending order.
    Smallest,
    /// The eigenvalues of largest magnitude, by descending magnitude.
    Magnitude,
}

/// Settings of [`lanczos_eigenvalues`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LanczosParams {
    /// Number of eigenvalues to report.
    pub k: usize,
    /// Lanczos steps `m` (dimension of the Krylov space), at least `k`; capped at the
    /// operator's dimension.
    pub krylov_dim: usize,
    pub which: Which,
    /// A pair counts as converged when `||H y - theta y|| <= tol * max_i |theta_i|`.
    pub tol: f64,
    /// Seed of the random start vector (ChaCha8).
    pub seed: u64,
    /// Return the Ritz vectors (flat parameter layout).
    pub keep_vectors: bool,
}

impl Default for LanczosParams {
    fn default() -> Self {
        LanczosParams { k: 5, krylov_dim: 40, which: Which::Largest, tol: 1e-3, seed: 0, keep_vectors: false }
    }
}

impl LanczosParams {
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::config("k", "must be at least 1"));
        }
        if self.krylov_dim < self.k {
            return Err(Error::config(
                "krylov-dim",
                format!("must be at least k = {} (got {})", self.k, self.krylov_dim),
            ));
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return Err(Error::config("tol", format!("must be a positive number, got {}", self.tol)));
        }
        Ok(())
    }
}

/// The result of [`lanczos_eigenvalues`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanczosEigen {
    /// Ritz values, ordered as `params.which` says.
    pub eigenvalues: Vec<f64>,
    /// `||H y_i - theta_i y_i||` for each unit Ritz vector `y_i`.
    pub residual_norms: Vec<f64>,
    /// How many of the reported pairs meet the tolerance.
    pub converged: usize,
    /// Lanczos steps taken (fewer than asked when the Krylov space became invariant).
    pub steps: usize,
    /// Hessian-vector products performed (steps plus one per residual).
    pub products: usize,
    pub params: LanczosParams,
    /// Unit Ritz vectors, when `params.keep_vectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eigenvectors: Option<Vec<Vec<f32>>>,
}

/// The `k` extreme eigenvalues of `op` by Lanczos with full reorthogonalisation.
pub fn lanczos_eigenvalues<O: LinearOperator + ?Sized>(op: &mut O, params: &LanczosParams) -> Result<LanczosEigen> {
    params.validate()?;
    let method = "lanczos";
    let mut op = F64Operator::new(op);
    let dim = op.dim();
    if dim == 0 {
        return Err(Error::numerical(method, "the operator has dimension zero"));
    }
    let start = random_unit_vector(&mut seeded_rng(params.seed), dim);
    let krylov = lanczos(&mut op, method, start, params.krylov_dim.min(dim))?;
    let (ritz_values, ritz_coords) = tridiagonal_eigen(&krylov.alpha, &krylov.beta)?;
    let steps = krylov.alpha.len();

    let mut order: Vec<usize> = (0..steps).collect();
    match params.which {
        Which::Largest => order.sort_by(|&a, &b| ritz_values[b].total_cmp(&ritz_values[a])),
        Which::Smallest => order.sort_by(|&a, &b| ritz_values[a].total_cmp(&ritz_values[b])),
        Which::Magnitude => order.sort_by(|&a, &b| ritz_values[b].abs().total_cmp(&ritz_values[a].abs())),
    }
    order.truncate(params.k);

    let spectral_scale = ritz_values.iter().fold(0f64, |m, t| m.max(t.abs()));
    let mut eigenvalues = Vec::with_capacity(order.len());
    let mut residual_norms = Vec::with_capacity(order.len());
    let mut eigenvectors = Vec::new();
    let mut ritz_vector = vec![0f64; dim];
    let mut product = vec![0f64; dim];
    for &i in &order {
        ritz_vector.fill(0.0);
        for (j, q) in krylov.basis.iter().enumerate() {
            axpy(ritz_coords[(j, i)], q, &mut ritz_vector);
        }
        let theta = ritz_values[i];
        op.apply(method, &ritz_vector, &mut product)?;
        axpy(-theta, &ritz_vector, &mut product);
        eigenvalues.push(theta);
        residual_norms.push(norm(&product));
        if params.keep_vectors {
            eigenvectors.push(ritz_vector.iter().map(|&x| x as f32).collect());
        }
    }
    let converged = residual_norms.iter().filter(|&&r| r <= params.tol * spectral_scale).count();
    Ok(LanczosEigen {
        eigenvalues,
        residual_norms,
        converged,
        steps,
        products: op.products,
        params: params.clone(),
        eigenvectors: params.keep_vectors.then_some(eigenvectors),
    })
}

/// The Lanczos tridiagonal `T` (diagonal `alpha`, off-diagonal `beta`) and basis `Q`.
pub(super) struct Krylov {
    pub alpha: Vec<f64>,
    /// `beta[j]` couples `q_j` and `q_{j+1}`; one shorter than `alpha`.
    pub beta: Vec<f64>,
    pub basis: Vec<Vec<f64>>,
}

/// Relative size of `beta_j` below which the Krylov space counts as invariant (the
/// products are `f32`, so a smaller remainder is round-off).
const BREAKDOWN: f64 = 1e-6;

/// At most `steps` Lanczos steps from the unit vector `start`, with full
/// reorthogonalisation (classical Gram-Schmidt, a second pass when the first removed
/// more than `1 - 1/sqrt(2)` of the norm: "twice is enough").
pub(super) fn lanczos<O: LinearOperator + ?Sized>(
    op: &mut F64Operator<'_, O>,
    method: &str,
    start: Vec<f64>,
    steps: usize,
) -> Result<Krylov> {
    let dim = start.len();
    let mut alpha = Vec::with_capacity(steps);
    let mut beta: Vec<f64> = Vec::with_capacity(steps);
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(steps);
    basis.push(start);
    let mut w = vec![0f64; dim];
    let mut reorthogonalize = GramSchmidt::new(dim, steps);
    let mut scale_estimate = 0f64;
    loop {
        let j = basis.len() - 1;
        op.apply(method, &basis[j], &mut w)?;
        let a = dot(&basis[j], &w);
        alpha.push(a);
        axpy(-a, &basis[j], &mut w);
        if j > 0 {
            axpy(-beta[j - 1], &basis[j - 1], &mut w);
        }
        // Classical Gram-Schmidt against the whole basis, repeated once when it removed
        // much of `w` (the DGKS criterion: a second pass is then needed and enough).
        let mut b = norm(&w);
        for _ in 0..2 {
            let before = b;
            reorthogonalize.run(&basis, &mut w);
            b = norm(&w);
            if b > std::f64::consts::FRAC_1_SQRT_2 * before {
                break;
            }
        }
        scale_estimate = scale_estimate.max(a.abs()).max(b);
        if alpha.len() == steps || b <= BREAKDOWN * scale_estimate {
            break;
        }
        beta.push(b);
        let mut next = w.clone();
        scale(1.0 / b, &mut next);
        basis.push(next);
    }
    Ok(Krylov { alpha, beta, basis })
}

/// One pass of classical Gram-Schmidt, `w <- w - Q (Q^T w)`, in parallel over fixed
/// pieces of the coordinates: the partial inner products of each piece are summed in
/// piece order, so the result does not depend on the thread count. Buffers sized once.
struct GramSchmidt {
    /// `partials[p * max_vectors + i]`: piece `p`'s share of `q_i . w`.
    partials: Vec<f64>,
    coefficients: Vec<f64>,
    max_vectors: usize,
}

/// Coordinates per piece of [`GramSchmidt`].
const PIECE: usize = 1 << 14;

impl GramSchmidt {
    fn new(dim: usize, max_vectors: usize) -> Self {
        let pieces = dim.div_ceil(PIECE);
        GramSchmidt { partials: vec![0.0; pieces * max_vectors], coefficients: vec![0.0; max_vectors], max_vectors }
    }

    fn run(&mut self, basis: &[Vec<f64>], w: &mut [f64]) {
        let count = basis.len();
        self.partials.par_chunks_mut(self.max_vectors).zip(w.par_chunks(PIECE)).enumerate().for_each(
            |(p, (partial, w_piece))| {
                let start = p * PIECE;
                for (c, q) in partial.iter_mut().zip(basis) {
                    *c = dot(&q[start..start + w_piece.len()], w_piece);
                }
            },
        );
        let coefficients = &mut self.coefficients[..count];
        coefficients.fill(0.0);
        for partial in self.partials.chunks_exact(self.max_vectors) {
            for (c, &part) in coefficients.iter_mut().zip(partial) {
                *c += part;
            }
        }
        let coefficients = &*coefficients;
        w.par_chunks_mut(PIECE).enumerate().for_each(|(p, w_piece)| {
            let start = p * PIECE;
            for (&c, q) in coefficients.iter().zip(basis) {
                axpy(-c, &q[start..start + w_piece.len()], w_piece);
            }
        });
    }
}

/// Eigenvalues (ascending) and eigenvectors (columns) of the symmetric tridiagonal
/// matrix with diagonal `alpha` and off-diagonal `beta`.
pub(super) fn tridiagonal_eigen(alpha: &[f64], beta: &[f64]) -> Result<(Vec<f64>, Mat<f64>)> {
    let m = alpha.len();
    let t = Mat::<f64>::from_fn(m, m, |i, j| {
        if i == j {
            alpha[i]
        } else if i == j + 1 {
            beta[j]
        } else if j == i + 1 {
            beta[i]
        } else {
            0.0
        }
    });
    let eigen = t
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::numerical("lanczos", format!("the {m}x{m} tridiagonal eigenproblem failed: {e:?}")))?;
    let values = eigen.S().column_vector().iter().copied().collect();
    Ok((values, eigen.U().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hessian::Diagonal;

    fn spectrum() -> Vec<f32> {
        (0..60)
            .map(|i| if i % 7 == 3 { -(i as f32) / 10.0 } else { (i as f32 * 0.37).sin() + i as f32 / 20.0 })
            .collect()
    }

    #[test]
    fn recovers_both_ends_of_a_known_spectrum() {
        let values = spectrum();
        let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        sorted.sort_by(f64::total_cmp);
        let mut op = Diagonal(values);
        let params = LanczosParams { k: 3, krylov_dim: 40, keep_vectors: true, ..LanczosParams::default() };
        let top = lanczos_eigenvalues(&mut op, &params).unwrap();
        let bottom = lanczos_eigenvalues(&mut op, &LanczosParams { which: Which::Smallest, ..params.clone() }).unwrap();
        for i in 0..3 {
            assert!((top.eigenvalues[i] - sorted[59 - i]).abs() < 1e-4, "{:?}", top.eigenvalues);
            assert!((bottom.eigenvalues[i] - sorted[i]).abs() < 1e-4, "{:?}", bottom.eigenvalues);
        }
        assert_eq!(top.converged, 3);
        assert_eq!(top.eigenvectors.as_ref().map(Vec::len), Some(3));
        assert_eq!(top.products, 43);
    }

    #[test]
    fn stops_early_on_an_invariant_subspace() {
        // Four distinct eigenvalues: the Krylov space is invariant after four steps.
        let mut op = Diagonal((0..40).map(|i| (i % 4) as f32 + 1.0).collect());
        let params = LanczosParams { k: 4, krylov_dim: 20, ..LanczosParams::default() };
        let eig = lanczos_eigenvalues(&mut op, &params).unwrap();
        assert_eq!(eig.steps, 4);
        for (got, want) in eig.eigenvalues.iter().zip([4.0, 3.0, 2.0, 1.0]) {
            assert!((got - want).abs() < 1e-5);
        }
    }

    #[test]
    fn rejects_impossible_settings() {
        let mut op = Diagonal(vec![1.0; 5]);
        let bad = LanczosParams { k: 6, krylov_dim: 4, ..LanczosParams::default() };
        assert!(lanczos_eigenvalues(&mut op, &bad).unwrap_err().to_string().contains("krylov-dim"));
    }
}
