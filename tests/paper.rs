//! `diag paper --quick` end to end, on a reduced grid so it fits the test budget: the sweep
//! trains every point, the report renders the figure set, and a second call reuses both.

mod util;

use util::Sandbox;

const ARGS: &[&str] = &[
    "paper",
    "--quick",
    "--sweep",
    "sw",
    "--out",
    "rep",
    "--depths",
    "1,2",
    "--width",
    "16",
    "--seeds",
    "0",
    "--epochs",
    "1",
    "--rules",
    "bp,fa,ifa",
    "--align-angles",
    "30",
];

#[test]
fn paper_quick_runs_the_sweep_and_the_report_and_resumes_for_free() {
    let sb = Sandbox::new();
    let run = sb.diag(ARGS);
    run.ok();
    let mut runs: Vec<String> = std::fs::read_dir(sb.path("sw/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        ["d1-w16-bp-s0", "d1-w16-fa-s0", "d1-w16-ifa30-s0", "d2-w16-bp-s0", "d2-w16-fa-s0", "d2-w16-ifa30-s0"]
    );
    for k in 1..=6 {
        let found = std::fs::read_dir(sb.path("rep"))
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(&format!("fig{k}_")));
        assert!(found, "figure {k} missing");
    }
    let table = std::fs::read_to_string(sb.path("rep/summary.md")).unwrap();
    assert_eq!(table.lines().count(), 2 + 6, "{table}");
    // the commands it ran are printed, so either half can be re-run alone
    let err = run.stderr();
    assert!(err.contains("diag sweep --out sw") && err.contains("diag report sw --out rep --quick"), "{err}");

    // Again: nothing is trained and every analysis comes from the cache.
    let again = sb.diag(ARGS);
    again.ok();
    let err = again.stderr();
    assert!(err.contains("0 analyses computed, 24 from the cache"), "{err}");
}
