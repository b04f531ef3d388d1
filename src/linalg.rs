//! The few dense kernels `diag` needs, over faer.
//!
//! Every matrix in `diag` is a column-major `f32` slice. A batch of activations for
//! layer widths `d` and batch size `n` is a `d x n` matrix (each sample a contiguous
//! column), and a layer's weight `W_l` (`d_out x d_in`) is stored as its transpose
//! `W_l^T` in column-major order, which is exactly PyTorch's row-major `weight`
//! (`out x in`) byte for byte. GEMMs write into preallocated buffers and run on the
//! calling thread: parallelism comes from giving each core whole products (see
//! `PERF.md`), never from splitting one small product.

use faer::{Accum, MatMut, MatRef, Par};

/// A read-only column-major view of `data` as a `rows x cols` matrix.
#[inline]
pub fn view(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_column_major_slice(&data[..rows * cols], rows, cols)
}

/// A mutable column-major view of `data` as a `rows x cols` matrix.
#[inline]
pub fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_column_major_slice_mut(&mut data[..rows * cols], rows, cols)
}

/// `dst = alpha * lhs * rhs` (or `dst += alpha * lhs * rhs` with `accumulate`), single-threaded.
#[inline]
pub fn gemm(dst: MatMut<'_, f32>, accumulate: bool, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>, alpha: f32) {
    let accum = if accumulate { Accum::Add } else { Accum::Replace };
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, Par::Seq);
}

/// Runs `f` compiled for the widest vector instructions this CPU offers (detected at
/// run time by `pulp`: AVX2 and FMA where present), so that the elementwise loops inside it
/// autovectorize beyond the SSE2 baseline of an `x86_64` build. Results are bit-identical
/// to the baseline: Rust never contracts `a * b + c` into a fused multiply-add, and the
/// loops vectorized here carry no floating-point reduction whose order could change.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// Frobenius inner product of two equally long slices, accumulated in `f64`.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Frobenius (Euclidean) norm, accumulated in `f64`.
pub fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

/// The angle in degrees between two vectors (flattened matrices), `arccos(<a,b>/(|a||b|))`.
///
/// Evaluated as `2 atan2(|a^ - b^|, |a^ + b^|)` with unit vectors `a^`, `b^`, which equals
/// the arccos form exactly in real arithmetic but keeps full accuracy near 0 and 180
/// degrees, where `arccos` loses half the digits. Returns NaN when either vector is zero.
pub fn angle_deg(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return f64::NAN;
    }
    let (mut diff, mut sum) = (0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (u, v) = (x as f64 / na, y as f64 / nb);
        diff += (u - v) * (u - v);
        sum += (u + v) * (u + v);
    }
    (2.0 * diff.sqrt().atan2(sum.sqrt())).to_degrees()
}

/// `arccos(c)` in degrees, with `c` clamped to [-1, 1] against round-off.
pub fn cosine_to_deg(c: f64) -> f64 {
    if c.is_nan() {
        return f64::NAN;
    }
    c.clamp(-1.0, 1.0).acos().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_product_with_transposed_views() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        // a stored as k x m (so its transpose is m x k)
        let mut c = vec![0f32; m * n];
        gemm(view_mut(&mut c, m, n), false, view(&a, k, m).transpose(), view(&b, k, n), 2.0);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| 2.0 * a[i * k + p] * b[j * k + p]).sum();
                assert!((c[j * m + i] - want).abs() < 1e-5, "{i},{j}");
            }
        }
    }

    #[test]
    fn angle_of_parallel_orthogonal_and_opposite_vectors() {
        assert!(angle_deg(&[1.0, 2.0], &[2.0, 4.0]).abs() < 1e-6);
        assert!((angle_deg(&[1.0, 0.0], &[0.0, 3.0]) - 90.0).abs() < 1e-12);
        assert!((angle_deg(&[1.0, 1.0], &[-1.0, -1.0]) - 180.0).abs() < 1e-6);
        // agrees with the arccos formula away from the ends
        let (a, b) = ([0.3f32, -1.2, 2.0], [1.1f32, 0.4, 0.9]);
        let want = cosine_to_deg(dot(&a, &b) / (norm(&a) * norm(&b)));
        assert!((angle_deg(&a, &b) - want).abs() < 1e-9);
        assert!(angle_deg(&[0.0, 0.0], &[1.0, 0.0]).is_nan());
    }
}
