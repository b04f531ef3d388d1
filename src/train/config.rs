//! The validated training configuration, stored verbatim in `run.json`.

use super::optim::OptimizerKind;
use crate::error::{Error, Result};
use crate::net::{Activation, Rule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Learning-rate schedule over the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    Constant,
    /// `lr_t = lr (1 + cos(pi t / T)) / 2` over the `T` steps of the run.
    Cosine,
}

impl LrSchedule {
    pub fn lr(self, base: f32, step: u64, total: u64) -> f32 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let frac = step as f64 / total.max(1) as f64;
                (base as f64 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())) as f32
            }
        }
    }
}

impl FromStr for LrSchedule {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "constant" => Ok(LrSchedule::Constant),
            "cosine" => Ok(LrSchedule::Cosine),
            _ => Err(format!("unknown schedule '{s}' (expected constant or cosine)")),
        }
    }
}

impl fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Cosine => "cosine",
        })
    }
}

/// When to write checkpoints. Step 0 (the initialisation) and the final step are always saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "every", content = "n", rename_all = "lowercase")]
pub enum CkptSchedule {
    /// Every `n` optimiser steps.
    Steps(u64),
    /// At the end of every `n`-th epoch.
    Epochs(u64),
    /// About `n` checkpoints spaced evenly in log(step): dense early, where alignment moves fastest.
    Log(u64),
}

impl CkptSchedule {
    /// The set of steps (including 0 and `total`) at which to checkpoint.
    pub fn steps(self, steps_per_epoch: u64, total: u64) -> BTreeSet<u64> {
        let mut set: BTreeSet<u64> = [0, total].into_iter().collect();
        match self {
            CkptSchedule::Steps(n) => set.extend((n..total).step_by(n as usize)),
            CkptSchedule::Epochs(n) => set.extend((1..).map(|e| e * n * steps_per_epoch).take_while(|&s| s < total)),
            CkptSchedule::Log(n) => {
                if total > 1 && n > 1 {
                    let ln_total = (total as f64).ln();
                    set.extend((0..n).map(|k| (ln_total * k as f64 / (n - 1) as f64).exp().round() as u64));
                }
            }
        }
        set.retain(|&s| s <= total);
        set
    }
}

impl FromStr for CkptSchedule {
    type Err = String;
    /// `500` (steps), `2ep` (epochs), `log:30` (log-spaced count).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let positive = |v: &str| -> std::result::Result<u64, String> {
            match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "'{s}' is not a checkpoint schedule: expected N (steps), Nep (epochs) or log:N, with N > 0"
                )),
            }
        };
        if let Some(n) = s.strip_prefix("log:") {
            Ok(CkptSchedule::Log(positive(n)?))
        } else if let Some(n) = s.strip_suffix("ep") {
            Ok(CkptSchedule::Epochs(positive(n)?))
        } else {
            Ok(CkptSchedule::Steps(positive(s)?))
        }
    }
}

impl fmt::Display for CkptSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CkptSchedule::Steps(n) => write!(f, "{n}"),
            CkptSchedule::Epochs(n) => write!(f, "{n}ep"),
            CkptSchedule::Log(n) => write!(f, "log:{n}"),
        }
    }
}

/// Everything that determines a training run. Two runs with equal configurations (and
/// data) produce bit-identical checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// `--data` value.
    pub data: String,
    /// Use only the first N training samples.
    pub subset: Option<usize>,
    pub rule: Rule,
    /// Soft-alignment degree for `ifa` (initial cosine between `W_l^T` and `B_l`).
    pub alpha: Option<f64>,
    /// Hidden widths; input and output widths come from the data.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub seed: u64,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub weight_decay: f32,
    pub schedule: LrSchedule,
    pub batch: usize,
    pub epochs: u64,
    pub ckpt_every: CkptSchedule,
    /// Write a train-metrics record every this many steps.
    pub log_every: u64,
    /// Optional: a batch mean loss above this (nats) also counts as divergence. By default
    /// only a non-finite loss or weights do (`SPEC.md`); a finite blow-up is a result to
    /// record, since accuracy can stay high while the loss explodes.
    #[serde(default)]
    pub divergence_loss: Option<f64>,
    /// A step's work is split into this many groups computed in parallel, each owning a
    /// fixed slice of every layer's units (results never depend on the thread count).
    pub chunks: usize,
}

impl TrainConfig {
    /// Checks every value a user can set; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, flag: &str, msg: String| {
            if ok {
                Ok(())
            } else {
                Err(Error::config(flag, msg))
            }
        };
        check(!self.hidden.is_empty(), "--hidden", "needs at least one hidden width, e.g. --hidden 512,512".into())?;
        check(self.hidden.iter().all(|&d| d > 0), "--hidden", "widths must be positive".into())?;
        match (self.rule, self.alpha) {
            (Rule::Ifa, None) => {
                return Err(Error::config("--align", "rule ifa needs --align ALPHA or --align-angle DEG"))
            }
            (Rule::Ifa, Some(a)) => check((0.0..=1.0).contains(&a), "--align", format!("{a} is outside [0, 1]"))?,
            (rule, Some(_)) => {
                return Err(Error::config("--align", format!("only rule ifa takes an alignment (rule is {rule})")))
            }
            _ => {}
        }
        check(self.lr.is_finite() && self.lr > 0.0, "--lr", format!("{} must be a positive number", self.lr))?;
        check(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "--weight-decay",
            format!("{} must be >= 0", self.weight_decay),
        )?;
        match self.optimizer {
            OptimizerKind::Sgd { momentum } => {
                check((0.0..1.0).contains(&momentum), "--momentum", format!("{momentum} must lie in [0, 1)"))?
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                check(
                    (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2),
                    "--betas",
                    "each beta must lie in [0, 1)".into(),
                )?;
                check(eps > 0.0, "--adam-eps", "must be positive".into())?;
            }
        }
        check(self.batch > 0, "--batch", "must be positive".into())?;
        check(self.epochs > 0, "--epochs", "must be positive".into())?;
        check(self.log_every > 0, "--log-every", "must be positive".into())?;
        check(self.chunks > 0 && self.chunks <= self.batch, "--chunks", format!("must lie in 1..={}", self.batch))?;
        check(self.subset != Some(0), "--subset", "must be positive".into())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_schedules_always_hold_start_and_end() {
        let s: Vec<u64> = CkptSchedule::Steps(40).steps(30, 100).into_iter().collect();
        assert_eq!(s, [0, 40, 80, 100]);
        let e: Vec<u64> = CkptSchedule::Epochs(1).steps(30, 90).into_iter().collect();
        assert_eq!(e, [0, 30, 60, 90]);
        let l: Vec<u64> = CkptSchedule::Log(5).steps(10, 10_000).into_iter().collect();
        assert_eq!(l, [0, 1, 10, 100, 1000, 10_000]);
    }

    #[test]
    fn schedules_parse_and_print() {
        for s in ["250", "2ep", "log:30"] {
            assert_eq!(s.parse::<CkptSchedule>().unwrap().to_string(), s);
        }
        assert!("0ep".parse::<CkptSchedule>().is_err());
        assert!("log:x".parse::<CkptSchedule>().is_err());
    }

    #[test]
    fn cosine_schedule_starts_at_lr_and_ends_at_zero() {
        assert_eq!(LrSchedule::Cosine.lr(0.1, 0, 100), 0.1);
        assert!((LrSchedule::Cosine.lr(0.1, 50, 100) - 0.05).abs() < 1e-7);
        assert!(LrSchedule::Cosine.lr(0.1, 100, 100).abs() < 1e-7);
    }
}
