//! `diag train` and `diag eval` end to end on the embedded fixture.

mod util;

use diag::data::idx;
use safetensors::SafeTensors;
use util::Sandbox;

const SMALL: &[&str] = &[
    "--data", "fixture", "--subset", "1000", "--lr", "0.02", "--hidden", "32,16", "--epochs", "2", "--batch", "50",
    "--quiet",
];

fn train(sb: &Sandbox, out: &str, extra: &[&str]) -> util::Run {
    let mut args = vec!["train", "--out", out];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    sb.diag(&args)
}

#[test]
fn train_writes_a_complete_run_that_eval_and_safetensors_can_read() {
    let sb = Sandbox::new();
    let summary = train(&sb, "runs/ifa30", &["--rule", "ifa", "--align-angle", "30", "--ckpt-every", "10"]).ok();
    assert!(summary.contains("test accuracy"), "{summary}");

    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("runs/ifa30/run.json")).unwrap()).unwrap();
    assert_eq!(info["status"], "completed");
    assert_eq!(info["rule"], "ifa");
    assert!((info["alpha"].as_f64().unwrap() - 30f64.to_radians().cos()).abs() < 1e-12);
    assert_eq!(info["sizes"], serde_json::json!([784, 32, 16, 10]));
    assert_eq!(info["data"]["train_samples"], 1000);
    let acc = info["summary"]["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.4, "a 2-epoch run on 1000 fixture images should beat chance (10%) by far: {acc}");

    // checkpoints at 0, every 10 steps, and the last (40)
    let steps: Vec<u64> = diag::ckpt::list_checkpoints(&diag::ckpt::RunDir::new(sb.path("runs/ifa30")))
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(steps, [0, 10, 20, 30, 40]);

    // the safetensors crate reads the documented names, shapes and metadata
    let bytes = std::fs::read(sb.path("runs/ifa30/step-00000040.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.feedback",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.feedback",
            "layers.1.weight",
            "layers.2.bias",
            "layers.2.feedback",
            "layers.2.weight"
        ]
    );
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), [32, 784]);
    assert_eq!(st.tensor("layers.0.feedback").unwrap().shape(), [32, 784]);
    assert_eq!(st.tensor("layers.2.bias").unwrap().shape(), [10]);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["rule"], "ifa");
    assert_eq!(meta["seed"], "0");
    assert_eq!(meta["step"], "40");

    // metrics: test records per epoch (0, 1, 2) and train records
    let metrics = std::fs::read_to_string(sb.path("runs/ifa30/metrics.jsonl")).unwrap();
    let tests: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["kind"] == "test")
        .collect();
    assert_eq!(tests.iter().map(|r| r["epoch"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);

    let eval: serde_json::Value = serde_json::from_str(&sb.diag(&["eval", "runs/ifa30", "--json"]).ok()).unwrap();
    assert_eq!(eval["step"], 40);
    assert_eq!(eval["samples"], 1000);
    assert!((eval["accuracy"].as_f64().unwrap() - acc).abs() < 1e-12, "eval agrees with the run's own final figure");
    let text = sb.diag(&["eval", "runs/ifa30", "--ckpt", "0"]).ok();
    assert!(text.contains("step 0"), "{text}");

    let table = sb.diag(&["summary", "runs/ifa30", "--at-epochs", "1,2"]).ok();
    assert!(table.contains("| runs/ifa30 | ifa | 30° | completed |"), "{table}");
    assert!(table.contains(&format!("{:.2}%", 100.0 * acc)), "final accuracy in the table: {table}");
}

#[test]
fn same_seed_is_bit_identical_and_resume_equals_an_uninterrupted_run() {
    let sb = Sandbox::new();
    train(&sb, "a", &["--rule", "fa", "--ckpt-every", "15"]).ok();
    train(&sb, "b", &["--rule", "fa", "--ckpt-every", "15"]).ok();
    let stopped = train(&sb, "c", &["--rule", "fa", "--ckpt-every", "15", "--stop-after", "30"]).ok();
    assert!(stopped.contains("stopped after 30 steps"), "{stopped}");
    let info = std::fs::read_to_string(sb.path("c/run.json")).unwrap();
    assert!(info.contains("\"interrupted\""));
    sb.diag(&["train", "--out", "c", "--resume", "--quiet"]).ok();
    for run in ["b", "c"] {
        for file in [
            "step-00000000.safetensors",
            "step-00000015.safetensors",
            "step-00000030.safetensors",
            "step-00000040.safetensors",
            "metrics.jsonl",
        ] {
            let a = std::fs::read(sb.path("a").join(file)).unwrap();
            let other = std::fs::read(sb.path(run).join(file)).unwrap();
            assert!(a == other, "{run}/{file} differs from a/{file}");
        }
    }
    // resuming with a configuration flag is refused
    sb.diag(&["train", "--out", "c", "--resume", "--lr", "0.1"]).fails_with(1, &["--lr", "--resume"]);
}

#[test]
fn divergence_is_recorded_and_exits_non_zero() {
    let sb = Sandbox::new();
    let hot = |out: &str, extra: &[&str]| {
        let mut args = vec!["train", "--out", out, "--rule", "fa", "--activation", "linear"];
        args.extend_from_slice(&SMALL[..4]);
        args.extend_from_slice(&SMALL[6..]);
        args.extend_from_slice(extra);
        sb.diag(&args)
    };
    // the SPEC condition: a non-finite loss
    hot("fa-nan", &["--lr", "1e5"]).fails_with(3, &["diverged at step", "fa-nan", "non-finite"]);
    // an opt-in bound on a finite blow-up
    hot("fa-hot", &["--lr", "50", "--divergence-loss", "1e4"]).fails_with(3, &["fa-hot", "exceeds --divergence-loss"]);
    for run in ["fa-nan", "fa-hot"] {
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sb.path(run).join("run.json")).unwrap()).unwrap();
        assert_eq!(info["status"], "diverged");
        assert!(info["diverged"]["step"].as_u64().unwrap() > 0);
        assert!(sb.path(run).join("step-00000000.safetensors").exists(), "checkpoints are kept");
    }
}

fn write_idx(dir: &std::path::Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let img = |n: usize| (0..n * 784).map(|i| (i % 256) as u8).collect::<Vec<u8>>();
    let lab = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<u8>>();
    idx::write_images(&dir.join("train-images-idx3-ubyte"), &img(n_train), n_train, 28, 28, false).unwrap();
    idx::write_labels(&dir.join("train-labels-idx1-ubyte"), &lab(n_train), false).unwrap();
    idx::write_images(&dir.join("t10k-images-idx3-ubyte.gz"), &img(n_test), n_test, 28, 28, true).unwrap();
    idx::write_labels(&dir.join("t10k-labels-idx1-ubyte.gz"), &lab(n_test), true).unwrap();
}

#[test]
fn bad_input_gets_one_line_naming_the_file_or_flag_and_leaves_no_run() {
    let sb = Sandbox::new();
    let bad = |args: &[&str], needles: &[&str]| {
        let mut full = vec!["train", "--out", "bad-run", "--hidden", "8", "--epochs", "1", "--quiet"];
        full.extend_from_slice(args);
        sb.diag(&full).fails_with(1, needles);
        assert!(!sb.path("bad-run").exists(), "no run directory after {args:?}");
    };
    bad(&["--data", "idx:missing-dir"], &["missing-dir"]);
    bad(&["--rule", "ifa", "--align", "1.5"], &["--align", "1.5"]);
    bad(&["--rule", "ifa", "--align-angle", "120"], &["--align-angle"]);
    bad(&["--rule", "ifa"], &["--align"]);
    bad(&["--rule", "fa", "--align", "0.5"], &["--align"]);
    bad(&["--lr=-1"], &["--lr"]);
    bad(&["--subset", "999999"], &["--subset"]);

    // usage errors come from the parser (exit 2)
    let usage = |args: &[&str], needle: &str| {
        let mut full = vec!["train", "--out", "bad-run"];
        full.extend_from_slice(args);
        let run = sb.diag(&full);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
        assert!(run.stderr().contains(needle), "{args:?}: {}", run.stderr());
        assert!(!sb.path("bad-run").exists());
    };
    usage(&["--rule", "backprop"], "backprop");
    usage(&["--hidden", ""], "--hidden");
    usage(&["--rule", "ifa", "--align", "0.5", "--align-angle", "30"], "--align-angle");

    // corrupt IDX folders
    let good = sb.path("good");
    write_idx(&good, 20, 10);
    sb.diag(&[
        "train", "--out", "ok-run", "--data", "idx:good", "--hidden", "8", "--epochs", "1", "--batch", "10", "--quiet",
    ])
    .ok();

    let case = |name: &str, mutate: &dyn Fn(&std::path::Path), needles: &[&str]| {
        let dir = sb.path(name);
        write_idx(&dir, 20, 10);
        mutate(&dir);
        bad(&["--data", &format!("idx:{name}")], needles);
    };
    case(
        "magic",
        &|d| {
            let p = d.join("train-images-idx3-ubyte");
            let mut b = std::fs::read(&p).unwrap();
            b[3] = 0x01;
            std::fs::write(&p, b).unwrap();
        },
        &["train-images-idx3-ubyte", "magic"],
    );
    case(
        "truncated",
        &|d| {
            let p = d.join("train-images-idx3-ubyte");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() - 100]).unwrap();
        },
        &["train-images-idx3-ubyte", "truncated"],
    );
    case(
        "mismatch",
        &|d| {
            idx::write_labels(&d.join("train-labels-idx1-ubyte"), &[1u8; 19], false).unwrap();
        },
        &["train-labels-idx1-ubyte"],
    );
    case(
        "nolabels",
        &|d| {
            std::fs::remove_file(d.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        },
        &["t10k-labels-idx1-ubyte"],
    );
}

#[test]
fn an_existing_run_is_not_overwritten_without_force() {
    let sb = Sandbox::new();
    train(&sb, "r", &[]).ok();
    train(&sb, "r", &[]).fails_with(1, &["--out", "already exists"]);
    train(&sb, "r", &["--force"]).ok();
}

#[test]
fn robustness_reports_every_setting_and_rejects_bad_budgets() {
    let sb = Sandbox::new();
    train(&sb, "fa", &["--rule", "fa"]).ok();
    let out: serde_json::Value = serde_json::from_str(
        &sb.diag(&[
            "robustness",
            "fa",
            "--attack",
            "all",
            "--eps",
            "0:0.2:3",
            "--grad",
            "true,feedback",
            "--samples",
            "200",
            "--json",
            "--out",
            "rob",
        ])
        .ok(),
    )
    .unwrap();
    let results = out.as_array().unwrap();
    // fgsm and pgd for each gradient source, noise once
    assert_eq!(results.len(), 5);
    for r in results {
        let settings = &r["report"]["settings"];
        assert_eq!(settings["samples"], 200);
        assert_eq!(settings["eps"].as_array().unwrap().len(), 3);
        let per_eps = r["report"]["per_eps"].as_array().unwrap();
        assert_eq!(per_eps[0]["robust_accuracy"], per_eps[0]["clean_accuracy"], "eps 0 is the clean accuracy");
        if settings["gradient"] == "feedback" {
            assert_eq!(r["claim"], "gradient-masking control, not a robustness claim");
        }
    }
    for file in ["robust_accuracy.png", "robust_accuracy.csv", "gradient_sources.png", "index.html"] {
        assert!(sb.path("rob").join(file).exists(), "{file}");
    }
    sb.diag(&["robustness", "fa", "--eps", "1.5"]).fails_with(1, &["--eps", "1.5"]);
    sb.diag(&["robustness", "fa", "--eps", "0.3:0.1:3"]).fails_with(1, &["--eps"]);
    sb.diag(&["robustness", "fa", "--grad", "transfer:nowhere"]).fails_with(1, &["nowhere"]);
}

#[test]
fn hessian_reports_the_top_eigenvalue_of_each_checkpoint() {
    let sb = Sandbox::new();
    train(&sb, "bp", &[]).ok();
    let out: serde_json::Value = serde_json::from_str(
        &sb.diag(&["hessian", "bp", "--ckpt", "all", "--samples", "64", "--trace", "--json", "--out", "h"]).ok(),
    )
    .unwrap();
    let rows = out.as_array().unwrap();
    assert_eq!(rows.len(), 3, "checkpoints at steps 0, 20 and 40");
    for r in rows {
        assert!(r["top_eigenvalue"]["eigenvalue"].as_f64().unwrap().is_finite());
        assert_eq!(r["samples"], 64);
        assert!(r["trace"]["std_error"].as_f64().unwrap() > 0.0);
    }
    assert!(sb.path("h").join("hessian_sharpness.png").exists());

    // One layer's block: by Cauchy interlacing its extreme eigenvalues lie within the full
    // Hessian's, so its largest magnitude cannot exceed the full one's.
    let top = |extra: &[&str]| -> f64 {
        let mut args = vec!["hessian", "bp", "--samples", "64", "--json"];
        args.extend_from_slice(extra);
        let out: serde_json::Value = serde_json::from_str(&sb.diag(&args).ok()).unwrap();
        out[0]["top_eigenvalue"]["eigenvalue"].as_f64().unwrap().abs()
    };
    let full = top(&[]);
    for layer in ["1", "2"] {
        let block = top(&["--layer", layer]);
        assert!(block > 0.0 && block <= full * (1.0 + 1e-3), "layer {layer}: {block} vs full {full}");
    }
    sb.diag(&["hessian", "bp", "--layer", "9"]).fails_with(1, &["--layer", "9"]);
}

#[test]
fn landscape_slices_pass_through_the_checkpoint() {
    let sb = Sandbox::new();
    train(&sb, "bp", &[]).ok();
    let out: serde_json::Value = serde_json::from_str(
        &sb.diag(&["landscape", "bp", "--range", "-1:1:5", "--samples", "128", "--json", "--out", "l"]).ok(),
    )
    .unwrap();
    let slice = &out[0]["slice"];
    let s: Vec<f64> = serde_json::from_value(slice["s"].clone()).unwrap();
    let loss: Vec<f64> = serde_json::from_value(slice["loss"].clone()).unwrap();
    assert_eq!(s[2], 0.0);
    assert!(loss[2] <= loss[0] && loss[2] <= loss[4], "the trained weights sit lower than a unit step away: {loss:?}");
    assert!(sb.path("l").join("landscape_random.png").exists());
    sb.diag(&["landscape", "bp", "--dims", "2", "--dir", "interp"]).fails_with(1, &["--dims 2"]);
}
