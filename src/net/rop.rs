//! Exact Hessian-vector products of the mean softmax cross-entropy by Pearlmutter's
//! R-operator (`SPEC.md` section 5).
//!
//! For a direction `v = (V_l, vb_l)` in parameter space, `R{f} = d/dr f(theta + r v)` at
//! `r = 0`. Applied to the forward pass (`a_l = W_l h_{l-1} + b_l`, `h_l = phi(a_l)`):
//!
//! ```text
//! R{a_l} = W_l R{h_{l-1}} + V_l h_{l-1} + vb_l        R{h_0} = 0 (the input is fixed)
//! R{h_l} = phi'(a_l) * R{a_l}
//! ```
//!
//! and to the backward pass of the true loss (backprop path `W_l^T`, whatever rule
//! trained the weights), with `p = softmax(a_L)`, `delta_L = p - onehot(y)`:
//!
//! ```text
//! R{delta_L}     = p * R{a_L} - p (p . R{a_L})
//! R{delta_{l-1}} = (W_l^T R{delta_l} + V_l^T delta_l) * phi'(a_{l-1})
//!                  + (W_l^T delta_l) * phi''(a_{l-1}) * R{a_{l-1}}
//! R{dW_l} = mean_n (R{delta_l} h_{l-1}^T + delta_l R{h_{l-1}}^T)
//! R{db_l} = mean_n R{delta_l}
//! ```
//!
//! `(R{dW_l}, R{db_l})` over all layers is `H v`, exactly (no finite difference). The
//! `phi''` term is nonzero for tanh only; for relu the result is the Hessian almost
//! everywhere (away from the kinks), and for linear layers it is exact.
//!
//! [`HessianOperator`] fixes the evaluation set: the primal forward pass, softmax and
//! errors `delta_l` are computed once, and every product reuses them. The samples are
//! split into chunks of at most `batch` (a function of `N` and `batch` only); rayon
//! gives each core whole chunks, and the chunk results are summed in chunk order, so a
//! product does not depend on the thread count.
//!
//! Per-layer blocks: [`HessianOperator::apply_block`] is the Hessian restricted to the
//! parameters of one layer (its weight then its bias), `H_ii v_i`. It is computed by the
//! same passes with `V_j = 0` for `j != i`, starting the R-forward pass at layer `i` and
//! stopping the R-backward pass there, so it costs less than a full product.

use super::{Activation, BatchStats, ErrorPath, Mlp, Workspace};
use crate::linalg::{gemm, view, view_mut};
use rayon::prelude::*;
use std::ops::Range;

/// The Hessian of the mean softmax cross-entropy over a fixed evaluation set, as an
/// operator `v -> H v` on the flat parameter layout of [`Mlp`].
#[derive(Clone, Debug)]
pub struct HessianOperator {
    mlp: Mlp,
    params: Vec<f32>,
    samples: usize,
    chunks: Vec<Chunk>,
}

/// One slice of the evaluation set: its primal pass (fixed) and its R-pass buffers.
///
/// Layouts: the forward quantities are `d x n` (a column per sample, like
/// [`Workspace`]); the backward quantities are kept transposed, `n x d` (a column per
/// unit), so that every weight product `h R{delta}^T` contracts over samples stored
/// contiguously in both operands, which faer multiplies markedly faster.
#[derive(Clone, Debug)]
struct Chunk {
    /// Inputs `x` (`d_0 x n`).
    x: Vec<f32>,
    /// Primal pass: `pre` = `a_l`, `act` = `h_l` (`d x n`); its `delta` is not used after
    /// construction (see `delta_t`).
    primal: Workspace,
    /// `p = softmax(a_L)` (`classes x n`).
    probs: Vec<f32>,
    /// `phi'(a_l)` for hidden layers, `d x n` and `n x d`.
    slope: Vec<Vec<f32>>,
    slope_t: Vec<Vec<f32>>,
    /// `delta_l^T` (backprop path, per sample, unscaled), `n x d`.
    delta_t: Vec<Vec<f32>>,
    /// `((W_{l+1}^T delta_{l+1}) * phi''(a_l))^T` for hidden layers (`n x d`); empty when
    /// `phi'' = 0`.
    curvature_t: Vec<Vec<f32>>,
    stats: BatchStats,
    /// `R{a_l}` per layer (`d x n`).
    r_pre: Vec<Vec<f32>>,
    /// `R{h_l}` per hidden layer (`d x n`).
    r_act: Vec<Vec<f32>>,
    /// `R{delta_l}^T` per layer (`n x d`), per sample (unscaled).
    r_delta_t: Vec<Vec<f32>>,
    /// `R{a_l}^T` of one hidden layer at a time, for the curvature term (`n x d_max`).
    r_pre_t: Vec<f32>,
    /// This chunk's share of the product (or gradient), full parameter layout.
    out: Vec<f32>,
}

impl HessianOperator {
    /// Runs the primal pass of `params` over the `N = labels.len()` samples in `x`
    /// (`d_0 x N` column-major) once, in chunks of at most `batch` samples.
    ///
    /// # Panics
    /// On inconsistent shapes (a programming error): `params` not of `mlp`'s length,
    /// `x` not `d_0 x N`, no samples, or a label not below `mlp.classes()`. Callers check
    /// a data set against a checkpoint before building the operator.
    pub fn new(mlp: &Mlp, params: &[f32], x: &[f32], labels: &[u8], batch: usize) -> HessianOperator {
        let samples = labels.len();
        let d0 = mlp.input_dim();
        assert_eq!(params.len(), mlp.num_params(), "parameter vector does not match the network");
        assert!(samples > 0, "the evaluation set is empty");
        assert_eq!(x.len(), d0 * samples, "x must hold {samples} samples of {d0} inputs");
        assert!(labels.iter().all(|&y| (y as usize) < mlp.classes()), "a label is not below {}", mlp.classes());
        let ranges = chunk_ranges(samples, batch);
        let chunks =
            ranges.into_par_iter().map(|r| Chunk::new(mlp, params, &x[r.start * d0..r.end * d0], &labels[r])).collect();
        HessianOperator { mlp: mlp.clone(), params: params.to_vec(), samples, chunks }
    }

    /// Number of parameters (the side of `H`).
    pub fn dim(&self) -> usize {
        self.mlp.num_params()
    }
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }
    /// The parameters `theta` at which the Hessian is taken.
    pub fn params(&self) -> &[f32] {
        &self.params
    }
    /// Number of samples `N` in the evaluation set.
    pub fn samples(&self) -> usize {
        self.samples
    }
    /// Number of chunks the samples are split into.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Loss and accuracy of `theta` on the evaluation set (from the stored primal pass).
    pub fn stats(&self) -> BatchStats {
        let mut total = BatchStats::default();
        for c in &self.chunks {
            total.add(c.stats);
        }
        total
    }

    /// Mean softmax cross-entropy (nats) of `theta` on the evaluation set.
    pub fn loss(&self) -> f64 {
        self.stats().mean_loss()
    }

    /// `out = grad L(theta)`, the mean-loss gradient over the evaluation set (backprop
    /// path), from the stored errors.
    pub fn gradient(&mut self, out: &mut [f32]) {
        assert_eq!(out.len(), self.dim(), "gradient buffer has the wrong length");
        let scale = 1.0 / self.samples as f32;
        let mlp = &self.mlp;
        self.chunks.par_iter_mut().for_each(|c| c.gradient(mlp, scale));
        reduce_chunks(&self.chunks, 0, out);
    }

    /// `out = H v` over all parameters (`v` and `out` in the flat parameter layout).
    pub fn apply(&mut self, v: &[f32], out: &mut [f32]) {
        self.apply_layers(0..self.mlp.num_layers(), v, out);
    }

    /// `out = H_ii v` for layer `i`'s block (its weight `W^T` then its bias, the slice
    /// [`Mlp::layer_range`] of the flat layout): the Hessian restricted to that layer.
    pub fn apply_block(&mut self, layer: usize, v: &[f32], out: &mut [f32]) {
        self.apply_layers(layer..layer + 1, v, out);
    }

    /// Length of layer `layer`'s block, the side of `H_ii`.
    pub fn block_dim(&self, layer: usize) -> usize {
        self.mlp.layer_range(layer).len()
    }

    /// The diagonal block of `H` for the contiguous parameters of `layers`: `v` and `out`
    /// cover `layer_range(layers.start).start .. layer_range(layers.end - 1).end`.
    pub fn apply_layers(&mut self, layers: Range<usize>, v: &[f32], out: &mut [f32]) {
        assert!(!layers.is_empty() && layers.end <= self.mlp.num_layers(), "layer range {layers:?} out of bounds");
        let span = self.mlp.layer_range(layers.start).start..self.mlp.layer_range(layers.end - 1).end;
        assert_eq!(v.len(), span.len(), "direction has the wrong length");
        assert_eq!(out.len(), span.len(), "output buffer has the wrong length");
        let scale = 1.0 / self.samples as f32;
        let (mlp, params) = (&self.mlp, self.params.as_slice());
        let dir = Direction { v, base: span.start };
        self.chunks.par_iter_mut().for_each(|c| c.hessian_vector(mlp, params, &dir, layers.clone(), scale));
        reduce_chunks(&self.chunks, span.start, out);
    }
}

/// Splits `0..samples` into `ceil(samples / batch)` chunks of nearly equal length.
fn chunk_ranges(samples: usize, batch: usize) -> Vec<Range<usize>> {
    let count = samples.div_ceil(batch.max(1)).max(1);
    (0..count).map(|k| k * samples / count..(k + 1) * samples / count).collect()
}

/// `out[k] = sum over chunks (in order) of chunk.out[base + k]`.
fn reduce_chunks(chunks: &[Chunk], base: usize, out: &mut [f32]) {
    const PIECE: usize = 1 << 14;
    out.par_chunks_mut(PIECE).enumerate().for_each(|(p, dst)| {
        let part = base + p * PIECE..base + p * PIECE + dst.len();
        dst.copy_from_slice(&chunks[0].out[part.clone()]);
        for c in &chunks[1..] {
            for (d, &s) in dst.iter_mut().zip(&c.out[part.clone()]) {
                *d += s;
            }
        }
    });
}

/// A direction `v` given over a contiguous part of the flat layout starting at `base`.
struct Direction<'a> {
    v: &'a [f32],
    base: usize,
}

impl Direction<'_> {
    /// `V_i^T` (`d_in x d_out` column-major) of layer `i`.
    fn weight_t(&self, mlp: &Mlp, i: usize) -> &[f32] {
        let r = mlp.weight_range(i);
        &self.v[r.start - self.base..r.end - self.base]
    }
    fn bias(&self, mlp: &Mlp, i: usize) -> &[f32] {
        let r = mlp.bias_range(i);
        &self.v[r.start - self.base..r.end - self.base]
    }
}

/// Whether `phi''` vanishes identically (so the curvature term of the R-backward pass drops).
fn second_derivative_vanishes(activation: Activation) -> bool {
    matches!(activation, Activation::Relu | Activation::Linear)
}

impl Chunk {
    fn new(mlp: &Mlp, params: &[f32], x: &[f32], labels: &[u8]) -> Chunk {
        let n = labels.len();
        let layers = mlp.num_layers();
        let sizes = mlp.sizes();
        let classes = mlp.classes();
        let mut primal = Workspace::new(mlp, n);
        mlp.forward(params, x, n, &mut primal);
        let stats = mlp.loss_and_output_error(labels, &mut primal);
        mlp.propagate_errors(params, ErrorPath::Transpose, &mut primal);

        let mut probs = primal.pre[layers - 1][..classes * n].to_vec();
        for col in probs.chunks_exact_mut(classes) {
            softmax_in_place(col);
        }

        let transposed = |src: &[f32], d: usize| {
            let mut dst = vec![0f32; d * n];
            transpose_into(&src[..d * n], d, n, &mut dst);
            dst
        };
        let activation = mlp.activation();
        let slope: Vec<Vec<f32>> = (0..layers - 1)
            .map(|i| primal.pre[i].iter().zip(&primal.act[i]).map(|(&a, &h)| activation.derivative(a, h)).collect())
            .collect();
        let slope_t = slope.iter().enumerate().map(|(i, s)| transposed(s, sizes[i + 1])).collect();
        let delta_t = (0..layers).map(|i| transposed(&primal.delta[i], sizes[i + 1])).collect();
        let curvature_t = if second_derivative_vanishes(activation) {
            Vec::new()
        } else {
            (0..layers - 1)
                .map(|i| {
                    // (W_{i+1}^T delta_{i+1}) * phi''(a_i), with phi'' through h_i.
                    let (din, dout) = mlp.layer_dims(i + 1);
                    let mut term = vec![0f32; din * n];
                    let w_t = view(&params[mlp.weight_range(i + 1)], din, dout);
                    gemm(view_mut(&mut term, din, n), false, w_t, view(&primal.delta[i + 1], dout, n), 1.0);
                    for (t, &h) in term.iter_mut().zip(&primal.act[i]) {
                        *t *= activation.second_derivative(h);
                    }
                    transposed(&term, din)
                })
                .collect()
        };
        let widest_hidden = sizes[1..layers].iter().copied().max().unwrap_or(0);

        let buf = |i: usize| vec![0f32; sizes[i + 1] * n];
        Chunk {
            x: x.to_vec(),
            primal,
            probs,
            slope,
            slope_t,
            delta_t,
            curvature_t,
            stats,
            r_pre: (0..layers).map(buf).collect(),
            r_act: (0..layers - 1).map(buf).collect(),
            r_delta_t: (0..layers).map(buf).collect(),
            r_pre_t: if second_derivative_vanishes(activation) { Vec::new() } else { vec![0f32; widest_hidden * n] },
            out: vec![0f32; mlp.num_params()],
        }
    }

    fn len(&self) -> usize {
        self.primal.batch_len()
    }

    /// Writes this chunk's share `scale * sum_n (dW_i, db_i)` of the gradient into `self.out`.
    fn gradient(&mut self, mlp: &Mlp, scale: f32) {
        let n = self.len();
        for i in 0..mlp.num_layers() {
            let (din, dout) = mlp.layer_dims(i);
            let (gw, gb) = self.out[mlp.layer_range(i)].split_at_mut(din * dout);
            let input = self.primal.layer_input(&self.x, i);
            gemm(view_mut(gw, din, dout), false, view(input, din, n), view(&self.delta_t[i], n, dout), scale);
            column_sums(&self.delta_t[i], n, scale, gb);
        }
    }

    /// Writes this chunk's share `scale * sum_n (R{dW_i}, R{db_i})` of `H v` for the
    /// diagonal block of `layers` (the direction is zero outside it) into `self.out`.
    fn hessian_vector(&mut self, mlp: &Mlp, params: &[f32], dir: &Direction<'_>, layers: Range<usize>, scale: f32) {
        self.r_forward(mlp, params, dir, layers.clone());
        self.r_output_error(mlp);
        self.r_backward(mlp, params, dir, layers.clone());
        for i in layers.clone() {
            self.r_weight_gradient(mlp, i, layers.start, scale);
        }
    }

    /// `R{a_i}` and `R{h_i}` for `i >= layers.start` (they vanish below).
    fn r_forward(&mut self, mlp: &Mlp, params: &[f32], dir: &Direction<'_>, layers: Range<usize>) {
        let n = self.len();
        let num_layers = mlp.num_layers();
        for i in layers.start..num_layers {
            let (din, dout) = mlp.layer_dims(i);
            let (lower_act, upper_act) = self.r_act.split_at_mut(i);
            let r_pre = &mut self.r_pre[i][..dout * n];
            let mut written = false;
            if i > layers.start {
                // W_i R{h_{i-1}}
                let w_t = view(&params[mlp.weight_range(i)], din, dout);
                gemm(view_mut(r_pre, dout, n), false, w_t.transpose(), view(&lower_act[i - 1], din, n), 1.0);
                written = true;
            }
            if layers.contains(&i) {
                // + V_i h_{i-1} + vb_i
                let input = self.primal.layer_input(&self.x, i);
                let v_t = view(dir.weight_t(mlp, i), din, dout);
                gemm(view_mut(r_pre, dout, n), written, v_t.transpose(), view(input, din, n), 1.0);
                let vb = dir.bias(mlp, i);
                for col in r_pre.chunks_exact_mut(dout) {
                    for (a, &b) in col.iter_mut().zip(vb) {
                        *a += b;
                    }
                }
            }
            if i + 1 < num_layers {
                // R{h_i} = phi'(a_i) * R{a_i}
                for ((rh, &ra), &slope) in upper_act[0].iter_mut().zip(&*r_pre).zip(&self.slope[i]) {
                    *rh = slope * ra;
                }
            }
        }
    }

    /// `R{delta_L} = p * R{a_L} - p (p . R{a_L})`, per sample, written transposed.
    fn r_output_error(&mut self, mlp: &Mlp) {
        let n = self.len();
        let classes = mlp.classes();
        let last = mlp.num_layers() - 1;
        let r_delta_t = &mut self.r_delta_t[last];
        let columns = self.r_pre[last][..classes * n].chunks_exact(classes).zip(self.probs.chunks_exact(classes));
        for (s, (ra, p)) in columns.enumerate() {
            let p_dot_ra: f32 = p.iter().zip(ra).map(|(&pk, &rk)| pk * rk).sum();
            for (k, (&pk, &rk)) in p.iter().zip(ra).enumerate() {
                r_delta_t[s + k * n] = pk * (rk - p_dot_ra);
            }
        }
    }

    /// `R{delta_{i-1}}` from `R{delta_i}` for `i` from the last layer down to
    /// `layers.start + 1`, in the transposed layout:
    /// `R{delta_{i-1}}^T = (R{delta_i}^T W_i + delta_i^T V_i) * phi'^T + curvature^T * R{a_{i-1}}^T`.
    fn r_backward(&mut self, mlp: &Mlp, params: &[f32], dir: &Direction<'_>, layers: Range<usize>) {
        let n = self.len();
        for i in (layers.start + 1..mlp.num_layers()).rev() {
            let (din, dout) = mlp.layer_dims(i);
            let (lower, upper) = self.r_delta_t.split_at_mut(i);
            let target = &mut lower[i - 1][..n * din];
            let w = view(&params[mlp.weight_range(i)], din, dout).transpose();
            gemm(view_mut(target, n, din), false, view(&upper[0], n, dout), w, 1.0);
            if layers.contains(&i) {
                let v = view(dir.weight_t(mlp, i), din, dout).transpose();
                gemm(view_mut(target, n, din), true, view(&self.delta_t[i], n, dout), v, 1.0);
            }
            let slope_t = &self.slope_t[i - 1];
            match self.curvature_t.get(i - 1) {
                Some(curvature_t) => {
                    let r_pre_t = &mut self.r_pre_t[..n * din];
                    transpose_into(&self.r_pre[i - 1][..din * n], din, n, r_pre_t);
                    for (((d, &s), &c), &ra) in target.iter_mut().zip(slope_t).zip(curvature_t).zip(&*r_pre_t) {
                        *d = *d * s + c * ra;
                    }
                }
                None => {
                    for (d, &s) in target.iter_mut().zip(slope_t) {
                        *d *= s;
                    }
                }
            }
        }
    }

    /// `out_i = scale * (h_{i-1} R{delta_i}^T + R{h_{i-1}} delta_i^T, sum_n R{delta_i})`;
    /// the second term only when `R{h_{i-1}}` is nonzero (`i > first`).
    fn r_weight_gradient(&mut self, mlp: &Mlp, i: usize, first: usize, scale: f32) {
        let n = self.len();
        let (din, dout) = mlp.layer_dims(i);
        let (gw, gb) = self.out[mlp.layer_range(i)].split_at_mut(din * dout);
        let input = self.primal.layer_input(&self.x, i);
        let r_delta_t = &self.r_delta_t[i];
        gemm(view_mut(gw, din, dout), false, view(input, din, n), view(r_delta_t, n, dout), scale);
        if i > first {
            let delta_t = view(&self.delta_t[i], n, dout);
            gemm(view_mut(gw, din, dout), true, view(&self.r_act[i - 1], din, n), delta_t, scale);
        }
        column_sums(r_delta_t, n, scale, gb);
    }
}

/// `out[j] = scale * sum_s m[s, j]` for the column-major `n x out.len()` matrix `m`.
fn column_sums(m: &[f32], n: usize, scale: f32, out: &mut [f32]) {
    for (o, col) in out.iter_mut().zip(m.chunks_exact(n)) {
        *o = scale * col.iter().sum::<f32>();
    }
}

/// `dst = src^T`: `src` is `rows x cols` column-major, `dst` becomes `cols x rows`
/// column-major. Square tiles keep both sides in cache.
fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const TILE: usize = 16;
    debug_assert_eq!(src.len(), rows * cols);
    debug_assert_eq!(dst.len(), rows * cols);
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for r in r0..r1 {
                for c in c0..c1 {
                    dst[c + r * cols] = src[r + c * rows];
                }
            }
        }
    }
}

/// `z <- softmax(z)`, stabilised by the maximum.
fn softmax_in_place(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in z.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::init_model;
    use crate::net::Rule;

    /// A small net with nonzero biases, `n` deterministic samples and a direction `v`.
    fn setup(sizes: &[usize], activation: Activation, n: usize) -> (Mlp, Vec<f32>, Vec<f32>, Vec<u8>, Vec<f32>) {
        let mlp = Mlp::new(sizes, activation);
        let mut params = init_model(&mlp, Rule::Bp, 0.0, 7).params;
        for i in 0..mlp.num_layers() {
            for (k, b) in params[mlp.bias_range(i)].iter_mut().enumerate() {
                *b = 0.1 * ((k + 3 * i) as f32 * 1.3).sin();
            }
        }
        let x = (0..sizes[0] * n).map(|k| (k as f32 * 0.618).sin()).collect();
        let y = (0..n).map(|s| ((s * 5 + 1) % mlp.classes()) as u8).collect();
        let v = (0..mlp.num_params()).map(|k| (k as f32 * 0.377 + 0.2).cos()).collect();
        (mlp, params, x, y, v)
    }

    fn relative_error(a: &[f32], b: &[f32]) -> f64 {
        let diff: f64 = a.iter().zip(b).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum();
        let scale: f64 = b.iter().map(|&q| (q as f64).powi(2)).sum();
        (diff / scale).sqrt()
    }

    #[test]
    fn product_equals_central_differences_of_the_gradient() {
        for activation in Activation::ALL {
            let (mlp, params, x, y, v) = setup(&[6, 5, 4, 3], activation, 10);
            let mut op = HessianOperator::new(&mlp, &params, &x, &y, 4);
            let mut hv = vec![0f32; op.dim()];
            op.apply(&v, &mut hv);
            let eps = 1e-3f32;
            let gradient_at = |sign: f32| {
                let shifted: Vec<f32> = params.iter().zip(&v).map(|(&p, &d)| p + sign * eps * d).collect();
                let mut g = vec![0f32; mlp.num_params()];
                HessianOperator::new(&mlp, &shifted, &x, &y, 4).gradient(&mut g);
                g
            };
            let (up, down) = (gradient_at(1.0), gradient_at(-1.0));
            let fd: Vec<f32> = up.iter().zip(&down).map(|(&u, &d)| (u - d) / (2.0 * eps)).collect();
            let err = relative_error(&hv, &fd);
            eprintln!("{activation}: |Hv - FD| / |FD| = {err:.2e}");
            assert!(err < 1e-3, "{activation}: relative error {err}");
        }
    }

    #[test]
    fn gradient_equals_the_backward_pass() {
        let (mlp, params, x, y, _) = setup(&[6, 5, 4, 3], Activation::Tanh, 10);
        let mut op = HessianOperator::new(&mlp, &params, &x, &y, 3);
        let mut g = vec![0f32; op.dim()];
        op.gradient(&mut g);
        let mut ws = Workspace::new(&mlp, 10);
        mlp.forward(&params, &x, 10, &mut ws);
        let stats = mlp.loss_and_output_error(&y, &mut ws);
        let mut want = vec![0f32; mlp.num_params()];
        mlp.backward(&params, ErrorPath::Transpose, &x, &mut ws, 0.1, &mut want, false);
        assert!(relative_error(&g, &want) < 1e-6);
        assert!((op.loss() - stats.mean_loss()).abs() < 1e-6);
    }

    #[test]
    fn transpose_and_column_sums() {
        let (rows, cols) = (19, 37);
        let src: Vec<f32> = (0..rows * cols).map(|k| k as f32).collect();
        let mut dst = vec![0f32; rows * cols];
        transpose_into(&src, rows, cols, &mut dst);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(dst[c + r * cols], src[r + c * rows]);
            }
        }
        let mut sums = [0f32; 2];
        column_sums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 0.5, &mut sums);
        assert_eq!(sums, [3.0, 7.5]);
    }

    #[test]
    fn chunking_does_not_change_the_product() {
        let (mlp, params, x, y, v) = setup(&[6, 5, 4, 3], Activation::Tanh, 10);
        let mut whole = vec![0f32; mlp.num_params()];
        HessianOperator::new(&mlp, &params, &x, &y, 10).apply(&v, &mut whole);
        for batch in [1, 3, 7] {
            let mut op = HessianOperator::new(&mlp, &params, &x, &y, batch);
            let mut split = vec![0f32; mlp.num_params()];
            op.apply(&v, &mut split);
            assert!(relative_error(&split, &whole) < 1e-6, "batch {batch}");
        }
        assert_eq!(chunk_ranges(10, 3), vec![0..2, 2..5, 5..7, 7..10]);
        assert_eq!(chunk_ranges(4, 0), vec![0..1, 1..2, 2..3, 3..4]);
    }

    #[test]
    fn block_product_equals_the_sub_block_of_the_full_product() {
        for activation in [Activation::Tanh, Activation::Relu] {
            let (mlp, params, x, y, v) = setup(&[6, 5, 4, 3], activation, 10);
            let mut op = HessianOperator::new(&mlp, &params, &x, &y, 4);
            for layer in 0..mlp.num_layers() {
                let range = mlp.layer_range(layer);
                let mut padded = vec![0f32; op.dim()];
                padded[range.clone()].copy_from_slice(&v[range.clone()]);
                let mut full = vec![0f32; op.dim()];
                op.apply(&padded, &mut full);
                let mut block = vec![0f32; range.len()];
                op.apply_block(layer, &v[range.clone()], &mut block);
                let err = relative_error(&block, &full[range]);
                assert!(err < 1e-6, "{activation} layer {layer}: {err}");
            }
        }
    }
}
