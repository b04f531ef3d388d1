//! Robustness analyses (`SPEC.md` section 6) on small nets and the embedded fixture: the
//! geometry of the perturbations, the input gradient against finite differences, and the
//! invariances of the batched, early-exiting attack engine.

use diag::analysis::attack::{
    adversarial_examples, evaluate_robustness, loss_input_gradient, perturb, AttackKind, AttackSettings, GradientName,
    GradientSource, Norm, PerturbedInputs,
};
use diag::ckpt::{list_checkpoints, load_checkpoint, RunDir};
use diag::data::{load, DataSpec, DataSplits, Dataset};
use diag::net::{init_model, Activation, Feedback, Mlp, Model, OutputLoss, Rule};
use diag::train::{train, CkptSchedule, LrSchedule, OptimizerKind, RunControl, Silent, TrainConfig};
use diag::Error;
use std::sync::OnceLock;

fn fixture() -> &'static DataSplits {
    static DATA: OnceLock<DataSplits> = OnceLock::new();
    DATA.get_or_init(|| load(&DataSpec::Fixture).expect("embedded fixture"))
}

fn test_split() -> &'static Dataset {
    &fixture().test
}

/// A 784-32-10 net trained briefly on the fixture with `rule` (cached per rule).
fn trained(rule: Rule) -> &'static Model {
    static BP: OnceLock<Model> = OnceLock::new();
    static FA: OnceLock<Model> = OnceLock::new();
    let cell = match rule {
        Rule::Bp => &BP,
        Rule::Fa => &FA,
        other => panic!("no cached {other} model"),
    };
    cell.get_or_init(|| {
        let cfg = TrainConfig {
            data: "fixture".into(),
            subset: Some(2000),
            rule,
            alpha: None,
            hidden: vec![32],
            activation: Activation::Relu,
            seed: 3,
            optimizer: OptimizerKind::Sgd { momentum: 0.9 },
            lr: 0.02,
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
            batch: 50,
            epochs: 2,
            ckpt_every: CkptSchedule::Epochs(2),
            log_every: 40,
            divergence_loss: None,
            chunks: 2,
        };
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join(rule.name()));
        train(&cfg, fixture(), &run, RunControl::default(), &mut Silent).unwrap();
        let (_, last) = list_checkpoints(&run).unwrap().pop().unwrap();
        load_checkpoint(&last, None).unwrap().model
    })
}

fn settings(attack: AttackKind, eps: &[f32], samples: usize) -> AttackSettings {
    let base = match attack {
        AttackKind::Fgsm => AttackSettings::fgsm(eps.to_vec()),
        AttackKind::Pgd => AttackSettings::pgd(eps.to_vec()),
        AttackKind::Noise => AttackSettings::noise(eps.to_vec()),
    };
    AttackSettings { samples: Some(samples), ..base }
}

fn linf_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max)
}

fn l2_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>().sqrt()
}

fn clean_inputs(data: &Dataset, count: usize) -> (Vec<f32>, Vec<u8>) {
    let mut x = vec![0f32; data.dim * count];
    let mut y = vec![0u8; count];
    data.fill_batch(&(0..count).collect::<Vec<_>>(), &mut x, &mut y);
    (x, y)
}

fn assert_in_ball(perturbed: &PerturbedInputs, norm: Norm, what: &str) {
    let count = perturbed.labels.len();
    let (clean, _) = clean_inputs(test_split(), count);
    let dim = perturbed.dim;
    for i in 0..count {
        let (x0, x) = (&clean[i * dim..(i + 1) * dim], perturbed.input(i));
        let distance = match norm {
            Norm::Linf => linf_distance(x, x0),
            Norm::L2 => l2_distance(x, x0),
        };
        assert!(distance <= perturbed.eps as f64 + 1e-6, "{what}: sample {i} is {distance} from its input");
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)), "{what}: sample {i} leaves [0, 1]");
    }
}

#[test]
fn adversarial_inputs_stay_in_the_eps_ball_and_in_the_unit_box() {
    let model = trained(Rule::Bp);
    let data = test_split();
    for (attack, norm, eps) in [
        (AttackKind::Pgd, Norm::Linf, 0.1),
        (AttackKind::Pgd, Norm::Linf, 0.02),
        (AttackKind::Pgd, Norm::L2, 1.5),
        (AttackKind::Pgd, Norm::L2, 0.3),
        (AttackKind::Fgsm, Norm::Linf, 0.05),
    ] {
        let s = AttackSettings { norm, restarts: 2, ..settings(attack, &[eps], 150) };
        let s = if attack == AttackKind::Fgsm { AttackSettings { restarts: 1, ..s } } else { s };
        let perturbed = perturb(model, data, &s, eps).unwrap();
        assert_in_ball(&perturbed, norm, &format!("{attack} {norm} {eps}"));
        // the attack does work: at these budgets some samples break
        let broken = (0..150).filter(|&i| perturbed.clean_correct[i] && perturbed.misclassified[i]).count();
        assert!(broken > 0, "{attack} {norm} {eps}: nothing broke");
    }
    let noisy = perturb(model, data, &settings(AttackKind::Noise, &[0.3], 150), 0.3).unwrap();
    assert!(noisy.inputs.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn a_zero_budget_gives_exactly_the_clean_accuracy() {
    let model = trained(Rule::Bp);
    for (attack, norm) in [
        (AttackKind::Pgd, Norm::Linf),
        (AttackKind::Pgd, Norm::L2),
        (AttackKind::Fgsm, Norm::Linf),
        (AttackKind::Noise, Norm::Linf),
    ] {
        let s = AttackSettings { norm, ..settings(attack, &[0.0, 0.05], 200) };
        let report = evaluate_robustness(model, test_split(), &s).unwrap();
        let at_zero = &report.per_eps[0];
        assert_eq!(at_zero.robust_accuracy, report.clean_accuracy, "{attack} {norm}");
        assert_eq!(at_zero.broken, 0, "{attack} {norm}");
        assert!((at_zero.adversarial_loss - report.clean_loss).abs() < 1e-6, "{attack} {norm}");
        assert!(report.per_eps[1].robust_accuracy <= report.clean_accuracy || attack == AttackKind::Noise);
        assert!(report.clean_accuracy > 0.6, "the fixture net should have learnt something");
    }
}

/// Per-sample logits of `x` by a direct loop in f64 (independent of the GEMM code).
fn reference_logits(model: &Model, x: &[f32]) -> Vec<f64> {
    let mlp = &model.mlp;
    let mut h: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for l in 0..mlp.num_layers() {
        let (din, dout) = mlp.layer_dims(l);
        let (w, b) = (model.weight_t(l), model.bias(l));
        let a: Vec<f64> =
            (0..dout).map(|o| b[o] as f64 + (0..din).map(|k| w[o * din + k] as f64 * h[k]).sum::<f64>()).collect();
        h = if l + 1 < mlp.num_layers() {
            a.iter()
                .map(|&v| match mlp.activation() {
                    Activation::Relu => v.max(0.0),
                    Activation::Tanh => v.tanh(),
                    Activation::Linear => v,
                })
                .collect()
        } else {
            a
        };
    }
    h
}

/// Per-sample cross-entropy of `x`, in f64.
fn reference_loss(model: &Model, x: &[f32], y: u8) -> f64 {
    let h = reference_logits(model, x);
    let max = h.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    h.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max - h[y as usize]
}

/// Per-sample logit margin `max_{j != y} z_j - z_y` of `x`, in f64.
fn reference_margin(model: &Model, x: &[f32], y: u8) -> f64 {
    let h = reference_logits(model, x);
    let other =
        h.iter().enumerate().filter(|&(k, _)| k != y as usize).map(|(_, &v)| v).fold(f64::NEG_INFINITY, f64::max);
    other - h[y as usize]
}

#[test]
fn the_true_input_gradient_equals_central_finite_differences_of_the_loss() {
    for (act, loss) in Activation::ALL.into_iter().flat_map(|a| OutputLoss::ALL.map(|l| (a, l))) {
        let mlp = Mlp::new(&[12, 10, 8, 4], act);
        let mut model = init_model(&mlp, Rule::Fa, 0.0, 7);
        for l in 0..mlp.num_layers() {
            for (k, p) in model.params[mlp.bias_range(l)].iter_mut().enumerate() {
                *p = 0.1 * (k as f32 + 1.0).sin();
            }
        }
        let n = 3;
        let x: Vec<f32> = (0..12 * n).map(|i| (i as f32 * 0.613).sin() * 0.5 + 0.5).collect();
        let y: Vec<u8> = vec![0, 2, 3];
        let grad = loss_input_gradient(&model, &GradientSource::True, loss, &x, &y).unwrap();
        // f64 reference loss, so the difference quotient is limited only by truncation
        // (h^2) and the gradient by f32 round-off: 1e-3 relative is ample yet sharp.
        let h = 1e-4;
        for s in 0..n {
            for k in 0..12 {
                let mut xs: Vec<f32> = x[s * 12..(s + 1) * 12].to_vec();
                let orig = xs[k];
                xs[k] = orig + h;
                let reference = |xs: &[f32]| match loss {
                    OutputLoss::CrossEntropy => reference_loss(&model, xs, y[s]),
                    OutputLoss::Margin => reference_margin(&model, xs, y[s]),
                };
                let up = reference(&xs);
                xs[k] = orig - h;
                let down = reference(&xs);
                let fd = (up - down) / (2.0 * h as f64);
                let g = grad[s * 12 + k] as f64;
                assert!(
                    (fd - g).abs() <= 1e-3 * (fd.abs() + 1e-2),
                    "{act} {loss} sample {s} input {k}: fd {fd} vs {g}"
                );
            }
        }
    }
}

#[test]
fn the_feedback_gradient_of_a_model_with_transposed_feedback_is_the_true_gradient() {
    let bp = trained(Rule::Bp);
    let mut mirrored = bp.clone();
    mirrored.rule = Rule::Fa;
    mirrored.feedback = Feedback::Matrices((0..bp.mlp.num_layers()).map(|l| bp.weight_t(l).to_vec()).collect());
    let (x, y) = clean_inputs(test_split(), 20);
    let truth = loss_input_gradient(bp, &GradientSource::True, OutputLoss::CrossEntropy, &x, &y).unwrap();
    let feedback = loss_input_gradient(&mirrored, &GradientSource::Feedback, OutputLoss::CrossEntropy, &x, &y).unwrap();
    assert_eq!(truth, feedback, "B_l = W_l^T: identical arithmetic, identical bits");
    // and bp's own feedback path is its true gradient
    assert_eq!(truth, loss_input_gradient(bp, &GradientSource::Feedback, OutputLoss::CrossEntropy, &x, &y).unwrap());
    // whole attacks agree too
    let s = settings(AttackKind::Pgd, &[0.05], 100);
    let fb = AttackSettings { gradient: GradientSource::Feedback, ..s.clone() };
    let a = evaluate_robustness(bp, test_split(), &s).unwrap();
    let b = evaluate_robustness(&mirrored, test_split(), &fb).unwrap();
    assert_eq!(a.success, b.success);
    assert_eq!(a.per_eps[0].robust_accuracy, b.per_eps[0].robust_accuracy);
    assert_eq!(b.settings.gradient, GradientName::Feedback);
}

#[test]
fn a_random_feedback_path_differs_from_the_true_gradient_and_dfa_has_none() {
    let fa = trained(Rule::Fa);
    let (x, y) = clean_inputs(test_split(), 5);
    let truth = loss_input_gradient(fa, &GradientSource::True, OutputLoss::CrossEntropy, &x, &y).unwrap();
    let feedback = loss_input_gradient(fa, &GradientSource::Feedback, OutputLoss::CrossEntropy, &x, &y).unwrap();
    assert_ne!(truth, feedback);
    let dfa = init_model(&Mlp::new(&[784, 16, 10], Activation::Relu), Rule::Dfa, 0.0, 1);
    let s = AttackSettings { gradient: GradientSource::Feedback, ..settings(AttackKind::Pgd, &[0.1], 10) };
    let err = evaluate_robustness(&dfa, test_split(), &s).unwrap_err();
    assert!(matches!(&err, Error::Config { flag, .. } if flag == "--gradient"), "{err}");
    assert!(err.to_string().contains("no feedback path to the input"), "{err}");
}

#[test]
fn more_restarts_never_raise_robust_accuracy() {
    let model = trained(Rule::Bp);
    let base = AttackSettings { steps: 5, ..settings(AttackKind::Pgd, &[0.01, 0.03], 300) };
    let one = evaluate_robustness(model, test_split(), &base).unwrap();
    let three = evaluate_robustness(model, test_split(), &AttackSettings { restarts: 3, ..base }).unwrap();
    for e in 0..2 {
        assert!(three.per_eps[e].robust_accuracy <= one.per_eps[e].robust_accuracy);
        // per sample: whatever breaks with one restart breaks with three (restart 0 is shared)
        for (i, (&b1, &b3)) in one.success[e].iter().zip(&three.success[e]).enumerate() {
            assert!(!b1 || b3, "eps {}: sample {i} survived more restarts", base_eps(e));
        }
    }
}

fn base_eps(e: usize) -> f32 {
    [0.01, 0.03][e]
}

#[test]
fn one_pgd_step_without_random_start_and_of_size_eps_is_fgsm() {
    let model = trained(Rule::Bp);
    for eps in [0.02, 0.1] {
        let fgsm = perturb(model, test_split(), &settings(AttackKind::Fgsm, &[eps], 200), eps).unwrap();
        let pgd = AttackSettings {
            steps: 1,
            random_start: false,
            step_size: Some(eps),
            ..settings(AttackKind::Pgd, &[eps], 200)
        };
        let pgd = perturb(model, test_split(), &pgd, eps).unwrap();
        assert_eq!(fgsm, pgd, "eps {eps}");
    }
}

#[test]
fn the_same_seed_gives_identical_results_whatever_the_threads_and_batching() {
    let model = trained(Rule::Bp);
    let s = AttackSettings { restarts: 2, ..settings(AttackKind::Pgd, &[0.02, 0.05], 250) };
    let run = |threads: usize, batch: usize, seed: u64| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| evaluate_robustness(model, test_split(), &AttackSettings { batch, seed, ..s.clone() }).unwrap())
    };
    let reference = run(2, 128, 5);
    for (threads, batch) in [(2, 128), (1, 128), (2, 7), (3, 2)] {
        let again = run(threads, batch, 5);
        assert_eq!(again.success, reference.success, "{threads} threads, batch {batch}");
        assert_eq!(again.per_eps, reference.per_eps, "{threads} threads, batch {batch}");
    }
    assert_eq!(serde_json::to_string(&run(1, 16, 5)).unwrap(), serde_json::to_string(&reference).unwrap());
    let other_seed = perturb(model, test_split(), &AttackSettings { seed: 6, ..s.clone() }, 0.02).unwrap();
    let same_seed = perturb(model, test_split(), &AttackSettings { seed: 5, ..s.clone() }, 0.02).unwrap();
    assert_ne!(other_seed.inputs, same_seed.inputs);
    // noise is seeded the same way
    let noise = settings(AttackKind::Noise, &[0.2], 250);
    let a = perturb(model, test_split(), &noise, 0.2).unwrap();
    let b = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| perturb(model, test_split(), &AttackSettings { batch: 3, ..noise.clone() }, 0.2).unwrap());
    assert_eq!(a, b);
}

#[test]
fn early_exit_gives_the_same_per_sample_outcome_as_running_every_step() {
    let model = trained(Rule::Bp);
    for (norm, eps) in [(Norm::Linf, 0.02), (Norm::L2, 0.5)] {
        let s = AttackSettings { norm, restarts: 2, steps: 10, ..settings(AttackKind::Pgd, &[eps], 250) };
        let all_steps = AttackSettings { early_exit: false, ..s.clone() };
        let fast = evaluate_robustness(model, test_split(), &s).unwrap();
        let slow = evaluate_robustness(model, test_split(), &all_steps).unwrap();
        assert_eq!(fast.success, slow.success, "{norm}");
        let (f, w) = (&fast.per_eps[0], &slow.per_eps[0]);
        assert_eq!(
            (f.robust_accuracy, f.broken, f.adversarial_loss),
            (w.robust_accuracy, w.broken, w.adversarial_loss)
        );
        assert!(f.gradient_passes < w.gradient_passes, "{norm}: early exit should save work");
        // every clean-correct sample runs all 10 steps of both restarts without early exit
        let correct = (report_correct(&slow)) as u64;
        assert_eq!(w.gradient_passes, correct * 2 * 10, "{norm}");
        let a = perturb(model, test_split(), &s, eps).unwrap();
        let b = perturb(model, test_split(), &all_steps, eps).unwrap();
        assert_eq!(a, b, "{norm}: the kept adversarial inputs agree too");
    }
}

fn report_correct(report: &diag::analysis::attack::RobustnessReport) -> usize {
    (report.clean_accuracy * report.settings.samples as f64).round() as usize
}

#[test]
fn transfer_crafts_on_the_source_and_rejects_mismatched_models() {
    let model = trained(Rule::Bp);
    let s = settings(AttackKind::Pgd, &[0.05], 120);
    // a copy of the model as the source is the white-box attack
    let itself = AttackSettings {
        gradient: GradientSource::Transfer { source: model.clone(), name: "copy".into() },
        ..s.clone()
    };
    let white_box = evaluate_robustness(model, test_split(), &s).unwrap();
    let transfer = evaluate_robustness(model, test_split(), &itself).unwrap();
    assert_eq!(white_box.success, transfer.success);
    assert_eq!(transfer.settings.gradient, GradientName::Transfer);
    assert_eq!(transfer.settings.transfer_source.as_deref(), Some("copy"));
    // from another net it still transfers somewhat, and never beats the clean accuracy
    let fa = trained(Rule::Fa).clone();
    let from_fa = AttackSettings { gradient: GradientSource::Transfer { source: fa, name: "fa".into() }, ..s.clone() };
    let transferred = evaluate_robustness(model, test_split(), &from_fa).unwrap();
    assert!(transferred.per_eps[0].robust_accuracy <= transferred.clean_accuracy);

    let narrow = init_model(&Mlp::new(&[100, 8, 10], Activation::Relu), Rule::Bp, 0.0, 1);
    let wrong = AttackSettings {
        gradient: GradientSource::Transfer { source: narrow, name: "narrow.safetensors".into() },
        ..s.clone()
    };
    let err = evaluate_robustness(model, test_split(), &wrong).unwrap_err();
    assert!(matches!(&err, Error::Config { flag, .. } if flag == "--gradient"), "{err}");
    let message = err.to_string();
    assert!(message.contains("100 inputs") && message.contains("784") && message.contains("narrow"), "{message}");
    let x = vec![0.5f32; 784];
    assert!(loss_input_gradient(model, &wrong.gradient, OutputLoss::CrossEntropy, &x, &[1]).is_err());
}

#[test]
fn reports_echo_every_setting_and_hold_the_success_matrix() {
    let model = trained(Rule::Bp);
    let s = AttackSettings {
        norm: Norm::L2,
        steps: 7,
        restarts: 2,
        seed: 11,
        ..settings(AttackKind::Pgd, &[0.2, 1.0], 64)
    };
    let report = evaluate_robustness(model, test_split(), &s).unwrap();
    let echo = &report.settings;
    assert_eq!(
        (echo.attack, echo.norm, echo.steps, echo.restarts, echo.seed),
        (AttackKind::Pgd, Some(Norm::L2), 7, 2, 11)
    );
    assert_eq!((echo.samples, echo.random_start, echo.gradient), (64, true, GradientName::True));
    assert_eq!(echo.eps, [0.2, 1.0]);
    assert!((echo.step_size[1] - 2.5 * 1.0 / 7.0).abs() < 1e-7);
    assert_eq!(report.success.len(), 2);
    for (e, row) in report.success.iter().enumerate() {
        assert_eq!(row.len(), 64);
        let robust = row.iter().filter(|&&m| !m).count() as f64 / 64.0;
        assert_eq!(robust, report.per_eps[e].robust_accuracy);
        let r = &report.per_eps[e];
        let correct = report.clean_accuracy * 64.0;
        assert!((r.attack_success_rate - r.broken as f64 / correct).abs() < 1e-12);
        assert!(r.adversarial_loss >= report.clean_loss);
    }
    let json = serde_json::to_value(&report).unwrap();
    for key in ["settings", "per_eps", "success", "clean_accuracy"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["settings"]["norm"], "l2");
    assert_eq!(json["settings"]["gradient"], "true");
}

#[test]
fn example_grid_holds_clean_and_perturbed_images_with_predictions() {
    let model = trained(Rule::Bp);
    let s = settings(AttackKind::Pgd, &[0.1], 1000);
    let grid = adversarial_examples(model, test_split(), &s, 0.1, 6).unwrap();
    assert_eq!((grid.examples.len(), grid.dim, grid.settings.samples), (6, 784, 6));
    let perturbed = perturb(model, test_split(), &AttackSettings { samples: Some(6), ..s }, 0.1).unwrap();
    for (i, ex) in grid.examples.iter().enumerate() {
        assert_eq!(ex.sample, i);
        assert_eq!((ex.clean.len(), ex.perturbed.len()), (784, 784));
        assert!(linf_distance(&ex.clean, &ex.perturbed) <= 0.1 + 1e-6);
        assert_eq!(ex.perturbed_prediction != ex.label, perturbed.misclassified[i], "sample {i}");
        assert_eq!(ex.perturbed, perturbed.input(i));
    }
}

#[test]
fn bad_data_and_sample_counts_are_reported_not_panicked_on() {
    let model = trained(Rule::Bp);
    let too_many = settings(AttackKind::Pgd, &[0.1], 5000);
    let err = evaluate_robustness(model, test_split(), &too_many).unwrap_err();
    assert!(err.to_string().starts_with("--samples"), "{err}");
    let small = init_model(&Mlp::new(&[10, 4, 10], Activation::Relu), Rule::Bp, 0.0, 1);
    let err = evaluate_robustness(&small, test_split(), &settings(AttackKind::Pgd, &[0.1], 10)).unwrap_err();
    assert!(err.to_string().contains("784 values but the model takes 10"), "{err}");
    let bad = AttackSettings { eps: vec![2.0], ..settings(AttackKind::Pgd, &[0.1], 10) };
    assert!(evaluate_robustness(model, test_split(), &bad).unwrap_err().to_string().starts_with("--eps"));
}

/// A model whose softmax saturates (its logits scaled by 1e4): the cross-entropy gradient of
/// a confidently classified sample underflows to zero and PGD stalls, while the margin's
/// gradient does not depend on the scale. The margin attack must break strictly more
/// samples, and its perturbations stay inside the ball and the box.
#[test]
fn the_margin_loss_attacks_a_saturated_model_that_cross_entropy_cannot_move() {
    let mut saturated = trained(Rule::Bp).clone();
    let last = saturated.mlp.num_layers() - 1;
    let range = saturated.mlp.layer_range(last);
    for p in &mut saturated.params[range] {
        *p *= 1e4;
    }
    let (x, y) = clean_inputs(test_split(), 50);
    let ce = loss_input_gradient(&saturated, &GradientSource::True, OutputLoss::CrossEntropy, &x, &y).unwrap();
    let margin = loss_input_gradient(&saturated, &GradientSource::True, OutputLoss::Margin, &x, &y).unwrap();
    let zero_columns = |g: &[f32]| g.chunks(784).filter(|c| c.iter().all(|&v| v == 0.0)).count();
    assert!(zero_columns(&ce) > 25, "most cross-entropy gradients vanish: {}", zero_columns(&ce));
    assert_eq!(zero_columns(&margin), 0, "no margin gradient vanishes");

    let eps = 0.05;
    let ce_settings = AttackSettings { random_start: false, ..settings(AttackKind::Pgd, &[eps], 200) };
    let margin_settings = AttackSettings { loss: OutputLoss::Margin, ..ce_settings.clone() };
    let with_ce = evaluate_robustness(&saturated, test_split(), &ce_settings).unwrap();
    let with_margin = evaluate_robustness(&saturated, test_split(), &margin_settings).unwrap();
    assert_eq!(with_ce.clean_accuracy, with_margin.clean_accuracy);
    let (ce_acc, margin_acc) = (with_ce.per_eps[0].robust_accuracy, with_margin.per_eps[0].robust_accuracy);
    // (here: cross-entropy 83.5% = the clean accuracy, margin 40.5%)
    assert!(margin_acc + 0.2 < ce_acc, "margin {margin_acc} vs cross-entropy {ce_acc}");
    assert_eq!(with_margin.settings.loss, Some(OutputLoss::Margin));
    assert_in_ball(&perturb(&saturated, test_split(), &margin_settings, eps).unwrap(), Norm::Linf, "margin pgd");
}
