//! Forward pass, softmax cross-entropy, and the backward pass along any [`ErrorPath`].
//!
//! Shapes (column-major, one column per sample): input `x` is `d_0 x n`; `pre[i]` is
//! `a_{i+1}` (`d_{i+1} x n`); `act[i]` is `h_{i+1} = phi(a_{i+1})` for hidden layers;
//! `delta[i]` is the error at `a_{i+1}`, per sample and unscaled (`delta_L = e =
//! softmax(a_L) - onehot(y)`). Gradients of the mean loss are the per-sample sums
//! scaled by `1/n`; callers pass that scale so that a batch split into chunks sums to
//! exactly the full-batch gradient.

use super::{Activation, ErrorPath, Mlp};
use crate::linalg::{gemm, vectorized, view, view_mut};
use faer::MatRef;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Loss and accuracy counts over a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Sum over samples of the cross-entropy (nats).
    pub loss_sum: f64,
    /// Number of samples whose arg-max logit equals the label.
    pub correct: usize,
    /// Number of samples.
    pub count: usize,
}

impl BatchStats {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.count as f64
    }
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count as f64
    }
    pub fn add(&mut self, other: BatchStats) {
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
        self.count += other.count;
    }
}

/// The loss at the logits whose gradient a backward pass carries. Training always uses
/// cross-entropy; attacks may follow the margin instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputLoss {
    /// Softmax cross-entropy (nats): error `softmax(z) - onehot(y)`.
    #[default]
    #[serde(rename = "ce")]
    CrossEntropy,
    /// The Carlini-Wagner margin `max_{j != y} z_j - z_y` (positive iff misclassified):
    /// error `onehot(j*) - onehot(y)` at the runner-up `j*`. Unlike cross-entropy its
    /// gradient does not vanish where the softmax saturates.
    #[serde(rename = "margin")]
    Margin,
}

impl OutputLoss {
    pub const ALL: [OutputLoss; 2] = [OutputLoss::CrossEntropy, OutputLoss::Margin];

    pub fn name(self) -> &'static str {
        match self {
            OutputLoss::CrossEntropy => "ce",
            OutputLoss::Margin => "margin",
        }
    }
}

crate::name_enum!(OutputLoss, "loss");

/// Buffers for one forward/backward pass of up to `capacity` samples, sized once.
#[derive(Clone, Debug)]
pub struct Workspace {
    capacity: usize,
    n: usize,
    /// `pre[i]`: pre-activation of layer `i` (`d_{i+1} x n`); the last one holds the logits.
    pub pre: Vec<Vec<f32>>,
    /// `act[i]`: `phi(pre[i])` for hidden layers `i < L-1`.
    pub act: Vec<Vec<f32>>,
    /// `delta[i]`: per-sample error at `pre[i]`.
    pub delta: Vec<Vec<f32>>,
}

impl Workspace {
    pub fn new(mlp: &Mlp, capacity: usize) -> Workspace {
        let sizes = mlp.sizes();
        let layers = mlp.num_layers();
        let buf = |d: usize| vec![0f32; d * capacity];
        Workspace {
            capacity,
            n: 0,
            pre: (0..layers).map(|i| buf(sizes[i + 1])).collect(),
            act: (0..layers - 1).map(|i| buf(sizes[i + 1])).collect(),
            delta: (0..layers).map(|i| buf(sizes[i + 1])).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Declares the next pass to hold `n` samples, for callers that fill the buffers
    /// themselves (the training engine).
    pub(crate) fn set_batch_len(&mut self, n: usize) {
        assert!(n <= self.capacity, "batch of {n} exceeds workspace capacity {}", self.capacity);
        self.n = n;
    }

    /// Samples in the last forward pass.
    pub fn batch_len(&self) -> usize {
        self.n
    }

    /// Logits of the last forward pass (`classes x n`).
    pub fn logits(&self) -> &[f32] {
        let last = self.pre.last().expect("at least one layer");
        &last[..last.len() / self.capacity * self.n]
    }

    /// Copies sample `from` of the last pass (its pre-activations, activations and errors in
    /// every layer) over sample `to`.
    pub fn copy_sample(&mut self, from: usize, to: usize) {
        assert!(from < self.n && to < self.n, "samples {from} and {to} of a pass of {}", self.n);
        let capacity = self.capacity;
        for buf in self.pre.iter_mut().chain(&mut self.act).chain(&mut self.delta) {
            let d = buf.len() / capacity;
            buf.copy_within(from * d..(from + 1) * d, to * d);
        }
    }

    /// Keeps the first `n` samples of the last pass, so that the backward pass that follows
    /// runs on them alone.
    pub fn truncate(&mut self, n: usize) {
        assert!(n <= self.n, "cannot keep {n} of {} samples", self.n);
        self.n = n;
    }

    /// `h_i` for `i >= 1` (hidden activations), or the input for `i = 0`.
    pub fn layer_input<'a>(&'a self, x: &'a [f32], i: usize) -> &'a [f32] {
        if i == 0 {
            x
        } else {
            &self.act[i - 1]
        }
    }
}

impl Mlp {
    /// Forward pass of `n` samples (`x` is `d_0 x n`), filling `ws.pre` and `ws.act`.
    pub fn forward(&self, params: &[f32], x: &[f32], n: usize, ws: &mut Workspace) {
        assert!(n <= ws.capacity, "batch of {n} exceeds workspace capacity {}", ws.capacity);
        assert_eq!(params.len(), self.num_params());
        assert!(x.len() >= self.input_dim() * n);
        ws.n = n;
        let act_fn = self.activation();
        let layers = self.num_layers();
        for i in 0..layers {
            let (din, dout) = self.layer_dims(i);
            let w_t = view(&params[self.weight_range(i)], din, dout);
            let bias = &params[self.bias_range(i)];
            let (pre, input) = {
                let input: &[f32] = if i == 0 { x } else { &ws.act[i - 1] };
                // Split borrows: `pre` and `act` are distinct fields.
                (&mut ws.pre[i], input)
            };
            gemm(view_mut(pre, dout, n), false, w_t.transpose(), view(input, din, n), 1.0);
            add_bias(&mut pre[..dout * n], bias);
            if i + 1 < layers {
                activate(act_fn, &ws.pre[i][..dout * n], &mut ws.act[i][..dout * n]);
            }
        }
    }

    /// Softmax cross-entropy of the logits of the last forward pass against `labels`;
    /// writes `e = softmax - onehot` into the last `delta` and returns the batch statistics.
    pub fn loss_and_output_error(&self, labels: &[u8], ws: &mut Workspace) -> BatchStats {
        self.output_error_each(OutputLoss::CrossEntropy, labels, ws, |_, _, _| {})
    }

    /// The output error of `loss` (the loss's gradient at the logits of the last forward
    /// pass) written into the last `delta`, calling `each(sample, loss, correct)` for every
    /// sample with its loss (nats for cross-entropy) and whether its arg-max logit is the
    /// label; returns the batch statistics (`loss_sum` sums the chosen loss).
    pub fn output_error_each(
        &self,
        loss: OutputLoss,
        labels: &[u8],
        ws: &mut Workspace,
        mut each: impl FnMut(usize, f32, bool),
    ) -> BatchStats {
        let n = ws.n;
        let classes = self.classes();
        let last = self.num_layers() - 1;
        let mut stats = BatchStats { count: n, ..BatchStats::default() };
        let (logits, err) = (&ws.pre[last], &mut ws.delta[last]);
        for (sample, ((z, e), &y)) in logits[..classes * n]
            .chunks_exact(classes)
            .zip(err[..classes * n].chunks_exact_mut(classes))
            .zip(labels)
            .enumerate()
        {
            let y = y as usize;
            let (argmax, max) = first_max(z, None);
            let value = match loss {
                OutputLoss::CrossEntropy => cross_entropy_error(z, max, y, e),
                OutputLoss::Margin => margin_error(z, y, e),
            };
            stats.loss_sum += value as f64;
            let correct = argmax == y;
            stats.correct += usize::from(correct);
            each(sample, value, correct);
        }
        stats
    }

    /// Statistics only (no error written), for evaluation.
    pub fn loss_stats(&self, labels: &[u8], ws: &mut Workspace) -> BatchStats {
        self.loss_and_output_error(labels, ws)
    }

    /// Propagates the output error (already in the last `delta`) back to every layer
    /// along `path`, then writes `scale * (delta_l h_{l-1}^T, sum delta_l)` into `grad`
    /// (same flat layout as the parameters; accumulated when `accumulate`).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        path: ErrorPath<'_>,
        x: &[f32],
        ws: &mut Workspace,
        scale: f32,
        grad: &mut [f32],
        accumulate: bool,
    ) {
        self.propagate_errors(params, path, ws);
        self.weight_gradients(x, ws, scale, grad, accumulate);
    }

    /// Fills `delta[i]` for every hidden layer from the output error along `path`.
    pub fn propagate_errors(&self, params: &[f32], path: ErrorPath<'_>, ws: &mut Workspace) {
        let n = ws.n;
        let layers = self.num_layers();
        let act_fn = self.activation();
        for i in (1..layers).rev() {
            let din = self.layer_dims(i).0;
            let (lower, upper) = ws.delta.split_at_mut(i);
            let target = &mut lower[i - 1];
            let (m, source) = self.error_operator(params, path, i, upper, n);
            gemm(view_mut(target, din, n), false, m, source, 1.0);
            multiply_by_derivative(
                act_fn,
                &ws.pre[i - 1][..din * n],
                &ws.act[i - 1][..din * n],
                &mut target[..din * n],
            );
        }
    }

    /// The product that sends the error back from layer `i` to layer `i - 1` along `path`:
    /// the matrix (`d_{i-1} x k`: `W_i^T`, `B_i` or `D_{i-1}`) and the `k x n` error it
    /// multiplies, taken from `upper` (the errors of layers `i..L`: `delta_i`, or the output
    /// error for direct feedback).
    pub(crate) fn error_operator<'a>(
        &self,
        params: &'a [f32],
        path: ErrorPath<'a>,
        i: usize,
        upper: &'a [Vec<f32>],
        n: usize,
    ) -> (MatRef<'a, f32>, MatRef<'a, f32>) {
        let (din, dout) = self.layer_dims(i);
        match path {
            ErrorPath::Transpose => (view(&params[self.weight_range(i)], din, dout), view(&upper[0], dout, n)),
            ErrorPath::Matrices(b) => (view(&b[i], din, dout), view(&upper[0], dout, n)),
            ErrorPath::Direct(d) => {
                let classes = self.classes();
                (view(&d[i - 1], din, classes), view(upper.last().expect("output error"), classes, n))
            }
        }
    }

    /// `grad_l = scale * (delta_l h_{l-1}^T, sum_n delta_l)` from the errors in `ws`.
    pub fn weight_gradients(&self, x: &[f32], ws: &Workspace, scale: f32, grad: &mut [f32], accumulate: bool) {
        for i in 0..self.num_layers() {
            self.layer_gradient(i, x, ws, scale, grad, accumulate);
        }
    }

    /// The gradient block of layer `i` only.
    pub fn layer_gradient(&self, i: usize, x: &[f32], ws: &Workspace, scale: f32, grad: &mut [f32], accumulate: bool) {
        let n = ws.n;
        let (din, dout) = self.layer_dims(i);
        let input = ws.layer_input(x, i);
        let delta = &ws.delta[i];
        let (gw, gb) = grad[self.layer_range(i)].split_at_mut(din * dout);
        gemm(view_mut(gw, din, dout), accumulate, view(input, din, n), view(delta, dout, n).transpose(), scale);
        if !accumulate {
            gb.fill(0.0);
        }
        add_column_sums(&delta[..dout * n], dout, 0..dout, scale, gb);
    }

    /// Per-sample gradient of the loss with respect to the input, `M_1 delta_1`, where
    /// `M_1` is `W_1^T` for [`ErrorPath::Transpose`] (the exact input gradient) or `B_1`
    /// for [`ErrorPath::Matrices`] (the feedback path). Errors must already be propagated.
    /// `out` is `d_0 x n`.
    pub fn input_gradient(&self, params: &[f32], path: ErrorPath<'_>, ws: &Workspace, out: &mut [f32]) {
        let n = ws.n;
        let (din, dout) = self.layer_dims(0);
        let m = match path {
            ErrorPath::Transpose => view(&params[self.weight_range(0)], din, dout),
            ErrorPath::Matrices(b) => view(&b[0], din, dout),
            ErrorPath::Direct(_) => panic!("direct feedback has no path to the input"),
        };
        gemm(view_mut(out, din, n), false, m, view(&ws.delta[0], dout, n), 1.0);
    }
}

/// The first index of the largest of `z` (skipping index `skip`) and its value; index 0
/// (or 1 when skipping 0) and minus infinity when no value exceeds minus infinity.
fn first_max(z: &[f32], skip: Option<usize>) -> (usize, f32) {
    let start = usize::from(skip == Some(0));
    let candidates = z.iter().enumerate().filter(|&(k, _)| Some(k) != skip);
    candidates.fold((start, f32::NEG_INFINITY), |best, (k, &v)| if v > best.1 { (k, v) } else { best })
}

/// Softmax cross-entropy of logits `z` (largest value `max`) against label `y`; writes
/// `softmax(z) - onehot(y)` into `e`.
fn cross_entropy_error(z: &[f32], max: f32, y: usize, e: &mut [f32]) -> f32 {
    let mut sum = 0f32;
    for (ek, &zk) in e.iter_mut().zip(z) {
        *ek = (zk - max).exp();
        sum += *ek;
    }
    let loss = sum.ln() - (z[y] - max);
    let inv = 1.0 / sum;
    for ek in e.iter_mut() {
        *ek *= inv;
    }
    e[y] -= 1.0;
    loss
}

/// The margin `max_{j != y} z_j - z_y`; writes `onehot(j*) - onehot(y)` into `e` for the
/// first runner-up `j*` (zeros if there is none).
fn margin_error(z: &[f32], y: usize, e: &mut [f32]) -> f32 {
    let (runner_up, z_other) = first_max(z, Some(y));
    e.fill(0.0);
    if runner_up < z.len() && runner_up != y {
        e[runner_up] = 1.0;
        e[y] = -1.0;
    }
    z_other - z[y]
}

/// Adds `bias` to every column of the column-major `columns` (`bias.len()` rows).
pub(crate) fn add_bias(columns: &mut [f32], bias: &[f32]) {
    vectorized(
        #[inline(always)]
        || {
            for col in columns.chunks_exact_mut(bias.len()) {
                for (a, &b) in col.iter_mut().zip(bias) {
                    *a += b;
                }
            }
        },
    )
}

/// `h = phi(a)` elementwise.
pub(crate) fn activate(act_fn: Activation, pre: &[f32], act: &mut [f32]) {
    #[inline(always)]
    fn map(pre: &[f32], act: &mut [f32], f: impl Fn(f32) -> f32) {
        for (h, &a) in act.iter_mut().zip(pre) {
            *h = f(a);
        }
    }
    vectorized(
        #[inline(always)]
        || match act_fn {
            Activation::Relu => map(
                pre,
                act,
                #[inline(always)]
                |a| Activation::Relu.apply(a),
            ),
            Activation::Tanh => map(
                pre,
                act,
                #[inline(always)]
                |a| a.tanh(),
            ),
            Activation::Linear => act.copy_from_slice(pre),
        },
    )
}

/// `delta *= phi'(a)` elementwise, with `phi'` evaluated from `a` (`pre`) and `h = phi(a)` (`act`).
pub(crate) fn multiply_by_derivative(act_fn: Activation, pre: &[f32], act: &[f32], delta: &mut [f32]) {
    #[inline(always)]
    fn scale(pre: &[f32], act: &[f32], delta: &mut [f32], f: impl Fn(f32, f32) -> f32) {
        for ((d, &a), &h) in delta.iter_mut().zip(pre).zip(act) {
            *d *= f(a, h);
        }
    }
    vectorized(
        #[inline(always)]
        || match act_fn {
            Activation::Relu => scale(
                pre,
                act,
                delta,
                #[inline(always)]
                |a, h| Activation::Relu.derivative(a, h),
            ),
            Activation::Tanh => scale(
                pre,
                act,
                delta,
                #[inline(always)]
                |a, h| Activation::Tanh.derivative(a, h),
            ),
            Activation::Linear => {}
        },
    )
}

/// `out += scale * (sum over the columns of m of rows [rows])`, where `m` is column-major
/// with `d` rows (the bias gradient of a block of output units).
pub(crate) fn add_column_sums(m: &[f32], d: usize, rows: Range<usize>, scale: f32, out: &mut [f32]) {
    debug_assert_eq!(out.len(), rows.len());
    vectorized(
        #[inline(always)]
        || {
            for col in m.chunks_exact(d) {
                for (g, &v) in out.iter_mut().zip(&col[rows.clone()]) {
                    *g += scale * v;
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{init_model, Activation, Feedback, Model, Rule};

    /// Mean loss in f64 by a direct, loop-based forward pass (independent of the GEMM code).
    fn reference_loss(model: &Model, x: &[f32], y: &[u8], n: usize) -> f64 {
        let mlp = &model.mlp;
        let mut total = 0.0;
        for s in 0..n {
            let mut h: Vec<f64> = x[s * mlp.input_dim()..(s + 1) * mlp.input_dim()].iter().map(|&v| v as f64).collect();
            for i in 0..mlp.num_layers() {
                let (din, dout) = mlp.layer_dims(i);
                let w = model.weight_t(i);
                let b = model.bias(i);
                let mut a = vec![0f64; dout];
                for o in 0..dout {
                    a[o] = b[o] as f64 + (0..din).map(|k| w[o * din + k] as f64 * h[k]).sum::<f64>();
                }
                h = if i + 1 < mlp.num_layers() {
                    a.iter()
                        .map(|&v| match mlp.activation() {
                            Activation::Relu => v.max(0.0),
                            Activation::Tanh => v.tanh(),
                            Activation::Linear => v,
                        })
                        .collect()
                } else {
                    a
                };
            }
            let max = h.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = h.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
            total += lse - h[y[s] as usize];
        }
        total / n as f64
    }

    fn batch(d: usize, n: usize, classes: usize, seed: u32) -> (Vec<f32>, Vec<u8>) {
        let x = (0..d * n).map(|i| (i as f32 * 0.7131 + seed as f32).sin() * 0.5 + 0.5).collect();
        let y = (0..n).map(|i| ((i * 7 + seed as usize) % classes) as u8).collect();
        (x, y)
    }

    fn gradient(model: &Model, x: &[f32], y: &[u8], n: usize) -> (f64, Vec<f32>) {
        let mut ws = Workspace::new(&model.mlp, n);
        model.mlp.forward(&model.params, x, n, &mut ws);
        let stats = model.mlp.loss_and_output_error(y, &mut ws);
        let mut grad = vec![0f32; model.mlp.num_params()];
        let scratch = model.feedback_matrices().unwrap_or_default();
        model.mlp.backward(&model.params, model.error_path(&scratch), x, &mut ws, 1.0 / n as f32, &mut grad, false);
        (stats.mean_loss(), grad)
    }

    #[test]
    fn margin_error_is_the_runner_up_minus_the_label_with_first_index_ties() {
        // One linear layer from 3 inputs to 3 classes with the identity as weight, so the
        // logits are the inputs themselves.
        let mlp = Mlp::new(&[3, 3], Activation::Linear);
        let mut params = vec![0f32; mlp.num_params()];
        for k in 0..3 {
            params[k * 3 + k] = 1.0;
        }
        let x = [0.5, 2.0, 2.0, /* */ 3.0, 1.0, -1.0, /* */ 1.0, 1.0, 0.0];
        let labels = [0u8, 0, 2];
        let mut ws = Workspace::new(&mlp, 3);
        mlp.forward(&params, &x, 3, &mut ws);
        let mut seen = Vec::new();
        let stats = mlp.output_error_each(OutputLoss::Margin, &labels, &mut ws, |j, m, c| seen.push((j, m, c)));
        // sample 0: label 0 (0.5), runner-up the first of the tied 2.0s (class 1): misclassified
        // sample 1: label 0 (3.0), runner-up class 1 (1.0): correct, margin -2
        // sample 2: label 2 (0.0), runner-up the first of the tied 1.0s (class 0)
        assert_eq!(seen, vec![(0, 1.5, false), (1, -2.0, true), (2, 1.0, false)]);
        assert_eq!(&ws.delta[0][..9], &[-1.0, 1.0, 0.0, -1.0, 1.0, 0.0, 1.0, 0.0, -1.0]);
        assert_eq!((stats.correct, stats.count, stats.loss_sum), (1, 3, 0.5));
        // cross-entropy through the same entry point is the training loss, bit for bit
        let ce = mlp.output_error_each(OutputLoss::CrossEntropy, &labels, &mut ws, |_, _, _| {});
        let delta_ce = ws.delta[0].clone();
        assert_eq!(ce, mlp.loss_and_output_error(&labels, &mut ws));
        assert_eq!(delta_ce, ws.delta[0]);
    }

    #[test]
    fn forward_loss_matches_a_direct_computation() {
        for act in Activation::ALL {
            let mlp = Mlp::new(&[6, 5, 4, 3], act);
            let model = init_model(&mlp, Rule::Bp, 0.0, 5);
            let (x, y) = batch(6, 9, 3, 1);
            let (loss, _) = gradient(&model, &x, &y, 9);
            assert!((loss - reference_loss(&model, &x, &y, 9)).abs() < 1e-5, "{act}");
        }
    }

    #[test]
    fn bp_gradient_equals_central_finite_differences() {
        for act in Activation::ALL {
            let mlp = Mlp::new(&[5, 7, 6, 4], act);
            let mut model = init_model(&mlp, Rule::Bp, 0.0, 2);
            // nonzero biases so that every code path is exercised
            for (k, p) in model.params.iter_mut().enumerate() {
                if mlp.bias_range(0).contains(&k) || mlp.bias_range(1).contains(&k) {
                    *p = 0.1 * ((k as f32).sin());
                }
            }
            let (x, y) = batch(5, 8, 4, 3);
            let (_, grad) = gradient(&model, &x, &y, 8);
            let h = 1e-3f32;
            let mut max_err = 0f64;
            #[allow(clippy::needless_range_loop)]
            for k in 0..mlp.num_params() {
                let orig = model.params[k];
                model.params[k] = orig + h;
                let up = reference_loss(&model, &x, &y, 8);
                model.params[k] = orig - h;
                let down = reference_loss(&model, &x, &y, 8);
                model.params[k] = orig;
                let fd = (up - down) / (2.0 * h as f64);
                let err = (fd - grad[k] as f64).abs() / (1e-3 + fd.abs().max(grad[k].abs() as f64));
                max_err = max_err.max(err);
            }
            assert!(max_err < 1e-3, "{act}: max relative error {max_err}");
        }
    }

    #[test]
    fn fa_with_transposed_feedback_reproduces_bp() {
        let mlp = Mlp::new(&[8, 16, 12, 10, 5], Activation::Relu);
        let bp = init_model(&mlp, Rule::Bp, 0.0, 9);
        let mut fa = init_model(&mlp, Rule::Fa, 0.0, 9);
        fa.feedback = Feedback::Matrices((0..mlp.num_layers()).map(|i| bp.weight_t(i).to_vec()).collect());
        let (x, y) = batch(8, 13, 5, 4);
        let (_, g_bp) = gradient(&bp, &x, &y, 13);
        let (_, g_fa) = gradient(&fa, &x, &y, 13);
        assert_eq!(g_bp, g_fa, "identical arithmetic must give identical bits");
    }

    #[test]
    fn chunked_batches_sum_to_the_full_batch_gradient() {
        let mlp = Mlp::new(&[8, 16, 5], Activation::Tanh);
        let model = init_model(&mlp, Rule::Fa, 0.0, 1);
        let (x, y) = batch(8, 10, 5, 2);
        let (_, full) = gradient(&model, &x, &y, 10);
        let mut ws = Workspace::new(&mlp, 10);
        let mut grad = vec![0f32; mlp.num_params()];
        let path = model.error_path(&[]);
        for (k, (xs, ys)) in [(&x[..8 * 4], &y[..4]), (&x[8 * 4..], &y[4..])].into_iter().enumerate() {
            let n = ys.len();
            mlp.forward(&model.params, xs, n, &mut ws);
            mlp.loss_and_output_error(ys, &mut ws);
            mlp.backward(&model.params, path, xs, &mut ws, 0.1, &mut grad, k > 0);
        }
        for (a, b) in full.iter().zip(&grad) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn copied_and_truncated_samples_backpropagate_as_if_run_alone() {
        let mlp = Mlp::new(&[6, 8, 5, 4], Activation::Tanh);
        let model = init_model(&mlp, Rule::Bp, 0.0, 3);
        let (x, y) = batch(6, 3, 4, 2);
        let input_gradient = |ws: &mut Workspace| {
            mlp.propagate_errors(&model.params, crate::net::ErrorPath::Transpose, ws);
            let mut gx = vec![0f32; 6 * ws.batch_len()];
            mlp.input_gradient(&model.params, crate::net::ErrorPath::Transpose, ws, &mut gx);
            gx
        };
        // samples 2 and 1 of a pass of three, moved to the front
        let mut ws = Workspace::new(&mlp, 3);
        mlp.forward(&model.params, &x, 3, &mut ws);
        mlp.loss_and_output_error(&y, &mut ws);
        ws.copy_sample(2, 0);
        ws.truncate(2);
        let moved = input_gradient(&mut ws);
        // the same two samples run alone
        let (x21, y21) = ([&x[12..18], &x[6..12]].concat(), [y[2], y[1]]);
        let mut alone = Workspace::new(&mlp, 2);
        mlp.forward(&model.params, &x21, 2, &mut alone);
        mlp.loss_and_output_error(&y21, &mut alone);
        let direct = input_gradient(&mut alone);
        for (a, b) in moved.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{moved:?} vs {direct:?}");
        }
    }

    #[test]
    fn true_input_gradient_equals_finite_differences() {
        let mlp = Mlp::new(&[6, 8, 4], Activation::Tanh);
        let model = init_model(&mlp, Rule::Bp, 0.0, 3);
        let (mut x, y) = batch(6, 1, 4, 5);
        let mut ws = Workspace::new(&mlp, 1);
        mlp.forward(&model.params, &x, 1, &mut ws);
        mlp.loss_and_output_error(&y, &mut ws);
        mlp.propagate_errors(&model.params, crate::net::ErrorPath::Transpose, &mut ws);
        let mut gx = vec![0f32; 6];
        mlp.input_gradient(&model.params, crate::net::ErrorPath::Transpose, &ws, &mut gx);
        for k in 0..6 {
            let orig = x[k];
            x[k] = orig + 1e-3;
            let up = reference_loss(&model, &x, &y, 1);
            x[k] = orig - 1e-3;
            let down = reference_loss(&model, &x, &y, 1);
            x[k] = orig;
            let fd = (up - down) / 2e-3;
            assert!((fd - gx[k] as f64).abs() < 1e-3 * (1.0 + fd.abs()), "input {k}: fd {fd} vs {}", gx[k]);
        }
    }
}
