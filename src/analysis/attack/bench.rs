//! `diag bench robustness`: PGD-20 (L-inf, eps 0.1, step 2.5 eps / 20, random start, true
//! gradient) over the Fashion-MNIST test set on 784-512x4-10, in images per second.
//!
//! The net is either a checkpoint or a bp net trained for one epoch here (a realistic
//! decision boundary matters: early exit makes the cost depend on how fast samples break).
//! The reference is timed in the same run: the GEMMs alone of exactly the forward and
//! backward passes the attack made, each core on its own whole batches, so
//! `ratio_to_gemm_only` says how close the attack comes to pure GEMM time on this machine.
//! This machine's speed fluctuates, so both are medians over repetitions. A single run
//! without early exit (every sample through all 20 steps) is timed too, for comparison with
//! tools that always run every step.

use super::{evaluate_robustness, AttackSettings, RobustnessReport};
use crate::ckpt::{list_checkpoints, load_checkpoint, RunDir};
use crate::data::DataSplits;
use crate::error::{Error, Result};
use crate::linalg::{gemm, view, view_mut};
use crate::net::{Activation, Mlp, Model, Rule};
use crate::stats::median_finite;
use crate::train::{train, CkptSchedule, LrSchedule, OptimizerKind, RunControl, Silent, TrainConfig};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Budget of the benchmark.
pub const BENCH_EPS: f32 = 0.1;

/// The result of `diag bench robustness`.
#[derive(Clone, Debug, Serialize)]
pub struct RobustnessBench {
    /// The attacked net: a checkpoint path, or how it was trained.
    pub model: String,
    pub sizes: Vec<usize>,
    pub eps: f32,
    pub steps: usize,
    pub images: usize,
    /// Median wall time of one full evaluation (clean pass and attack), seconds.
    pub seconds: f64,
    pub images_per_s: f64,
    /// Every repetition's wall time, seconds.
    pub seconds_each: Vec<f64>,
    pub clean_accuracy: f64,
    pub robust_accuracy: f64,
    /// Mean input gradients computed per image (at most 20 with early exit).
    pub gradient_steps_per_image: f64,
    /// GEMM throughput of the attack, counting the flops of the passes it made (GFLOP/s).
    pub gflops: f64,
    /// Median time of the same passes' GEMMs alone, seconds.
    pub gemm_only_seconds: f64,
    pub gemm_only_images_per_s: f64,
    /// Median over repetitions of the reference time over the attack time, each pair run
    /// back to back (1 would be pure GEMM time).
    pub ratio_to_gemm_only: f64,
    /// One run with early exit off (every sample through all 20 steps), images per second.
    pub images_per_s_without_early_exit: f64,
    pub threads: usize,
}

impl RobustnessBench {
    pub fn describe(&self) -> String {
        format!(
            "bench robustness PGD-20 linf eps {} on {:?} ({}), {} images: {:.0} images/s (median {:.2} s of {:?}); \
             clean accuracy {:.4}, robust accuracy {:.4}; {:.1} gradient steps/image, {:.0} GFLOP/s; GEMM-only \
             reference {:.0} images/s, ratio {:.2}; without early exit {:.0} images/s; {} threads",
            self.eps,
            self.sizes,
            self.model,
            self.images,
            self.images_per_s,
            self.seconds,
            self.seconds_each.iter().map(|s| (s * 100.0).round() / 100.0).collect::<Vec<_>>(),
            self.clean_accuracy,
            self.robust_accuracy,
            self.gradient_steps_per_image,
            self.gflops,
            self.gemm_only_images_per_s,
            self.ratio_to_gemm_only,
            self.images_per_s_without_early_exit,
            self.threads
        )
    }
}

/// A 784-512x4-10 (or the data's shape) bp net after one epoch of SGD, trained in a
/// temporary run directory that is removed afterwards.
pub fn train_one_epoch(data: &DataSplits) -> Result<Model> {
    let cfg = TrainConfig {
        data: data.name.clone(),
        subset: None,
        rule: Rule::Bp,
        alpha: None,
        hidden: vec![512; 4],
        activation: Activation::Relu,
        seed: 0,
        optimizer: OptimizerKind::Sgd { momentum: 0.9 },
        lr: 0.01,
        weight_decay: 0.0,
        schedule: LrSchedule::Constant,
        batch: 128,
        epochs: 1,
        ckpt_every: CkptSchedule::Epochs(1),
        log_every: 100,
        divergence_loss: None,
        chunks: 2,
    };
    let dir = std::env::temp_dir().join(format!("diag-bench-robustness-{}", std::process::id()));
    let run = RunDir::new(&dir);
    let trained = train(&cfg, data, &run, RunControl::default(), &mut Silent).and_then(|_| {
        let (_, last) =
            list_checkpoints(&run)?.pop().ok_or_else(|| Error::config("bench", "training wrote no checkpoint"))?;
        Ok(load_checkpoint(&last, None)?.model)
    });
    let _ = std::fs::remove_dir_all(&dir);
    trained
}

/// Times PGD-20 at eps 0.1 over `data.test` (after one warm-up run, `repetitions` times,
/// at least 1, each followed by its GEMM-only reference) on the checkpoint, or on a net
/// trained for one epoch.
pub fn pgd_throughput(data: &DataSplits, checkpoint: Option<&Path>, repetitions: usize) -> Result<RobustnessBench> {
    let (model, name) = match checkpoint {
        Some(path) => (load_checkpoint(path, None)?.model, path.display().to_string()),
        None => (train_one_epoch(data)?, "bp, trained 1 epoch (SGD 0.9, lr 0.01, batch 128, seed 0)".to_string()),
    };
    let settings = AttackSettings::pgd(vec![BENCH_EPS]);
    let images = data.test.len();

    // A first run warms up and counts the passes the reference must time.
    let report: RobustnessReport = evaluate_robustness(&model, &data.test, &settings)?;
    let at_eps = &report.per_eps[0];
    // The clean pass is one forward per image; the attack's passes are counted by the engine.
    let forward = images as u64 + at_eps.forward_passes;
    let backward = at_eps.gradient_passes;

    // Attack and reference alternate, so both see the same machine.
    let (mut seconds_each, mut reference, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repetitions.max(1) {
        let start = Instant::now();
        evaluate_robustness(&model, &data.test, &settings)?;
        let attack_seconds = start.elapsed().as_secs_f64();
        let gemm_seconds = gemm_only_seconds(&model.mlp, forward, backward, settings.batch);
        seconds_each.push(attack_seconds);
        reference.push(gemm_seconds);
        ratios.push(gemm_seconds / attack_seconds);
    }
    let seconds = median_finite(&seconds_each);
    let gemm_only = median_finite(&reference);

    let no_exit = AttackSettings { early_exit: false, ..settings.clone() };
    let start = Instant::now();
    evaluate_robustness(&model, &data.test, &no_exit)?;
    let without_early_exit = start.elapsed().as_secs_f64();

    let flops = (forward + backward) as f64 * pass_flops(&model.mlp);
    Ok(RobustnessBench {
        model: name,
        sizes: model.mlp.sizes().to_vec(),
        eps: BENCH_EPS,
        steps: settings.steps,
        images,
        seconds,
        images_per_s: images as f64 / seconds,
        seconds_each,
        clean_accuracy: report.clean_accuracy,
        robust_accuracy: at_eps.robust_accuracy,
        gradient_steps_per_image: backward as f64 / images as f64,
        gflops: flops / seconds / 1e9,
        gemm_only_seconds: gemm_only,
        gemm_only_images_per_s: images as f64 / gemm_only,
        ratio_to_gemm_only: median_finite(&ratios),
        images_per_s_without_early_exit: images as f64 / without_early_exit,
        threads: rayon::current_num_threads(),
    })
}

/// GEMM flops of one sample's forward pass; the backward pass to the input costs the same.
fn pass_flops(mlp: &Mlp) -> f64 {
    2.0 * (0..mlp.num_layers()).map(|i| mlp.layer_dims(i)).map(|(din, dout)| (din * dout) as f64).sum::<f64>()
}

/// Seconds for the GEMMs alone of `forward` forward and `backward` backward sample passes,
/// in full batches of `batch`, split evenly over the rayon threads (each its own products).
fn gemm_only_seconds(mlp: &Mlp, forward: u64, backward: u64, batch: usize) -> f64 {
    let threads = rayon::current_num_threads().max(1) as u64;
    let batches = |passes: u64| passes.div_ceil(batch as u64).div_ceil(threads);
    let (fwd_batches, bwd_batches) = (batches(forward), batches(backward));
    let max_d = *mlp.sizes().iter().max().expect("sizes");
    let weights = crate::train::bench::synthetic_weights(mlp);
    let start = Instant::now();
    (0..threads).into_par_iter().for_each(|_| {
        // Constant inputs (no chaining), so values never drift into denormals.
        let input = vec![0.5f32; max_d * batch];
        let mut out = vec![0f32; max_d * batch];
        for _ in 0..fwd_batches {
            for (i, w) in weights.iter().enumerate() {
                let (din, dout) = mlp.layer_dims(i);
                gemm(
                    view_mut(&mut out, dout, batch),
                    false,
                    view(w, din, dout).transpose(),
                    view(&input, din, batch),
                    1.0,
                );
            }
        }
        for _ in 0..bwd_batches {
            for (i, w) in weights.iter().enumerate().rev() {
                let (din, dout) = mlp.layer_dims(i);
                gemm(view_mut(&mut out, din, batch), false, view(w, din, dout), view(&input, dout, batch), 1.0);
            }
        }
        std::hint::black_box(&out);
    });
    start.elapsed().as_secs_f64()
}
