//! Everything the loop carries from step to step, and its `resume.safetensors` image.
//!
//! The resume file holds the optimiser moments (and, for `sign`, the exact feedback
//! magnitudes) at the last checkpoint, plus the running metric sums bit for bit, so a
//! resumed run writes the same checkpoints and metrics as an uninterrupted one.

use super::{Optimizer, OptimizerKind, TrainConfig};
use crate::ckpt::{list_checkpoints, load_checkpoint, read_tensors, serialize_tensors, CkptError, RunDir, TensorMap};
use crate::error::Result;
use crate::net::{BatchStats, Feedback, Mlp, Model, Rule};
use std::collections::HashMap;

pub(super) struct LoopState {
    pub model: Model,
    pub optimizer: Optimizer,
    /// Kolen-Pollack only: one optimiser per feedback matrix.
    pub feedback_optimizers: Vec<Optimizer>,
    /// Optimiser steps taken.
    pub step: u64,
    /// Statistics since the last train-metrics record.
    pub log_stats: BatchStats,
    /// Statistics since the start of the epoch.
    pub epoch_stats: BatchStats,
}

impl LoopState {
    pub fn fresh(model: Model, kind: OptimizerKind) -> LoopState {
        let optimizer = Optimizer::new(kind, model.params.len());
        let feedback_optimizers = match (&model.feedback, model.rule) {
            (Feedback::Matrices(b), Rule::Kp) => b.iter().map(|bi| Optimizer::new(kind, bi.len())).collect(),
            _ => Vec::new(),
        };
        LoopState {
            model,
            optimizer,
            feedback_optimizers,
            step: 0,
            log_stats: BatchStats::default(),
            epoch_stats: BatchStats::default(),
        }
    }

    pub fn save_resume(&self, run: &RunDir) -> Result<()> {
        let mut tensors = TensorMap::new();
        let mut put = |name: String, v: &[f32]| {
            if !v.is_empty() {
                tensors.insert(name, (vec![v.len()], v.to_vec()));
            }
        };
        put("optimizer.m1".into(), &self.optimizer.m1);
        put("optimizer.m2".into(), &self.optimizer.m2);
        for (i, opt) in self.feedback_optimizers.iter().enumerate() {
            put(format!("feedback_optimizer.{i}.m1"), &opt.m1);
            put(format!("feedback_optimizer.{i}.m2"), &opt.m2);
        }
        if let Feedback::SignMagnitudes(r) = &self.model.feedback {
            for (i, ri) in r.iter().enumerate() {
                put(format!("layers.{i}.feedback_magnitude"), ri);
            }
        }
        let mut meta = HashMap::new();
        meta.insert("step".to_string(), self.step.to_string());
        meta.insert("optimizer.t".to_string(), self.optimizer.t.to_string());
        for (key, s) in [("log", self.log_stats), ("epoch", self.epoch_stats)] {
            meta.insert(format!("{key}.loss_sum_bits"), s.loss_sum.to_bits().to_string());
            meta.insert(format!("{key}.correct"), s.correct.to_string());
            meta.insert(format!("{key}.count"), s.count.to_string());
        }
        let path = run.resume_state();
        let bytes = serialize_tensors(&tensors, meta).map_err(|e| CkptError::invalid(&path, e.to_string()))?;
        crate::io::write_atomic(&path, &bytes).map_err(|e| CkptError::io(&path, e))?;
        Ok(())
    }

    /// Restores the loop at the checkpoint matching `resume.safetensors`; later checkpoints
    /// and metric records (written after it) are discarded, to be recomputed identically.
    pub fn resume(run: &RunDir, mlp: &Mlp, cfg: &TrainConfig) -> Result<LoopState> {
        let path = run.resume_state();
        let bad = |msg: String| CkptError::invalid(&path, msg);
        let (mut tensors, meta) = read_tensors(&path)?;
        let num = |key: &str| -> std::result::Result<u64, CkptError> {
            meta.get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(format!("missing or invalid metadata '{key}'")))
        };
        let step = num("step")?;
        let ckpt_path = run.checkpoint(step);
        if !ckpt_path.exists() {
            return Err(bad(format!("its checkpoint {} is missing; cannot resume", ckpt_path.display())).into());
        }
        let ckpt = load_checkpoint(&ckpt_path, Some(cfg.activation))?;
        if ckpt.model.mlp != *mlp {
            return Err(CkptError::invalid(&ckpt_path, "architecture differs from the run's configuration").into());
        }
        let mut state = LoopState::fresh(ckpt.model, cfg.optimizer);
        state.step = step;
        let mut take = |name: String, len: usize| -> std::result::Result<Vec<f32>, CkptError> {
            match tensors.remove(&name) {
                Some((_, v)) if v.len() == len => Ok(v),
                _ => Err(bad(format!("tensor {name} missing or of the wrong size"))),
            }
        };
        let restore =
            |opt: &mut Optimizer,
             prefix: &str,
             take: &mut dyn FnMut(String, usize) -> std::result::Result<Vec<f32>, CkptError>| {
                opt.m1 = take(format!("{prefix}.m1"), opt.m1.len())?;
                if !opt.m2.is_empty() {
                    opt.m2 = take(format!("{prefix}.m2"), opt.m2.len())?;
                }
                std::result::Result::<(), CkptError>::Ok(())
            };
        let t = num("optimizer.t")?;
        restore(&mut state.optimizer, "optimizer", &mut take)?;
        state.optimizer.t = t;
        for (i, opt) in state.feedback_optimizers.iter_mut().enumerate() {
            restore(opt, &format!("feedback_optimizer.{i}"), &mut take)?;
            opt.t = t;
        }
        if let Feedback::SignMagnitudes(r) = &mut state.model.feedback {
            for (i, ri) in r.iter_mut().enumerate() {
                *ri = take(format!("layers.{i}.feedback_magnitude"), ri.len())?;
            }
        }
        for (key, s) in [("log", &mut state.log_stats), ("epoch", &mut state.epoch_stats)] {
            *s = BatchStats {
                loss_sum: f64::from_bits(num(&format!("{key}.loss_sum_bits"))?),
                correct: num(&format!("{key}.correct"))? as usize,
                count: num(&format!("{key}.count"))? as usize,
            };
        }
        for (later, file) in list_checkpoints(run)?.into_iter().filter(|(s, _)| *s > step) {
            std::fs::remove_file(&file).map_err(|e| CkptError::io(&file, e))?;
            let _ = later;
        }
        run.truncate_metrics(step)?;
        Ok(state)
    }
}
