//! `diag report SWEEP_DIR`: the figure set and summary table of a folder of runs, with
//! analyses cached next to each run and recomputed exactly when their inputs change.

mod util;

use serde_json::Value;
use util::Sandbox;

/// Trains two tiny runs (bp and fa) into `sw/runs/`.
fn tiny_sweep(sb: &Sandbox) {
    for (name, rule) in [("d1-w16-bp-s0", "bp"), ("d1-w16-fa-s0", "fa")] {
        sb.diag(&[
            "train",
            "--out",
            &format!("sw/runs/{name}"),
            "--rule",
            rule,
            "--hidden",
            "16",
            "--subset",
            "256",
            "--epochs",
            "2",
            "--batch",
            "64",
            "--ckpt-every",
            "2",
            "--quiet",
        ])
        .ok();
    }
}

/// Runs the report with small evaluation sets and returns its JSON output.
fn report(sb: &Sandbox, robust_samples: &str) -> Value {
    let out = sb
        .diag(&[
            "report",
            "sw",
            "--quick",
            "--align-samples",
            "32",
            "--hessian-samples",
            "64",
            "--trace-probes",
            "4",
            "--robust-samples",
            robust_samples,
            "--pgd-steps",
            "3",
            "--json",
            "--quiet",
        ])
        .ok();
    serde_json::from_str(&out).expect("report JSON")
}

fn counts(v: &Value) -> (u64, u64) {
    (v["counts"]["computed"].as_u64().unwrap(), v["counts"]["cached"].as_u64().unwrap())
}

#[test]
fn report_writes_the_figure_set_and_recomputes_exactly_when_inputs_change() {
    let sb = Sandbox::new();
    tiny_sweep(&sb);

    // First report: four analyses per run, all computed.
    let first = report(&sb, "40");
    assert_eq!(first["runs"], 2);
    assert_eq!(counts(&first), (8, 0));
    for k in 1..=6 {
        let pngs: Vec<_> = std::fs::read_dir(sb.path("sw/report"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("fig{k}_")) && n.ends_with(".png"))
            .collect();
        assert_eq!(pngs.len(), 1, "figure {k}");
    }
    let table = std::fs::read_to_string(sb.path("sw/report/summary.md")).unwrap();
    assert_eq!(table.lines().count(), 2 + 2, "header, rule and one row per configuration:\n{table}");
    let csv = std::fs::read_to_string(sb.path("sw/report/summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    let index = std::fs::read_to_string(sb.path("sw/report/index.html")).unwrap();
    assert!(index.contains("fig1_accuracy_vs_depth.png") && index.contains("summary.csv"));

    // Nothing changed: everything from the cache, same numbers.
    let second = report(&sb, "40");
    assert_eq!(counts(&second), (0, 8));
    assert_eq!(first["rows"], second["rows"]);

    // A robustness setting changed: only the robustness of each run is recomputed.
    let third = report(&sb, "50");
    assert_eq!(counts(&third), (2, 6));

    // One run's last checkpoint changed: that run's four analyses are recomputed (its
    // alignment reads every checkpoint, the others the last one).
    let run = sb.path("sw/runs/d1-w16-fa-s0");
    let mut ckpts: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("step-"))
        .collect();
    ckpts.sort();
    std::fs::copy(&ckpts[0], ckpts.last().unwrap()).unwrap();
    let fourth = report(&sb, "50");
    assert_eq!(counts(&fourth), (4, 4));

    // Touching a file without changing it recomputes nothing.
    let bytes = std::fs::read(ckpts.last().unwrap()).unwrap();
    std::fs::write(ckpts.last().unwrap(), bytes).unwrap();
    assert_eq!(counts(&report(&sb, "50")), (0, 8));
}

#[test]
fn a_folder_without_runs_or_figures_gets_an_index_and_a_missing_folder_an_error() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("empty")).unwrap();
    let out = sb.diag(&["report", "empty"]).ok();
    assert!(out.contains("index.html"));
    sb.diag(&["report", "nowhere"]).fails_with(1, &["nowhere"]);
}
