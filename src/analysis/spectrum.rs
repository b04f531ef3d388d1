//! Spectra of the forward and feedback matrices, their products, and the gradient flow
//! (`SPEC.md` section 4), for every selected checkpoint of a run.
//!
//! With `W_l` (`d_l x d_{l-1}`) and the rule's feedback `B_l` (`d_{l-1} x d_l`, see
//! [`rule_feedback`]: `W_l^T` for `bp`, none for `dfa`):
//!
//! - singular values of every `W_l` and every `B_l`, `l = 1..L`;
//! - for the layers that carry errors, `l = 2..L`, the layer product `P_l = W_l B_l`
//!   (`d_l x d_l`; from the stored `W_l^T`, `P_l = (W_l^T)^T B_l`): its singular values
//!   and its eigenvalues, as complex pairs (for a scatter) and as real parts sorted in
//!   decreasing order (alignment makes them positive);
//! - the end-to-end products `F = W_L ... W_2` (`d_L x d_1`), `G = B_2 ... B_L`
//!   (`d_1 x d_L`) and `F G` (`d_L x d_L`): their singular values;
//! - gradient flow: the backward map from the output error to the first hidden layer,
//!   `J(x) = D_1 M_2 D_2 M_3 ... D_{L-1} M_L` with `D_l = diag(phi'(a_l(x)))`, along the
//!   true path (`M_l = W_l^T`) and along the rule's path (`M_l = B_l`; for `dfa`,
//!   `J(x) = D_1 D^dfa_1`), so that `delta_1 = J(x) e`. Its singular values are pooled
//!   over a fixed batch of training samples, and its condition number is taken per
//!   sample as `sigma_max / sigma_min` over the singular values above
//!   `rank_cutoff * sigma_max` (default `1e-6`): a relu layer with inactive units makes
//!   `J(x)` rank-deficient, and the condition number is that of its range.
//!
//! Every decomposition runs in `f64` on values converted from the stored `f32`,
//! single-threaded ([`Par::Seq`]) and values-only; independent matrices (and
//! checkpoints) run in parallel over rayon. Singular values of matrices with both sides
//! of at least [`GRAM_MIN_DIM`] come from the eigenvalues of their Gram matrix, smaller
//! ones from a bidiagonal SVD ([`singular_values`] states the accuracy of each). The
//! products `P_l`, `F`, `G` are formed in `f64`; `J(x)` is formed in `f32` like the
//! backward pass it describes, then converted. A decomposition that fails (non-finite
//! weights) yields NaN values (`null` in JSON).
//!
//! Cost, 784-512x4-10 (per checkpoint, one core): singular values of a 512-wide matrix
//! ~30 ms (x7), eigenvalues of a 512 x 512 `P_l` ~105 ms (x3), gradient flow over 128
//! samples ~75 ms; so the eigenvalues are about half of the total. The singular values
//! of a fixed feedback (`fa`, `ifa`) are computed once per run.

use super::align::rule_feedback;
use super::batch::EvalBatch;
use crate::ckpt::{load_checkpoint, resolve_checkpoint, CkptSelector, RunDir};
use crate::data::Dataset;
use crate::error::Result;
use crate::linalg::{gemm, view, view_mut};
use crate::net::{Activation, ErrorPath, Feedback, Model, Rule, Workspace};
use crate::stats::median_finite;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::{evd, svd};
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of a spectrum computation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectrumOptions {
    /// Training samples over which the gradient-flow spectrum is pooled (default 128;
    /// 0 skips the gradient flow).
    pub flow_samples: usize,
    /// Seed that picks them ([`crate::data::Dataset::sample_indices`]; default 0).
    pub seed: u64,
    /// Singular values of `J(x)` at or below `rank_cutoff * sigma_max` count as zero in
    /// its condition number (default `1e-6`).
    pub rank_cutoff: f64,
    /// Eigenvalues of `P_l` at every selected checkpoint, or only at the last one (the
    /// default: they cost as much as all the singular values together and the figures
    /// show them at the end of training).
    #[serde(default)]
    pub eigenvalues_at_every_checkpoint: bool,
}

impl Default for SpectrumOptions {
    fn default() -> Self {
        SpectrumOptions { flow_samples: 128, seed: 0, rank_cutoff: 1e-6, eigenvalues_at_every_checkpoint: false }
    }
}

/// Spectrum of one layer product `P_l = W_l B_l`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerProductSpectrum {
    /// The layer `l` (1-based, `2..=L`).
    pub layer: usize,
    /// Singular values of `P_l`, decreasing.
    pub singular_values: Vec<f64>,
    /// Real parts of the eigenvalues of `P_l`, decreasing.
    pub eigenvalue_real_parts: Vec<f64>,
    /// Eigenvalues `eigenvalues_re[k] + i eigenvalues_im[k]`, complex-conjugate pairs
    /// adjacent (the order the eigensolver returns).
    pub eigenvalues_re: Vec<f64>,
    pub eigenvalues_im: Vec<f64>,
}

/// Singular values of the backward map `J(x)` along one path, over a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSpectrum {
    /// Singular values of every sample's `J(x)`, pooled: sample by sample, each sample's
    /// `min(d_1, d_L)` values decreasing.
    pub singular_values: Vec<f64>,
    /// Per sample, the number of singular values above `rank_cutoff * sigma_max`.
    pub ranks: Vec<usize>,
    /// Per sample, `sigma_max / sigma_min` over those singular values (NaN for `J(x) = 0`).
    pub condition_numbers: Vec<f64>,
    /// Median of the finite `condition_numbers` (NaN if none is).
    pub median_condition_number: f64,
}

/// Gradient flow from the output error to the first hidden layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradientFlow {
    /// Samples pooled.
    pub samples: usize,
    /// Relative cutoff of the condition numbers.
    pub rank_cutoff: f64,
    /// Through the forward weights, `M_l = W_l^T` (backpropagation's map).
    pub true_path: FlowSpectrum,
    /// Through the rule's feedback.
    pub rule_path: FlowSpectrum,
}

/// All spectra of one model. Layer `l` (1-based) is at index `l - 1` of the per-layer
/// vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpectrum {
    /// Training step of the checkpoint (0 is the initialisation).
    pub step: u64,
    /// Singular values of `W_l`, `l = 1..L`, each decreasing.
    pub weight_singular_values: Vec<Vec<f64>>,
    /// Singular values of `B_l`, `l = 1..L`; `None` for `dfa`.
    pub feedback_singular_values: Option<Vec<Vec<f64>>>,
    /// `P_l = W_l B_l` for `l = 2..L` (index `l - 2`); `None` for `dfa`.
    pub layer_products: Option<Vec<LayerProductSpectrum>>,
    /// Singular values of `F = W_L ... W_2`; `None` without hidden layers.
    pub forward_product_singular_values: Option<Vec<f64>>,
    /// Singular values of `G = B_2 ... B_L`; `None` for `dfa` or without hidden layers.
    pub feedback_product_singular_values: Option<Vec<f64>>,
    /// Singular values of `F G`; `None` when `G` is.
    pub loop_product_singular_values: Option<Vec<f64>>,
    /// `None` without hidden layers or with no flow samples.
    pub gradient_flow: Option<GradientFlow>,
}

/// The spectra of the selected checkpoints of a run, by increasing step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpectrum {
    pub rule: Rule,
    /// Soft-alignment degree of an `ifa` run, as recorded in `run.json`.
    pub alpha: Option<f64>,
    /// Layer widths `[d_0, ..., d_L]`.
    pub sizes: Vec<usize>,
    pub options: SpectrumOptions,
    /// Indices of the gradient-flow samples in the run's training split.
    pub flow_sample_indices: Vec<usize>,
    pub checkpoints: Vec<ModelSpectrum>,
}

/// Short side from which [`singular_values`] goes through the Gram matrix.
pub const GRAM_MIN_DIM: usize = 64;

/// Singular values of `a`, decreasing, values-only and single-threaded.
///
/// Below [`GRAM_MIN_DIM`] on the short side (`J(x)`, `F`, `G`, `F G`, an output layer)
/// faer's bidiagonal SVD runs: it costs microseconds there and resolves singular values
/// down to `eps sigma_max` (`eps = 2.2e-16`), which the condition numbers of `J(x)`
/// need. From there on (hidden layers and their products) the values are the square
/// roots of the eigenvalues of the Gram matrix `a^T a` or `a a^T` (the smaller one),
/// formed in `f64` and reduced by faer's symmetric eigensolver: 26-33 ms for a
/// 512 x 512 matrix here, against 67-89 ms for the bidiagonal SVD. Its eigenvalues
/// carry an absolute error of a small multiple of `eps sigma_max^2`, so `sigma_i` has
/// a relative error of about `eps (sigma_max / sigma_i)^2` (1e-8 at
/// `sigma_i = 1e-4 sigma_max`; measured against the direct SVD on a 512 x 512 layer
/// product of condition number 3e4: 1.5e-8), finer than the `f32` rounding of the
/// weights moves them (`~6e-8 sigma_max`) for condition numbers up to ~1e8; singular
/// values below about `1e-8 sigma_max` (exact zeros included) come out at that floor.
///
/// NaN when `a` is not finite or a decomposition fails.
pub fn singular_values(a: MatRef<'_, f64>) -> Vec<f64> {
    let k = a.nrows().min(a.ncols());
    if k == 0 {
        return Vec::new();
    }
    if !a.is_all_finite() {
        return vec![f64::NAN; k];
    }
    let values = if k < GRAM_MIN_DIM { bidiagonal_singular_values(a) } else { gram_singular_values(a) };
    let mut values = values.unwrap_or_else(|| vec![f64::NAN; k]);
    values.sort_by(|x, y| y.total_cmp(x));
    values
}

/// faer's SVD, values only.
fn bidiagonal_singular_values(a: MatRef<'_, f64>) -> Option<Vec<f64>> {
    let (rows, cols) = a.shape();
    let (par, no) = (Par::Seq, svd::ComputeSvdVectors::No);
    let mut mem = MemBuffer::new(svd::svd_scratch::<f64>(rows, cols, no, no, par, Default::default()));
    let mut s = faer::diag::Diag::<f64>::zeros(rows.min(cols));
    svd::svd(a, s.as_mut(), None, None, par, MemStack::new(&mut mem), Default::default()).ok()?;
    Some(s.column_vector().iter().copied().collect())
}

/// Square roots of the eigenvalues of the smaller Gram matrix of `a`.
fn gram_singular_values(a: MatRef<'_, f64>) -> Option<Vec<f64>> {
    // `tall^T tall` is the `k x k` Gram matrix, `k` the short side.
    let tall = if a.nrows() >= a.ncols() { a } else { a.transpose() };
    let k = tall.ncols();
    let mut gram = Mat::<f64>::zeros(k, k);
    // Only the lower triangle: the symmetric eigensolver reads no other.
    triangular::matmul(
        gram.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        tall.transpose(),
        BlockStructure::Rectangular,
        tall,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
    let (par, no) = (Par::Seq, evd::ComputeEigenvectors::No);
    let mut mem = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(k, no, par, Default::default()));
    let mut squares = faer::diag::Diag::<f64>::zeros(k);
    evd::self_adjoint_evd(gram.as_ref(), squares.as_mut(), None, par, MemStack::new(&mut mem), Default::default())
        .ok()?;
    // Round-off can leave an eigenvalue of a positive semidefinite matrix slightly negative.
    Some(squares.column_vector().iter().map(|s2| s2.max(0.0).sqrt()).collect())
}

/// Shifts per sweep of the multishift QR: half of faer's default from n = 150 on, which
/// for values only (no Schur form kept) is faster: measured per matrix, 131 -> 105 ms at
/// n = 512, 276 -> 236 ms at 800, 669 -> 589 ms at 1024, and the same eigenvalues to 2e-14.
extern "C" fn schur_shift_count(n: usize, _active: usize) -> usize {
    match n {
        0..30 => 2,
        30..60 => 4,
        60..150 => 12,
        150..590 => 16,
        590..3000 => 32,
        3000..6000 => 64,
        _ => 128,
    }
}

/// Aggressive-early-deflation window matching [`schur_shift_count`] (faer's default below n = 150).
extern "C" fn schur_deflation_window(n: usize, active: usize) -> usize {
    match n {
        0..30 => 2,
        30..60 => 4,
        60..150 => 10,
        _ => 2 * schur_shift_count(n, active),
    }
}

/// Eigenvalues `(re, im)` of the square matrix `a`, values-only and single-threaded,
/// complex-conjugate pairs adjacent. NaN when the decomposition fails.
pub fn eigenvalues(a: MatRef<'_, f64>) -> (Vec<f64>, Vec<f64>) {
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "eigenvalues of a non-square matrix");
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let par = Par::Seq;
    let no = evd::ComputeEigenvectors::No;
    let mut params: evd::EvdParams = faer::Auto::<f64>::auto();
    params.schur.recommended_shift_count = schur_shift_count;
    params.schur.recommended_deflation_window = schur_deflation_window;
    let mut mem = MemBuffer::new(evd::evd_scratch::<f64>(n, no, no, par, params.into()));
    let mut re = faer::diag::Diag::<f64>::zeros(n);
    let mut im = faer::diag::Diag::<f64>::zeros(n);
    match evd::evd_real(a, re.as_mut(), im.as_mut(), None, None, par, MemStack::new(&mut mem), params.into()) {
        Ok(()) => (re.column_vector().iter().copied().collect(), im.column_vector().iter().copied().collect()),
        Err(_) => (vec![f64::NAN; n], vec![f64::NAN; n]),
    }
}

/// A column-major `f32` buffer as an `f64` matrix.
fn to_f64(data: &[f32], rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |i, j| data[j * rows + i] as f64)
}

/// `lhs * rhs` in `f64`, single-threaded.
fn product(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(lhs.nrows(), rhs.ncols());
    faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, lhs, rhs, 1.0, Par::Seq);
    out
}

/// `P_l = W_l B_l` from the stored `W_l^T` (`d_{l-1} x d_l`) and `B_l` (`d_{l-1} x d_l`).
pub fn layer_product(w_t: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    product(w_t.transpose(), b)
}

/// `F = W_L ... W_2` from the stored `W_l^T`, `l = 1..L` (`w_t[l - 1]`); needs `L >= 2`.
pub fn forward_product(w_t: &[Mat<f64>]) -> Mat<f64> {
    let layers = w_t.len();
    assert!(layers >= 2, "F needs a hidden layer");
    let mut f = w_t[layers - 1].transpose().to_owned();
    for m in w_t[1..layers - 1].iter().rev() {
        f = product(f.as_ref(), m.transpose());
    }
    f
}

/// `G = B_2 ... B_L` from `B_l`, `l = 1..L` (`b[l - 1]`); needs `L >= 2`.
pub fn feedback_product(b: &[Mat<f64>]) -> Mat<f64> {
    let layers = b.len();
    assert!(layers >= 2, "G needs a hidden layer");
    let mut g = b[layers - 1].clone();
    for m in b[1..layers - 1].iter().rev() {
        g = product(m.as_ref(), g.as_ref());
    }
    g
}

/// The backward map `J(x)` (`d_1 x d_L`) of each of the `n` samples of `x` (`d_0 x n`)
/// along `path` (see the module documentation), stacked side by side: sample `s`
/// occupies columns `s d_L .. (s + 1) d_L` of a `d_1 x (n d_L)` column-major matrix.
/// Needs a hidden layer.
pub fn backward_maps(model: &Model, path: ErrorPath<'_>, x: &[f32], n: usize) -> Vec<f32> {
    let mut ws = Workspace::new(&model.mlp, n);
    model.mlp.forward(&model.params, x, n, &mut ws);
    backward_maps_after_forward(model, path, &ws)
}

/// [`backward_maps`] from the pre-activations of a forward pass already in `ws`.
fn backward_maps_after_forward(model: &Model, path: ErrorPath<'_>, ws: &Workspace) -> Vec<f32> {
    let mlp = &model.mlp;
    let layers = mlp.num_layers();
    assert!(layers >= 2, "the backward map needs a hidden layer");
    let (sizes, classes, act, n) = (mlp.sizes(), mlp.classes(), mlp.activation(), ws.batch_len());
    // Multiplies the rows of each sample's block of `maps` (`d x (n classes)`) by
    // `phi'(a_l)` of that sample, where hidden layer index `h = l - 1`.
    let scale_rows = |maps: &mut [f32], h: usize| {
        let d = sizes[h + 1];
        for (s, block) in maps.chunks_exact_mut(d * classes).enumerate() {
            let (pre, post) = (&ws.pre[h][s * d..(s + 1) * d], &ws.act[h][s * d..(s + 1) * d]);
            for column in block.chunks_exact_mut(d) {
                for ((v, &a), &phi_a) in column.iter_mut().zip(pre).zip(post) {
                    *v *= act.derivative(a, phi_a);
                }
            }
        }
    };
    // `M_l` (`d_{l-1} x d_l`) at layer index `i = l - 1`.
    let matrices: Vec<&[f32]> = match path {
        ErrorPath::Transpose => (0..layers).map(|i| &model.params[mlp.weight_range(i)]).collect(),
        ErrorPath::Matrices(b) => b.iter().map(Vec::as_slice).collect(),
        ErrorPath::Direct(_) => Vec::new(),
    };
    let (first, top) = match path {
        ErrorPath::Direct(d) => (&d[0][..], 0),
        _ => (matrices[layers - 1], layers - 2),
    };
    // `D_top M_top` for every sample, then `D_{l-1} M_l (...)` down to the first hidden layer.
    let mut maps: Vec<f32> = first.repeat(n);
    scale_rows(&mut maps, top);
    for h in (0..top).rev() {
        let (d_lower, d_upper) = (sizes[h + 1], sizes[h + 2]);
        let mut lower = vec![0f32; d_lower * classes * n];
        gemm(
            view_mut(&mut lower, d_lower, classes * n),
            false,
            view(matrices[h + 1], d_lower, d_upper),
            view(&maps, d_upper, classes * n),
            1.0,
        );
        scale_rows(&mut lower, h);
        maps = lower;
    }
    maps
}

/// Singular values, ranks and condition numbers of the stacked maps from [`backward_maps`].
fn flow_spectrum(maps: &[f32], rows: usize, cols: usize, rank_cutoff: f64) -> FlowSpectrum {
    let per_sample: Vec<Vec<f64>> =
        maps.par_chunks_exact(rows * cols).map(|block| singular_values(to_f64(block, rows, cols).as_ref())).collect();
    let mut ranks = Vec::with_capacity(per_sample.len());
    let mut condition_numbers = Vec::with_capacity(per_sample.len());
    for values in &per_sample {
        let max = values.first().copied().unwrap_or(0.0);
        let kept: Vec<f64> = values.iter().copied().filter(|&s| s > rank_cutoff * max).collect();
        ranks.push(kept.len());
        condition_numbers.push(match kept.last() {
            Some(&min) if max > 0.0 => max / min,
            _ => f64::NAN,
        });
    }
    let median_condition_number = median_finite(&condition_numbers);
    FlowSpectrum { singular_values: per_sample.concat(), ranks, condition_numbers, median_condition_number }
}

/// Gradient-flow spectra along the true path and the rule's `path`, over the `n`
/// samples of `x` (`d_0 x n`). Needs a hidden layer.
pub fn gradient_flow(model: &Model, path: ErrorPath<'_>, x: &[f32], n: usize, rank_cutoff: f64) -> GradientFlow {
    let mlp = &model.mlp;
    let mut ws = Workspace::new(mlp, n);
    mlp.forward(&model.params, x, n, &mut ws);
    let (rows, cols) = (mlp.sizes()[1], mlp.classes());
    let spectrum_of = |p| flow_spectrum(&backward_maps_after_forward(model, p, &ws), rows, cols, rank_cutoff);
    let true_path = spectrum_of(ErrorPath::Transpose);
    let rule_path = match path {
        ErrorPath::Transpose => true_path.clone(),
        _ => spectrum_of(path),
    };
    GradientFlow { samples: n, rank_cutoff, true_path, rule_path }
}

/// Singular values of fixed feedback matrices, computed once per run and reused by every
/// checkpoint whose `B_l` is bit-for-bit the same (`fa` and `ifa` never change it).
struct KnownFeedback {
    matrices: Vec<Vec<f32>>,
    singular_values: Vec<Vec<f64>>,
}

impl KnownFeedback {
    /// For a rule whose feedback stays fixed during training; `None` otherwise.
    fn of(model: &Model) -> Option<KnownFeedback> {
        match (&model.feedback, model.rule) {
            (Feedback::Matrices(b), Rule::Fa | Rule::Ifa) => {
                let singular_values = (0..b.len())
                    .into_par_iter()
                    .with_max_len(1)
                    .map(|i| {
                        let (din, dout) = model.mlp.layer_dims(i);
                        singular_values(to_f64(&b[i], din, dout).as_ref())
                    })
                    .collect();
                Some(KnownFeedback { matrices: b.clone(), singular_values })
            }
            _ => None,
        }
    }

    /// The singular values of layer `i`'s feedback, if `b` is the matrix they were computed for.
    fn values_for(&self, i: usize, b: &[f32]) -> Option<&Vec<f64>> {
        (self.matrices.get(i).map(Vec::as_slice) == Some(b)).then(|| &self.singular_values[i])
    }
}

/// One independent piece of a model's spectrum, so that all of them can share the cores.
#[derive(Clone, Copy)]
enum Job {
    WeightValues(usize),
    FeedbackValues(usize),
    LayerProduct(usize),
    EndToEnd,
    Flow,
}

enum JobResult {
    Values(Vec<f64>),
    LayerProduct(LayerProductSpectrum),
    EndToEnd(Vec<f64>, Option<(Vec<f64>, Vec<f64>)>),
    Flow(GradientFlow),
}

/// All spectra of `model` (see the module documentation). The gradient flow is pooled
/// over the `flow_inputs.len() / d_0` samples of `flow_inputs` (`d_0 x n` column-major;
/// empty to skip it). Independent matrices run in parallel on the rayon pool.
pub fn model_spectrum(model: &Model, step: u64, flow_inputs: &[f32], rank_cutoff: f64) -> ModelSpectrum {
    spectrum_with(model, step, flow_inputs, rank_cutoff, None, true)
}

fn spectrum_with(
    model: &Model,
    step: u64,
    flow_inputs: &[f32],
    rank_cutoff: f64,
    known: Option<&KnownFeedback>,
    with_eigenvalues: bool,
) -> ModelSpectrum {
    let mlp = &model.mlp;
    let layers = mlp.num_layers();
    let flow_samples = flow_inputs.len() / mlp.input_dim();
    let feedback = rule_feedback(model);
    let as_f64 = |data: &[f32], i: usize| {
        let (din, dout) = mlp.layer_dims(i);
        to_f64(data, din, dout)
    };
    let w_t: Vec<Mat<f64>> = (0..layers).map(|i| as_f64(model.weight_t(i), i)).collect();
    let b: Option<Vec<Mat<f64>>> = feedback.as_ref().map(|fb| (0..layers).map(|i| as_f64(&fb[i], i)).collect());
    let known_values = |i: usize| known.zip(feedback.as_ref()).and_then(|(k, fb)| k.values_for(i, &fb[i]));
    let path = model.error_path(feedback.as_deref().unwrap_or(&[]));

    // The largest jobs (eigenvalues of the layer products) first, for load balance.
    let mut jobs = Vec::new();
    if b.is_some() {
        jobs.extend((1..layers).map(Job::LayerProduct));
    }
    if layers >= 2 && flow_samples > 0 {
        jobs.push(Job::Flow);
    }
    jobs.extend((0..layers).map(Job::WeightValues));
    if b.is_some() {
        jobs.extend((0..layers).filter(|&i| known_values(i).is_none()).map(Job::FeedbackValues));
    }
    if layers >= 2 {
        jobs.push(Job::EndToEnd);
    }
    let feedback_matrix = |i: usize| b.as_ref().expect("feedback jobs only with feedback")[i].as_ref();
    let results: Vec<JobResult> = jobs
        .par_iter()
        .with_max_len(1)
        .map(|&job| match job {
            Job::WeightValues(i) => JobResult::Values(singular_values(w_t[i].as_ref())),
            Job::FeedbackValues(i) => JobResult::Values(singular_values(feedback_matrix(i))),
            Job::LayerProduct(i) => {
                let p = layer_product(w_t[i].as_ref(), feedback_matrix(i));
                let (re, im) = if with_eigenvalues { eigenvalues(p.as_ref()) } else { (Vec::new(), Vec::new()) };
                let mut real_parts = re.clone();
                real_parts.sort_by(|x, y| y.total_cmp(x));
                JobResult::LayerProduct(LayerProductSpectrum {
                    layer: i + 1,
                    singular_values: singular_values(p.as_ref()),
                    eigenvalue_real_parts: real_parts,
                    eigenvalues_re: re,
                    eigenvalues_im: im,
                })
            }
            Job::EndToEnd => {
                let f = forward_product(&w_t);
                let feedback_products = b.as_ref().map(|b| {
                    let g = feedback_product(b);
                    (singular_values(g.as_ref()), singular_values(product(f.as_ref(), g.as_ref()).as_ref()))
                });
                JobResult::EndToEnd(singular_values(f.as_ref()), feedback_products)
            }
            Job::Flow => JobResult::Flow(gradient_flow(model, path, flow_inputs, flow_samples, rank_cutoff)),
        })
        .collect();

    let mut spectrum = ModelSpectrum {
        step,
        weight_singular_values: vec![Vec::new(); layers],
        feedback_singular_values: b
            .as_ref()
            .map(|_| (0..layers).map(|i| known_values(i).cloned().unwrap_or_default()).collect()),
        layer_products: b.as_ref().map(|_| Vec::with_capacity(layers - 1)),
        forward_product_singular_values: None,
        feedback_product_singular_values: None,
        loop_product_singular_values: None,
        gradient_flow: None,
    };
    for (job, result) in jobs.into_iter().zip(results) {
        match (job, result) {
            (Job::WeightValues(i), JobResult::Values(v)) => spectrum.weight_singular_values[i] = v,
            (Job::FeedbackValues(i), JobResult::Values(v)) => {
                spectrum.feedback_singular_values.as_mut().expect("feedback job")[i] = v
            }
            (Job::LayerProduct(_), JobResult::LayerProduct(p)) => {
                spectrum.layer_products.as_mut().expect("feedback job").push(p)
            }
            (Job::EndToEnd, JobResult::EndToEnd(f, fg)) => {
                spectrum.forward_product_singular_values = Some(f);
                if let Some((g, loop_values)) = fg {
                    spectrum.feedback_product_singular_values = Some(g);
                    spectrum.loop_product_singular_values = Some(loop_values);
                }
            }
            (Job::Flow, JobResult::Flow(flow)) => spectrum.gradient_flow = Some(flow),
            _ => unreachable!("each job yields its own kind of result"),
        }
    }
    spectrum
}

/// The spectra of the checkpoints `which` selects in `run`, in parallel over checkpoints
/// and over the matrices of each. The gradient flow is pooled over
/// `options.flow_samples` samples of `train` (the run's training split) chosen by
/// `options.seed`, the same samples for every checkpoint.
pub fn spectrum_run(
    run: &RunDir,
    train: &Dataset,
    which: CkptSelector,
    options: &SpectrumOptions,
) -> Result<RunSpectrum> {
    let info = run.info()?;
    let checkpoints = resolve_checkpoint(run, which)?;
    let flow = EvalBatch::from_dataset(train, options.flow_samples, options.seed);
    let results = spectrum_checkpoints(
        &checkpoints,
        &flow,
        Some(info.activation),
        options.rank_cutoff,
        options.eigenvalues_at_every_checkpoint,
    )?;
    Ok(RunSpectrum {
        rule: info.rule,
        alpha: info.alpha,
        sizes: info.sizes,
        options: options.clone(),
        flow_sample_indices: flow.indices,
        checkpoints: results,
    })
}

/// The spectra of the given checkpoints (`(step, path)`), in parallel, in the given order,
/// with the gradient flow pooled over `flow` (empty to skip it), and the eigenvalues of
/// `P_l` at every checkpoint or only at the last. The singular values of
/// fixed feedback (`fa`, `ifa`) are computed once and reused wherever `B_l` is unchanged.
pub fn spectrum_checkpoints(
    checkpoints: &[(u64, PathBuf)],
    flow: &EvalBatch,
    activation: Option<Activation>,
    rank_cutoff: f64,
    eigenvalues_everywhere: bool,
) -> Result<Vec<ModelSpectrum>> {
    let load = |path: &PathBuf| -> Result<Model> {
        let model = load_checkpoint(path, activation)?.model;
        if !flow.is_empty() {
            flow.check_fits(path, &model.mlp)?;
        }
        Ok(model)
    };
    let known = match checkpoints.first() {
        Some((_, path)) => KnownFeedback::of(&load(path)?),
        None => None,
    };
    checkpoints
        .par_iter()
        .with_max_len(1)
        .enumerate()
        .map(|(k, (step, path))| {
            let eigen = eigenvalues_everywhere || k + 1 == checkpoints.len();
            Ok(spectrum_with(&load(path)?, *step, &flow.x, rank_cutoff, known.as_ref(), eigen))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_numbers_ignore_singular_values_below_the_cutoff() {
        // Three 3 x 2 maps, column-major: singular values (4, 0.5), (2, 0) and (0, 0).
        let maps = [[4.0, 0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0; 6]].concat();
        let flow = flow_spectrum(&maps, 3, 2, 1e-6);
        assert_eq!(flow.singular_values, [4.0, 0.5, 2.0, 0.0, 0.0, 0.0]);
        assert_eq!(flow.ranks, [2, 1, 0]);
        assert_eq!(flow.condition_numbers[..2], [8.0, 1.0]);
        assert!(flow.condition_numbers[2].is_nan());
        assert_eq!(flow.median_condition_number, 4.5);
        // a cutoff above 0.5 / 4 drops the small value
        assert_eq!(flow_spectrum(&maps, 3, 2, 0.2).condition_numbers[0], 1.0);
    }

    #[test]
    fn a_network_without_hidden_layers_has_only_layer_spectra() {
        let mlp = crate::net::Mlp::new(&[4, 3], Activation::Tanh);
        let model = crate::net::init_model(&mlp, Rule::Fa, 0.0, 1);
        let spectrum = model_spectrum(&model, 0, &[0.5; 8], 1e-6);
        assert_eq!(spectrum.weight_singular_values.len(), 1);
        assert_eq!(spectrum.feedback_singular_values.map(|v| v.len()), Some(1));
        assert_eq!(spectrum.layer_products, Some(Vec::new()));
        assert!(spectrum.forward_product_singular_values.is_none() && spectrum.gradient_flow.is_none());
    }

    #[test]
    fn failed_decompositions_yield_nan_not_a_panic() {
        let bad = Mat::from_fn(3, 3, |i, j| if i == j { f64::NAN } else { 1.0 });
        assert!(singular_values(bad.as_ref()).iter().all(|v| v.is_nan()));
        assert!(eigenvalues(bad.as_ref()).0.iter().all(|v| v.is_nan()));
        assert!(singular_values(Mat::<f64>::zeros(0, 4).as_ref()).is_empty());
    }
}
