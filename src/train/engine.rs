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
use crate::data::Dataset;
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
    /// Per chunk: its samples (`d_0 x n_k`) and labels, gathered by the chunk's own thread.
    inputs: Vec<Vec<f32>>,
    labels: Vec<Vec<u8>>,
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
            inputs: (0..chunks).map(|_| vec![0f32; mlp.input_dim() * cap]).collect(),
            labels: (0..chunks).map(|_| vec![0u8; cap]).collect(),
            chunk_stats: vec![BatchStats::default(); chunks],
            scratch: (0..chunks).map(|_| vec![0f32; block]).collect(),
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
        let chunks = self.workspaces.len();
        assert!(n.div_ceil(chunks) <= self.workspaces[0].capacity(), "batch of {n} exceeds the engine's batch size");
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
    }

    /// Phase 1: gathering, forward, loss and errors of every chunk, in parallel.
    fn propagate(&mut self, model: &Model, data: &Dataset, indices: &[usize]) -> BatchStats {
        model.fill_sign_feedback(&mut self.sign_feedback);
        let path = model.error_path(&self.sign_feedback);
        let mlp = &model.mlp;
        let d0 = mlp.input_dim();
        let n = indices.len();
        let chunks = self.workspaces.len();
        let per_chunk = self.workspaces.par_iter_mut().zip(&mut self.inputs).zip(&mut self.labels);
        per_chunk.zip(self.chunk_stats.par_iter_mut()).enumerate().for_each(|(k, (((ws, x), y), stats))| {
            let idx = &indices[k * n / chunks..(k + 1) * n / chunks];
            let nk = idx.len();
            *stats = BatchStats::default();
            if nk > 0 {
                data.fill_batch(idx, &mut x[..d0 * nk], &mut y[..nk]);
                mlp.forward(&model.params, x, nk, ws);
                *stats = mlp.loss_and_output_error(&y[..nk], ws);
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
        let (workspaces, inputs) = (&self.workspaces, &self.inputs);
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
                    block_gradient(mlp, i, (c0, c1), workspaces, inputs, n, scale, gw, gb);
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
/// bias gradient (into `gb`), summed over the chunks in order (`inputs[k]`: chunk `k`'s samples).
#[allow(clippy::too_many_arguments)]
fn block_gradient(
    mlp: &Mlp,
    i: usize,
    (c0, c1): (usize, usize),
    workspaces: &[Workspace],
    inputs: &[Vec<f32>],
    n: usize,
    scale: f32,
    gw: &mut [f32],
    gb: &mut [f32],
) {
    let (din, dout) = mlp.layer_dims(i);
    let cw = c1 - c0;
    let mut first = true;
    gb.fill(0.0);
    let chunks = workspaces.len();
    for (k, (ws, x)) in workspaces.iter().zip(inputs).enumerate() {
        let nk = (k + 1) * n / chunks - k * n / chunks;
        if nk == 0 {
            continue;
        }
        let input = &ws.layer_input(x, i)[..din * nk];
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
