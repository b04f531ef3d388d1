//! Single-thread faer GEMM throughput for the products of an MLP training step.
use diag::linalg::{gemm, view, view_mut};
use std::time::Instant;

fn rate(m: usize, k: usize, n: usize, lt: bool, rt: bool) -> f64 {
    let a = vec![0.01f32; m * k];
    let b = vec![0.02f32; k * n];
    let mut c = vec![0f32; m * n];
    let lhs = if lt { view(&a, k, m).transpose() } else { view(&a, m, k) };
    let rhs = if rt { view(&b, n, k).transpose() } else { view(&b, k, n) };
    for _ in 0..20 { gemm(view_mut(&mut c, m, n), false, lhs, rhs, 1.0); }
    let reps = (2e9 / (2.0 * (m * k * n) as f64)) as usize + 1;
    let t = Instant::now();
    for _ in 0..reps { gemm(view_mut(&mut c, m, n), false, lhs, rhs, 1.0); }
    2.0 * (m * k * n * reps) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    for &(m, k, n) in &[(64, 512, 512), (128, 512, 512), (64, 784, 512), (128, 784, 512), (128, 512, 256), (128, 512, 784), (64, 512, 784), (512, 512, 128), (512, 128, 512)] {
        println!("{m:4} x {k:4} x {n:4}: NN {:6.1}  TN {:6.1}  NT {:6.1}  TT {:6.1}", rate(m, k, n, false, false), rate(m, k, n, true, false), rate(m, k, n, false, true), rate(m, k, n, true, true));
    }
}
