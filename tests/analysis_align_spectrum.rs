//! Alignment (`SPEC.md` section 3) and spectra (section 4) against independent
//! computations on tiny networks: angles by the arccos of a normalised dot product in
//! `f64`, gradients and errors by explicit loops, products by explicit loops, singular
//! values of matrices built with known singular values.

mod util;

use diag::analysis::align::{align_run, model_alignment, rule_feedback, AlignOptions};
use diag::analysis::batch::EvalBatch;
use diag::analysis::spectrum::{
    backward_maps, feedback_product, forward_product, layer_product, model_spectrum, singular_values, spectrum_run,
    SpectrumOptions, GRAM_MIN_DIM,
};
use diag::ckpt::{save_checkpoint, CheckpointMeta, CkptSelector, DataInfo, RunDir, RunInfo, RunStatus};
use diag::data::Dataset;
use diag::net::{init_model, soft_align, Activation, ErrorPath, Feedback, Mlp, Model, Rule, Workspace};
use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use util::{dphi, phi};

// ---------------------------------------------------------------- helpers

/// `W_l[o][k]` (0-based layer `i = l - 1`) from the stored `W_l^T` (`d_in x d_out` column-major).
fn w(model: &Model, i: usize, o: usize, k: usize) -> f64 {
    let (din, _) = model.mlp.layer_dims(i);
    model.weight_t(i)[o * din + k] as f64
}

/// `B_l[k][o]` from a stored `B_l` (`d_in x d_out` column-major).
fn b(fb: &[f32], din: usize, k: usize, o: usize) -> f64 {
    fb[o * din + k] as f64
}

/// The independent angle: `arccos(<a, b> / (|a| |b|))` in degrees, all in `f64`.
fn arccos_deg(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    (dot / (na * nb)).clamp(-1.0, 1.0).acos().to_degrees()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn batch(dim: usize, classes: usize, n: usize, seed: u64) -> EvalBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..dim * n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            (z * 0.5 + 0.5) as f32
        })
        .collect();
    EvalBatch { indices: (0..n).collect(), x, y: (0..n).map(|s| (s % classes) as u8).collect(), dim, classes }
}

fn random_mat(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |_, _| StandardNormal.sample(rng))
}

/// Pre-activations `a_l` (`l = 1..L`) of one sample, by explicit loops in `f64`.
fn reference_forward(model: &Model, x: &[f32]) -> Vec<Vec<f64>> {
    let mlp = &model.mlp;
    let mut h: Vec<f64> = f64s(x);
    let mut pre = Vec::new();
    for i in 0..mlp.num_layers() {
        let (din, dout) = mlp.layer_dims(i);
        let a: Vec<f64> = (0..dout)
            .map(|o| model.bias(i)[o] as f64 + (0..din).map(|k| w(model, i, o, k) * h[k]).sum::<f64>())
            .collect();
        h = a.iter().map(|&v| phi(mlp.activation(), v)).collect();
        pre.push(a);
    }
    pre
}

/// Per-sample errors `delta_l` (`l = 1..L`) and the mean-loss update `dW_l` (`W_l` as
/// `d_out x d_in` row-major) of one batch, by explicit loops in `f64`, with hidden
/// errors sent through `feedback` (`None`: `W_l^T`, backpropagation).
fn reference_backward(
    model: &Model,
    feedback: Option<&[Vec<f32>]>,
    x: &[f32],
    y: &[u8],
) -> (Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>) {
    let mlp = &model.mlp;
    let (layers, act, d0) = (mlp.num_layers(), mlp.activation(), mlp.input_dim());
    let n = y.len();
    let mut deltas = vec![Vec::new(); n];
    let mut grads: Vec<Vec<f64>> = (0..layers).map(|i| vec![0.0; mlp.layer_dims(i).0 * mlp.layer_dims(i).1]).collect();
    for s in 0..n {
        let xs = &x[s * d0..(s + 1) * d0];
        let pre = reference_forward(model, xs);
        let logits = &pre[layers - 1];
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|v| (v - max).exp()).sum();
        let mut delta: Vec<Vec<f64>> = vec![Vec::new(); layers];
        delta[layers - 1] =
            logits.iter().enumerate().map(|(k, v)| (v - max).exp() / z - (k == y[s] as usize) as u8 as f64).collect();
        for i in (1..layers).rev() {
            let (din, dout) = mlp.layer_dims(i);
            delta[i - 1] = (0..din)
                .map(|k| {
                    let back: f64 = (0..dout)
                        .map(|o| {
                            let m = match feedback {
                                None => w(model, i, o, k),
                                Some(fb) => b(&fb[i], din, k, o),
                            };
                            m * delta[i][o]
                        })
                        .sum();
                    back * dphi(act, pre[i - 1][k])
                })
                .collect();
        }
        for i in 0..layers {
            let (din, dout) = mlp.layer_dims(i);
            let input: Vec<f64> = if i == 0 { f64s(xs) } else { pre[i - 1].iter().map(|&a| phi(act, a)).collect() };
            for o in 0..dout {
                for k in 0..din {
                    grads[i][o * din + k] += delta[i][o] * input[k] / n as f64;
                }
            }
        }
        deltas[s] = delta;
    }
    (deltas, grads)
}

fn assert_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-300);
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * scale, "{what}[{k}]: got {g}, want {w}");
    }
}

/// Eigenvalues sorted by real then imaginary part, for comparing sets.
fn sorted_pairs(re: &[f64], im: &[f64]) -> Vec<(f64, f64)> {
    let mut pairs: Vec<(f64, f64)> = re.iter().copied().zip(im.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    pairs
}

// ---------------------------------------------------------------- alignment

#[test]
fn weight_alignment_is_zero_for_transposed_feedback_and_with_it_every_other_alignment() {
    let mlp = Mlp::new(&[6, 9, 8, 7, 4], Activation::Relu);
    let mut model = init_model(&mlp, Rule::Fa, 0.0, 1);
    model.feedback = Feedback::Matrices((0..mlp.num_layers()).map(|i| model.weight_t(i).to_vec()).collect());
    let result = model_alignment(&model, 0, &batch(6, 4, 40, 2));
    assert_eq!(result.weight_alignment_deg, Some(vec![0.0; 3]));
    assert_eq!(result.weight_alignment_overall_deg, Some(0.0));
    assert!(result.update_alignment_deg.iter().all(|a| a.abs() < 1e-9), "{:?}", result.update_alignment_deg);
    assert!(result.error_alignment_deg.iter().all(|a| a.abs() < 1e-9), "{:?}", result.error_alignment_deg);
}

#[test]
fn orthogonal_and_soft_aligned_feedback_sit_at_their_constructed_angles() {
    let mlp = Mlp::new(&[10, 16, 12, 8, 5], Activation::Relu);
    let mut model = init_model(&mlp, Rule::Fa, 0.0, 3);
    let Feedback::Matrices(random) = &model.feedback else { panic!("fa has feedback matrices") };
    let orthogonal = (0..mlp.num_layers()).map(|i| soft_align(model.weight_t(i), &random[i], 0.0)).collect();
    model.feedback = Feedback::Matrices(orthogonal);
    let result = model_alignment(&model, 0, &batch(10, 5, 8, 1));
    for angle in result.weight_alignment_deg.unwrap().into_iter().chain(result.weight_alignment_overall_deg) {
        assert!((angle - 90.0).abs() < 1e-4, "{angle}");
    }
    let ifa = init_model(&mlp, Rule::Ifa, 60f64.to_radians().cos(), 3);
    let result = model_alignment(&ifa, 0, &batch(10, 5, 8, 1));
    for angle in result.weight_alignment_deg.unwrap() {
        assert!((angle - 60.0).abs() < 1e-4, "{angle}");
    }
}

#[test]
fn weight_alignment_agrees_with_the_arccos_formula_for_every_rule_with_feedback() {
    let mlp = Mlp::new(&[7, 11, 9, 6, 3], Activation::Tanh);
    for rule in [Rule::Fa, Rule::Ifa, Rule::Kp, Rule::Sign, Rule::Bp] {
        let model = init_model(&mlp, rule, 0.4, 5);
        let result = model_alignment(&model, 0, &batch(7, 3, 5, 1));
        let fb = rule_feedback(&model).expect("feedback matrices");
        let (mut all_w, mut all_b) = (Vec::new(), Vec::new());
        let per_layer = result.weight_alignment_deg.unwrap();
        for i in 1..mlp.num_layers() {
            let (wt, bl) = (f64s(model.weight_t(i)), f64s(&fb[i]));
            assert!((per_layer[i - 1] - arccos_deg(&wt, &bl)).abs() < 1e-9, "{rule} layer {}", i + 1);
            all_w.extend(wt);
            all_b.extend(bl);
        }
        let overall = result.weight_alignment_overall_deg.unwrap();
        assert!((overall - arccos_deg(&all_w, &all_b)).abs() < 1e-9, "{rule} overall");
        if rule == Rule::Sign {
            // the signs are those of the current weights
            for i in 0..mlp.num_layers() {
                assert!(fb[i].iter().zip(model.weight_t(i)).all(|(b, w)| b * w >= 0.0));
            }
        }
    }
}

#[test]
fn update_and_error_alignment_agree_with_a_loop_reference() {
    let mlp = Mlp::new(&[6, 10, 8, 7, 4], Activation::Relu);
    for rule in [Rule::Fa, Rule::Ifa, Rule::Sign] {
        let model = init_model(&mlp, rule, 0.7, 8);
        let eval = batch(6, 4, 9, 4);
        let result = model_alignment(&model, 0, &eval);
        let fb = rule_feedback(&model).unwrap();
        let (rule_deltas, rule_grads) = reference_backward(&model, Some(&fb), &eval.x, &eval.y);
        let (true_deltas, true_grads) = reference_backward(&model, None, &eval.x, &eval.y);
        for i in 0..mlp.num_layers() {
            let want = arccos_deg(&rule_grads[i], &true_grads[i]);
            let got = result.update_alignment_deg[i];
            assert!((got - want).abs() < 1e-3, "{rule} update, layer {}: {got} vs {want}", i + 1);
        }
        assert!(result.update_alignment_deg[3] < 1e-3, "the last layer sees the true error");
        for i in 0..mlp.num_layers() - 1 {
            let angles: Vec<f64> = (0..eval.len())
                .filter(|&s| rule_deltas[s][i].iter().any(|&v| v != 0.0))
                .map(|s| arccos_deg(&rule_deltas[s][i], &true_deltas[s][i]))
                .collect();
            let want = angles.iter().sum::<f64>() / angles.len() as f64;
            let got = result.error_alignment_deg[i];
            assert_eq!(result.error_alignment_samples[i], angles.len());
            assert!((got - want).abs() < 1e-3, "{rule} error signal, layer {}: {got} vs {want}", i + 1);
        }
    }
}

#[test]
fn batches_larger_than_a_chunk_give_the_full_batch_alignment() {
    // 600 samples run as chunks of 256; the reference runs them as one loop.
    let mlp = Mlp::new(&[4, 6, 5, 3], Activation::Tanh);
    let model = init_model(&mlp, Rule::Fa, 0.0, 2);
    let eval = batch(4, 3, 600, 6);
    let result = model_alignment(&model, 0, &eval);
    let fb = rule_feedback(&model).unwrap();
    let (_, rule_grads) = reference_backward(&model, Some(&fb), &eval.x, &eval.y);
    let (_, true_grads) = reference_backward(&model, None, &eval.x, &eval.y);
    for i in 0..mlp.num_layers() {
        let want = arccos_deg(&rule_grads[i], &true_grads[i]);
        assert!((result.update_alignment_deg[i] - want).abs() < 1e-3, "layer {}", i + 1);
    }
    assert_eq!(result.error_alignment_samples, vec![600, 600]);
}

// ---------------------------------------------------------------- spectra

/// `U diag(s) V^T` with `U`, `V` orthonormal columns from QR factorisations of random matrices.
fn with_singular_values(rng: &mut ChaCha8Rng, rows: usize, cols: usize, s: &[f64]) -> Mat<f64> {
    let k = s.len();
    let u = random_mat(rng, rows, k).qr().compute_thin_Q();
    let v = random_mat(rng, cols, k).qr().compute_thin_Q();
    let us = Mat::from_fn(rows, k, |i, j| u[(i, j)] * s[j]);
    &us * v.transpose()
}

#[test]
fn known_singular_values_are_recovered() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for &(rows, cols) in &[(6, 4), (4, 6), (5, 5), (200, 150), (140, 300)] {
        let k = rows.min(cols);
        let want: Vec<f64> = (0..k).map(|j| 3.0 * 0.97f64.powi(j as i32) + 0.1).collect();
        let a = with_singular_values(&mut rng, rows, cols, &want);
        assert_close(&singular_values(a.as_ref()), &want, 1e-10, &format!("{rows}x{cols}"));
    }
}

#[test]
fn large_matrices_keep_their_small_singular_values_to_the_documented_accuracy() {
    // From GRAM_MIN_DIM on, singular values come from the Gram matrix: relative error
    // about eps (sigma_max / sigma)^2, and exact zeros at a floor near 1e-8 sigma_max.
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let k = GRAM_MIN_DIM + 36;
    let want: Vec<f64> = (0..k).map(|j| 10f64.powf(-4.0 * j as f64 / (k - 1) as f64)).collect();
    let a = with_singular_values(&mut rng, k + 20, k, &want);
    let got = singular_values(a.as_ref());
    for (g, w) in got.iter().zip(&want) {
        assert!((g / w - 1.0).abs() < 1e-6, "{g} vs {w} (condition number 1e4)");
    }
    let rank_half: Vec<f64> = (0..k / 2).map(|j| 1.0 + j as f64 / k as f64).collect();
    let a = with_singular_values(&mut rng, k, k, &rank_half);
    let got = singular_values(a.as_ref());
    assert_close(&got[..k / 2], &rank_half.iter().rev().copied().collect::<Vec<_>>(), 1e-10, "nonzero part");
    assert!(got[k / 2..].iter().all(|&z| z < 1e-7 * got[0]), "zeros at the floor");
}

#[test]
fn a_model_reports_the_singular_values_of_its_weights_and_feedback() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mlp = Mlp::new(&[9, 12, 7, 4], Activation::Relu);
    let mut model = init_model(&mlp, Rule::Fa, 0.0, 1);
    let mut wanted = Vec::new();
    let mut feedback = Vec::new();
    for i in 0..mlp.num_layers() {
        let (din, dout) = mlp.layer_dims(i);
        let k = din.min(dout);
        let s_w: Vec<f64> = (0..k).map(|j| 2.0 - 0.1 * j as f64).collect();
        let s_b: Vec<f64> = (0..k).map(|j| 1.0 + 0.05 * j as f64).rev().collect();
        // stored as W^T (din x dout): same singular values as W
        let wt = with_singular_values(&mut rng, din, dout, &s_w);
        let bl = with_singular_values(&mut rng, din, dout, &s_b);
        let range = mlp.weight_range(i);
        for (k, p) in model.params[range].iter_mut().enumerate() {
            *p = wt[(k % din, k / din)] as f32;
        }
        feedback.push((0..din * dout).map(|k| bl[(k % din, k / din)] as f32).collect());
        wanted.push((s_w, s_b));
    }
    model.feedback = Feedback::Matrices(feedback);
    let spectrum = model_spectrum(&model, 4, &[], 1e-6);
    assert_eq!(spectrum.step, 4);
    let fb_values = spectrum.feedback_singular_values.unwrap();
    for (i, (s_w, s_b)) in wanted.iter().enumerate() {
        assert_close(&spectrum.weight_singular_values[i], s_w, 1e-5, "W");
        assert_close(&fb_values[i], s_b, 1e-5, "B");
    }
    assert!(spectrum.gradient_flow.is_none());
}

/// `P = W B` (`d_out x d_out`) by explicit loops from the stored buffers of layer `i`.
fn dense_layer_product(model: &Model, fb: &[f32], i: usize) -> Mat<f64> {
    let (din, dout) = model.mlp.layer_dims(i);
    Mat::from_fn(dout, dout, |r, c| (0..din).map(|k| w(model, i, r, k) * b(fb, din, k, c)).sum())
}

#[test]
fn layer_products_and_their_eigenvalues_match_dense_products() {
    // Non-square layers, so that W B (d_l x d_l) cannot be confused with B W.
    let mlp = Mlp::new(&[5, 7, 4, 6, 3], Activation::Tanh);
    let model = init_model(&mlp, Rule::Ifa, 0.5, 21);
    let Feedback::Matrices(fb) = &model.feedback else { panic!() };
    let spectrum = model_spectrum(&model, 0, &[], 1e-6);
    let products = spectrum.layer_products.unwrap();
    assert_eq!(products.iter().map(|p| p.layer).collect::<Vec<_>>(), [2, 3, 4]);
    for (p, i) in products.iter().zip(1..) {
        let (din, dout) = mlp.layer_dims(i);
        let dense = dense_layer_product(&model, &fb[i], i);
        let wt = Mat::from_fn(din, dout, |r, c| model.weight_t(i)[c * din + r] as f64);
        let bl = Mat::from_fn(din, dout, |r, c| fb[i][c * din + r] as f64);
        let ours = layer_product(wt.as_ref(), bl.as_ref());
        assert_eq!(ours.shape(), (dout, dout));
        assert!((&ours - &dense).norm_max() < 1e-12, "layer {}", i + 1);

        let want = dense.eigenvalues().unwrap();
        let (want_re, want_im): (Vec<f64>, Vec<f64>) = want.iter().map(|c| (c.re, c.im)).unzip();
        let (got, expected) = (sorted_pairs(&p.eigenvalues_re, &p.eigenvalues_im), sorted_pairs(&want_re, &want_im));
        for (g, e) in got.iter().zip(&expected) {
            assert!((g.0 - e.0).abs() < 1e-10 && (g.1 - e.1).abs() < 1e-10, "{g:?} vs {e:?}");
        }
        let trace: f64 = (0..dout).map(|k| dense[(k, k)]).sum();
        assert!((p.eigenvalue_real_parts.iter().sum::<f64>() - trace).abs() < 1e-10);
        assert!(p.eigenvalue_real_parts.windows(2).all(|pair| pair[0] >= pair[1]));
        assert_close(&p.singular_values, &dense.singular_values().unwrap(), 1e-10, "sigma(P)");
    }
}

#[test]
fn end_to_end_products_match_dense_products() {
    let mlp = Mlp::new(&[5, 7, 4, 6, 3], Activation::Relu);
    let model = init_model(&mlp, Rule::Fa, 0.0, 22);
    let Feedback::Matrices(fb) = &model.feedback else { panic!() };
    // F = W_4 W_3 W_2 (3 x 7) and G = B_2 B_3 B_4 (7 x 3), by explicit loops.
    let mut f = Mat::from_fn(3, 6, |r, c| w(&model, 3, r, c));
    for i in [2, 1] {
        let (din, dout) = mlp.layer_dims(i);
        f = Mat::from_fn(3, din, |r, c| (0..dout).map(|k| f[(r, k)] * w(&model, i, k, c)).sum());
    }
    let mut g = Mat::from_fn(6, 3, |r, c| b(&fb[3], 6, r, c));
    for i in [2, 1] {
        let (din, dout) = mlp.layer_dims(i);
        g = Mat::from_fn(din, 3, |r, c| (0..dout).map(|k| b(&fb[i], din, r, k) * g[(k, c)]).sum());
    }
    let to_mats = |bufs: Vec<&[f32]>| -> Vec<Mat<f64>> {
        bufs.iter()
            .enumerate()
            .map(|(i, buf)| {
                let (din, dout) = mlp.layer_dims(i);
                Mat::from_fn(din, dout, |r, c| buf[c * din + r] as f64)
            })
            .collect()
    };
    let ours_f = forward_product(&to_mats((0..4).map(|i| model.weight_t(i)).collect()));
    let ours_g = feedback_product(&to_mats(fb.iter().map(Vec::as_slice).collect()));
    assert_eq!((ours_f.shape(), ours_g.shape()), ((3, 7), (7, 3)));
    assert!((&ours_f - &f).norm_max() < 1e-12 && (&ours_g - &g).norm_max() < 1e-12);

    let spectrum = model_spectrum(&model, 0, &[], 1e-6);
    assert_close(&spectrum.forward_product_singular_values.unwrap(), &f.singular_values().unwrap(), 1e-10, "F");
    assert_close(&spectrum.feedback_product_singular_values.unwrap(), &g.singular_values().unwrap(), 1e-10, "G");
    let fg = &f * &g;
    assert_close(&spectrum.loop_product_singular_values.unwrap(), &fg.singular_values().unwrap(), 1e-10, "FG");
}

/// `J(x) = D_1 M_2 D_2 ... D_{L-1} M_L` of one sample by explicit loops, `M_l` given as
/// `m(i, k, o)` = entry `(k, o)` of the `d_in x d_out` matrix of layer index `i`.
fn dense_backward_map(model: &Model, x: &[f32], m: impl Fn(usize, usize, usize) -> f64) -> Mat<f64> {
    let mlp = &model.mlp;
    let layers = mlp.num_layers();
    let pre = reference_forward(model, x);
    let act = mlp.activation();
    let classes = mlp.classes();
    // top: D_{L-1} M_L
    let d_top = mlp.sizes()[layers - 1];
    let mut j = Mat::from_fn(d_top, classes, |r, c| dphi(act, pre[layers - 2][r]) * m(layers - 1, r, c));
    for i in (1..layers - 1).rev() {
        let (din, dout) = mlp.layer_dims(i);
        j = Mat::from_fn(din, classes, |r, c| {
            dphi(act, pre[i - 1][r]) * (0..dout).map(|k| m(i, r, k) * j[(k, c)]).sum::<f64>()
        });
    }
    j
}

fn block(maps: &[f32], rows: usize, cols: usize, s: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |r, c| maps[s * rows * cols + c * rows + r] as f64)
}

#[test]
fn the_backward_map_is_the_dense_product_and_carries_the_output_error() {
    for act in [Activation::Tanh, Activation::Relu] {
        let mlp = Mlp::new(&[5, 7, 6, 8, 4], act);
        for rule in [Rule::Fa, Rule::Dfa] {
            let mut model = init_model(&mlp, rule, 0.0, 31);
            for i in 0..mlp.num_layers() {
                let range = mlp.bias_range(i);
                for (k, p) in model.params[range].iter_mut().enumerate() {
                    *p = 0.05 * (k as f32 + 1.0).sin();
                }
            }
            let eval = batch(5, 4, 3, 7);
            let s = 1;
            let x = eval.inputs(s..s + 1);
            let dense_true = dense_backward_map(&model, x, |i, k, o| w(&model, i, o, k));
            let dense_rule = match &model.feedback {
                Feedback::Matrices(fb) => dense_backward_map(&model, x, |i, k, o| b(&fb[i], mlp.layer_dims(i).0, k, o)),
                Feedback::Direct(d) => {
                    let pre = reference_forward(&model, x);
                    Mat::from_fn(7, 4, |r, c| dphi(act, pre[0][r]) * d[0][c * 7 + r] as f64)
                }
                _ => unreachable!(),
            };
            let fb = rule_feedback(&model);
            let path = model.error_path(fb.as_deref().unwrap_or(&[]));
            for (p, dense) in [(ErrorPath::Transpose, &dense_true), (path, &dense_rule)] {
                let maps = backward_maps(&model, p, &eval.x, eval.len());
                assert_eq!(maps.len(), 7 * 4 * 3);
                let ours = block(&maps, 7, 4, s);
                let scale = dense.norm_max();
                assert!((&ours - dense).norm_max() < 1e-5 * scale, "{act} {rule}: J differs");

                // delta_1 = J(x) e, with delta_1 from the backward pass
                let mut ws = Workspace::new(&mlp, 3);
                mlp.forward(&model.params, &eval.x, 3, &mut ws);
                mlp.loss_and_output_error(&eval.y, &mut ws);
                let e: Vec<f64> = f64s(&ws.delta[3][s * 4..(s + 1) * 4]);
                mlp.propagate_errors(&model.params, p, &mut ws);
                let delta1 = f64s(&ws.delta[0][s * 7..(s + 1) * 7]);
                let je: Vec<f64> = (0..7).map(|r| (0..4).map(|c| ours[(r, c)] * e[c]).sum()).collect();
                assert_close(&je, &delta1, 1e-5, "J e = delta_1");
            }
        }
    }
}

#[test]
fn gradient_flow_pools_the_spectra_of_every_sample() {
    let mlp = Mlp::new(&[5, 9, 6, 3], Activation::Tanh);
    let model = init_model(&mlp, Rule::Ifa, 0.3, 41);
    let Feedback::Matrices(fb) = &model.feedback else { panic!() };
    let eval = batch(5, 3, 4, 9);
    let spectrum = model_spectrum(&model, 0, &eval.x, 1e-6);
    let flow = spectrum.gradient_flow.unwrap();
    assert_eq!(flow.samples, 4);
    for (path, is_true) in [(&flow.true_path, true), (&flow.rule_path, false)] {
        assert_eq!(path.singular_values.len(), 4 * 3);
        let mut conds = Vec::new();
        for s in 0..4 {
            let x = eval.inputs(s..s + 1);
            let dense = if is_true {
                dense_backward_map(&model, x, |i, k, o| w(&model, i, o, k))
            } else {
                dense_backward_map(&model, x, |i, k, o| b(&fb[i], mlp.layer_dims(i).0, k, o))
            };
            let want = dense.singular_values().unwrap();
            assert_close(&path.singular_values[s * 3..(s + 1) * 3], &want, 1e-5, "sigma(J)");
            assert_eq!(path.ranks[s], 3);
            let cond = want[0] / want[2];
            assert!((path.condition_numbers[s] / cond - 1.0).abs() < 1e-4);
            conds.push(cond);
        }
        conds.sort_by(f64::total_cmp);
        let median = 0.5 * (conds[1] + conds[2]);
        assert!((path.median_condition_number / median - 1.0).abs() < 1e-4);
    }
}

#[test]
fn rules_without_feedback_matrices_have_no_feedback_spectra() {
    let mlp = Mlp::new(&[5, 6, 4, 3], Activation::Relu);
    let dfa = init_model(&mlp, Rule::Dfa, 0.0, 1);
    let eval = batch(5, 3, 2, 1);
    let spectrum = model_spectrum(&dfa, 0, &eval.x, 1e-6);
    assert!(spectrum.feedback_singular_values.is_none() && spectrum.layer_products.is_none());
    assert!(spectrum.feedback_product_singular_values.is_none() && spectrum.loop_product_singular_values.is_none());
    assert_eq!(spectrum.forward_product_singular_values.unwrap().len(), 3);
    assert!(spectrum.gradient_flow.is_some());
    // bp's feedback is W^T: P_l = W_l W_l^T, whose eigenvalues are the squared singular values of W_l
    let bp = init_model(&mlp, Rule::Bp, 0.0, 1);
    let spectrum = model_spectrum(&bp, 0, &eval.x, 1e-6);
    let flow = spectrum.gradient_flow.unwrap();
    assert_eq!(flow.true_path, flow.rule_path);
    for p in spectrum.layer_products.unwrap() {
        let squares: Vec<f64> = spectrum.weight_singular_values[p.layer - 1].iter().map(|s| s * s).collect();
        assert_close(&p.eigenvalue_real_parts[..squares.len()], &squares, 1e-10, "bp P_l");
    }
}

// ---------------------------------------------------------------- whole runs

/// A run directory with `run.json` and checkpoints of a tiny `fa` network at steps 0, 10 and 20.
fn synthetic_run(dir: &std::path::Path, mlp: &Mlp) -> (RunDir, Vec<Model>) {
    let run = RunDir::new(dir);
    let info = RunInfo {
        format: "diag-run/1".into(),
        diag_version: env!("CARGO_PKG_VERSION").into(),
        status: RunStatus::Completed,
        rule: Rule::Fa,
        alpha: None,
        align_angle_deg: None,
        seed: 1,
        sizes: mlp.sizes().to_vec(),
        activation: mlp.activation(),
        data: DataInfo {
            spec: "synthetic".into(),
            fingerprint: "0".into(),
            train_samples: 30,
            test_samples: 0,
            input_dim: mlp.input_dim(),
            classes: mlp.classes(),
            subset: None,
        },
        steps_per_epoch: 10,
        total_steps: 20,
        config: serde_json::json!({}),
        diverged: None,
        summary: None,
    };
    run.write_info(&info).unwrap();
    let mut models = Vec::new();
    for (k, step) in [0u64, 10, 20].into_iter().enumerate() {
        let mut model = init_model(mlp, Rule::Fa, 0.0, 5);
        for (j, p) in model.params.iter_mut().enumerate() {
            *p += 0.02 * k as f32 * ((j * 7 + k) as f32).sin();
        }
        if step == 20 {
            // fa feedback never changes in training, but a foreign series might: not reused then
            let Feedback::Matrices(b) = &mut model.feedback else { unreachable!() };
            b[1][0] += 0.5;
        }
        let meta = CheckpointMeta { step, rule: Rule::Fa, alpha: None, seed: Some(5), activation: mlp.activation() };
        save_checkpoint(&run.checkpoint(step), &model, &meta).unwrap();
        models.push(model);
    }
    (run, models)
}

fn synthetic_data(dim: usize, classes: usize, n: usize) -> Dataset {
    Dataset {
        pixels: (0..dim * n).map(|k| ((k * 37) % 256) as u8).collect(),
        labels: (0..n).map(|s| (s % classes) as u8).collect(),
        dim,
        classes,
    }
}

#[test]
fn run_level_functions_cover_the_checkpoints_on_one_fixed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = Mlp::new(&[6, 8, 7, 3], Activation::Relu);
    let (run, models) = synthetic_run(dir.path(), &mlp);
    let data = synthetic_data(6, 3, 30);

    let options = AlignOptions { samples: 12, seed: 3 };
    let series = align_run(&run, &data, &options).unwrap();
    assert_eq!(series.rule, Rule::Fa);
    assert_eq!(series.sample_indices, data.sample_indices(12, 3));
    let eval = EvalBatch::from_dataset(&data, 12, 3);
    assert_eq!(series.checkpoints.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 10, 20]);
    for (result, (model, step)) in series.checkpoints.iter().zip(models.iter().zip([0, 10, 20])) {
        assert_eq!(result, &model_alignment(model, step, &eval));
    }

    let options =
        SpectrumOptions { flow_samples: 5, seed: 2, rank_cutoff: 1e-6, eigenvalues_at_every_checkpoint: true };
    let last = spectrum_run(&run, &data, CkptSelector::Last, &options).unwrap();
    assert_eq!(last.checkpoints.len(), 1);
    let flow = EvalBatch::from_dataset(&data, 5, 2);
    assert_eq!(last.checkpoints[0], model_spectrum(&models[2], 20, &flow.x, 1e-6));
    let all = spectrum_run(&run, &data, CkptSelector::All, &options).unwrap();
    assert_eq!(all.checkpoints.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 10, 20]);
    for (spectrum, (model, step)) in all.checkpoints.iter().zip(models.iter().zip([0, 10, 20])) {
        // the feedback values reused from step 0 are those of a fresh computation
        assert_eq!(spectrum, &model_spectrum(model, step, &flow.x, 1e-6));
    }
    let (first, last) = (&all.checkpoints[0], &all.checkpoints[2]);
    assert_ne!(first.feedback_singular_values.as_ref().unwrap()[1], last.feedback_singular_values.as_ref().unwrap()[1]);
    assert_eq!(spectrum_run(&run, &data, CkptSelector::Step(10), &options).unwrap().checkpoints[0].step, 10);
    assert!(serde_json::to_string(&all).unwrap().contains("eigenvalue_real_parts"));
    // by default the eigenvalues are computed at the last selected checkpoint only
    let cheap = SpectrumOptions { eigenvalues_at_every_checkpoint: false, ..options.clone() };
    let cheap = spectrum_run(&run, &data, CkptSelector::All, &cheap).unwrap();
    let eigen_counts: Vec<usize> =
        cheap.checkpoints.iter().map(|c| c.layer_products.as_ref().unwrap()[0].eigenvalues_re.len()).collect();
    assert_eq!(eigen_counts[..2], [0, 0]);
    assert_eq!(cheap.checkpoints[2], all.checkpoints[2]);

    let err = spectrum_run(&run, &data, CkptSelector::Step(5), &options).unwrap_err().to_string();
    assert!(err.contains("step 5"), "{err}");
    let wrong = synthetic_data(5, 3, 30);
    let err = align_run(&run, &wrong, &AlignOptions::default()).unwrap_err().to_string();
    assert!(err.contains(".safetensors") && err.contains("6 inputs"), "{err}");
}
