//! The training loop: minibatch SGD/Adam with any learning rule, checkpointing on a
//! schedule, metrics logging, divergence detection and exact resumption.
//!
//! Determinism: the shuffling of epoch `e` depends only on `(seed, e)`; each batch is
//! split into `chunks` fixed parts whose gradients are computed in parallel and summed
//! in a fixed order; so a run is bit-reproducible and `--resume` continues it exactly.

pub mod bench;
mod config;
mod engine;
mod optim;
mod state;

pub use config::{CkptSchedule, LrSchedule, TrainConfig};
pub use engine::{BatchEngine, StepOutcome};
pub use optim::{Optimizer, OptimizerKind};

use crate::ckpt::{CheckpointMeta, DataInfo, Divergence, RunDir, RunInfo, RunStatus};
use crate::data::{DataSplits, Dataset};
use crate::error::{Error, Result};
use crate::net::{alignment_angle_deg, evaluate, init_model, BatchStats, Mlp, Model};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::time::Instant;

/// Receives progress from the loop (a progress bar, log lines, or nothing).
pub trait Observer {
    fn start(&mut self, _first_step: u64, _total_steps: u64) {}
    /// After every optimiser step, with the running statistics since the last log record.
    fn step(&mut self, _step: u64, _running: &BatchStats) {}
    fn epoch_end(&mut self, _epoch: u64, _step: u64, _train: &BatchStats, _test: &BatchStats) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// How a call to [`train`] starts and stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunControl {
    /// Continue from the run's last consistent checkpoint instead of starting afresh.
    pub resume: bool,
    /// Stop (status `interrupted`) once this step is checkpointed; for tests of `--resume`.
    pub stop_after: Option<u64>,
}

/// Final figures of a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainSummary {
    pub status: RunStatus,
    pub steps: u64,
    pub epochs: u64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub train_loss_last_epoch: f64,
    pub train_accuracy_last_epoch: f64,
    pub seconds: f64,
    pub samples_per_s: f64,
    /// First logged step at which the training loss blew up (see [`loss_blowup`]).
    pub loss_blowup_step: Option<u64>,
}

/// How much the logged training loss must rise above its lowest earlier value to count as
/// a blow-up (a finite divergence: accuracy can stay high while the loss explodes).
pub const BLOWUP_FACTOR: f64 = 10.0;

/// The first training-metrics record whose loss exceeds [`BLOWUP_FACTOR`] times the lowest
/// training loss logged before it: `(step, loss)`, or `None` if the loss never blew up.
pub fn loss_blowup(metrics: &[serde_json::Value]) -> Option<(u64, f64)> {
    let mut lowest = f64::INFINITY;
    for r in metrics.iter().filter(|r| r["kind"] == "train") {
        let (Some(loss), Some(step)) = (r["train_loss"].as_f64(), r["step"].as_u64()) else { continue };
        if loss > BLOWUP_FACTOR * lowest {
            return Some((step, loss));
        }
        lowest = lowest.min(loss);
    }
    None
}

/// The architecture a configuration implies for the given data.
pub fn architecture(cfg: &TrainConfig, data: &DataSplits) -> Mlp {
    let mut sizes = vec![data.train.dim];
    sizes.extend(&cfg.hidden);
    sizes.push(data.train.classes);
    Mlp::new(&sizes, cfg.activation)
}

/// The training split a configuration uses (`--subset`: the first N samples).
pub fn training_split(cfg: &TrainConfig, data: &DataSplits) -> Result<Dataset> {
    match cfg.subset {
        Some(n) if n > data.train.len() => Err(Error::config(
            "--subset",
            format!("{n} exceeds the {} training samples of {}", data.train.len(), data.name),
        )),
        Some(n) => Ok(data.train.head(n)),
        None => Ok(data.train.head(data.train.len())),
    }
}

/// The permutation of `n` training samples used in epoch `epoch`.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0x5348_5546_0000_0000 | epoch);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    perm
}

/// Loss and accuracy of `model` over a dataset (all samples, file order).
pub fn evaluate_dataset(model: &Model, data: &Dataset) -> BatchStats {
    evaluate(&model.mlp, &model.params, data.len(), 500, |idx, x, y| data.fill_batch(idx, x, y))
}

/// Trains per `cfg` into `run`, from scratch or resuming. On divergence the run is
/// recorded as `diverged` (checkpoints kept) and [`Error::Diverged`] is returned.
pub fn train(
    cfg: &TrainConfig,
    data: &DataSplits,
    run: &RunDir,
    control: RunControl,
    observer: &mut dyn Observer,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let train_set = training_split(cfg, data)?;
    let mlp = architecture(cfg, data);
    let steps_per_epoch = train_set.len().div_ceil(cfg.batch) as u64;
    let total = steps_per_epoch * cfg.epochs;
    let ckpt_steps = cfg.ckpt_every.steps(steps_per_epoch, total);

    let mut info = RunInfo {
        format: "diag-run/1".into(),
        diag_version: env!("CARGO_PKG_VERSION").into(),
        status: RunStatus::Running,
        rule: cfg.rule,
        alpha: cfg.alpha,
        align_angle_deg: cfg.alpha.map(alignment_angle_deg),
        seed: cfg.seed,
        sizes: mlp.sizes().to_vec(),
        activation: cfg.activation,
        data: DataInfo {
            spec: cfg.data.clone(),
            fingerprint: data.fingerprint.clone(),
            train_samples: train_set.len(),
            test_samples: data.test.len(),
            input_dim: data.train.dim,
            classes: data.train.classes,
            subset: cfg.subset,
        },
        steps_per_epoch,
        total_steps: total,
        config: serde_json::to_value(cfg).expect("config serialises"),
        diverged: None,
        summary: None,
    };

    let mut loop_state = if control.resume {
        state::LoopState::resume(run, &mlp, cfg)?
    } else {
        std::fs::create_dir_all(&run.path).map_err(|e| Error::io(&run.path, e))?;
        run.write_info(&info)?;
        let _ = std::fs::remove_file(run.metrics());
        state::LoopState::fresh(init_model(&mlp, cfg.rule, cfg.alpha.unwrap_or(0.0), cfg.seed), cfg.optimizer)
    };
    run.write_info(&info)?;

    let meta = |step| CheckpointMeta {
        step,
        rule: cfg.rule,
        alpha: cfg.alpha,
        seed: Some(cfg.seed),
        activation: cfg.activation,
    };
    let save = |st: &state::LoopState| -> Result<()> {
        crate::ckpt::save_checkpoint(&run.checkpoint(st.step), &st.model, &meta(st.step))?;
        st.save_resume(run)
    };

    if loop_state.step == 0 {
        let test = evaluate_dataset(&loop_state.model, &data.test);
        run.append_metrics(&json!({"kind": "test", "step": 0, "epoch": 0, "test_loss": test.mean_loss(), "test_accuracy": test.accuracy()}))?;
        save(&loop_state)?;
    }

    let mut engine = BatchEngine::new(&loop_state.model, cfg.batch, cfg.chunks);
    let mut perm_epoch = u64::MAX;
    let mut perm = Vec::new();
    let started = Instant::now();
    let first_step = loop_state.step;
    observer.start(first_step, total);

    let mut last_test = BatchStats::default();
    while loop_state.step < total {
        let step = loop_state.step;
        let epoch = step / steps_per_epoch;
        if epoch != perm_epoch {
            perm = epoch_permutation(train_set.len(), cfg.seed, epoch);
            perm_epoch = epoch;
        }
        let b = (step % steps_per_epoch) as usize;
        let idx = &perm[b * cfg.batch..((b + 1) * cfg.batch).min(perm.len())];

        let st = &mut loop_state;
        let lr = cfg.schedule.lr(cfg.lr, step, total);
        let outcome = engine.step(
            &mut st.model,
            &mut st.optimizer,
            &mut st.feedback_optimizers,
            &train_set,
            idx,
            lr,
            cfg.weight_decay,
        );
        let (stats, finite) = (outcome.stats, outcome.params_finite);
        if !outcome.loss_finite {
            return diverge(run, &mut info, step, "non-finite loss");
        }
        if let Some(limit) = cfg.divergence_loss.filter(|&l| stats.mean_loss() > l) {
            let what = format!("batch loss {:.3e} exceeds --divergence-loss {limit:e}", stats.mean_loss());
            return diverge(run, &mut info, step, &what);
        }
        st.step += 1;
        st.log_stats.add(stats);
        st.epoch_stats.add(stats);
        observer.step(st.step, &st.log_stats);
        if !finite {
            return diverge(run, &mut info, st.step, "non-finite weights");
        }
        if st.step % cfg.log_every == 0 {
            let s = st.log_stats;
            run.append_metrics(
                &json!({"kind": "train", "step": st.step, "epoch": st.step as f64 / steps_per_epoch as f64,
                "lr": lr, "train_loss": s.mean_loss(), "train_accuracy": s.accuracy(), "samples": s.count}),
            )?;
            st.log_stats = BatchStats::default();
        }
        if st.step % steps_per_epoch == 0 {
            let e = st.step / steps_per_epoch;
            last_test = evaluate_dataset(&st.model, &data.test);
            let tr = st.epoch_stats;
            run.append_metrics(
                &json!({"kind": "test", "step": st.step, "epoch": e, "test_loss": last_test.mean_loss(),
                "test_accuracy": last_test.accuracy(), "train_loss": tr.mean_loss(), "train_accuracy": tr.accuracy()}),
            )?;
            observer.epoch_end(e, st.step, &tr, &last_test);
            if st.step < total {
                st.epoch_stats = BatchStats::default();
            }
        }
        if ckpt_steps.contains(&st.step) {
            save(st)?;
        }
        if control.stop_after == Some(st.step) && st.step < total {
            info.status = RunStatus::Interrupted;
            run.write_info(&info)?;
            return Ok(summary(RunStatus::Interrupted, st, cfg, &last_test, started, first_step, steps_per_epoch));
        }
    }

    if total > 0 && last_test.count == 0 {
        last_test = evaluate_dataset(&loop_state.model, &data.test);
    }
    let mut result = summary(RunStatus::Completed, &loop_state, cfg, &last_test, started, first_step, steps_per_epoch);
    result.loss_blowup_step = loss_blowup(&crate::ckpt::read_metrics(run)?).map(|(step, _)| step);
    info.status = RunStatus::Completed;
    info.summary = Some(serde_json::to_value(&result).expect("summary serialises"));
    run.write_info(&info)?;
    Ok(result)
}

fn summary(
    status: RunStatus,
    st: &state::LoopState,
    cfg: &TrainConfig,
    test: &BatchStats,
    started: Instant,
    first_step: u64,
    spe: u64,
) -> TrainSummary {
    let seconds = started.elapsed().as_secs_f64();
    let samples = (st.step - first_step) as f64 * cfg.batch as f64;
    TrainSummary {
        status,
        steps: st.step,
        epochs: st.step / spe,
        test_loss: test.mean_loss(),
        test_accuracy: test.accuracy(),
        train_loss_last_epoch: st.epoch_stats.mean_loss(),
        train_accuracy_last_epoch: st.epoch_stats.accuracy(),
        seconds,
        samples_per_s: samples / seconds.max(1e-9),
        loss_blowup_step: None,
    }
}

fn diverge(run: &RunDir, info: &mut RunInfo, step: u64, what: &str) -> Result<TrainSummary> {
    info.status = RunStatus::Diverged;
    info.diverged = Some(Divergence { step, what: what.to_string() });
    run.write_info(info)?;
    run.append_metrics(&json!({"kind": "diverged", "step": step, "what": what}))?;
    let last_ckpt = crate::ckpt::list_checkpoints(run)?.last().map_or(0, |(s, _)| *s);
    Err(Error::Diverged { step, what: what.to_string(), last_ckpt, run_dir: run.path.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loss_blowup_is_the_first_tenfold_rise_over_the_lowest_loss_so_far() {
        let rec = |step: u64, loss: f64| json!({"kind": "train", "step": step, "train_loss": loss});
        let calm = [rec(1, 2.3), rec(2, 0.5), rec(3, 0.9), rec(4, 4.9)];
        assert_eq!(loss_blowup(&calm), None);
        let hot =
            [rec(1, 2.3), json!({"kind": "test", "step": 2, "test_loss": 99.0}), rec(3, 0.5), rec(4, 5.1), rec(5, 1e9)];
        assert_eq!(loss_blowup(&hot), Some((4, 5.1)));
    }
}
