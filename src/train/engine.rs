//! One optimiser step on one batch, using both cores the way `PERF.md` recommends:
//! each core gets whole products rather than half of every product.
//!
//! Phase 1 (parallel over batch chunks): each chunk of the batch runs its own forward
//! pass, loss and error propagation in its own workspace.
//! Phase 2 (parallel over column groups): group `g` owns the same slice of output units
//! `[c0, c1)` in every layer; it forms that slice of the full-batch weight and bias
//! gradient (one product per chunk, accumulated) and immediately applies the optimiser
//! to exactly those parameters while they are hot in cache. No full gradient vector is
//! ever written or reduced. Chunks and groups are fixed by the configuration, so every
//! value is computed in the same order whatever the thread count: bit-reproducible.

use super::optim::{Optimizer, OptimizerKind};
use crate::linalg::{gemm, vectorized, view, view_mut};
use crate::net::{add_column_sums, BatchStats, Feedback, Mlp, Model, Rule, Workspace};
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
    workspaces: Vec<Workspace>,
    chunk_stats: Vec<BatchStats>,
    /// Per column group: room for the largest weight-gradient block plus its bias block.
    scratch: Vec<Vec<f32>>,
    sign_feedback: Vec<Vec<f32>>,
    /// kp only: per layer, the feedback matrix and its optimiser moments (refreshed each step).
    kp_shared: Vec<(Shared, Shared, Shared)>,
}

impl BatchEngine {
    /// `chunks` splits the batch (phase 1); the same number of column groups splits the
    /// parameters (phase 2).
    pub fn new(model: &Model, batch: usize, chunks: usize) -> BatchEngine {
        let mlp = &model.mlp;
        let cap = batch.div_ceil(chunks);
        let block = (0..mlp.num_layers())
            .map(|i| {
                let (din, dout) = mlp.layer_dims(i);
                (din + 1) * dout.div_ceil(chunks)
            })
            .max()
            .unwrap_or(0);
        let sign_feedback = match &model.feedback {
            Feedback::SignMagnitudes(r) => r.clone(),
            _ => Vec::new(),
        };
        BatchEngine {
            workspaces: (0..chunks).map(|_| Workspace::new(mlp, cap)).collect(),
            chunk_stats: vec![BatchStats::default(); chunks],
            scratch: (0..chunks).map(|_| vec![0f32; block]).collect(),
            sign_feedback,
            kp_shared: Vec::new(),
        }
    }

    /// One update of `model` on the `n` samples in `x` (`d_0 x n`) and `y`. `feedback_opt`
    /// holds one optimiser per feedback matrix for `kp` (empty otherwise).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        model: &mut Model,
        optimizer: &mut Optimizer,
        feedback_opt: &mut [Optimizer],
        x: &[f32],
        y: &[u8],
        n: usize,
        lr: f32,
        weight_decay: f32,
    ) -> StepOutcome {
        let stats = self.propagate(model, x, y, n);
        if !stats.loss_sum.is_finite() {
            return StepOutcome { stats, loss_finite: false, params_finite: true };
        }
        optimizer.t += 1;
        for opt in feedback_opt.iter_mut() {
            opt.t += 1;
        }
        let params_finite = self.update(model, optimizer, feedback_opt, x, n, lr, weight_decay);
        StepOutcome { stats, loss_finite: true, params_finite }
    }

    /// Phase 1: forward, loss and errors of every chunk, in parallel.
    fn propagate(&mut self, model: &Model, x: &[f32], y: &[u8], n: usize) -> BatchStats {
        model.fill_sign_feedback(&mut self.sign_feedback);
        let path = model.error_path(&self.sign_feedback);
        let mlp = &model.mlp;
        let d0 = mlp.input_dim();
        let chunks = self.workspaces.len();
        self.workspaces.par_iter_mut().zip(self.chunk_stats.par_iter_mut()).enumerate().for_each(|(k, (ws, stats))| {
            let (lo, hi) = (k * n / chunks, (k + 1) * n / chunks);
            *stats = BatchStats::default();
            if hi > lo {
                let xs = &x[lo * d0..hi * d0];
                mlp.forward(&model.params, xs, hi - lo, ws);
                *stats = mlp.loss_and_output_error(&y[lo..hi], ws);
                mlp.propagate_errors(&model.params, path, ws);
            }
        });
        let mut total = BatchStats::default();
        for s in &self.chunk_stats {
            total.add(*s);
        }
        total
    }

    /// Phase 2: gradient blocks and fused optimiser updates, in parallel over column groups.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        model: &mut Model,
        optimizer: &mut Optimizer,
        feedback_opt: &mut [Optimizer],
        x: &[f32],
        n: usize,
        lr: f32,
        weight_decay: f32,
    ) -> bool {
        let groups = self.scratch.len();
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
        let workspaces = &self.workspaces;
        let scale = 1.0 / n as f32;
        self.scratch
            .par_iter_mut()
            .enumerate()
            .map(|(g, scratch)| {
                let mut finite = true;
                for i in 0..mlp.num_layers() {
                    let (din, dout) = mlp.layer_dims(i);
                    let (c0, c1) = (g * dout / groups, (g + 1) * dout / groups);
                    let cw = c1 - c0;
                    if cw == 0 {
                        continue;
                    }
                    let (gw, rest) = scratch.split_at_mut(din * cw);
                    let gb = &mut rest[..cw];
                    block_gradient(mlp, i, (c0, c1), workspaces, n, x, scale, gw, gb);
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
/// bias gradient (into `gb`), summed over the chunks in order.
#[allow(clippy::too_many_arguments)]
fn block_gradient(
    mlp: &Mlp,
    i: usize,
    (c0, c1): (usize, usize),
    workspaces: &[Workspace],
    n: usize,
    x: &[f32],
    scale: f32,
    gw: &mut [f32],
    gb: &mut [f32],
) {
    let (din, dout) = mlp.layer_dims(i);
    let cw = c1 - c0;
    let mut first = true;
    gb.fill(0.0);
    let chunks = workspaces.len();
    for (k, ws) in workspaces.iter().enumerate() {
        let r = k * n / chunks..(k + 1) * n / chunks;
        let nk = r.len();
        if nk == 0 {
            continue;
        }
        let input = if i == 0 { &x[r.start * din..r.end * din] } else { &ws.act[i - 1][..din * nk] };
        let delta = &ws.delta[i][..dout * nk];
        let delta_block = view(delta, dout, nk).subrows(c0, cw);
        gemm(view_mut(gw, din, cw), !first, view(input, din, nk), delta_block.transpose(), scale);
        first = false;
        add_column_sums(delta, dout, c0..c1, scale, gb);
    }
}

/// A mutable slice shared across the column groups of phase 2, each of which touches a
/// disjoint set of ranges.
#[derive(Clone, Copy)]
struct Shared {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `Shared` is only dereferenced through `range`, whose callers guarantee that
// concurrently used ranges are disjoint.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    fn new(data: &mut [f32]) -> Shared {
        Shared { ptr: data.as_mut_ptr(), len: data.len() }
    }

    /// # Safety
    /// No other live reference may overlap `r`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range(&self, r: Range<usize>) -> &mut [f32] {
        assert!(r.start <= r.end && r.end <= self.len, "range {r:?} out of bounds {}", self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len())
    }

    /// Like `range`, but an empty slice when the buffer is empty (SGD has no second moment).
    ///
    /// # Safety
    /// As for `range`.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range_or_empty(&self, r: Range<usize>) -> &mut [f32] {
        if self.len == 0 {
            &mut []
        } else {
            self.range(r)
        }
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
