//! Optimisers over flat parameter vectors, in PyTorch's conventions.
//!
//! SGD with momentum: `g += wd p; v = m v + g; p -= lr v`.
//! Adam: `g += wd p; m1 = b1 m1 + (1-b1) g; m2 = b2 m2 + (1-b2) g^2;
//! p -= lr (m1 / (1-b1^t)) / (sqrt(m2 / (1-b2^t)) + eps)`.
//!
//! The gradient may arrive as several partial sums (one per batch chunk); they are
//! added inside the update, in a fixed order, so no separate reduction pass is needed.
//! Updates run over blocks in parallel; the result does not depend on the thread count.

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

    /// One update of `params` with the gradient `sum(parts)`; returns false if any updated
    /// parameter is not finite.
    pub fn step(&mut self, params: &mut [f32], parts: &[&[f32]], lr: f32, weight_decay: f32) -> bool {
        assert!(parts.iter().all(|g| g.len() == params.len()));
        self.t += 1;
        let offsets = (0..params.len()).step_by(BLOCK);
        match self.kind {
            OptimizerKind::Sgd { momentum } => params
                .par_chunks_mut(BLOCK)
                .zip(self.m1.par_chunks_mut(BLOCK))
                .zip(offsets.collect::<Vec<_>>())
                .map(|((p, v), at)| {
                    let mut finite = true;
                    for k in 0..p.len() {
                        let mut g = weight_decay * p[k];
                        for part in parts {
                            g += part[at + k];
                        }
                        v[k] = momentum * v[k] + g;
                        p[k] -= lr * v[k];
                        finite &= p[k].is_finite();
                    }
                    finite
                })
                .reduce(|| true, |a, b| a && b),
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let c1 = 1.0 - beta1.powi(self.t as i32);
                let c2 = 1.0 - beta2.powi(self.t as i32);
                params
                    .par_chunks_mut(BLOCK)
                    .zip(self.m1.par_chunks_mut(BLOCK))
                    .zip(self.m2.par_chunks_mut(BLOCK))
                    .zip(offsets.collect::<Vec<_>>())
                    .map(|(((p, m1), m2), at)| {
                        let mut finite = true;
                        for k in 0..p.len() {
                            let mut g = weight_decay * p[k];
                            for part in parts {
                                g += part[at + k];
                            }
                            m1[k] = beta1 * m1[k] + (1.0 - beta1) * g;
                            m2[k] = beta2 * m2[k] + (1.0 - beta2) * g * g;
                            p[k] -= lr * (m1[k] / c1) / ((m2[k] / c2).sqrt() + eps);
                            finite &= p[k].is_finite();
                        }
                        finite
                    })
                    .reduce(|| true, |a, b| a && b)
            }
        }
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
            // the gradient arrives in two parts
            assert!(opt.step(&mut p, &[&[g - 0.25], &[0.25]], lr, wd));
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
        opt.step(&mut p, &[&[3.0, -0.5, 1e-3]], 0.01, 0.0);
        for (got, want) in p.iter().zip([-0.01f32, 1.01, -2.01]) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn non_finite_updates_are_reported() {
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0 }, 2);
        let mut p = [0.0f32, 0.0];
        assert!(!opt.step(&mut p, &[&[f32::NAN, 0.0]], 0.1, 0.0));
    }
}
