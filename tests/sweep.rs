//! `diag sweep` end to end on tiny nets over the embedded fixture.

mod util;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use util::Sandbox;

const TINY: &[&str] = &["--data", "fixture", "--subset", "512", "--epochs", "1", "--batch", "64", "--width", "16"];

fn sweep(sb: &Sandbox, out: &str, grid: &[&str], extra: &[&str]) -> util::Run {
    let mut args = vec!["sweep", "--out", out, "--quiet"];
    args.extend_from_slice(grid);
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    sb.diag(&args)
}

/// `(name, state, action)` of every point, from `--json` output.
fn outcomes(stdout: &str) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_str(stdout).expect("outcomes JSON");
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let s = |x: &Value| x.as_str().unwrap().to_string();
            (s(&o["point"]["name"]), s(&o["state"]), s(&o["action"]))
        })
        .collect()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Checkpoints, resume state and metrics of a run (everything but run.json, which holds wall times).
fn run_files(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = util::files_below(run)
        .into_iter()
        .map(|f| f.to_string_lossy().into_owned())
        .filter(|f| f != "run.json")
        .map(|f| (f.clone(), std::fs::read(run.join(&f)).unwrap()))
        .collect();
    files.sort();
    assert!(files.iter().any(|(f, _)| f == "step-00000008.safetensors"), "final checkpoint in {}", run.display());
    files
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn an_interrupted_sweep_trains_only_the_missing_points() {
    let sb = Sandbox::new();
    let grid = ["--rules", "bp,fa,ifa", "--align-angles", "30", "--depths", "1", "--seeds", "0,1", "--jobs", "2"];
    let first = outcomes(&sweep(&sb, "sw", &grid, &["--json"]).ok());
    let names: Vec<&str> = first.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(
        names,
        ["d1-w16-bp-s0", "d1-w16-bp-s1", "d1-w16-fa-s0", "d1-w16-fa-s1", "d1-w16-ifa30-s0", "d1-w16-ifa30-s1"]
    );
    assert!(first.iter().all(|o| o.1 == "completed" && o.2 == "trained"), "{first:?}");
    let manifest = json_file(&sb.path("sw/sweep.json"));
    assert_eq!(manifest["format"], "diag-sweep/1");
    assert_eq!(manifest["points"].as_array().unwrap().len(), 6);
    let status = json_file(&sb.path("sw/sweep-status.json"));
    assert!(status["points"].as_array().unwrap().iter().all(|p| p["state"] == "completed"));
    assert!(!sb.path("sw/sweep.lock").exists(), "the lock is released");
    let before: Vec<_> = names.iter().map(|n| run_files(&sb.path(&format!("sw/runs/{n}")))).collect();

    // Simulate an interruption: one run never started, one killed with its resume state
    // on disk, one killed before any resume state.
    std::fs::remove_dir_all(sb.path("sw/runs/d1-w16-fa-s0")).unwrap();
    for name in ["d1-w16-ifa30-s1", "d1-w16-bp-s1"] {
        let path = sb.path(&format!("sw/runs/{name}/run.json"));
        let text = std::fs::read_to_string(&path).unwrap().replace("\"completed\"", "\"running\"");
        std::fs::write(&path, text).unwrap();
    }
    std::fs::remove_file(sb.path("sw/runs/d1-w16-bp-s1/resume.safetensors")).unwrap();
    let untouched = ["d1-w16-bp-s0", "d1-w16-fa-s1", "d1-w16-ifa30-s0"];
    let ckpt = |n: &str| sb.path(&format!("sw/runs/{n}/step-00000008.safetensors"));
    let times: Vec<_> = untouched.iter().map(|n| mtime(&ckpt(n))).collect();

    let second = outcomes(&sweep(&sb, "sw", &grid, &["--json"]).ok());
    let action = |name: &str| second.iter().find(|o| o.0 == name).unwrap().2.clone();
    assert_eq!(action("d1-w16-fa-s0"), "trained");
    assert_eq!(action("d1-w16-ifa30-s1"), "resumed");
    assert_eq!(action("d1-w16-bp-s1"), "retrained");
    for n in untouched {
        assert_eq!(action(n), "skipped");
    }
    assert!(second.iter().all(|o| o.1 == "completed"), "{second:?}");
    let times_after: Vec<_> = untouched.iter().map(|n| mtime(&ckpt(n))).collect();
    assert_eq!(times, times_after, "untouched points are not rewritten");
    // the re-trained points are bit-identical to their first runs
    for (n, files) in names.iter().zip(&before) {
        assert!(run_files(&sb.path(&format!("sw/runs/{n}"))) == *files, "{n} differs after the restart");
    }
    // a finished sweep has nothing left to do
    let third = outcomes(&sweep(&sb, "sw", &grid, &["--json"]).ok());
    assert!(third.iter().all(|o| o.2 == "skipped"), "{third:?}");
    // but its training flags may not change under it
    sweep(&sb, "sw", &grid, &["--lr", "0.02"]).fails_with(1, &["--out", "d1-w16-bp-s0", "lr"]);
}

#[test]
fn an_emitted_command_line_reproduces_the_point_bit_for_bit() {
    let sb = Sandbox::new();
    let grid = ["--rules", "fa,ifa", "--align-angles", "30", "--depths", "1,2", "--seeds", "3"];
    sweep(&sb, "a", &grid, &["--lr", "0.02"]).ok();
    let emitted = sweep(&sb, "b", &grid, &["--lr", "0.02", "--emit", "commands"]).ok();
    assert!(emitted.contains("b/commands.txt: 4 commands"), "{emitted}");
    assert!(!sb.path("b/runs").exists(), "--emit trains nothing");
    let commands = std::fs::read_to_string(sb.path("b/commands.txt")).unwrap();
    let lines: Vec<&str> = commands.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[3],
        "diag train --out b/runs/d2-w16-ifa30-s3 --rule ifa --align-angle 30 --hidden 16,16 --seed 3 \
         --data fixture --subset 512 --lr 0.02 --batch 64 --epochs 1 --quiet"
    );

    // run line 3 by hand, with another thread count than the sweep used
    let exe = env!("CARGO_BIN_EXE_diag");
    let line = lines[3].replacen("diag", &format!("'{exe}'"), 1);
    let status =
        Command::new("bash").args(["-c", &line]).current_dir(sb.dir.path()).env("RAYON_NUM_THREADS", "1").status();
    assert!(status.unwrap().success());
    let a = run_files(&sb.path("a/runs/d2-w16-ifa30-s3"));
    let b = run_files(&sb.path("b/runs/d2-w16-ifa30-s3"));
    assert_eq!(a.iter().map(|f| &f.0).collect::<Vec<_>>(), b.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert!(a == b, "the emitted line and the sweep wrote different files");

    // the sweep sees that point as done and trains only the other three
    let rest = outcomes(&sweep(&sb, "b", &grid, &["--lr", "0.02", "--json"]).ok());
    let trained: Vec<&str> = rest.iter().filter(|o| o.2 == "trained").map(|o| o.0.as_str()).collect();
    assert_eq!(trained, ["d1-w16-fa-s3", "d1-w16-ifa30-s3", "d2-w16-fa-s3"]);
    let left = sweep(&sb, "b", &grid, &["--lr", "0.02", "--emit", "commands"]).ok();
    assert!(left.contains("0 commands"), "{left}");
}

#[test]
fn the_slurm_script_is_valid_bash_and_task_i_runs_line_i() {
    let sb = Sandbox::new();
    let grid = ["--rules", "bp,ifa", "--align-angles", "0,45", "--depths", "1", "--seeds", "0"];
    let printed = sweep(&sb, "c", &grid, &["--emit", "slurm"]).ok();
    assert!(printed.contains("c/sweep.slurm"), "{printed}");
    let script = std::fs::read_to_string(sb.path("c/sweep.slurm")).unwrap();
    assert!(script.contains("#SBATCH --array=0-2\n"), "{script}");
    assert!(script.contains("#SBATCH --job-name=c\n"), "{script}");
    let check = Command::new("bash").args(["-n", "c/sweep.slurm"]).current_dir(sb.dir.path()).status().unwrap();
    assert!(check.success(), "bash -n");

    // a stub `diag` that records its arguments, one per line
    let bin = sb.path("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("diag"), "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$STUB_OUT\"\n").unwrap();
    let chmod = Command::new("chmod").args(["+x", bin.join("diag").to_str().unwrap()]).status().unwrap();
    assert!(chmod.success());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let task = |i: usize| {
        let out = sb.path(&format!("task{i}.txt"));
        let status = Command::new("bash")
            .arg("c/sweep.slurm")
            .current_dir(sb.dir.path())
            .env("PATH", &path)
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("STUB_OUT", &out)
            .status()
            .unwrap();
        (status.success(), std::fs::read_to_string(&out).unwrap_or_default())
    };
    let commands = std::fs::read_to_string(sb.path("c/commands.txt")).unwrap();
    let lines: Vec<&str> = commands.lines().collect();
    assert_eq!(lines.len(), 3);
    for i in [0, 2] {
        let (ok, args) = task(i);
        assert!(ok, "task {i}");
        let expected = lines[i].strip_prefix("diag ").unwrap().replace(' ', "\n") + "\n";
        assert_eq!(args, expected, "task {i} runs line {}", i + 1);
    }
    assert!(lines[2].contains("d1-w16-ifa45-s0"));
    let (ok, _) = task(3);
    assert!(!ok, "there is no task 3");
}

#[test]
fn a_failed_point_is_recorded_and_the_others_complete() {
    let sb = Sandbox::new();
    let grid = ["--rules", "bp,fa", "--depths", "1", "--seeds", "0,1", "--jobs", "2"];
    // a point whose run directory cannot be created
    std::fs::create_dir_all(sb.path("e/runs")).unwrap();
    std::fs::write(sb.path("e/runs/d1-w16-fa-s1"), b"in the way").unwrap();
    sweep(&sb, "e", &grid, &[]).fails_with(1, &["1 of 4 points failed", "e/logs"]);
    let status = json_file(&sb.path("e/sweep-status.json"));
    for p in status["points"].as_array().unwrap() {
        let name = p["point"]["name"].as_str().unwrap();
        let expected = if name == "d1-w16-fa-s1" { "failed" } else { "completed" };
        assert_eq!(p["state"], expected, "{name}");
        if name != "d1-w16-fa-s1" {
            assert_eq!(json_file(&sb.path(&format!("e/runs/{name}/run.json")))["status"], "completed");
        }
    }
    let log = std::fs::read_to_string(sb.path("e/logs/d1-w16-fa-s1.log")).unwrap();
    assert!(log.contains("d1-w16-fa-s1") && log.contains("diag:"), "{log}");
    // once the obstacle is gone, a re-run trains just that point
    std::fs::remove_file(sb.path("e/runs/d1-w16-fa-s1")).unwrap();
    let again = outcomes(&sweep(&sb, "e", &grid, &["--json"]).ok());
    let trained: Vec<&str> = again.iter().filter(|o| o.2 != "skipped").map(|o| o.0.as_str()).collect();
    assert_eq!(trained, ["d1-w16-fa-s1"]);
}

#[test]
fn a_diverged_point_is_a_result_not_a_failure() {
    let sb = Sandbox::new();
    let grid = ["--rules", "fa", "--depths", "1", "--seeds", "0,1"];
    let first = outcomes(&sweep(&sb, "f", &grid, &["--lr=1e30", "--json"]).ok());
    assert!(first.iter().all(|o| o.1 == "diverged" && o.2 == "trained"), "{first:?}");
    let info = json_file(&sb.path("f/runs/d1-w16-fa-s0/run.json"));
    assert_eq!(info["status"], "diverged");
    let status = json_file(&sb.path("f/sweep-status.json"));
    assert_eq!(status["points"][0]["exit_code"], 3);
    let second = outcomes(&sweep(&sb, "f", &grid, &["--lr=1e30", "--json"]).ok());
    assert!(second.iter().all(|o| o.1 == "diverged" && o.2 == "skipped"), "{second:?}");
}

#[test]
fn bad_flags_get_one_line_and_create_nothing() {
    let sb = Sandbox::new();
    let bad = |args: &[&str], needles: &[&str]| {
        sweep(&sb, "bad", args, &[]).fails_with(1, needles);
        assert!(!sb.path("bad").exists(), "no sweep directory after {args:?}");
    };
    bad(&["--rules", "bp,backprop"], &["--rules", "backprop"]);
    bad(&["--seeds", ""], &["--seeds"]);
    bad(&["--seeds", "0,0"], &["--seeds", "twice"]);
    bad(&["--depths", "0"], &["--depths"]);
    bad(&["--rules", "ifa", "--align-angles", ""], &["--align-angles"]);
    bad(&["--rules", "ifa", "--align-angles", "30,120"], &["--align-angles", "120"]);
    bad(&["--lr=-1"], &["--lr"]);
    bad(&["--chunks", "100"], &["--chunks"]);
    let subset = sb.diag(&["sweep", "--out", "bad", "--rules", "bp", "--width", "8", "--subset", "999999"]);
    subset.fails_with(1, &["--subset", "999999"]);
    bad(&["--jobs", "0"], &["--jobs"]);

    // --plan prints every point and an estimate, and creates nothing
    let plan = sweep(&sb, "bad", &["--rules", "bp,ifa", "--align-angles", "0,90", "--depths", "1,2"], &["--plan"]).ok();
    assert_eq!(
        plan.lines().filter(|l| l.contains(" pending ") && l.contains("diag train --out bad/runs/")).count(),
        6,
        "{plan}"
    );
    assert!(plan.contains("estimated wall time"), "{plan}");
    assert!(!sb.path("bad").exists());
}
