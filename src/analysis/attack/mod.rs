//! Robustness to adversarial attacks and input corruption (`SPEC.md` section 6).
//!
//! Inputs live in [0, 1]; `g` is the input gradient of the per-sample cross-entropy, taken
//! along the stated [`GradientSource`] (`true`: through `W_1^T ... W_L^T`, the exact
//! gradient; `feedback`: through the model's `B_1 ... B_L`; `transfer`: the exact gradient
//! of another model). Accuracy of the attacked model is measured under:
//! - FGSM: `x' = clip(x + eps sign(g), 0, 1)`;
//! - PGD (L-inf default, or L2): a random start in the eps ball, then `steps` (default 20)
//!   steps of size `a` (default `2.5 eps / steps`), `x <- clip(proj(x + a sign(g)))` for
//!   L-inf and `x <- clip(proj(x + a g / ||g||_2))` for L2, `proj` onto the eps ball around
//!   the clean input; with `restarts`, a sample is robust only if it survives every one;
//! - Gaussian noise: `x' = clip(x + sigma n, 0, 1)`, `n ~ N(0, I)`, per sigma.
//!
//! A sample counts as broken as soon as any iterate (of any restart) is misclassified by
//! the attacked model; that iterate is its adversarial input. A sample misclassified clean
//! counts as broken with its clean input (as in foolbox's `success`). For a transfer attack
//! the iterates follow the source model's gradient and are judged by the attacked model.
//! Per budget the results give clean accuracy, robust accuracy (accuracy on the perturbed
//! inputs), the mean loss on them, the attack success rate (broken fraction of the samples
//! correct clean) and the eps x sample success matrix, with every setting echoed.
//!
//! All random draws depend only on `(seed, eps, sample, restart)`, so results are
//! reproducible and independent of batching, early exit and the thread count.

pub mod bench;
mod engine;
mod settings;
mod step;

pub use settings::{
    AttackEcho, AttackKind, AttackSettings, GradientName, GradientSource, Norm, DEFAULT_BATCH, DEFAULT_SEED,
    DEFAULT_STEPS,
};

use crate::data::Dataset;
use crate::error::{Error, Result};
pub use crate::net::OutputLoss;
use crate::net::{Model, Rule, Workspace};
use engine::{Attacker, Plan, PlanOutcome, SampleOutcome, WorkerPool};
use serde::{Deserialize, Serialize};

/// The robustness of one model under one attack, per budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustnessReport {
    pub settings: AttackEcho,
    /// Rule and layer widths of the attacked model.
    pub rule: Rule,
    pub sizes: Vec<usize>,
    /// Fraction of the samples classified correctly clean.
    pub clean_accuracy: f64,
    /// Mean cross-entropy on the clean samples (nats).
    pub clean_loss: f64,
    pub per_eps: Vec<EpsResult>,
    /// `success[e][i]`: the perturbed input of sample `i` at `eps[e]` is misclassified
    /// (samples misclassified clean count as successes, as in foolbox).
    pub success: Vec<Vec<bool>>,
}

/// The results at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsResult {
    /// Budget (noise: standard deviation), in [0, 1] pixel units.
    pub eps: f32,
    /// Step size used (FGSM: eps; noise: 0).
    pub step_size: f32,
    /// Fraction of the samples classified correctly clean.
    pub clean_accuracy: f64,
    /// Fraction of the samples classified correctly on their perturbed input.
    pub robust_accuracy: f64,
    /// Mean of the attack's loss on the perturbed inputs: cross-entropy (nats) or, with
    /// `settings.loss = margin`, the logit margin.
    pub adversarial_loss: f64,
    /// Fraction of the samples correct clean whose perturbed input is misclassified
    /// (NaN, serialised as null, when no sample is correct clean).
    pub attack_success_rate: f64,
    /// Number of samples correct clean and misclassified perturbed.
    pub broken: usize,
    /// Per-sample forward passes of the attacked model (early exit saves most of them).
    pub forward_passes: u64,
    /// Per-sample input gradients computed.
    pub gradient_passes: u64,
}

/// Perturbed inputs of every evaluated sample at one budget, with their outcomes.
#[derive(Clone, Debug, PartialEq)]
pub struct PerturbedInputs {
    pub eps: f32,
    /// Values per sample.
    pub dim: usize,
    /// `dim` values per sample, sample after sample: the adversarial input (the first
    /// misclassified iterate; for a survivor the highest-loss final iterate of its
    /// restarts; the clean input for a sample misclassified clean) or the noisy input.
    pub inputs: Vec<f32>,
    pub labels: Vec<u8>,
    pub clean_correct: Vec<bool>,
    /// The perturbed input is misclassified.
    pub misclassified: Vec<bool>,
    /// Cross-entropy at the perturbed input (nats).
    pub loss: Vec<f32>,
}

impl PerturbedInputs {
    /// The perturbed input of sample `i`.
    pub fn input(&self, i: usize) -> &[f32] {
        &self.inputs[i * self.dim..(i + 1) * self.dim]
    }
}

/// A clean image beside its perturbed version, for a figure grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdversarialExample {
    /// Index of the sample in the split.
    pub sample: usize,
    pub label: u8,
    pub clean_prediction: u8,
    pub perturbed_prediction: u8,
    /// Raw pixels in [0, 1] (`dim` values, row-major image).
    pub clean: Vec<f32>,
    pub perturbed: Vec<f32>,
}

/// A few examples at one budget, with the settings that made them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleGrid {
    pub settings: AttackEcho,
    pub eps: f32,
    /// Values per image.
    pub dim: usize,
    pub examples: Vec<AdversarialExample>,
}

/// Validates settings, model and data together; returns the number of samples evaluated.
fn prepare(model: &Model, data: &Dataset, settings: &AttackSettings) -> Result<usize> {
    settings.validate()?;
    settings.check_model(model)?;
    let mlp = &model.mlp;
    if data.dim != mlp.input_dim() {
        return Err(Error::config(
            "--data",
            format!("samples have {} values but the model takes {} inputs", data.dim, mlp.input_dim()),
        ));
    }
    let count = settings.samples.unwrap_or(data.len());
    if data.is_empty() {
        return Err(Error::config("--data", "the split holds no samples"));
    }
    if count > data.len() {
        return Err(Error::config("--samples", format!("{count} exceeds the {} samples of the split", data.len())));
    }
    if let Some(i) = data.labels[..count].iter().position(|&y| usize::from(y) >= mlp.classes()) {
        return Err(Error::config(
            "--data",
            format!("sample {i} has label {} but the model predicts {} classes", data.labels[i], mlp.classes()),
        ));
    }
    Ok(count)
}

/// Everything one evaluation needs: the attacker, the worker buffers, the clean outcomes.
struct Evaluation<'a> {
    model: &'a Model,
    data: &'a Dataset,
    attacker: Attacker<'a>,
    pool: WorkerPool,
    clean: Vec<SampleOutcome>,
    all: Vec<usize>,
    correct: Vec<usize>,
}

impl<'a> Evaluation<'a> {
    fn new(model: &'a Model, data: &'a Dataset, settings: &'a AttackSettings, keep_inputs: bool) -> Result<Self> {
        let count = prepare(model, data, settings)?;
        let attacker = Attacker::new(model, &settings.gradient);
        let mut pool = WorkerPool::new(model, &attacker, settings.batch, keep_inputs);
        let all: Vec<usize> = (0..count).collect();
        let clean = pool.run(model, &attacker, &Plan::clean(), data, &all, &vec![SampleOutcome::default(); count]);
        let correct = all.iter().copied().filter(|&i| !clean.outcomes[i].misclassified).collect();
        Ok(Evaluation { model, data, attacker, pool, clean: clean.outcomes, all, correct })
    }

    /// Runs `settings` at budget `eps`. Attacks start from the samples correct clean (the
    /// others are broken already); noise perturbs every sample.
    fn run(&mut self, settings: &AttackSettings, eps: f32) -> PlanOutcome {
        let queue = if settings.attack == AttackKind::Noise { &self.all } else { &self.correct };
        self.pool.run(self.model, &self.attacker, &Plan::new(settings, eps), self.data, queue, &self.clean)
    }
}

/// Clean and robust accuracy, loss and success rates of `model` under `settings` on the
/// first `settings.samples` samples of `data` (all by default), for every budget.
pub fn evaluate_robustness(model: &Model, data: &Dataset, settings: &AttackSettings) -> Result<RobustnessReport> {
    let mut eval = Evaluation::new(model, data, settings, false)?;
    let count = eval.all.len();
    let clean_correct = eval.correct.len();
    let mean = |sum: f64| sum / count as f64;
    let clean_accuracy = mean(clean_correct as f64);
    let clean_loss = mean(eval.clean.iter().map(|o| o.loss as f64).sum());
    let mut per_eps = Vec::with_capacity(settings.eps.len());
    let mut success = Vec::with_capacity(settings.eps.len());
    for &eps in &settings.eps {
        let run = eval.run(settings, eps);
        let misclassified: Vec<bool> = run.outcomes.iter().map(|o| o.misclassified).collect();
        let broken = eval.correct.iter().filter(|&&i| misclassified[i]).count();
        per_eps.push(EpsResult {
            eps,
            step_size: settings.step_size_for(eps),
            clean_accuracy,
            robust_accuracy: mean(misclassified.iter().filter(|&&m| !m).count() as f64),
            adversarial_loss: mean(run.outcomes.iter().map(|o| o.loss as f64).sum()),
            attack_success_rate: broken as f64 / clean_correct as f64,
            broken,
            forward_passes: run.work.forward,
            gradient_passes: run.work.backward,
        });
        success.push(misclassified);
    }
    Ok(RobustnessReport {
        settings: settings.echo(count),
        rule: model.rule,
        sizes: model.mlp.sizes().to_vec(),
        clean_accuracy,
        clean_loss,
        per_eps,
        success,
    })
}

/// The perturbed input of every evaluated sample at budget `eps` (which need not be in
/// `settings.eps`), with outcomes: the data behind [`evaluate_robustness`] at one budget.
pub fn perturb(model: &Model, data: &Dataset, settings: &AttackSettings, eps: f32) -> Result<PerturbedInputs> {
    let settings = AttackSettings { eps: vec![eps], ..settings.clone() };
    let mut eval = Evaluation::new(model, data, &settings, true)?;
    let run = eval.run(&settings, eps);
    let count = eval.all.len();
    Ok(PerturbedInputs {
        eps,
        dim: data.dim,
        inputs: run.inputs,
        labels: data.labels[..count].to_vec(),
        clean_correct: eval.clean.iter().map(|o| !o.misclassified).collect(),
        misclassified: run.outcomes.iter().map(|o| o.misclassified).collect(),
        loss: run.outcomes.iter().map(|o| o.loss).collect(),
    })
}

/// Arg-max class of each of the `n` inputs in `x` (`dim x n`).
fn predictions(model: &Model, x: &[f32], n: usize) -> Vec<u8> {
    let classes = model.mlp.classes();
    let mut ws = Workspace::new(&model.mlp, n.max(1));
    model.mlp.forward(&model.params, x, n, &mut ws);
    ws.logits()
        .chunks_exact(classes)
        .map(|z| {
            z.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (k, &v)| if v > best.1 { (k, v) } else { best }).0
                as u8
        })
        .collect()
}

/// The first `count` samples of `data`, clean and perturbed at budget `eps`, with the
/// model's predictions: the raw material of a figure grid.
pub fn adversarial_examples(
    model: &Model,
    data: &Dataset,
    settings: &AttackSettings,
    eps: f32,
    count: usize,
) -> Result<ExampleGrid> {
    let count = count.min(data.len()).min(settings.samples.unwrap_or(usize::MAX));
    let settings = AttackSettings { eps: vec![eps], samples: Some(count), ..settings.clone() };
    let perturbed = perturb(model, data, &settings, eps)?;
    let dim = data.dim;
    let mut clean = vec![0f32; dim * count];
    let mut labels = vec![0u8; count];
    data.fill_batch(&(0..count).collect::<Vec<_>>(), &mut clean, &mut labels);
    let clean_predictions = predictions(model, &clean, count);
    let perturbed_predictions = predictions(model, &perturbed.inputs, count);
    let examples = (0..count)
        .map(|i| AdversarialExample {
            sample: i,
            label: labels[i],
            clean_prediction: clean_predictions[i],
            perturbed_prediction: perturbed_predictions[i],
            clean: clean[i * dim..(i + 1) * dim].to_vec(),
            perturbed: perturbed.input(i).to_vec(),
        })
        .collect();
    Ok(ExampleGrid { settings: settings.echo(count), eps, dim, examples })
}

/// The per-sample input gradient of `loss` (`dim x n`, like `x`) along `gradient`, for
/// the `n` samples in `x` with labels `y`: the gradient the attacks follow.
pub fn loss_input_gradient(
    model: &Model,
    gradient: &GradientSource,
    loss: OutputLoss,
    x: &[f32],
    y: &[u8],
) -> Result<Vec<f32>> {
    let settings = AttackSettings { gradient: gradient.clone(), ..AttackSettings::pgd(vec![0.0]) };
    settings.check_model(model)?;
    let n = y.len();
    let dim = model.mlp.input_dim();
    if x.len() != dim * n {
        return Err(Error::config("--data", format!("{} values do not hold {n} samples of {dim}", x.len())));
    }
    if let Some(&label) = y.iter().find(|&&label| usize::from(label) >= model.mlp.classes()) {
        return Err(Error::config(
            "--data",
            format!("label {label} exceeds the model's {} classes", model.mlp.classes()),
        ));
    }
    let attacker = Attacker::new(model, gradient);
    let target = attacker.transfer.unwrap_or(model);
    let mut ws = Workspace::new(&target.mlp, n.max(1));
    let mut grad = vec![0f32; dim * n];
    if n == 0 {
        return Ok(grad);
    }
    target.mlp.forward(&target.params, x, n, &mut ws);
    target.mlp.output_error_each(loss, y, &mut ws, |_, _, _| {});
    let path = attacker.path();
    target.mlp.propagate_errors(&target.params, path, &mut ws);
    target.mlp.input_gradient(&target.params, path, &ws, &mut grad);
    Ok(grad)
}
