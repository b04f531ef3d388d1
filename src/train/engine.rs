//! One optimiser step on one batch, on all cores, the way `PERF.md` recommends: each
//! core gets whole products of its own, and touches as little of the weights as it can.
//!
//! The work is split into `groups` (the `--chunks` setting); group `g` owns the same slice
//! of units in every layer (`[g d / G, (g + 1) d / G)` of a layer of width `d`).
//! Phase 1, layer by layer over the whole batch: group `g` computes its rows of the
//! pre-activations (its rows of `W_l` times all of `h_{l-1}`), then its rows of the error
//! going back (its rows of `W_l^T`, `B_l` or `D_l` times all of `delta_l`). Each group thus
//! reads only its share of every weight and feedback matrix: on this machine the step is
//! bound as much by moving weights through the caches as by arithmetic, and the
//! alternative, each core running a whole pass on half of the batch, reads every matrix
//! twice. The gain is a few per cent, largest for the feedback rules, which read a second
//! set of matrices (`examples/engine_split.rs` times both layouts' products and updates).
//! Phase 2, per group and with the layers in reverse order: the group forms its columns of
//! every layer's weight and bias gradient (one product over the whole batch) and applies
//! the optimiser to exactly those parameters while they are hot in cache; the first layer
//! comes last, as the next step's forward pass reads it first (a difference within this
//! machine's noise). No full gradient vector is ever written or reduced.
//! Groups are fixed by the configuration, so every value is computed in the same order
//! whatever the thread count: bit-reproducible.

use super::optim::{Optimizer, OptimizerKind};
use crate::data::Dataset;
use crate::linalg::{gemm, vectorized, view, view_mut};
use crate::net::{
    activate, add_bias, add_column_sums, multiply_by_derivative, BatchStats, ErrorPath, Feedback, Mlp, Model, Rule,
    Workspace,
};
use faer::MatMut;
use rayon::prelude::*;
use std::ops::Range;

/// What one step did.
#[derive(Clone, Copy, Debug)]
pub struct StepOutcome {
    /// Loss and accuracy of the batch before the update.
    pub stats: BatchStats,
    /// False if the loss was not finite (no update was made).
    pub loss_finite: bool,
    /// False if any updated parameter (or kp feedback value) is not finite.
    pub params_finite: bool,
}

/// Reusable buffers for training steps of up to `batch` samples.
pub struct BatchEngine {
    /// The whole batch's forward and backward state.
    ws: Workspace,
    /// The batch's samples (`d_0 x n`) and labels.
    x: Vec<f32>,
    y: Vec<u8>,
    groups: usize,
    /// Per group: room for its largest weight-gradient block plus its bias block.
    scratch: Vec<Vec<f32>>,
    sign_feedback: Vec<Vec<f32>>,
    /// kp only: per layer, the feedback matrix and its optimiser moments (refreshed each step).
    kp_shared: Vec<(Shared, Shared, Shared)>,
}

impl BatchEngine {
    /// Splits every layer's units into `groups` slices, one per parallel task.
    pub fn new(model: &Model, batch: usize, groups: usize) -> BatchEngine {
        let mlp = &model.mlp;
        let block = (0..mlp.num_layers())
            .map(|i| {
                let (din, dout) = mlp.layer_dims(i);
                (din + 1) * dout.div_ceil(groups)
            })
            .max()
            .unwrap_or(0);
        let sign_feedback = match &model.feedback {
            Feedback::SignMagnitudes(r) => r.clone(),
            _ => Vec::new(),
        };
        BatchEngine {
            ws: Workspace::new(mlp, batch),
            x: vec![0f32; mlp.input_dim() * batch],
            y: vec![0u8; batch],
            groups,
            scratch: (0..groups).map(|_| vec![0f32; block]).collect(),
            sign_feedback,
            kp_shared: Vec::new(),
        }
    }

    /// One update of `model` on the samples `indices` of `data` (at most the engine's batch
    /// size). `feedback_opt` holds one optimiser per feedback matrix for `kp` (empty otherwise).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        model: &mut Model,
        optimizer: &mut Optimizer,
        feedback_opt: &mut [Optimizer],
        data: &Dataset,
        indices: &[usize],
        lr: f32,
        weight_decay: f32,
    ) -> StepOutcome {
        let n = indices.len();
        assert!(n <= self.ws.capacity(), "batch of {n} exceeds the engine's batch size {}", self.ws.capacity());
        // The whole step runs on a worker of the thread pool, so that its eleven or so
        // parallel sections are handed between the pool's own threads rather than each
        // injected from, and waited for by, a thread outside it.
        let in_pool = || {
            let stats = self.propagate(model, data, indices);
            if !stats.loss_sum.is_finite() {
                return StepOutcome { stats, loss_finite: false, params_finite: true };
            }
            optimizer.t += 1;
            for opt in feedback_opt.iter_mut() {
                opt.t += 1;
            }
            let params_finite = self.update(model, optimizer, feedback_opt, n, lr, weight_decay);
            StepOutcome { stats, loss_finite: true, params_finite }
        };
        rayon::join(in_pool, || ()).0
    }

    /// Phase 1: gathering, forward pass, loss and errors of the whole batch, each layer's
    /// products split over the groups' units.
    fn propagate(&mut self, model: &Model, data: &Dataset, indices: &[usize]) -> BatchStats {
        model.fill_sign_feedback(&mut self.sign_feedback);
        let path = model.error_path(&self.sign_feedback);
        let mlp = &model.mlp;
        let n = indices.len();
        let groups = self.groups;
        gather(data, indices, groups, &mut self.x, &mut self.y);
        self.ws.set_batch_len(n);
        for i in 0..mlp.num_layers() {
            forward_layer(mlp, &model.params, i, &self.x, &mut self.ws, groups);
        }
        let stats = mlp.loss_and_output_error(&self.y[..n], &mut self.ws);
        for i in (1..mlp.num_layers()).rev() {
            backward_layer(mlp, &model.params, path, i, &mut self.ws, groups);
        }
        stats
    }

    /// Phase 2: gradient blocks and fused optimiser updates, in parallel over column groups.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        model: &mut Model,
        optimizer: &mut Optimizer,
        feedback_opt: &mut [Optimizer],
        n: usize,
        lr: f32,
        weight_decay: f32,
    ) -> bool {
        let groups = self.groups;
        let kind = optimizer.kind;
        let t = optimizer.t;
        let Model { mlp, rule, params, feedback } = model;
        let params = Shared::new(params);
        let m1 = Shared::new(&mut optimizer.m1);
        let m2 = Shared::new(&mut optimizer.m2);
        self.kp_shared.clear();
        if let (Feedback::Matrices(b), Rule::Kp) = (feedback, *rule) {
            for (bi, o) in b.iter_mut().zip(feedback_opt.iter_mut()) {
                self.kp_shared.push((Shared::new(bi), Shared::new(&mut o.m1), Shared::new(&mut o.m2)));
            }
        }
        let kp_shared = &self.kp_shared;
        let (ws, x) = (&self.ws, &self.x);
        let scale = 1.0 / n as f32;
        self.scratch
            .par_iter_mut()
            .enumerate()
            .map(|(g, scratch)| {
                let mut finite = true;
                for i in (0..mlp.num_layers()).rev() {
                    let (din, dout) = mlp.layer_dims(i);
                    let (c0, c1) = (g * dout / groups, (g + 1) * dout / groups);
                    let cw = c1 - c0;
                    if cw == 0 {
                        continue;
                    }
                    let (gw, rest) = scratch.split_at_mut(din * cw);
                    let gb = &mut rest[..cw];
                    block_gradient(mlp, i, (c0, c1), ws, x, scale, gw, gb);
                    // The ranges of group g are disjoint from every other group's: each
                    // group owns output units [c0, c1) of each layer (weight columns and
                    // bias entries), and the optimiser states share the parameters' layout.
                    let w = mlp.weight_range(i);
                    let wr = w.start + c0 * din..w.start + c1 * din;
                    let br = mlp.bias_range(i).start + c0..mlp.bias_range(i).start + c1;
                    for (r, grad) in [(wr, &*gw), (br, &*gb)] {
                        // SAFETY: disjoint ranges across groups (see above); within a group
                        // each range is borrowed once at a time.
                        let (p, s1, s2) =
                            unsafe { (params.range(r.clone()), m1.range(r.clone()), m2.range_or_empty(r)) };
                        finite &= kind.update(t, p, s1, s2, grad, lr, weight_decay);
                    }
                    if let Some((b, bm1, bm2)) = kp_shared.get(i) {
                        // Kolen-Pollack: B_l gets dW_l^T (stored like W_l^T) and the same decay.
                        let r = c0 * din..c1 * din;
                        // SAFETY: as above, columns [c0, c1) of B_l belong to group g only.
                        let (p, s1, s2) = unsafe { (b.range(r.clone()), bm1.range(r.clone()), bm2.range_or_empty(r)) };
                        finite &= kind.update(t, p, s1, s2, gw, lr, weight_decay);
                    }
                }
                finite
            })
            .reduce(|| true, |a, b| a && b)
    }
}

/// Columns `[c0, c1)` of layer `i`'s weight gradient (`d_in x (c1-c0)`, into `gw`) and
/// bias gradient (into `gb`) over the batch in `ws` (whose input is `x`).
#[allow(clippy::too_many_arguments)]
fn block_gradient(
    mlp: &Mlp,
    i: usize,
    (c0, c1): (usize, usize),
    ws: &Workspace,
    x: &[f32],
    scale: f32,
    gw: &mut [f32],
    gb: &mut [f32],
) {
    let n = ws.batch_len();
    let (din, dout) = mlp.layer_dims(i);
    let cw = c1 - c0;
    let input = &ws.layer_input(x, i)[..din * n];
    let delta = &ws.delta[i][..dout * n];
    gemm(view_mut(gw, din, cw), false, view(input, din, n), view(delta, dout, n).subrows(c0, cw).transpose(), scale);
    gb.fill(0.0);
    add_column_sums(delta, dout, c0..c1, scale, gb);
}

/// Copies the samples `indices` of `data` into `x` and `y`, each group gathering its share.
fn gather(data: &Dataset, indices: &[usize], groups: usize, x: &mut [f32], y: &mut [u8]) {
    let n = indices.len();
    let d0 = data.dim;
    let (xs, ys) = (Shared::new(x), Shared::new(y));
    (0..groups).into_par_iter().for_each(|g| {
        let r = g * n / groups..(g + 1) * n / groups;
        // SAFETY: group g writes samples r only; the groups' ranges are disjoint.
        let (xg, yg) = unsafe { (xs.range(r.start * d0..r.end * d0), ys.range(r.clone())) };
        data.fill_batch(&indices[r], xg, yg);
    });
}

/// The units of a layer of width `d` that group `g` of `groups` owns.
fn unit_range(g: usize, groups: usize, d: usize) -> Range<usize> {
    g * d / groups..(g + 1) * d / groups
}

/// Layer `i` of the forward pass over the batch in `ws`: `pre[i] = W_i h + b_i` and, for
/// hidden layers, `act[i] = phi(pre[i])`, each group computing its rows.
fn forward_layer(mlp: &Mlp, params: &[f32], i: usize, x: &[f32], ws: &mut Workspace, groups: usize) {
    let n = ws.batch_len();
    let (din, dout) = mlp.layer_dims(i);
    let w_t = view(&params[mlp.weight_range(i)], din, dout);
    let bias = &params[mlp.bias_range(i)];
    let act_fn = mlp.activation();
    let (lower, upper) = ws.act.split_at_mut(i);
    let input = if i == 0 { &x[..din * n] } else { &lower[i - 1][..din * n] };
    let pre = Shared::new(&mut ws.pre[i][..dout * n]);
    let act = upper.first_mut().map(|a| Shared::new(&mut a[..dout * n]));
    (0..groups).into_par_iter().for_each(|g| {
        let r = unit_range(g, groups, dout);
        if r.is_empty() {
            return;
        }
        // SAFETY (here and below): group g reads and writes rows r of `pre` and `act` only,
        // and the groups' row ranges are disjoint.
        let out = unsafe { pre.rows(r.clone(), dout, n) };
        gemm(out, false, w_t.transpose().subrows(r.start, r.len()), view(input, din, n), 1.0);
        let bias = &bias[r.clone()];
        for s in 0..n {
            let col = s * dout + r.start..s * dout + r.end;
            let a = unsafe { pre.range(col.clone()) };
            add_bias(a, bias);
            if let Some(act) = &act {
                activate(act_fn, a, unsafe { act.range(col) });
            }
        }
    });
}

/// Layer `i`'s error sent back to layer `i - 1` along `path`: `delta[i-1] = (M delta[i]) *
/// phi'(pre[i-1])`, each group computing its rows.
fn backward_layer(mlp: &Mlp, params: &[f32], path: ErrorPath<'_>, i: usize, ws: &mut Workspace, groups: usize) {
    let n = ws.batch_len();
    let din = mlp.layer_dims(i).0;
    let act_fn = mlp.activation();
    let (lower, upper) = ws.delta.split_at_mut(i);
    let (m, source) = mlp.error_operator(params, path, i, upper, n);
    let target = Shared::new(&mut lower[i - 1][..din * n]);
    let (pre, act) = (&ws.pre[i - 1][..din * n], &ws.act[i - 1][..din * n]);
    (0..groups).into_par_iter().for_each(|g| {
        let r = unit_range(g, groups, din);
        if r.is_empty() {
            return;
        }
        // SAFETY: group g writes rows r of the target only; the groups' ranges are disjoint.
        let out = unsafe { target.rows(r.clone(), din, n) };
        gemm(out, false, m.subrows(r.start, r.len()), source, 1.0);
        for s in 0..n {
            let col = s * din + r.start..s * din + r.end;
            multiply_by_derivative(act_fn, &pre[col.clone()], &act[col.clone()], unsafe { target.range(col) });
        }
    });
}

/// A mutable slice shared across the groups of a parallel section, each of which touches
/// a disjoint set of ranges.
struct Shared<T = f32> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `Shared` is only dereferenced through `range` and `rows`, whose callers
// guarantee that concurrently used ranges are disjoint.
unsafe impl<T: Send> Send for Shared<T> {}
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn new(data: &mut [T]) -> Shared<T> {
        Shared { ptr: data.as_mut_ptr(), len: data.len() }
    }

    /// # Safety
    /// No other live reference may overlap `r`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range(&self, r: Range<usize>) -> &mut [T] {
        assert!(r.start <= r.end && r.end <= self.len, "range {r:?} out of bounds {}", self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len())
    }

    /// Like `range`, but an empty slice when the buffer is empty (SGD has no second moment).
    ///
    /// # Safety
    /// As for `range`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range_or_empty(&self, r: Range<usize>) -> &mut [T] {
        if self.len == 0 {
            &mut []
        } else {
            self.range(r)
        }
    }
}

impl Shared<f32> {
    /// Rows `r` of the column-major `rows x cols` matrix stored in the buffer.
    ///
    /// # Safety
    /// No other live reference may overlap those rows.
    unsafe fn rows(&self, r: Range<usize>, rows: usize, cols: usize) -> MatMut<'_, f32> {
        assert!(r.end <= rows && rows * cols <= self.len, "rows {r:?} of a {rows} x {cols} matrix in {}", self.len);
        MatMut::from_raw_parts_mut(self.ptr.add(r.start), r.len(), cols, 1, rows as isize)
    }
}

impl OptimizerKind {
    /// Applies one update with gradient `g` to the block `p` with its state blocks
    /// (`m2` empty for SGD), at step `t` (1-based). Returns false if any result is not finite.
    #[allow(clippy::too_many_arguments)]
    pub fn update(self, t: u64, p: &mut [f32], m1: &mut [f32], m2: &mut [f32], g: &[f32], lr: f32, wd: f32) -> bool {
        vectorized(
            #[inline(always)]
            || self.update_scalar(t, p, m1, m2, g, lr, wd),
        )
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn update_scalar(self, t: u64, p: &mut [f32], m1: &mut [f32], m2: &mut [f32], g: &[f32], lr: f32, wd: f32) -> bool {
        let mut finite = true;
        match self {
            OptimizerKind::Sgd { momentum } => {
                for ((p, v), &g) in p.iter_mut().zip(m1.iter_mut()).zip(g) {
                    *v = momentum * *v + (g + wd * *p);
                    *p -= lr * *v;
                    finite &= p.is_finite();
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let c1 = 1.0 - beta1.powi(t as i32);
                let c2 = 1.0 - beta2.powi(t as i32);
                for (((p, a), b), &g) in p.iter_mut().zip(m1.iter_mut()).zip(m2.iter_mut()).zip(g) {
                    let g = g + wd * *p;
                    *a = beta1 * *a + (1.0 - beta1) * g;
                    *b = beta2 * *b + (1.0 - beta2) * g * g;
                    *p -= lr * (*a / c1) / ((*b / c2).sqrt() + eps);
                    finite &= p.is_finite();
                }
            }
        }
        finite
    }
}
