//! Loss-landscape slices (`SPEC.md` section 5): `L(theta + s d1)` and
//! `L(theta + s d1 + t d2)` (mean softmax cross-entropy, and accuracy) on a grid of
//! `(s, t)`, over a fixed evaluation set.
//!
//! Directions:
//! - [`filter_normalized_direction`]: a standard-normal direction whose every row is
//!   rescaled to the norm of the same row of `W_l`, `d_{l,o} <- d_{l,o} ||W_{l,o}|| /
//!   ||d_{l,o}||` (row `o` of `W_l` is output unit `o`'s incoming weights: column `o` of
//!   the stored `W_l^T` block); bias directions are zero;
//! - any given vector, such as the top Hessian eigenvector (used as it is: a unit
//!   eigenvector makes `s` a distance in parameter space);
//! - [`line_direction`]: `theta_final - theta_init`, so that `theta_init + s d` runs
//!   from the initial (`s = 0`) to the final (`s = 1`) weights.
//!
//! Every point is evaluated with [`crate::net::evaluate`], the one definition of the
//! loss. Grid points run in parallel (rayon), each worker with one parameter buffer;
//! results do not depend on the thread count.

use crate::net::{evaluate, BatchStats, Mlp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A uniform grid `start:end:points` (both ends included), e.g. `-1:1:51`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridSpec {
    pub start: f64,
    pub end: f64,
    pub points: usize,
}

impl GridSpec {
    /// The grid values; `start` and `end` are hit exactly, and so is `0` whenever it is a
    /// grid point (a value within round-off of zero is snapped to it, so the checkpoint
    /// itself is always evaluated when the grid passes through it).
    pub fn values(&self) -> Vec<f64> {
        if self.points == 1 {
            return vec![self.start];
        }
        let last = (self.points - 1) as f64;
        let tiny = 1e-9 * (self.end - self.start).abs();
        (0..self.points)
            .map(|i| {
                let f = i as f64 / last;
                let v = self.start * (1.0 - f) + self.end * f;
                if v.abs() <= tiny {
                    0.0
                } else {
                    v
                }
            })
            .collect()
    }
}

impl FromStr for GridSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [start, end, points] = parts[..] else {
            return Err(format!("grid '{s}' is not START:END:POINTS (e.g. -1:1:51)"));
        };
        let number = |text: &str, what: &str| -> Result<f64, String> {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("grid '{s}': {what} '{text}' is not a finite number"))
        };
        let (start, end) = (number(start, "start")?, number(end, "end")?);
        let points: usize = points
            .trim()
            .parse()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(|| format!("grid '{s}': points '{points}' is not a positive whole number"))?;
        if points > 1 && start >= end {
            return Err(format!("grid '{s}': start must be below end"));
        }
        Ok(GridSpec { start, end, points })
    }
}

impl fmt::Display for GridSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.end, self.points)
    }
}

/// The evaluation set of a slice: `x` is `d_0 x N` column-major, `labels` has `N` entries.
#[derive(Clone, Copy, Debug)]
pub struct EvalSet<'a> {
    pub x: &'a [f32],
    pub labels: &'a [u8],
    /// Samples per evaluation batch.
    pub batch: usize,
}

impl EvalSet<'_> {
    /// Loss and accuracy of `params` on the set, by [`evaluate`].
    pub fn stats(&self, mlp: &Mlp, params: &[f32]) -> BatchStats {
        let d0 = mlp.input_dim();
        evaluate(mlp, params, self.labels.len(), self.batch, |indices, x, y| {
            for (j, &i) in indices.iter().enumerate() {
                x[j * d0..(j + 1) * d0].copy_from_slice(&self.x[i * d0..(i + 1) * d0]);
                y[j] = self.labels[i];
            }
        })
    }
}

/// A 1-D slice `L(theta + s d)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slice1d {
    pub grid: GridSpec,
    /// The step sizes `s`.
    pub s: Vec<f64>,
    /// Mean cross-entropy (nats) at each `s`.
    pub loss: Vec<f64>,
    /// Accuracy (fraction in [0, 1]) at each `s`.
    pub accuracy: Vec<f64>,
}

/// A 2-D slice `L(theta + s d1 + t d2)`; `loss[j][i]` is the value at `(s[i], t[j])`
/// (rows follow `t`, as contour plots expect).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slice2d {
    pub grid_s: GridSpec,
    pub grid_t: GridSpec,
    pub s: Vec<f64>,
    pub t: Vec<f64>,
    /// Mean cross-entropy (nats), `loss[j][i]` at `(s[i], t[j])`.
    pub loss: Vec<Vec<f64>>,
    /// Accuracy (fraction in [0, 1]), same indexing.
    pub accuracy: Vec<Vec<f64>>,
}

/// A random direction, filter-normalised against `params` (see the module docs), drawn
/// with ChaCha8 from `seed`.
pub fn filter_normalized_direction(mlp: &Mlp, params: &[f32], seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut direction: Vec<f32> = (0..mlp.num_params())
        .map(|_| <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng) as f32)
        .collect();
    filter_normalize(mlp, params, &mut direction);
    direction
}

/// Rescales each row of each weight direction to the norm of the same row of `W_l`
/// (a row with zero norm in either stays zero) and zeroes the bias directions.
pub fn filter_normalize(mlp: &Mlp, params: &[f32], direction: &mut [f32]) {
    assert_eq!(params.len(), mlp.num_params(), "parameters do not match the network");
    assert_eq!(direction.len(), mlp.num_params(), "direction does not match the network");
    for i in 0..mlp.num_layers() {
        let (din, _) = mlp.layer_dims(i);
        let range = mlp.weight_range(i);
        let rows = params[range.clone()].chunks_exact(din).zip(direction[range].chunks_exact_mut(din));
        for (weight_row, direction_row) in rows {
            let weight_norm = crate::linalg::norm(weight_row);
            let direction_norm = crate::linalg::norm(direction_row);
            let factor = if direction_norm > 0.0 { (weight_norm / direction_norm) as f32 } else { 0.0 };
            for d in direction_row.iter_mut() {
                *d *= factor;
            }
        }
        direction[mlp.bias_range(i)].fill(0.0);
    }
}

/// `to - from`: the straight line from `from` (`s = 0`) to `to` (`s = 1`).
pub fn line_direction(from: &[f32], to: &[f32]) -> Vec<f32> {
    assert_eq!(from.len(), to.len(), "parameter vectors differ in length");
    to.iter().zip(from).map(|(&b, &a)| b - a).collect()
}

/// `L(base + s d)` for every `s` of `grid`.
pub fn slice_1d(mlp: &Mlp, base: &[f32], direction: &[f32], grid: GridSpec, set: &EvalSet<'_>) -> Slice1d {
    let s = grid.values();
    let points: Vec<(f64, f64)> = s.iter().map(|&si| (si, 0.0)).collect();
    let stats = evaluate_points(mlp, base, direction, &[], &points, set);
    Slice1d {
        grid,
        s,
        loss: stats.iter().map(BatchStats::mean_loss).collect(),
        accuracy: stats.iter().map(BatchStats::accuracy).collect(),
    }
}

/// `L(base + s d1 + t d2)` for every `(s, t)` of `grid_s x grid_t`.
pub fn slice_2d(
    mlp: &Mlp,
    base: &[f32],
    d1: &[f32],
    d2: &[f32],
    grid_s: GridSpec,
    grid_t: GridSpec,
    set: &EvalSet<'_>,
) -> Slice2d {
    let (s, t) = (grid_s.values(), grid_t.values());
    let points: Vec<(f64, f64)> = t.iter().flat_map(|&tj| s.iter().map(move |&si| (si, tj))).collect();
    let stats = evaluate_points(mlp, base, d1, d2, &points, set);
    let rows = |f: fn(&BatchStats) -> f64| stats.chunks(s.len()).map(|row| row.iter().map(f).collect()).collect();
    Slice2d { grid_s, grid_t, loss: rows(BatchStats::mean_loss), accuracy: rows(BatchStats::accuracy), s, t }
}

/// Statistics at `base + s d1 + t d2` for each `(s, t)`, in order; `d2` may be empty
/// (a 1-D slice). One parameter buffer per rayon worker.
fn evaluate_points(
    mlp: &Mlp,
    base: &[f32],
    d1: &[f32],
    d2: &[f32],
    points: &[(f64, f64)],
    set: &EvalSet<'_>,
) -> Vec<BatchStats> {
    assert_eq!(base.len(), mlp.num_params(), "parameters do not match the network");
    assert_eq!(d1.len(), base.len(), "direction does not match the network");
    assert!(d2.is_empty() || d2.len() == base.len(), "second direction does not match the network");
    points
        .par_iter()
        .map_init(
            || vec![0f32; base.len()],
            |params, &(s, t)| {
                let (s, t) = (s as f32, t as f32);
                for ((p, &b), &u) in params.iter_mut().zip(base).zip(d1) {
                    *p = b + s * u;
                }
                if !d2.is_empty() {
                    for (p, &w) in params.iter_mut().zip(d2) {
                        *p += t * w;
                    }
                }
                set.stats(mlp, params)
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_spec_parses_and_hits_its_ends_and_zero() {
        let grid: GridSpec = "-1:1:51".parse().unwrap();
        let values = grid.values();
        assert_eq!(values.len(), 51);
        assert_eq!((values[0], values[25], values[50]), (-1.0, 0.0, 1.0));
        assert_eq!(grid.to_string(), "-1:1:51");
        assert_eq!("0.5:0.5:1".parse::<GridSpec>().unwrap().values(), vec![0.5]);
        // an asymmetric grid through zero hits it exactly too
        let skew: GridSpec = "-0.25:1.25:31".parse().unwrap();
        assert_eq!(skew.values()[5], 0.0);
        assert_eq!(skew.values()[30], 1.25);
        for bad in ["1:2", "a:1:3", "1:-1:5", "-1:1:0", "-1:1:x", "-1:inf:3"] {
            assert!(bad.parse::<GridSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filter_normalised_rows_have_the_norm_of_their_weight_rows() {
        let mlp = Mlp::new(&[5, 4, 3], crate::net::Activation::Relu);
        let params: Vec<f32> = (0..mlp.num_params()).map(|k| (k as f32 * 0.7).sin()).collect();
        let d = filter_normalized_direction(&mlp, &params, 11);
        for i in 0..mlp.num_layers() {
            let (din, dout) = mlp.layer_dims(i);
            let w = &params[mlp.weight_range(i)];
            let dw = &d[mlp.weight_range(i)];
            for o in 0..dout {
                let row = o * din..(o + 1) * din;
                let (nw, nd) = (crate::linalg::norm(&w[row.clone()]), crate::linalg::norm(&dw[row]));
                assert!((nw - nd).abs() < 1e-5 * nw, "layer {i} row {o}: {nw} vs {nd}");
            }
            assert!(d[mlp.bias_range(i)].iter().all(|&b| b == 0.0));
        }
        assert_eq!(d, filter_normalized_direction(&mlp, &params, 11));
        assert_ne!(d, filter_normalized_direction(&mlp, &params, 12));
    }
}
