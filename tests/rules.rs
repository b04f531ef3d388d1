//! Every learning rule's update against a direct, loop-based f64 computation of
//! `SPEC.md` section 1 on tiny networks, and Kolen-Pollack's feedback update through
//! the real training loop.

mod util;

use diag::ckpt::{list_checkpoints, load_checkpoint, RunDir};
use diag::data::{DataSplits, Dataset};
use diag::net::{init_model, Activation, Feedback, Mlp, Model, Rule, Workspace};
use diag::train::{
    train, BatchEngine, CkptSchedule, LrSchedule, Optimizer, OptimizerKind, RunControl, Silent, TrainConfig,
};
use util::{dphi, phi};

/// `W_l[o][k]` from the stored `W_l^T` (`d_in x d_out` column-major).
fn w(model: &Model, l: usize, o: usize, k: usize) -> f64 {
    let (din, _) = model.mlp.layer_dims(l);
    model.weight_t(l)[o * din + k] as f64
}

/// The rule's gradient (flat layout) of the mean loss, by explicit loops in f64.
fn reference_update(model: &Model, x: &[f32], y: &[u8]) -> Vec<f64> {
    let mlp = &model.mlp;
    let act = mlp.activation();
    let layers = mlp.num_layers();
    let n = y.len();
    let mut grad = vec![0f64; mlp.num_params()];
    for s in 0..n {
        // forward
        let mut hs: Vec<Vec<f64>> =
            vec![x[s * mlp.input_dim()..(s + 1) * mlp.input_dim()].iter().map(|&v| v as f64).collect()];
        let mut pre: Vec<Vec<f64>> = Vec::new();
        for l in 0..layers {
            let (din, dout) = mlp.layer_dims(l);
            let a: Vec<f64> = (0..dout)
                .map(|o| model.bias(l)[o] as f64 + (0..din).map(|k| w(model, l, o, k) * hs[l][k]).sum::<f64>())
                .collect();
            hs.push(a.iter().map(|&v| phi(act, v)).collect());
            pre.push(a);
        }
        let logits = &pre[layers - 1];
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|v| (v - max).exp()).sum();
        let e: Vec<f64> =
            logits.iter().enumerate().map(|(c, v)| (v - max).exp() / z - (c == y[s] as usize) as u8 as f64).collect();
        // errors per the rule's table
        let mut delta: Vec<Vec<f64>> = vec![Vec::new(); layers];
        delta[layers - 1] = e.clone();
        for l in (1..layers).rev() {
            let (din, dout) = mlp.layer_dims(l);
            let carried: Vec<f64> = (0..din)
                .map(|k| match (&model.feedback, model.rule) {
                    (Feedback::None, _) => (0..dout).map(|o| w(model, l, o, k) * delta[l][o]).sum(),
                    (Feedback::Matrices(b), _) => (0..dout).map(|o| b[l][o * din + k] as f64 * delta[l][o]).sum(),
                    (Feedback::SignMagnitudes(r), _) => (0..dout)
                        .map(|o| w(model, l, o, k).signum() * (r[l][o * din + k] as f64).abs() * delta[l][o])
                        .sum(),
                    (Feedback::Direct(d), _) => (0..mlp.classes()).map(|c| d[l - 1][c * din + k] as f64 * e[c]).sum(),
                })
                .collect();
            delta[l - 1] = carried.iter().zip(&pre[l - 1]).map(|(c, &a)| c * dphi(act, a)).collect();
        }
        // local outer products, batch-averaged
        for l in 0..layers {
            let (din, dout) = mlp.layer_dims(l);
            let wr = mlp.weight_range(l);
            let br = mlp.bias_range(l);
            for o in 0..dout {
                for k in 0..din {
                    grad[wr.start + o * din + k] += delta[l][o] * hs[l][k] / n as f64;
                }
                grad[br.start + o] += delta[l][o] / n as f64;
            }
        }
    }
    grad
}

fn library_update(model: &Model, x: &[f32], y: &[u8]) -> Vec<f32> {
    let n = y.len();
    let mut ws = Workspace::new(&model.mlp, n);
    model.mlp.forward(&model.params, x, n, &mut ws);
    model.mlp.loss_and_output_error(y, &mut ws);
    let mut grad = vec![0f32; model.mlp.num_params()];
    let scratch = model.feedback_matrices().unwrap_or_default();
    model.mlp.backward(&model.params, model.error_path(&scratch), x, &mut ws, 1.0 / n as f32, &mut grad, false);
    grad
}

fn tiny_batch(d: usize, n: usize, classes: usize) -> (Vec<f32>, Vec<u8>) {
    let x = (0..d * n).map(|i| (i as f32 * 0.917).sin() * 0.5 + 0.5).collect();
    let y = (0..n).map(|i| (i % classes) as u8).collect();
    (x, y)
}

#[test]
fn every_rule_matches_a_direct_computation_of_its_update() {
    for act in [Activation::Relu, Activation::Tanh] {
        let mlp = Mlp::new(&[7, 6, 5, 4, 3], act);
        let (x, y) = tiny_batch(7, 6, 3);
        for rule in Rule::ALL {
            let model = init_model(&mlp, rule, 0.6, 21);
            let want = reference_update(&model, &x, &y);
            let got = library_update(&model, &x, &y);
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (k, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!((*g as f64 - r).abs() <= 1e-5 * scale, "{rule} {act} param {k}: {g} vs {r}");
            }
        }
    }
}

#[test]
fn rules_differ_from_bp_unless_their_feedback_is_the_transpose() {
    let mlp = Mlp::new(&[7, 6, 5, 3], Activation::Relu);
    let (x, y) = tiny_batch(7, 6, 3);
    let bp = library_update(&init_model(&mlp, Rule::Bp, 0.0, 4), &x, &y);
    for rule in [Rule::Fa, Rule::Dfa, Rule::Sign] {
        let other = library_update(&init_model(&mlp, rule, 0.0, 4), &x, &y);
        let first_layer = mlp.weight_range(0);
        assert_ne!(bp[first_layer.clone()], other[first_layer], "{rule} should not equal bp in the first layer");
    }
}

fn synthetic(n_train: usize, n_test: usize, dim: usize, classes: usize) -> DataSplits {
    let make = |n: usize, salt: usize| Dataset {
        pixels: (0..n * dim).map(|i| ((i * 31 + salt * 7) % 251) as u8).collect(),
        labels: (0..n).map(|i| ((i * 7 + salt) % classes) as u8).collect(),
        dim,
        classes,
    };
    DataSplits {
        train: make(n_train, 1),
        test: make(n_test, 2),
        name: "synthetic".into(),
        fingerprint: "synthetic".into(),
    }
}

fn config(rule: Rule, batch: usize, epochs: u64, momentum: f32) -> TrainConfig {
    TrainConfig {
        data: "synthetic".into(),
        subset: None,
        rule,
        alpha: None,
        hidden: vec![6, 5],
        activation: Activation::Tanh,
        seed: 5,
        optimizer: OptimizerKind::Sgd { momentum },
        lr: 0.05,
        weight_decay: 0.01,
        schedule: LrSchedule::Constant,
        batch,
        epochs,
        ckpt_every: CkptSchedule::Steps(1),
        log_every: 1,
        chunks: 2,
        divergence_loss: None,
    }
}

#[test]
fn kolen_pollack_feedback_receives_the_weight_update_and_decay() {
    let data = synthetic(8, 4, 5, 3);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("kp"));
    let cfg = config(Rule::Kp, 8, 1, 0.0);
    train(&cfg, &data, &run, RunControl::default(), &mut Silent).unwrap();
    let ckpts = list_checkpoints(&run).unwrap();
    assert_eq!(ckpts.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 1]);
    let before = load_checkpoint(&ckpts[0].1, None).unwrap().model;
    let after = load_checkpoint(&ckpts[1].1, None).unwrap().model;
    // the update of the one full-batch step, computed independently
    let mut x = vec![0f32; 8 * 5];
    let mut y = vec![0u8; 8];
    data.train.fill_batch(&(0..8).collect::<Vec<_>>(), &mut x, &mut y);
    let grad = reference_update(&before, &x, &y);
    let (Feedback::Matrices(b0), Feedback::Matrices(b1)) = (&before.feedback, &after.feedback) else {
        panic!("kp has matrices")
    };
    for l in 0..before.mlp.num_layers() {
        let range = before.mlp.weight_range(l);
        for (k, p) in range.clone().enumerate() {
            let dw = grad[p];
            let want_w = before.params[p] as f64 - 0.05 * (dw + 0.01 * before.params[p] as f64);
            let want_b = b0[l][k] as f64 - 0.05 * (dw + 0.01 * b0[l][k] as f64);
            assert!((after.params[p] as f64 - want_w).abs() < 1e-6, "W layer {l}");
            assert!((b1[l][k] as f64 - want_b).abs() < 1e-6, "B layer {l}");
        }
    }
}

#[test]
fn same_seed_gives_bit_identical_checkpoints_and_resume_continues_exactly() {
    let data = synthetic(50, 10, 6, 3);
    let dir = tempfile::tempdir().unwrap();
    for rule in [Rule::Fa, Rule::Kp, Rule::Sign] {
        let mut cfg = config(rule, 8, 3, 0.9);
        cfg.ckpt_every = CkptSchedule::Steps(5);
        cfg.log_every = 3;
        let a = RunDir::new(dir.path().join(format!("{rule}-a")));
        let b = RunDir::new(dir.path().join(format!("{rule}-b")));
        let c = RunDir::new(dir.path().join(format!("{rule}-c")));
        train(&cfg, &data, &a, RunControl::default(), &mut Silent).unwrap();
        train(&cfg, &data, &b, RunControl::default(), &mut Silent).unwrap();
        // interrupted mid-epoch at a checkpoint, then resumed
        train(&cfg, &data, &c, RunControl { resume: false, stop_after: Some(10) }, &mut Silent).unwrap();
        train(&cfg, &data, &c, RunControl { resume: true, stop_after: None }, &mut Silent).unwrap();
        let files = |r: &RunDir| {
            list_checkpoints(r).unwrap().into_iter().map(|(s, p)| (s, std::fs::read(p).unwrap())).collect::<Vec<_>>()
        };
        let (fa, fb, fc) = (files(&a), files(&b), files(&c));
        assert_eq!(fa.len(), 6, "{rule}: checkpoints 0, 5, 10, 15, 20 and the last, 21");
        assert!(fa == fb, "{rule}: same seed, same bits");
        assert!(fa == fc, "{rule}: resumed run equals the uninterrupted one");
        let metrics = |r: &RunDir| std::fs::read_to_string(r.metrics()).unwrap();
        let (ma, mc) = (metrics(&a), metrics(&c));
        for (la, lc) in ma.lines().zip(mc.lines()) {
            assert_eq!(la, lc, "{rule}: metrics after resume");
        }
        assert_eq!(ma.lines().count(), mc.lines().count(), "{rule}: metric records after resume");
    }
}

/// The training engine's step (each layer's units split over groups, run on the thread
/// pool) applies exactly `-lr` times the rule's update of the direct f64 computation, for
/// every rule and any number of groups, and gives the same bits on one thread as on two.
#[test]
fn the_engine_step_applies_the_rule_update_whatever_the_groups_and_threads() {
    let (d, classes, n) = (7, 3, 10);
    let data = Dataset {
        pixels: (0..n * d).map(|i| ((i * 37 + 11) % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % classes) as u8).collect(),
        dim: d,
        classes,
    };
    let indices: Vec<usize> = (0..n).rev().collect();
    let mut x = vec![0f32; d * n];
    let mut y = vec![0u8; n];
    data.fill_batch(&indices, &mut x, &mut y);
    let lr = 0.1;
    let step = |model: &Model, groups: usize, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut model = model.clone();
            let kind = OptimizerKind::Sgd { momentum: 0.0 };
            let mut opt = Optimizer::new(kind, model.mlp.num_params());
            let mut fb_opt: Vec<Optimizer> = match (&model.feedback, model.rule) {
                (Feedback::Matrices(b), Rule::Kp) => b.iter().map(|b| Optimizer::new(kind, b.len())).collect(),
                _ => Vec::new(),
            };
            let mut engine = BatchEngine::new(&model, n, groups);
            let outcome = engine.step(&mut model, &mut opt, &mut fb_opt, &data, &indices, lr, 0.0);
            assert!(outcome.loss_finite && outcome.params_finite);
            model
        })
    };
    for act in [Activation::Relu, Activation::Tanh] {
        let mlp = Mlp::new(&[d, 6, 5, 4, classes], act);
        for rule in Rule::ALL {
            let model = init_model(&mlp, rule, 0.6, 21);
            let want = reference_update(&model, &x, &y);
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for groups in [1, 2, 3] {
                let after = step(&model, groups, 2);
                assert!(after == step(&model, groups, 1), "{rule} {act} {groups} groups: one thread vs two");
                for (k, ((a, b), r)) in after.params.iter().zip(&model.params).zip(&want).enumerate() {
                    let applied = (*b as f64 - *a as f64) / lr as f64;
                    assert!(
                        (applied - r).abs() <= 1e-5 * scale,
                        "{rule} {act} {groups} groups, param {k}: {applied} vs {r}"
                    );
                }
            }
        }
    }
}
