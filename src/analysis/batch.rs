//! A fixed evaluation batch: the same samples for every checkpoint of a run, so that a
//! quantity plotted against training step changes only because the weights did.
//!
//! The samples are `n` distinct training samples chosen by `seed` with
//! [`Dataset::sample_indices`] (ascending file order), scaled to [0, 1] by
//! [`Dataset::fill_batch`]. Inputs are stored `d_0 x n` column-major (one sample per
//! column), the layout every forward pass in `diag` takes.

use crate::ckpt::CkptError;
use crate::data::Dataset;
use crate::net::Mlp;
use std::path::Path;

/// Inputs and labels of a fixed set of samples.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalBatch {
    /// Indices of the samples in the data set they came from, ascending.
    pub indices: Vec<usize>,
    /// Inputs, `dim x len` column-major (sample `j` at `x[j * dim..(j + 1) * dim]`).
    pub x: Vec<f32>,
    /// Labels, one per sample.
    pub y: Vec<u8>,
    /// Input dimension `d_0`.
    pub dim: usize,
    /// Number of classes of the data set the samples came from.
    pub classes: usize,
}

impl EvalBatch {
    /// `samples` distinct samples of `data` drawn by `seed` (all of them when `samples`
    /// exceeds the data set).
    pub fn from_dataset(data: &Dataset, samples: usize, seed: u64) -> EvalBatch {
        let indices = data.sample_indices(samples, seed);
        let mut x = vec![0f32; indices.len() * data.dim];
        let mut y = vec![0u8; indices.len()];
        data.fill_batch(&indices, &mut x, &mut y);
        EvalBatch { indices, x, y, dim: data.dim, classes: data.classes }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Inputs of samples `range` (`dim x range.len()` column-major).
    pub fn inputs(&self, range: std::ops::Range<usize>) -> &[f32] {
        &self.x[range.start * self.dim..range.end * self.dim]
    }

    /// An error naming the checkpoint at `path` when these samples do not fit its network
    /// (input width or number of classes).
    pub fn check_fits(&self, path: &Path, mlp: &Mlp) -> Result<(), CkptError> {
        if self.dim == mlp.input_dim() && self.classes == mlp.classes() {
            return Ok(());
        }
        Err(CkptError::invalid(
            path,
            format!(
                "the network takes {} inputs and {} classes but the evaluation data has {} and {}",
                mlp.input_dim(),
                mlp.classes(),
                self.dim,
                self.classes
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_the_seeded_sample_of_the_data() {
        let data = Dataset {
            pixels: (0..40u32).map(|v| (v * 6) as u8).collect(),
            labels: vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 0],
            dim: 4,
            classes: 3,
        };
        let batch = EvalBatch::from_dataset(&data, 3, 7);
        assert_eq!(batch.indices, data.sample_indices(3, 7));
        assert_eq!(batch.len(), 3);
        for (j, &i) in batch.indices.iter().enumerate() {
            assert_eq!(batch.y[j], data.labels[i]);
            let want: Vec<f32> = data.image(i).iter().map(|&p| p as f32 / 255.0).collect();
            assert_eq!(batch.inputs(j..j + 1), &want[..]);
        }
        assert_eq!(EvalBatch::from_dataset(&data, 100, 7).len(), 10);
    }
}
