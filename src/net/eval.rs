//! Loss and accuracy of a model over many samples, batched and in parallel.

use super::{BatchStats, Mlp, Workspace};
use rayon::prelude::*;

/// Mean-loss statistics of `params` over samples `0..count`, where `fill(indices, x, y)`
/// writes the inputs (`d_0 x len`) and labels of the given sample indices. Batches run
/// in parallel; their statistics are summed in a fixed order, so the result does not
/// depend on the thread count.
pub fn evaluate<F>(mlp: &Mlp, params: &[f32], count: usize, batch: usize, fill: F) -> BatchStats
where
    F: Fn(&[usize], &mut [f32], &mut [u8]) + Sync,
{
    let batch = batch.max(1);
    let starts: Vec<usize> = (0..count).step_by(batch).collect();
    let per_batch: Vec<BatchStats> = starts
        .par_iter()
        .map_init(
            || {
                (
                    Workspace::new(mlp, batch),
                    vec![0f32; mlp.input_dim() * batch],
                    vec![0u8; batch],
                    Vec::with_capacity(batch),
                )
            },
            |(ws, x, y, idx), &start| {
                let end = (start + batch).min(count);
                idx.clear();
                idx.extend(start..end);
                let n = idx.len();
                fill(idx, &mut x[..mlp.input_dim() * n], &mut y[..n]);
                mlp.forward(params, x, n, ws);
                mlp.loss_stats(&y[..n], ws)
            },
        )
        .collect();
    let mut total = BatchStats::default();
    for s in per_batch {
        total.add(s);
    }
    total
}
