//! A small harness that runs the real `diag` binary in a temporary directory.

#![allow(dead_code)]

use diag::net::Activation;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> String {
        assert!(self.output.status.success(), "diag failed ({}):\n{}", self.code(), self.stderr());
        self.stdout()
    }
    /// Asserts failure with the given exit code and a one-line message containing every needle.
    pub fn fails_with(&self, code: i32, needles: &[&str]) {
        let err = self.stderr();
        assert_eq!(self.code(), code, "exit code; stderr:\n{err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected one error line, got:\n{err}");
        for needle in needles {
            assert!(err.contains(needle), "stderr lacks '{needle}':\n{err}");
        }
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn diag(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_diag"))
            .args(args)
            .current_dir(self.dir.path())
            .env("RAYON_NUM_THREADS", "2")
            .output()
            .expect("run diag");
        Run { output }
    }
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_below(&p).into_iter().map(|q| Path::new(&e.file_name()).join(q)));
            } else {
                out.push(PathBuf::from(e.file_name()));
            }
        }
    }
    out.sort();
    out
}

/// The hidden activation in `f64`, for reference computations written independently of the library.
pub fn phi(act: Activation, a: f64) -> f64 {
    match act {
        Activation::Relu => a.max(0.0),
        Activation::Tanh => a.tanh(),
        Activation::Linear => a,
    }
}

/// Its derivative (0 at the ReLU kink, as the library takes it).
pub fn dphi(act: Activation, a: f64) -> f64 {
    match act {
        Activation::Relu => (a > 0.0) as u8 as f64,
        Activation::Tanh => 1.0 - a.tanh().powi(2),
        Activation::Linear => 1.0,
    }
}
