//! faer f32 GEMM throughput on this machine for the shapes of an MLP training step,
//! single-threaded, plus a large square product on both cores (compare PERF.md).
use faer::{Accum, Mat, Par};
use std::time::Instant;

fn rate(m: usize, k: usize, n: usize, par: Par) -> f64 {
    let a = Mat::<f32>::from_fn(m, k, |i, j| ((i + j) % 7) as f32 * 0.01);
    let b = Mat::<f32>::from_fn(k, n, |i, j| ((i * j) % 5) as f32 * 0.01);
    let mut c = Mat::<f32>::zeros(m, n);
    let run =
        |c: &mut Mat<f32>| faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, par);
    for _ in 0..5 {
        run(&mut c);
    }
    let reps = (4e9 / (2.0 * (m * k * n) as f64)) as usize + 1;
    let t = Instant::now();
    for _ in 0..reps {
        run(&mut c);
    }
    2.0 * (m * k * n * reps) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    for &(m, k, n) in &[
        (128, 784, 512),
        (128, 512, 512),
        (512, 128, 512),
        (128, 512, 784),
        (512, 512, 64),
        (512, 512, 128),
        (1024, 1024, 1024),
    ] {
        println!(
            "{m:5} x {k:5} x {n:5}: seq {:6.1} GFLOP/s   rayon(2) {:6.1} GFLOP/s",
            rate(m, k, n, Par::Seq),
            rate(m, k, n, Par::rayon(2))
        );
    }
}
