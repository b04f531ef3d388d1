//! Curvature and landscape (`SPEC.md` section 5) against independent computations: the
//! dense Hessian of a tiny network assembled column by column and diagonalised by faer,
//! central finite differences of the gradient, and the checkpoint's own loss.

use diag::analysis::hessian::{
    hutchinson_trace, lanczos_eigenvalues, power_iteration, spectral_density, HutchinsonParams, LanczosParams,
    LayerHessian, LinearOperator, PowerParams, SlqParams,
};
use diag::analysis::landscape::{filter_normalized_direction, line_direction, slice_1d, slice_2d, EvalSet, GridSpec};
use diag::ckpt::{load_checkpoint, save_checkpoint, CheckpointMeta};
use diag::data::{self, DataSpec};
use diag::net::{init_model, Activation, HessianOperator, Mlp, Rule};
use faer::{Mat, Side};

/// A tiny tanh net (5-4-3, 39 parameters) with nonzero biases on 7 samples.
fn tiny_operator() -> HessianOperator {
    let mlp = Mlp::new(&[5, 4, 3], Activation::Tanh);
    let mut params = init_model(&mlp, Rule::Bp, 0.0, 3).params;
    for i in 0..mlp.num_layers() {
        for (k, b) in params[mlp.bias_range(i)].iter_mut().enumerate() {
            *b = 0.2 * ((k + i) as f32).cos();
        }
    }
    let n = 7;
    let x: Vec<f32> = (0..5 * n).map(|k| (k as f32 * 0.91).sin() * 1.5).collect();
    let y: Vec<u8> = (0..n).map(|s| (s % 3) as u8).collect();
    HessianOperator::new(&mlp, &params, &x, &y, 3)
}

/// `H` assembled column by column from the operator, in f64.
fn dense<O: LinearOperator>(op: &mut O) -> Vec<Vec<f64>> {
    let dim = op.dim();
    let mut e = vec![0f32; dim];
    let mut column = vec![0f32; dim];
    (0..dim)
        .map(|j| {
            e.fill(0.0);
            e[j] = 1.0;
            op.apply(&e, &mut column);
            column.iter().map(|&v| v as f64).collect()
        })
        .collect()
}

/// Eigenvalues (ascending) of the symmetric part of `h`.
fn dense_eigenvalues(h: &[Vec<f64>]) -> Vec<f64> {
    let n = h.len();
    let m = Mat::<f64>::from_fn(n, n, |i, j| 0.5 * (h[j][i] + h[i][j]));
    m.self_adjoint_eigenvalues(Side::Lower).expect("dense eigenvalues")
}

fn relative(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn dense_hessian_is_symmetric_and_the_iterative_methods_recover_its_spectrum() {
    let mut op = tiny_operator();
    let h = dense(&mut op);
    let n = h.len();
    let (mut asym, mut total) = (0f64, 0f64);
    for (i, row) in h.iter().enumerate() {
        for (j, &hij) in row.iter().enumerate() {
            asym += (hij - h[j][i]).powi(2);
            total += hij * hij;
        }
    }
    let asymmetry = (asym / total).sqrt();
    eprintln!("||H - H^T|| / ||H|| = {asymmetry:.2e}");
    assert!(asymmetry < 1e-5);

    let eigenvalues = dense_eigenvalues(&h);
    let trace: f64 = (0..n).map(|i| h[i][i]).sum();
    let dominant = *eigenvalues.iter().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap();
    eprintln!("dense spectrum: {:.4} .. {:.4}, trace {trace:.4}", eigenvalues[0], eigenvalues[n - 1]);

    let power =
        power_iteration(&mut op, &PowerParams { tol: 1e-10, max_iters: 2000, ..PowerParams::default() }).unwrap();
    eprintln!(
        "power: {} after {} products, relative error {:.2e}",
        power.eigenvalue,
        power.iterations,
        relative(power.eigenvalue, dominant)
    );
    assert!(power.converged);
    assert_eq!(power.negative, dominant < 0.0);
    assert!(relative(power.eigenvalue, dominant) < 1e-4);

    let params = LanczosParams { k: 3, krylov_dim: 25, tol: 1e-4, ..LanczosParams::default() };
    let lanczos = lanczos_eigenvalues(&mut op, &params).unwrap();
    for (i, &got) in lanczos.eigenvalues.iter().enumerate() {
        let want = eigenvalues[n - 1 - i];
        eprintln!(
            "lanczos {i}: {got:.6} vs {want:.6}, relative error {:.2e}, residual {:.1e}",
            relative(got, want),
            lanczos.residual_norms[i]
        );
        assert!(relative(got, want) < 1e-4);
    }
    assert_eq!(lanczos.converged, 3);

    let hutchinson = hutchinson_trace(&mut op, &HutchinsonParams { probes: 200, seed: 1 }).unwrap();
    let z = (hutchinson.trace - trace) / hutchinson.std_error;
    eprintln!(
        "hutchinson: {:.4} +- {:.4} vs {trace:.4} ({z:.2} standard errors)",
        hutchinson.trace, hutchinson.std_error
    );
    assert!(z.abs() < 3.0);
}

#[test]
fn spectral_density_integrates_to_one_with_its_mass_on_the_dense_eigenvalues() {
    let mut op = tiny_operator();
    let h = dense(&mut op);
    let eigenvalues = dense_eigenvalues(&h);
    let scale = eigenvalues.iter().fold(0f64, |m, v| m.max(v.abs()));
    let n = h.len();
    let slq = spectral_density(&mut op, &SlqParams { starts: 6, steps: n, grid_points: 4000, ..SlqParams::default() })
        .unwrap();
    let step = slq.grid[1] - slq.grid[0];
    let integral: f64 =
        slq.density.iter().sum::<f64>() * step - 0.5 * step * (slq.density[0] + slq.density[slq.density.len() - 1]);
    assert!((integral - 1.0).abs() < 1e-9, "{integral}");
    // With as many steps as dimensions, every Ritz value is an eigenvalue.
    for theta in slq.nodes.iter().flatten() {
        let nearest = eigenvalues.iter().map(|e| (e - theta).abs()).fold(f64::INFINITY, f64::min);
        assert!(nearest < 1e-4 * scale, "Ritz value {theta} is {nearest} from the spectrum");
    }
    // So the broadened mass lies within 4 sigma of the spectrum.
    let near: f64 = slq
        .grid
        .iter()
        .zip(&slq.density)
        .filter(|(t, _)| eigenvalues.iter().any(|e| (e - *t).abs() < 4.0 * slq.sigma))
        .map(|(_, d)| d * step)
        .sum();
    eprintln!("slq: sigma {:.2e}, mass within 4 sigma of an eigenvalue {near:.5}", slq.sigma);
    assert!(near > 0.99);
    // Its first moment estimates tr(H)/n (each start's weights sum to one).
    let moments: Vec<f64> =
        slq.nodes.iter().zip(&slq.weights).map(|(t, w)| t.iter().zip(w).map(|(a, b)| a * b).sum()).collect();
    let mean = moments.iter().sum::<f64>() / moments.len() as f64;
    let sd = (moments.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (moments.len() - 1) as f64).sqrt();
    let exact = eigenvalues.iter().sum::<f64>() / n as f64;
    assert!((mean - exact).abs() < 3.0 * sd / (moments.len() as f64).sqrt() + 1e-9, "{mean} vs {exact}");
}

#[test]
fn layer_block_operator_is_the_dense_sub_block() {
    let mut op = tiny_operator();
    let h = dense(&mut op);
    let mlp = op.mlp().clone();
    for layer in 0..mlp.num_layers() {
        let range = mlp.layer_range(layer);
        let mut block = LayerHessian::new(&mut op, layer).unwrap();
        let hb = dense(&mut block);
        for (bi, i) in range.clone().enumerate() {
            for (bj, j) in range.clone().enumerate() {
                assert!((hb[bj][bi] - h[j][i]).abs() < 1e-6, "layer {layer} ({i}, {j})");
            }
        }
        let eigenvalues = dense_eigenvalues(&hb);
        let top = lanczos_eigenvalues(&mut block, &LanczosParams { k: 1, krylov_dim: hb.len(), ..Default::default() })
            .unwrap();
        assert!(relative(top.eigenvalues[0], *eigenvalues.last().unwrap()) < 1e-4);
    }
    assert!(LayerHessian::new(&mut op, 2).is_none());
}

/// The first `n` fixture training samples as `d_0 x n` inputs and labels.
fn fixture_samples(n: usize) -> (Vec<f32>, Vec<u8>, usize) {
    let splits = data::load(&DataSpec::Fixture).unwrap();
    let train = &splits.train;
    let indices: Vec<usize> = (0..n).collect();
    let mut x = vec![0f32; train.dim * n];
    let mut y = vec![0u8; n];
    train.fill_batch(&indices, &mut x, &mut y);
    (x, y, train.dim)
}

/// Central differences of the operator's own gradient along `v`, `(g(theta + eps v) -
/// g(theta - eps v)) / (2 eps)`, and the relative error of `H v` against them.
fn finite_difference_error(mlp: &Mlp, params: &[f32], x: &[f32], y: &[u8], v: &[f32], hv: &[f32]) -> f64 {
    let eps = 1e-3f32;
    let gradient_at = |sign: f32| {
        let shifted: Vec<f32> = params.iter().zip(v).map(|(&p, &d)| p + sign * eps * d).collect();
        let mut g = vec![0f32; mlp.num_params()];
        HessianOperator::new(mlp, &shifted, x, y, 16).gradient(&mut g);
        g
    };
    let (up, down) = (gradient_at(1.0), gradient_at(-1.0));
    let (mut diff, mut norm) = (0f64, 0f64);
    for ((&u, &d), &p) in up.iter().zip(&down).zip(hv) {
        let fd = (u as f64 - d as f64) / (2.0 * eps as f64);
        diff += (p as f64 - fd).powi(2);
        norm += fd * fd;
    }
    (diff / norm).sqrt()
}

/// On real data. A relu network's gradient jumps where a pre-activation changes sign; the
/// R-operator gives the Hessian away from those kinks, while a finite difference across
/// them picks up the jumps (their number grows like `eps`, their effect like `1/eps`, so
/// the discrepancy does not vanish as `eps -> 0`). For relu the direction therefore moves
/// the last layer only, which leaves every hidden pre-activation unchanged; the product
/// still covers all blocks of the Hessian's rows for that direction. Tanh and linear
/// networks take a direction over all parameters.
#[test]
fn products_on_real_data_equal_finite_differences_and_ignore_the_thread_count() {
    let (x, y, d0) = fixture_samples(64);
    for activation in Activation::ALL {
        let mlp = Mlp::new(&[d0, 24, 16, 10], activation);
        let params = init_model(&mlp, Rule::Fa, 0.0, 5).params;
        let mut op = HessianOperator::new(&mlp, &params, &x, &y, 16);
        let mut v: Vec<f32> = (0..op.dim()).map(|k| ((k * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        if activation == Activation::Relu {
            v[..mlp.layer_range(2).start].fill(0.0);
        }
        let mut hv = vec![0f32; op.dim()];
        op.apply(&v, &mut hv);
        let err = finite_difference_error(&mlp, &params, &x, &y, &v, &hv);
        eprintln!("{activation} 784-24-16-10, 64 fixture samples: |Hv - FD| / |FD| = {err:.2e}");
        assert!(err < 1e-3, "{activation}: {err}");

        let on_threads = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut out = vec![0f32; op.dim()];
            let mut op = op.clone();
            pool.install(|| op.apply(&v, &mut out));
            out
        };
        assert_eq!(on_threads(1), on_threads(2), "{activation}: product depends on the thread count");
        assert_eq!(on_threads(1), hv);
    }
}

#[test]
fn landscape_through_a_checkpoint_starts_at_its_loss() {
    let (x, y, d0) = fixture_samples(96);
    let mlp = Mlp::new(&[d0, 16, 10], Activation::Relu);
    let init = init_model(&mlp, Rule::Ifa, 0.5, 2);
    let mut trained = init.clone();
    for (k, p) in trained.params.iter_mut().enumerate() {
        *p += 0.01 * ((k as f32) * 0.3).sin();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("step-00000100.safetensors");
    let meta =
        CheckpointMeta { step: 100, rule: Rule::Ifa, alpha: Some(0.5), seed: Some(2), activation: Activation::Relu };
    save_checkpoint(&path, &trained, &meta).unwrap();
    let ckpt = load_checkpoint(&path, None).unwrap();
    let (mlp, theta) = (&ckpt.model.mlp, &ckpt.model.params);

    let set = EvalSet { x: &x, labels: &y, batch: 32 };
    let at_checkpoint = set.stats(mlp, theta);
    let grid: GridSpec = "-1:1:5".parse().unwrap();
    let d1 = filter_normalized_direction(mlp, theta, 0);
    let d2 = filter_normalized_direction(mlp, theta, 1);
    let line = slice_1d(mlp, theta, &d1, grid, &set);
    assert_eq!(line.s, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(line.loss[2], at_checkpoint.mean_loss());
    assert_eq!(line.accuracy[2], at_checkpoint.accuracy());
    assert!(line.loss.iter().all(|l| l.is_finite()));
    let op = HessianOperator::new(mlp, theta, &x, &y, 96);
    assert!((op.loss() - at_checkpoint.mean_loss()).abs() < 1e-6);

    let plane = slice_2d(mlp, theta, &d1, &d2, grid, "-2:2:3".parse().unwrap(), &set);
    assert_eq!((plane.loss.len(), plane.loss[0].len()), (3, 5));
    assert_eq!(plane.loss[1][2], at_checkpoint.mean_loss());
    // Row j = 1 is t = 0: the 1-D slice along d1.
    assert_eq!(plane.loss[1], line.loss);

    // The straight line from the initial to the final weights.
    let to_final = line_direction(&init.params, theta);
    let path_slice = slice_1d(mlp, &init.params, &to_final, "0:1:3".parse().unwrap(), &set);
    assert_eq!(path_slice.loss[0], set.stats(mlp, &init.params).mean_loss());
    assert!((path_slice.loss[2] - at_checkpoint.mean_loss()).abs() < 1e-5);
}
