//! Alignment over training (`SPEC.md` section 3), for every checkpoint of a run.
//!
//! All angles are in degrees and are taken by [`crate::linalg::angle_deg`],
//! `arccos(<a, b> / (|a| |b|))` between flattened matrices or vectors.
//!
//! - **Weight alignment**, layers `l = 2..L`: the angle between `W_l^T` and the rule's
//!   feedback matrix `B_l` ([`rule_feedback`]: the fixed `B_l` of `fa`, `ifa`, `kp`;
//!   `sign(W_l)^T * |R_l|` at the current weights for `sign`; `W_l^T` itself for `bp`,
//!   so 0 by definition; undefined for `dfa`). Also the angle between all those `W_l^T`
//!   and all those `B_l`, each concatenated over layers (the "overall" angle).
//! - **Update alignment**, every layer `l = 1..L`: the angle between the rule's update
//!   `dW_l = mean_n delta_l h_{l-1}^T` and the true gradient of the mean loss with
//!   respect to `W_l`, both on the same batch. The last layer receives the true error
//!   under every rule, so its angle is 0: it is computed anyway as a check.
//! - **Error-signal alignment**, hidden layers `l = 1..L-1`: per sample, the angle
//!   between `delta_l` of the rule and `delta_l` of `bp`, averaged over the samples
//!   where both are nonzero (a sample whose every unit of layer `l` is inactive has no
//!   error to align; how many samples entered each mean is reported).
//!
//! Weights enter exactly as stored (`f32`); inner products accumulate in `f64`.

use super::batch::EvalBatch;
use crate::ckpt::{list_checkpoints, load_checkpoint, CkptError, RunDir};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::linalg::angle_deg;
use crate::net::{ErrorPath, Feedback, Mlp, Model, Rule, Workspace};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::PathBuf;

/// Samples per forward/backward chunk: bounds the workspace of a worker.
const CHUNK: usize = 256;

/// The feedback matrices `B_l` (`d_in x d_out` column-major, one per layer) through which
/// the rule sends errors at this moment: the stored `B_l` for `fa`, `ifa` and `kp`,
/// `sign(W_l^T) * |R_l|` at the current weights for `sign`, and `W_l^T` for `bp`
/// (backpropagation is feedback through the forward weights). `None` for `dfa`, whose
/// feedback goes straight from the output and has no `B_l`.
pub fn rule_feedback(model: &Model) -> Option<Cow<'_, [Vec<f32>]>> {
    match &model.feedback {
        Feedback::None => Some(Cow::Owned((0..model.mlp.num_layers()).map(|i| model.weight_t(i).to_vec()).collect())),
        Feedback::Matrices(b) => Some(Cow::Borrowed(b)),
        Feedback::SignMagnitudes(_) => model.feedback_matrices().map(Cow::Owned),
        Feedback::Direct(_) => None,
    }
}

/// The three alignments of one model on one batch. Layer `l` (1-based, as in
/// `SPEC.md`) is at index `l - 2` of the weight-alignment vector and `l - 1` of the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelAlignment {
    /// Training step of the checkpoint (0 is the initialisation).
    pub step: u64,
    /// Angle between `W_l^T` and `B_l` for `l = 2..L` (index `l - 2`); `None` for `dfa`.
    pub weight_alignment_deg: Option<Vec<f64>>,
    /// Angle between the concatenations over `l = 2..L` of `W_l^T` and of `B_l`;
    /// `None` for `dfa` or a network without hidden layers.
    pub weight_alignment_overall_deg: Option<f64>,
    /// Angle between the rule's `dW_l` and the true gradient, `l = 1..L` (index `l - 1`);
    /// the last entry is 0 up to round-off under every rule.
    pub update_alignment_deg: Vec<f64>,
    /// Mean over samples of the angle between the rule's and bp's `delta_l`, hidden
    /// layers `l = 1..L-1` (index `l - 1`); NaN when no sample has a nonzero error there.
    pub error_alignment_deg: Vec<f64>,
    /// Number of samples that entered each mean of `error_alignment_deg`.
    pub error_alignment_samples: Vec<usize>,
}

/// How the evaluation batch of a run-level alignment is chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlignOptions {
    /// Training samples in the fixed evaluation batch (default 1024).
    pub samples: usize,
    /// Seed that picks them ([`crate::data::Dataset::sample_indices`]; default 0).
    pub seed: u64,
}

impl Default for AlignOptions {
    fn default() -> Self {
        AlignOptions { samples: 1024, seed: 0 }
    }
}

/// The alignment series of a run: one result per checkpoint, by increasing step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunAlignment {
    pub rule: Rule,
    /// Soft-alignment degree of an `ifa` run, as recorded in `run.json`.
    pub alpha: Option<f64>,
    /// Layer widths `[d_0, ..., d_L]`.
    pub sizes: Vec<usize>,
    /// Size and seed of the evaluation batch.
    pub options: AlignOptions,
    /// Indices of the evaluation samples in the run's training split.
    pub sample_indices: Vec<usize>,
    pub checkpoints: Vec<ModelAlignment>,
}

/// The weight, update and error-signal alignments of `model` on `batch` (see the module
/// documentation). Allocates its buffers; [`AlignScratch::model_alignment`] reuses them.
///
/// # Panics
/// If the batch does not match the network's input width or has a label outside its
/// classes: callers check data against the model first ([`EvalBatch::check_fits`]).
pub fn model_alignment(model: &Model, step: u64, batch: &EvalBatch) -> ModelAlignment {
    AlignScratch::new(&model.mlp).model_alignment(model, step, batch)
}

/// Buffers for the alignments of one architecture, sized once and reused across
/// checkpoints by one worker.
pub struct AlignScratch {
    mlp: Mlp,
    ws: Workspace,
    true_grad: Vec<f32>,
    rule_grad: Vec<f32>,
    /// bp's `delta_l` of the current chunk, hidden layers.
    true_delta: Vec<Vec<f32>>,
}

impl AlignScratch {
    pub fn new(mlp: &Mlp) -> AlignScratch {
        let ws = Workspace::new(mlp, CHUNK);
        let true_delta = ws.delta[..mlp.num_layers() - 1].to_vec();
        AlignScratch {
            mlp: mlp.clone(),
            ws,
            true_grad: vec![0f32; mlp.num_params()],
            rule_grad: vec![0f32; mlp.num_params()],
            true_delta,
        }
    }

    /// [`model_alignment`] with these buffers (rebuilt first if they were sized for another network).
    pub fn model_alignment(&mut self, model: &Model, step: u64, batch: &EvalBatch) -> ModelAlignment {
        let mlp = &model.mlp;
        assert_eq!(batch.dim, mlp.input_dim(), "evaluation batch width differs from the network input");
        assert!(batch.y.iter().all(|&c| (c as usize) < mlp.classes()), "label outside the network's classes");
        if self.mlp != *mlp {
            *self = AlignScratch::new(mlp);
        }
        let feedback = rule_feedback(model);
        let (weight_alignment_deg, weight_alignment_overall_deg) = match &feedback {
            Some(b) => {
                let (per_layer, overall) = weight_alignment(model, b);
                (Some(per_layer), overall)
            }
            None => (None, None),
        };
        let path = model.error_path(feedback.as_deref().unwrap_or(&[]));
        let (update_alignment_deg, error_alignment_deg, error_alignment_samples) =
            self.gradient_alignment(model, path, batch);
        ModelAlignment {
            step,
            weight_alignment_deg,
            weight_alignment_overall_deg,
            update_alignment_deg,
            error_alignment_deg,
            error_alignment_samples,
        }
    }

    /// Update alignment per layer, and error-signal alignment (mean angle, samples used)
    /// per hidden layer, of the rule's `path` against the true backward pass.
    fn gradient_alignment(
        &mut self,
        model: &Model,
        path: ErrorPath<'_>,
        batch: &EvalBatch,
    ) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
        let mlp = &model.mlp;
        let hidden = mlp.num_layers() - 1;
        let n = batch.len();
        let scale = 1.0 / n.max(1) as f32;
        let mut angle_sum = vec![0f64; hidden];
        let mut angle_count = vec![0usize; hidden];
        let AlignScratch { ws, true_grad, rule_grad, true_delta, .. } = self;
        for start in (0..n).step_by(CHUNK) {
            let end = (start + CHUNK).min(n);
            let m = end - start;
            let x = batch.inputs(start..end);
            let accumulate = start > 0;
            mlp.forward(&model.params, x, m, ws);
            mlp.loss_and_output_error(&batch.y[start..end], ws);
            mlp.backward(&model.params, ErrorPath::Transpose, x, ws, scale, true_grad, accumulate);
            for (keep, delta) in true_delta.iter_mut().zip(&ws.delta) {
                keep.copy_from_slice(delta);
            }
            // The first pass leaves the output error untouched: the rule starts from the same `e`.
            mlp.backward(&model.params, path, x, ws, scale, rule_grad, accumulate);
            for i in 0..hidden {
                let d = mlp.sizes()[i + 1];
                let (rule, truth) = (&ws.delta[i][..d * m], &true_delta[i][..d * m]);
                for (rule, truth) in rule.chunks_exact(d).zip(truth.chunks_exact(d)) {
                    let angle = angle_deg(rule, truth);
                    if angle.is_finite() {
                        angle_sum[i] += angle;
                        angle_count[i] += 1;
                    }
                }
            }
        }
        let update_alignment = (0..mlp.num_layers())
            .map(|i| {
                let w = mlp.weight_range(i);
                angle_deg(&rule_grad[w.clone()], &true_grad[w])
            })
            .collect();
        let error_alignment = angle_sum.iter().zip(&angle_count).map(|(&sum, &count)| sum / count as f64).collect();
        (update_alignment, error_alignment, angle_count)
    }
}

/// Angle between `W_l^T` and `B_l` for `l = 2..L`, and between their concatenations.
fn weight_alignment(model: &Model, feedback: &[Vec<f32>]) -> (Vec<f64>, Option<f64>) {
    let layers = 1..model.mlp.num_layers();
    let per_layer = layers.clone().map(|i| angle_deg(model.weight_t(i), &feedback[i])).collect();
    if layers.is_empty() {
        return (per_layer, None);
    }
    let all_w: Vec<f32> = layers.clone().flat_map(|i| model.weight_t(i).iter().copied()).collect();
    let all_b: Vec<f32> = layers.flat_map(|i| feedback[i].iter().copied()).collect();
    (per_layer, Some(angle_deg(&all_w, &all_b)))
}

/// The alignments of every checkpoint of `run`, in parallel over checkpoints (one
/// workspace per worker), on one fixed batch of `options.samples` samples of `train`
/// (the run's training split) chosen by `options.seed`.
pub fn align_run(run: &RunDir, train: &Dataset, options: &AlignOptions) -> Result<RunAlignment> {
    if options.samples == 0 {
        return Err(Error::config("samples", "the evaluation batch needs at least one sample"));
    }
    let info = run.info()?;
    let checkpoints = list_checkpoints(run)?;
    if checkpoints.is_empty() {
        return Err(CkptError::invalid(&run.path, "no checkpoints (step-*.safetensors)").into());
    }
    let batch = EvalBatch::from_dataset(train, options.samples, options.seed);
    let results = align_checkpoints(&checkpoints, &batch, Some(info.activation))?;
    Ok(RunAlignment {
        rule: info.rule,
        alpha: info.alpha,
        sizes: info.sizes,
        options: options.clone(),
        sample_indices: batch.indices,
        checkpoints: results,
    })
}

/// The alignments of the given checkpoints (`(step, path)`, as listed by
/// [`crate::ckpt::list_checkpoints`]) on `batch`, in parallel, in the given order.
pub fn align_checkpoints(
    checkpoints: &[(u64, PathBuf)],
    batch: &EvalBatch,
    activation: Option<crate::net::Activation>,
) -> Result<Vec<ModelAlignment>> {
    checkpoints
        .par_iter()
        .map_init(
            || None::<AlignScratch>,
            |scratch, (step, path)| {
                let model = load_checkpoint(path, activation)?.model;
                batch.check_fits(path, &model.mlp)?;
                let scratch = scratch.get_or_insert_with(|| AlignScratch::new(&model.mlp));
                Ok(scratch.model_alignment(&model, *step, batch))
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{init_model, Activation};

    fn batch(dim: usize, classes: usize, n: usize) -> EvalBatch {
        EvalBatch {
            indices: (0..n).collect(),
            x: (0..dim * n).map(|k| ((k as f32) * 0.613).sin() * 0.5 + 0.5).collect(),
            y: (0..n).map(|s| (s * 5 % classes) as u8).collect(),
            dim,
            classes,
        }
    }

    #[test]
    fn bp_is_aligned_with_itself_everywhere() {
        let mlp = Mlp::new(&[6, 9, 8, 4], Activation::Tanh);
        let model = init_model(&mlp, Rule::Bp, 0.0, 1);
        let result = model_alignment(&model, 3, &batch(6, 4, 7));
        assert_eq!(result.step, 3);
        assert_eq!(result.weight_alignment_deg, Some(vec![0.0, 0.0]));
        assert_eq!(result.weight_alignment_overall_deg, Some(0.0));
        assert_eq!(result.update_alignment_deg, vec![0.0; 3]);
        assert_eq!(result.error_alignment_deg, vec![0.0; 2]);
        assert_eq!(result.error_alignment_samples, vec![7, 7]);
    }

    #[test]
    fn dfa_has_no_weight_alignment_but_aligned_last_layer_updates() {
        let mlp = Mlp::new(&[6, 9, 8, 4], Activation::Relu);
        let model = init_model(&mlp, Rule::Dfa, 0.0, 2);
        let result = model_alignment(&model, 0, &batch(6, 4, 300));
        assert_eq!(result.weight_alignment_deg, None);
        assert_eq!(result.weight_alignment_overall_deg, None);
        assert_eq!(result.update_alignment_deg.len(), 3);
        assert!(result.update_alignment_deg[2].abs() < 1e-3);
        assert!(result.update_alignment_deg[..2].iter().all(|a| *a > 1.0 && *a <= 180.0));
        assert_eq!(result.error_alignment_deg.len(), 2);
    }

    #[test]
    fn a_scratch_is_rebuilt_for_another_network() {
        let mut scratch = AlignScratch::new(&Mlp::new(&[5, 2, 3], Activation::Relu));
        for sizes in [&[5, 4, 3][..], &[5, 7, 6, 3], &[5, 3]] {
            let model = init_model(&Mlp::new(sizes, Activation::Relu), Rule::Fa, 0.0, 4);
            let result = scratch.model_alignment(&model, 0, &batch(5, 3, 10));
            assert_eq!(result, model_alignment(&model, 0, &batch(5, 3, 10)));
            assert_eq!(result.update_alignment_deg.len(), sizes.len() - 1);
            assert_eq!(result.error_alignment_deg.len(), sizes.len() - 2);
        }
    }
}
