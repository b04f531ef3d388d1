use diag::linalg::{gemm, view, view_mut};
use faer::MatMut;
use rayon::prelude::*;
use std::time::Instant;

const SIZES: [usize; 6] = [784, 512, 512, 512, 512, 10];

fn weights() -> Vec<Vec<f32>> {
    (0..5).map(|i| (0..SIZES[i] * SIZES[i + 1]).map(|k| ((k % 17) as f32 - 8.0) * 1e-3).collect()).collect()
}

/// Sample split: each core runs all GEMMs of the step on its half of the batch.
fn sample_split(w: &[Vec<f32>], reps: usize) -> f64 {
    let per = 64;
    let t = Instant::now();
    (0..2).into_par_iter().for_each(|_| {
        let mut a = vec![0.5f32; 784 * per];
        let mut b = vec![0.5f32; 784 * per];
        let mut g = vec![0f32; 784 * 512];
        for _ in 0..reps {
            for (i, w) in w.iter().enumerate() {
                let (din, dout) = (SIZES[i], SIZES[i + 1]);
                gemm(view_mut(&mut b, dout, per), false, view(w, din, dout).transpose(), view(&a, din, per), 1.0);
                gemm(view_mut(&mut g, din, dout), false, view(&a, din, per), view(&b, dout, per).transpose(), 1.0);
                if i > 0 {
                    gemm(view_mut(&mut a, din, per), false, view(w, din, dout), view(&b, dout, per), 1.0);
                }
            }
        }
        std::hint::black_box((&a, &b, &g));
    });
    (reps * 128) as f64 / t.elapsed().as_secs_f64()
}

fn halves(m: MatMut<'_, f32>) -> [MatMut<'_, f32>; 2] {
    let r = m.nrows() / 2;
    let (top, bot) = m.split_at_row_mut(r);
    [top, bot]
}

/// Unit split: every product over the full batch, each core computing half of the output rows.
fn unit_split(w: &[Vec<f32>], reps: usize) -> f64 {
    let n = 128;
    let mut acts: Vec<Vec<f32>> = SIZES.iter().map(|&d| vec![0.5f32; d * n]).collect();
    let mut deltas: Vec<Vec<f32>> = SIZES.iter().map(|&d| vec![0.5f32; d * n]).collect();
    let mut grads: Vec<Vec<f32>> = w.iter().map(|w| vec![0f32; w.len()]).collect();
    let t = Instant::now();
    for _ in 0..reps {
        for i in 0..5 {
            let (din, dout) = (SIZES[i], SIZES[i + 1]);
            let (lo, hi) = acts.split_at_mut(i + 1);
            let wt = view(&w[i], din, dout).transpose();
            let out = halves(view_mut(&mut hi[0], dout, n));
            let r = dout / 2;
            out.into_par_iter().enumerate().for_each(|(k, o)| {
                let rows = if k == 0 { wt.subrows(0, r) } else { wt.subrows(r, dout - r) };
                gemm(o, false, rows, view(&lo[i], din, n), 1.0);
            });
        }
        for i in (1..5).rev() {
            let (din, dout) = (SIZES[i], SIZES[i + 1]);
            let (lo, hi) = deltas.split_at_mut(i + 1);
            let wm = view(&w[i], din, dout);
            let out = halves(view_mut(&mut lo[i], din, n));
            let r = din / 2;
            out.into_par_iter().enumerate().for_each(|(k, o)| {
                let rows = if k == 0 { wm.subrows(0, r) } else { wm.subrows(r, din - r) };
                gemm(o, false, rows, view(&hi[0], dout, n), 1.0);
            });
        }
        grads.par_iter_mut().enumerate().for_each(|(_, _)| {});
        (0..2).into_par_iter().for_each(|k| {
            let mut g = vec![0f32; 0];
            let _ = &mut g;
            for i in 0..5 {
                let (din, dout) = (SIZES[i], SIZES[i + 1]);
                let (c0, c1) = (k * dout / 2, (k + 1) * dout / 2);
                let mut gb = vec![0f32; din * (c1 - c0)];
                gemm(
                    view_mut(&mut gb, din, c1 - c0),
                    false,
                    view(&acts[i], din, n),
                    view(&deltas[i + 1], dout, n).subrows(c0, c1 - c0).transpose(),
                    1.0,
                );
                std::hint::black_box(&gb);
            }
        });
    }
    std::hint::black_box((&acts, &deltas));
    (reps * 128) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let w = weights();
    sample_split(&w, 10);
    unit_split(&w, 10);
    for _ in 0..5 {
        println!("sample split {:.0}  unit split {:.0} samples/s", sample_split(&w, 200), unit_split(&w, 200));
    }
}
