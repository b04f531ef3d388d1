//! The batched attack loop: each worker keeps an active batch of samples and, per round,
//! runs one forward pass of the attacked model over the batch, moves the samples that take
//! a step to the front (with their forward state) and runs one backward pass to the input
//! over those alone, then retires the samples whose outcome is known and refills the freed
//! columns from a shared queue. All buffers are sized once per worker, so a round allocates
//! nothing (only [`super::perturb`], which collects every kept input, grows a list).
//!
//! A sample's life: start (clean input, or a random draw around it) for restart 0; at each
//! iterate `t = 0..=steps` the attacked model judges the iterate; the first misclassified
//! iterate is kept as the sample's adversarial input and ends the attack on it (early
//! exit); an iterate still correct at `t = steps` ends the restart, keeping the iterate of
//! highest loss over restarts; otherwise one step is taken. Without early exit a broken
//! sample keeps stepping through every step and restart with its outcome frozen, which
//! gives the same outcome with more work.
//!
//! Determinism: the random draws of a sample depend only on `(seed, eps, sample, restart)`,
//! and faer computes each column of a product of two or more columns identically whatever
//! the other columns are (a pass over a single column is padded to two, since faer uses a
//! different kernel for one). So neither the batch composition, the early exit, nor the
//! thread count changes a result; `tests/robustness.rs` checks this bit for bit.

use super::settings::{AttackKind, AttackSettings, GradientSource, Norm};
use super::step;
use crate::data::Dataset;
use crate::net::{ErrorPath, Feedback, Model, OutputLoss, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the iterates of a restart begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// The clean input itself.
    Input,
    /// Uniform in the L-inf ball of radius eps.
    UniformLinf,
    /// Uniform in the L2 ball of radius eps.
    UniformL2,
    /// Gaussian noise of standard deviation eps.
    Gaussian,
}

/// How an iterate moves along the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    Fgsm,
    Linf,
    L2,
}

/// How samples are perturbed at one budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub start: Start,
    pub update: Update,
    pub eps: f32,
    pub step_size: f32,
    pub steps: u32,
    pub restarts: u32,
    pub early_exit: bool,
    pub seed: u64,
    /// The loss whose gradient the steps ascend (and whose value picks the worst restart).
    pub loss: OutputLoss,
}

impl Plan {
    /// One forward pass on the clean input.
    pub fn clean() -> Plan {
        Plan {
            start: Start::Input,
            update: Update::Fgsm,
            eps: 0.0,
            step_size: 0.0,
            steps: 0,
            restarts: 1,
            early_exit: true,
            seed: 0,
            loss: OutputLoss::CrossEntropy,
        }
    }

    /// The plan `settings` give at budget `eps`.
    pub fn new(settings: &AttackSettings, eps: f32) -> Plan {
        let (start, update) = match (settings.attack, settings.norm) {
            (AttackKind::Noise, _) => (Start::Gaussian, Update::Fgsm),
            (AttackKind::Fgsm, _) => (Start::Input, Update::Fgsm),
            (AttackKind::Pgd, Norm::Linf) => {
                (if settings.random_start { Start::UniformLinf } else { Start::Input }, Update::Linf)
            }
            (AttackKind::Pgd, Norm::L2) => {
                (if settings.random_start { Start::UniformL2 } else { Start::Input }, Update::L2)
            }
        };
        Plan {
            start,
            update,
            eps,
            step_size: settings.step_size_for(eps),
            steps: settings.effective_steps() as u32,
            restarts: settings.effective_restarts() as u32,
            early_exit: settings.early_exit,
            seed: settings.seed,
            loss: settings.loss,
        }
    }
}

/// The model the attacker differentiates and the path the error takes to the input.
pub(crate) struct Attacker<'a> {
    /// `Some`: a transfer source with its own forward pass; `None`: the attacked model.
    pub transfer: Option<&'a Model>,
    /// `Some(B)`: the feedback matrices; `None`: the forward weights transposed.
    pub feedback: Option<Vec<Vec<f32>>>,
}

impl<'a> Attacker<'a> {
    /// The attacker for `source` on `model`; `check_model` must have accepted the pair.
    pub fn new(model: &Model, source: &'a GradientSource) -> Attacker<'a> {
        match source {
            GradientSource::True => Attacker { transfer: None, feedback: None },
            GradientSource::Feedback => match model.feedback {
                Feedback::None | Feedback::Direct(_) => Attacker { transfer: None, feedback: None },
                Feedback::Matrices(_) | Feedback::SignMagnitudes(_) => {
                    Attacker { transfer: None, feedback: model.feedback_matrices() }
                }
            },
            GradientSource::Transfer { source, .. } => Attacker { transfer: Some(source), feedback: None },
        }
    }

    pub fn path(&self) -> ErrorPath<'_> {
        match &self.feedback {
            Some(b) => ErrorPath::Matrices(b),
            None => ErrorPath::Transpose,
        }
    }
}

/// The per-sample result of one plan.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SampleOutcome {
    /// The kept input is misclassified by the attacked model.
    pub misclassified: bool,
    /// Cross-entropy (nats) of the attacked model at the kept input.
    pub loss: f32,
}

/// Passes over columns actually done, for the benchmark's reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Work {
    /// Sample-forward passes of the attacked model.
    pub forward: u64,
    /// Input gradients used for a step (a backward pass to the input per sample; for a
    /// transfer attack also a forward pass of the source).
    pub backward: u64,
}

/// What a column does after the attacked model has judged its iterate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Step,
    Restart,
    Finish,
}

/// One column of the active batch.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    sample: usize,
    restart: u32,
    /// Index of the current iterate within the restart.
    step: u32,
    /// Some iterate was misclassified; the kept input is that iterate.
    broken: bool,
    /// An input has been kept (`kept_loss` is its loss).
    kept: bool,
    kept_loss: f32,
}

/// The random stream of one sample's restart at one budget.
fn sample_rng(seed: u64, eps: f32, sample: usize, restart: u32) -> ChaCha8Rng {
    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let budget = (eps.to_bits() as u64) | ((restart as u64) << 32);
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix(seed ^ splitmix(budget)));
    rng.set_stream(sample as u64);
    rng
}

/// Preallocated buffers of one worker (one core's whole products).
pub(crate) struct Worker {
    dim: usize,
    capacity: usize,
    keep_inputs: bool,
    target_ws: Workspace,
    source_ws: Option<Workspace>,
    /// Clean inputs, current iterates, input gradients, kept inputs: `dim x capacity` each.
    x_clean: Vec<f32>,
    x_iter: Vec<f32>,
    grad: Vec<f32>,
    x_kept: Vec<f32>,
    labels: Vec<u8>,
    slots: Vec<Slot>,
    loss: Vec<f32>,
    correct: Vec<bool>,
    action: Vec<Action>,
    active: usize,
    /// Retired samples of the current run: `(sample, outcome)`.
    finished: Vec<(usize, SampleOutcome)>,
    /// Their kept inputs (`dim` each, same order), when `keep_inputs`.
    finished_inputs: Vec<f32>,
    work: Work,
}

impl Worker {
    fn new(model: &Model, attacker: &Attacker<'_>, capacity: usize, keep_inputs: bool) -> Worker {
        let dim = model.mlp.input_dim();
        let buf = || vec![0f32; dim * capacity];
        Worker {
            dim,
            capacity,
            keep_inputs,
            target_ws: Workspace::new(&model.mlp, capacity),
            source_ws: attacker.transfer.map(|src| Workspace::new(&src.mlp, capacity)),
            x_clean: buf(),
            x_iter: buf(),
            grad: buf(),
            x_kept: if keep_inputs { buf() } else { Vec::new() },
            labels: vec![0; capacity],
            slots: vec![Slot::default(); capacity],
            loss: vec![0.0; capacity],
            correct: vec![false; capacity],
            action: vec![Action::Finish; capacity],
            active: 0,
            finished: Vec::new(),
            finished_inputs: Vec::new(),
            work: Work::default(),
        }
    }

    fn column(buf: &mut [f32], dim: usize, j: usize) -> &mut [f32] {
        &mut buf[j * dim..(j + 1) * dim]
    }

    /// Writes the first iterate of `restart` into column `j`.
    fn start(&mut self, plan: &Plan, j: usize) {
        let dim = self.dim;
        let slot = self.slots[j];
        let (x0, x) = (&self.x_clean[j * dim..(j + 1) * dim], &mut self.x_iter[j * dim..(j + 1) * dim]);
        let rng = || sample_rng(plan.seed, plan.eps, slot.sample, slot.restart);
        match plan.start {
            Start::Input => x.copy_from_slice(x0),
            Start::UniformLinf => step::linf_random_start(x, x0, plan.eps, &mut rng()),
            Start::UniformL2 => step::l2_random_start(x, x0, plan.eps, &mut rng()),
            Start::Gaussian => step::gaussian_noise(x, x0, plan.eps, &mut rng()),
        }
    }

    /// Copies the current iterate of column `j` into its kept input.
    fn keep(&mut self, j: usize) {
        if self.keep_inputs {
            let dim = self.dim;
            self.x_kept[j * dim..(j + 1) * dim].copy_from_slice(&self.x_iter[j * dim..(j + 1) * dim]);
        }
    }

    /// Fills free columns with samples from `queue` (claimed through `next`).
    fn refill(&mut self, plan: &Plan, data: &Dataset, queue: &[usize], next: &AtomicUsize) {
        let dim = self.dim;
        while self.active < self.capacity {
            let claimed = next.fetch_add(1, Ordering::Relaxed);
            let Some(&sample) = queue.get(claimed) else { break };
            let j = self.active;
            data.fill_batch(
                std::slice::from_ref(&sample),
                Self::column(&mut self.x_clean, dim, j),
                &mut self.labels[j..j + 1],
            );
            self.slots[j] = Slot { sample, ..Slot::default() };
            self.start(plan, j);
            self.active += 1;
        }
    }

    /// What column `j` does next, given the attacked model's verdict on its iterate.
    fn decide(&mut self, plan: &Plan, j: usize) -> Action {
        let (loss, correct) = (self.loss[j], self.correct[j]);
        if !correct && !self.slots[j].broken {
            let slot = &mut self.slots[j];
            slot.broken = true;
            slot.kept = true;
            slot.kept_loss = loss;
            self.keep(j);
            if plan.early_exit {
                return Action::Finish;
            }
        }
        let slot = &mut self.slots[j];
        if slot.step < plan.steps {
            return Action::Step;
        }
        // End of a restart: keep the worst (highest-loss) surviving iterate.
        if !slot.broken && (!slot.kept || loss > slot.kept_loss) {
            slot.kept = true;
            slot.kept_loss = loss;
            self.keep(j);
        }
        let slot = &mut self.slots[j];
        if slot.restart + 1 < plan.restarts {
            slot.restart += 1;
            slot.step = 0;
            self.start(plan, j);
            Action::Restart
        } else {
            Action::Finish
        }
    }

    /// Input gradients of the first `cols` iterates into `grad`; the attacked model's
    /// forward pass must hold those columns first.
    fn gradients(&mut self, model: &Model, attacker: &Attacker<'_>, loss: OutputLoss, cols: usize) {
        match (attacker.transfer, &mut self.source_ws) {
            (Some(src), Some(ws)) => {
                src.mlp.forward(&src.params, &self.x_iter, cols, ws);
                src.mlp.output_error_each(loss, &self.labels[..cols], ws, |_, _, _| {});
                src.mlp.propagate_errors(&src.params, ErrorPath::Transpose, ws);
                src.mlp.input_gradient(&src.params, ErrorPath::Transpose, ws, &mut self.grad);
            }
            _ => {
                let path = attacker.path();
                self.target_ws.truncate(cols);
                model.mlp.propagate_errors(&model.params, path, &mut self.target_ws);
                model.mlp.input_gradient(&model.params, path, &self.target_ws, &mut self.grad);
            }
        }
    }

    /// Reorders the first `n` columns so that those whose action is [`Action::Step`] come
    /// first (moving their forward-pass state along); returns how many there are.
    fn partition_stepping(&mut self, n: usize) -> usize {
        let (mut lo, mut hi) = (0, n);
        loop {
            while lo < hi && self.action[lo] == Action::Step {
                lo += 1;
            }
            while lo < hi && self.action[hi - 1] != Action::Step {
                hi -= 1;
            }
            if lo >= hi {
                return lo;
            }
            // Column `lo` does not step and column `hi - 1` does: exchange them. The
            // forward state of `lo` is no longer needed, so it is only overwritten.
            self.swap_columns(lo, hi - 1);
            self.target_ws.copy_sample(hi - 1, lo);
            lo += 1;
            hi -= 1;
        }
    }

    /// Exchanges columns `a < b` of every per-sample buffer (not the workspace).
    fn swap_columns(&mut self, a: usize, b: usize) {
        let dim = self.dim;
        let bufs: [&mut Vec<f32>; 3] = [&mut self.x_clean, &mut self.x_iter, &mut self.x_kept];
        for buf in bufs {
            if !buf.is_empty() {
                let (head, tail) = buf.split_at_mut(b * dim);
                head[a * dim..(a + 1) * dim].swap_with_slice(&mut tail[..dim]);
            }
        }
        self.labels.swap(a, b);
        self.slots.swap(a, b);
        self.action.swap(a, b);
    }

    /// Moves column `from` into column `to` (retiring `to`).
    fn move_column(&mut self, from: usize, to: usize) {
        let dim = self.dim;
        let bufs: [&mut Vec<f32>; 3] = [&mut self.x_clean, &mut self.x_iter, &mut self.x_kept];
        for buf in bufs {
            if !buf.is_empty() {
                buf.copy_within(from * dim..(from + 1) * dim, to * dim);
            }
        }
        self.labels[to] = self.labels[from];
        self.slots[to] = self.slots[from];
    }

    /// Attacks every sample of `queue` this worker claims; outcomes go to `finished`.
    fn run(
        &mut self,
        model: &Model,
        attacker: &Attacker<'_>,
        plan: &Plan,
        data: &Dataset,
        queue: &[usize],
        next: &AtomicUsize,
    ) {
        let dim = self.dim;
        self.finished.clear();
        self.finished.reserve(queue.len());
        self.finished_inputs.clear();
        self.work = Work::default();
        self.active = 0;
        loop {
            self.refill(plan, data, queue, next);
            let n = self.active;
            if n == 0 {
                break;
            }
            // Never a one-column pass: faer's single-column kernel rounds differently.
            let cols = n.max(2);
            model.mlp.forward(&model.params, &self.x_iter, cols, &mut self.target_ws);
            let (loss, correct) = (&mut self.loss, &mut self.correct);
            model.mlp.output_error_each(plan.loss, &self.labels[..cols], &mut self.target_ws, |j, l, c| {
                if j < n {
                    loss[j] = l;
                    correct[j] = c;
                }
            });
            self.work.forward += n as u64;

            for j in 0..n {
                self.action[j] = self.decide(plan, j);
            }
            // Stepping columns first, so the backward pass runs on them alone.
            let stepping = self.partition_stepping(n);
            if stepping > 0 {
                self.gradients(model, attacker, plan.loss, stepping.max(2));
                self.work.backward += stepping as u64;
                for j in 0..stepping {
                    let (x0, g) = (&self.x_clean[j * dim..(j + 1) * dim], &self.grad[j * dim..(j + 1) * dim]);
                    let x = &mut self.x_iter[j * dim..(j + 1) * dim];
                    match plan.update {
                        Update::Fgsm => step::fgsm_step(x, x0, g, plan.eps),
                        Update::Linf => step::linf_step(x, x0, g, plan.step_size, plan.eps),
                        Update::L2 => step::l2_step(x, x0, g, plan.step_size, plan.eps),
                    }
                    self.slots[j].step += 1;
                }
            }

            // Retire finished columns, filling each gap with the last active column.
            for j in (stepping..n).rev() {
                if self.action[j] != Action::Finish {
                    continue;
                }
                let slot = self.slots[j];
                self.finished.push((slot.sample, SampleOutcome { misclassified: slot.broken, loss: slot.kept_loss }));
                if self.keep_inputs {
                    self.finished_inputs.extend_from_slice(&self.x_kept[j * dim..(j + 1) * dim]);
                }
                let last = self.active - 1;
                if j != last {
                    self.move_column(last, j);
                }
                self.active -= 1;
            }
        }
    }
}

/// One worker per rayon thread, reused across plans.
pub(crate) struct WorkerPool {
    workers: Vec<Worker>,
}

/// The outcomes of one plan over all samples.
pub(crate) struct PlanOutcome {
    pub outcomes: Vec<SampleOutcome>,
    /// `dim x samples` kept inputs, when the pool keeps them.
    pub inputs: Vec<f32>,
    pub work: Work,
}

impl WorkerPool {
    pub fn new(model: &Model, attacker: &Attacker<'_>, batch: usize, keep_inputs: bool) -> WorkerPool {
        let threads = rayon::current_num_threads().max(1);
        WorkerPool { workers: (0..threads).map(|_| Worker::new(model, attacker, batch, keep_inputs)).collect() }
    }

    /// Runs `plan` on the samples in `queue`; the other samples keep their entry of `base`
    /// (and their clean input, if inputs are kept).
    pub fn run(
        &mut self,
        model: &Model,
        attacker: &Attacker<'_>,
        plan: &Plan,
        data: &Dataset,
        queue: &[usize],
        base: &[SampleOutcome],
    ) -> PlanOutcome {
        let next = AtomicUsize::new(0);
        self.workers.par_iter_mut().for_each(|w| w.run(model, attacker, plan, data, queue, &next));
        let dim = model.mlp.input_dim();
        let keep_inputs = self.workers.first().is_some_and(|w| w.keep_inputs);
        let mut outcomes = base.to_vec();
        let mut inputs = Vec::new();
        if keep_inputs {
            let all: Vec<usize> = (0..base.len()).collect();
            inputs = vec![0f32; dim * base.len()];
            let mut labels = vec![0u8; base.len()];
            data.fill_batch(&all, &mut inputs, &mut labels);
        }
        let mut work = Work::default();
        for w in &self.workers {
            for (k, &(sample, outcome)) in w.finished.iter().enumerate() {
                outcomes[sample] = outcome;
                if keep_inputs {
                    inputs[sample * dim..(sample + 1) * dim]
                        .copy_from_slice(&w.finished_inputs[k * dim..(k + 1) * dim]);
                }
            }
            work.forward += w.work.forward;
            work.backward += w.work.backward;
        }
        PlanOutcome { outcomes, inputs, work }
    }
}
