//! The two ways of splitting a training step of 784-512x4-10 (batch 128, feedback matrices
//! `B_l`, SGD momentum) over the cores, timed on their products and optimiser updates alone:
//!
//! - sample split: each core runs the forward and backward pass of half of the batch, so each
//!   reads every weight and feedback matrix;
//! - unit split (what `train::engine` does): layer by layer over the whole batch, each core
//!   computes half of the output rows, so each reads half of every matrix; the update runs
//!   with the layers in forward or reverse order.
//!
//! Both then form each core's half of the weight gradients and apply the update to it.
//! `cargo run --release --example engine_split` prints samples per second, alternating the
//! variants so that the machine's drift hits all of them alike.
use diag::linalg::{gemm, view, view_mut};
use faer::MatMut;
use rayon::prelude::*;
use std::time::Instant;

const SIZES: [usize; 6] = [784, 512, 512, 512, 512, 10];
const N: usize = 128;

struct Net {
    w: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

fn net() -> Net {
    let mk =
        |s: f32| (0..5).map(|i| (0..SIZES[i] * SIZES[i + 1]).map(|k| ((k % 17) as f32 - 8.0) * s).collect()).collect();
    Net { w: mk(1e-3), b: mk(2e-3), v: mk(0.0) }
}

fn update(p: &mut [f32], v: &mut [f32], g: &[f32]) {
    diag::linalg::vectorized(
        #[inline(always)]
        || {
            for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
                *v = 0.9 * *v + g;
                *p -= 1e-9 * *v;
            }
        },
    )
}

/// Phase 2 shared by both: group k owns output columns [c0, c1) of every layer.
fn phase2(
    net: &mut Net,
    acts: &[&[Vec<f32>]],
    deltas: &[&[Vec<f32>]],
    per: usize,
    scratch: &mut [Vec<f32>],
    rev: bool,
) {
    let Net { w, v, .. } = net;
    let wp: Vec<(usize, usize)> =
        w.iter_mut().zip(v.iter_mut()).map(|(a, b)| (a.as_mut_ptr() as usize, b.as_mut_ptr() as usize)).collect();
    scratch.par_iter_mut().enumerate().for_each(|(k, g)| {
        for j in 0..5 {
            let i = if rev { 4 - j } else { j };
            let (din, dout) = (SIZES[i], SIZES[i + 1]);
            let (c0, c1) = (k * dout / 2, (k + 1) * dout / 2);
            let cw = c1 - c0;
            for (chunk, (a, d)) in acts.iter().zip(deltas).enumerate() {
                gemm(
                    view_mut(g, din, cw),
                    chunk > 0,
                    view(&a[i], din, per),
                    view(&d[i + 1], dout, per).subrows(c0, cw).transpose(),
                    1.0,
                );
            }
            let p = unsafe { std::slice::from_raw_parts_mut((wp[i].0 as *mut f32).add(c0 * din), cw * din) };
            let vv = unsafe { std::slice::from_raw_parts_mut((wp[i].1 as *mut f32).add(c0 * din), cw * din) };
            update(p, vv, &g[..cw * din]);
        }
    });
}

fn sample_split(net: &mut Net, reps: usize) -> f64 {
    let per = N / 2;
    let mut acts: Vec<Vec<Vec<f32>>> = (0..2).map(|_| SIZES.iter().map(|&d| vec![0.5f32; d * per]).collect()).collect();
    let mut deltas: Vec<Vec<Vec<f32>>> =
        (0..2).map(|_| SIZES.iter().map(|&d| vec![0.5f32; d * per]).collect()).collect();
    let mut scratch: Vec<Vec<f32>> = (0..2).map(|_| vec![0f32; 784 * 256]).collect();
    let t = Instant::now();
    for _ in 0..reps {
        let (w, b) = (&net.w, &net.b);
        acts.par_iter_mut().zip(deltas.par_iter_mut()).for_each(|(a, d)| {
            for i in 0..5 {
                let (din, dout) = (SIZES[i], SIZES[i + 1]);
                let (lo, hi) = a.split_at_mut(i + 1);
                gemm(
                    view_mut(&mut hi[0], dout, per),
                    false,
                    view(&w[i], din, dout).transpose(),
                    view(&lo[i], din, per),
                    1.0,
                );
            }
            for i in (1..5).rev() {
                let (din, dout) = (SIZES[i], SIZES[i + 1]);
                let (lo, hi) = d.split_at_mut(i + 1);
                gemm(view_mut(&mut lo[i], din, per), false, view(&b[i], din, dout), view(&hi[0], dout, per), 1.0);
            }
        });
        let a: Vec<&[Vec<f32>]> = acts.iter().map(|v| &v[..]).collect();
        let d: Vec<&[Vec<f32>]> = deltas.iter().map(|v| &v[..]).collect();
        phase2(net, &a, &d, per, &mut scratch, false);
    }
    (reps * N) as f64 / t.elapsed().as_secs_f64()
}

fn halves(m: MatMut<'_, f32>) -> [MatMut<'_, f32>; 2] {
    let r = m.nrows() / 2;
    let (top, bot) = m.split_at_row_mut(r);
    [top, bot]
}

fn unit_split(net: &mut Net, reps: usize, rev: bool) -> f64 {
    let mut acts: Vec<Vec<f32>> = SIZES.iter().map(|&d| vec![0.5f32; d * N]).collect();
    let mut deltas: Vec<Vec<f32>> = SIZES.iter().map(|&d| vec![0.5f32; d * N]).collect();
    let mut scratch: Vec<Vec<f32>> = (0..2).map(|_| vec![0f32; 784 * 256]).collect();
    let t = Instant::now();
    for _ in 0..reps {
        for i in 0..5 {
            let (din, dout) = (SIZES[i], SIZES[i + 1]);
            let (lo, hi) = acts.split_at_mut(i + 1);
            let wt = view(&net.w[i], din, dout).transpose();
            let r = dout / 2;
            halves(view_mut(&mut hi[0], dout, N)).into_par_iter().enumerate().for_each(|(k, o)| {
                let rows = if k == 0 { wt.subrows(0, r) } else { wt.subrows(r, dout - r) };
                gemm(o, false, rows, view(&lo[i], din, N), 1.0);
            });
        }
        for i in (1..5).rev() {
            let (din, dout) = (SIZES[i], SIZES[i + 1]);
            let (lo, hi) = deltas.split_at_mut(i + 1);
            let bm = view(&net.b[i], din, dout);
            let r = din / 2;
            halves(view_mut(&mut lo[i], din, N)).into_par_iter().enumerate().for_each(|(k, o)| {
                let rows = if k == 0 { bm.subrows(0, r) } else { bm.subrows(r, din - r) };
                gemm(o, false, rows, view(&hi[0], dout, N), 1.0);
            });
        }
        let a = [&acts[..]];
        let d = [&deltas[..]];
        phase2(net, &a, &d, N, &mut scratch, rev);
    }
    (reps * N) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let mut n = net();
    sample_split(&mut n, 20);
    unit_split(&mut n, 20, false);
    for _ in 0..6 {
        let (a, b, c) = (sample_split(&mut n, 300), unit_split(&mut n, 300, false), unit_split(&mut n, 300, true));
        println!("sample split {a:.0}  unit split {b:.0}  unit split, reverse update order {c:.0} samples/s");
    }
}
