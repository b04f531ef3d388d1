//! `diag`: the command-line front end. Parsing and presentation only; the science is in the library.
//!
//! Exit codes: 0 success; 1 bad input or a failed analysis (one line on stderr naming
//! the file or flag); 2 usage errors (from the argument parser); 3 training diverged
//! (a result: the run directory records it).

mod cli;

/// Large buffers (weights, optimiser state, data) on transparent huge pages: fewer TLB
/// misses in the training step (see `diag::alloc`).
#[global_allocator]
static ALLOC: diag::alloc::HugePageAlloc = diag::alloc::HugePageAlloc;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let diverged = matches!(err.downcast_ref::<diag::Error>(), Some(diag::Error::Diverged { .. }));
            eprintln!("diag: {}", one_line(&err));
            if diverged {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
