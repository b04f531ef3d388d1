//! Optimisers over flat parameter vectors, in PyTorch's conventions.
//!
//! SGD with momentum: `g += wd p; v = m v + g; p -= lr v`.
//! Adam: `g += wd p; m1 = b1 m1 + (1-b1) g; m2 = b2 m2 + (1-b2) g^2;
//! p -= lr (m1 / (1-b1^t)) / (sqrt(m2 / (1-b2^t)) + eps)`.
//!
//! The element-wise update is [`OptimizerKind::update`], applied block by block (the
//! training loop fuses it into the gradient computation; see `engine.rs`).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Block size for the parallel update (elements); fixed so results never depend on threads.
const BLOCK: usize = 1 << 15;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd { momentum: f32 },
    Adam { beta1: f32, beta2: f32, eps: f32 },
}

/// Optimiser state for one flat parameter vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// Steps taken (Adam's bias correction).
    pub t: u64,
    /// SGD velocity or Adam's first moment.
    pub m1: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    pub m2: Vec<f32>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, len: usize) -> Optimizer {
        let m2 = match kind {
            OptimizerKind::Adam { .. } => vec![0.0; len],
            OptimizerKind::Sgd { .. } => Vec::new(),
        };
        Optimizer { kind, t: 0, m1: vec![0.0; len], m2 }
    }

    /// One update of `params` with gradient `grad`; returns false if any updated
    /// parameter is not finite. (The training loop fuses this into the gradient
    /// computation, block by block: see `engine.rs`.)
    pub fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f32, weight_decay: f32) -> bool {
        assert_eq!(grad.len(), params.len());
        self.t += 1;
        let (kind, t) = (self.kind, self.t);
        let m2_blocks: Vec<&mut [f32]> = if self.m2.is_empty() {
            params.chunks(BLOCK).map(|_| &mut [][..]).collect()
        } else {
            self.m2.chunks_mut(BLOCK).collect()
        };
        params
            .par_chunks_mut(BLOCK)
            .zip(self.m1.par_chunks_mut(BLOCK))
            .zip(m2_blocks)
            .zip(grad.par_chunks(BLOCK))
            .map(|(((p, m1), m2), g)| kind.update(t, p, m1, m2, g, lr, weight_decay))
            .reduce(|| true, |a, b| a && b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_follows_the_pytorch_recurrence() {
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, 1);
        let mut p = [1.0f32];
        let (lr, wd) = (0.1, 0.01);
        let (mut p_ref, mut v_ref) = (1.0f64, 0.0f64);
        for step in 0..5 {
            let g = 0.5 + step as f32;
            assert!(opt.step(&mut p, &[g], lr, wd));
            let g_ref = g as f64 + wd as f64 * p_ref;
            v_ref = 0.9 * v_ref + g_ref;
            p_ref -= lr as f64 * v_ref;
            assert!((p[0] as f64 - p_ref).abs() < 1e-5, "step {step}: {} vs {p_ref}", p[0]);
        }
    }

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        let mut opt = Optimizer::new(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 3);
        let mut p = [0.0f32, 1.0, -2.0];
        opt.step(&mut p, &[3.0, -0.5, 1e-3], 0.01, 0.0);
        for (got, want) in p.iter().zip([-0.01f32, 1.01, -2.01]) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn non_finite_updates_are_reported() {
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0 }, 2);
        let mut p = [0.0f32, 0.0];
        assert!(!opt.step(&mut p, &[f32::NAN, 0.0], 0.1, 0.0));
    }
}
