//! Training throughput, measured against a GEMM-only reference taken in the same run.
//!
//! The reference times just the matrix products of the same training steps (forward,
//! error propagation, weight gradients; each core on its half of the batch), so the
//! reported ratio says how close the whole step comes to pure GEMM time on this machine.

use super::{epoch_permutation, state::LoopState, BatchEngine, OptimizerKind, TrainConfig};
use crate::data::DataSplits;
use crate::error::Result;
use crate::linalg::{gemm, view, view_mut};
use crate::net::{init_model, Mlp, Rule};
use crate::stats::median_finite;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// The result of `diag bench train`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBench {
    pub rule: Rule,
    pub sizes: Vec<usize>,
    pub batch: usize,
    /// Samples per timed epoch.
    pub samples: usize,
    /// Timed epochs (training continues from one to the next).
    pub epochs: usize,
    /// Seconds of the median epoch.
    pub seconds: f64,
    /// Median over the timed epochs.
    pub samples_per_s: f64,
    /// Every timed epoch, in order.
    pub epoch_samples_per_s: Vec<f64>,
    /// Samples per second if a step cost only its GEMMs (both cores), measured just before
    /// each epoch; the median.
    pub gemm_only_samples_per_s: f64,
    /// `samples_per_s / gemm_only_samples_per_s`.
    pub ratio_to_gemm_only: f64,
    /// GFLOP/s achieved over the whole epoch (GEMM flops only).
    pub gflops: f64,
    /// Single-core faer GEMM rate on a 512 x 512 x 128 product measured in this run: the
    /// machine's speed today (compare `PERF.md`).
    pub machine_gemm_gflops_1core: f64,
    pub threads: usize,
}

impl TrainBench {
    pub fn describe(&self) -> String {
        format!(
            "bench train {} {:?} batch {}: {:.0} samples/s ({}{:.2} s for {} samples, {:.0} GFLOP/s); GEMM-only reference {:.0} samples/s; ratio {:.2}; one-core GEMM {:.0} GFLOP/s",
            self.rule,
            self.sizes,
            self.batch,
            self.samples_per_s,
            if self.epochs > 1 { format!("median of {} epochs: ", self.epochs) } else { String::new() },
            self.seconds,
            self.samples,
            self.gflops,
            self.gemm_only_samples_per_s,
            self.ratio_to_gemm_only,
            self.machine_gemm_gflops_1core
        )
    }
}

/// GEMM flops of one training step per sample (forward, hidden errors, weight gradients).
fn step_flops_per_sample(mlp: &Mlp) -> f64 {
    let layers = mlp.num_layers();
    let macs: usize = (0..layers)
        .map(|i| {
            let (din, dout) = mlp.layer_dims(i);
            let backward = if i > 0 { 2 } else { 1 };
            din * dout * (1 + backward)
        })
        .sum();
    2.0 * macs as f64
}

/// `epochs` timed epochs (at least one) of 784-512x4-10 (or the data's shape), batch 128,
/// SGD momentum 0.9, lr 0.005; the GEMM-only reference is timed before each epoch, so that
/// both medians see the same stretch of machine time.
pub fn train_epochs(rule: Rule, data: &DataSplits, epochs: usize) -> Result<TrainBench> {
    assert!(epochs > 0, "at least one epoch");
    let mut sizes = vec![data.train.dim];
    sizes.extend([512; 4]);
    sizes.push(data.train.classes);
    let mlp = Mlp::new(&sizes, crate::net::Activation::Relu);
    let batch = 128;
    let chunks = 2;
    let model = init_model(&mlp, rule, 0.5, 0);
    let mut st = LoopState::fresh(model, OptimizerKind::Sgd { momentum: 0.9 });
    let mut engine = BatchEngine::new(&st.model, batch, chunks);
    let n = data.train.len();
    let machine = single_core_gemm_gflops();
    let mut epoch_samples_per_s = Vec::with_capacity(epochs);
    let mut gemm_only = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let perm = epoch_permutation(n, 0, epoch as u64);
        gemm_only.push(gemm_reference(&mlp, batch, chunks));
        let start = Instant::now();
        for idx in perm.chunks(batch) {
            engine.step(&mut st.model, &mut st.optimizer, &mut st.feedback_optimizers, &data.train, idx, 0.005, 0.0);
        }
        epoch_samples_per_s.push(n as f64 / start.elapsed().as_secs_f64());
    }
    let samples_per_s = median_finite(&epoch_samples_per_s);
    let gemm_only = median_finite(&gemm_only);
    Ok(TrainBench {
        rule,
        sizes,
        batch,
        samples: n,
        epochs,
        seconds: n as f64 / samples_per_s,
        samples_per_s,
        epoch_samples_per_s,
        gemm_only_samples_per_s: gemm_only,
        ratio_to_gemm_only: samples_per_s / gemm_only,
        gflops: samples_per_s * step_flops_per_sample(&mlp) / 1e9,
        machine_gemm_gflops_1core: machine,
        threads: rayon::current_num_threads(),
    })
}

/// GFLOP/s of one core on a 512 x 512 x 128 product (median of 5 timings).
fn single_core_gemm_gflops() -> f64 {
    let (m, k, n) = (512, 512, 128);
    let a = vec![0.01f32; m * k];
    let b = vec![0.02f32; k * n];
    let mut c = vec![0f32; m * n];
    let reps = 50;
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                gemm(view_mut(&mut c, m, n), false, view(&a, m, k), view(&b, k, n), 1.0);
            }
            2.0 * (m * k * n * reps) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

/// Small fixed weight matrices of `mlp`'s layer shapes, for timing products alone.
pub(crate) fn synthetic_weights(mlp: &Mlp) -> Vec<Vec<f32>> {
    (0..mlp.num_layers())
        .map(|i| {
            let (din, dout) = mlp.layer_dims(i);
            (0..din * dout).map(|k| ((k % 17) as f32 - 8.0) * 1e-3).collect()
        })
        .collect()
}

/// Samples/s if a step were only its GEMMs, each chunk's on its own core.
fn gemm_reference(mlp: &Mlp, batch: usize, chunks: usize) -> f64 {
    let per = batch / chunks;
    let max_d = *mlp.sizes().iter().max().expect("sizes");
    let weights = synthetic_weights(mlp);
    let run_steps = |reps: usize| {
        (0..chunks).into_par_iter().for_each(|_| {
            let mut a = vec![0.5f32; max_d * per];
            let mut b = vec![0.5f32; max_d * per];
            let mut g = vec![0f32; max_d * max_d];
            for _ in 0..reps {
                for (i, w) in weights.iter().enumerate() {
                    let (din, dout) = mlp.layer_dims(i);
                    gemm(view_mut(&mut b, dout, per), false, view(w, din, dout).transpose(), view(&a, din, per), 1.0);
                    gemm(view_mut(&mut g, din, dout), false, view(&a, din, per), view(&b, dout, per).transpose(), 1.0);
                    if i > 0 {
                        gemm(view_mut(&mut a, din, per), false, view(w, din, dout), view(&b, dout, per), 1.0);
                    }
                }
            }
            std::hint::black_box((&a, &b, &g));
        });
    };
    run_steps(5);
    let reps = 100;
    let start = Instant::now();
    run_steps(reps);
    (reps * batch) as f64 / start.elapsed().as_secs_f64()
}

/// The cost of a configuration's training steps and test evaluation, measured on a few
/// real steps of a freshly initialised model in the current thread pool (for planning
/// sweeps; nothing is written).
#[derive(Clone, Debug, Serialize)]
pub struct StepCost {
    pub seconds_per_step: f64,
    /// Evaluation time per test sample (forward pass and loss).
    pub seconds_per_test_sample: f64,
    /// Timed steps (after one warm-up step).
    pub steps_timed: usize,
}

/// Times steps of `cfg` on `data` until about `budget_s` seconds have passed (at least 3,
/// at most 50 steps, after one untimed warm-up step), and evaluation of up to 1,000 test samples.
pub fn step_cost(cfg: &TrainConfig, data: &DataSplits, budget_s: f64) -> Result<StepCost> {
    cfg.validate()?;
    let train_set = super::training_split(cfg, data)?;
    let mlp = super::architecture(cfg, data);
    let model = init_model(&mlp, cfg.rule, cfg.alpha.unwrap_or(0.0), cfg.seed);
    let mut st = LoopState::fresh(model, cfg.optimizer);
    let mut engine = BatchEngine::new(&st.model, cfg.batch, cfg.chunks);
    let perm = epoch_permutation(train_set.len(), cfg.seed, 0);
    let batches: Vec<&[usize]> = perm.chunks(cfg.batch).collect();
    let mut start = Instant::now();
    let mut steps_timed = 0;
    for k in 0.. {
        if k == 1 {
            start = Instant::now();
        }
        let idx = batches[k % batches.len()];
        engine.step(
            &mut st.model,
            &mut st.optimizer,
            &mut st.feedback_optimizers,
            &train_set,
            idx,
            cfg.lr,
            cfg.weight_decay,
        );
        steps_timed = k;
        if k >= 50 || (k >= 3 && start.elapsed().as_secs_f64() >= budget_s) {
            break;
        }
    }
    let seconds_per_step = start.elapsed().as_secs_f64() / steps_timed as f64;
    let probe = data.test.head(data.test.len().min(1000));
    let start = Instant::now();
    super::evaluate_dataset(&st.model, &probe);
    let seconds_per_test_sample = start.elapsed().as_secs_f64() / probe.len().max(1) as f64;
    Ok(StepCost { seconds_per_step, seconds_per_test_sample, steps_timed })
}
