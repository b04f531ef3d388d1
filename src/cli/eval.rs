//! `diag eval`: loss and accuracy of a checkpoint on a split of the run's (or other) data.

use anyhow::bail;
use clap::Args;
use diag::ckpt::{load_checkpoint, resolve_checkpoint, CkptSelector, RunDir};
use diag::train::evaluate_dataset;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Run directory.
    run: PathBuf,
    /// Checkpoint: a step number or 'last'.
    #[arg(long, default_value = "last")]
    ckpt: CkptSelector,
    /// Data to evaluate on (default: the run's own data).
    #[arg(long)]
    data: Option<String>,
    /// Split: test or train.
    #[arg(long, default_value = "test", value_parser = ["test", "train"])]
    split: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if args.ckpt == CkptSelector::All {
        bail!("--ckpt: eval takes one checkpoint (a step or 'last')");
    }
    let run = RunDir::new(&args.run);
    let info = run.info()?;
    let (step, path) = resolve_checkpoint(&run, args.ckpt)?.remove(0);
    let ckpt = load_checkpoint(&path, Some(info.activation))?;
    let spec = args.data.clone().unwrap_or_else(|| info.data.spec.clone());
    let data = super::load_data(&spec)?;
    let split = if args.split == "train" { &data.train } else { &data.test };
    if split.dim != ckpt.model.mlp.input_dim() || split.classes != ckpt.model.mlp.classes() {
        bail!(
            "--data: {spec} has {} inputs and {} classes but the checkpoint expects {} and {}",
            split.dim,
            split.classes,
            ckpt.model.mlp.input_dim(),
            ckpt.model.mlp.classes()
        );
    }
    let stats = evaluate_dataset(&ckpt.model, split);
    if args.json {
        let out = json!({
            "run": args.run, "checkpoint": path, "step": step, "rule": info.rule, "alpha": info.alpha,
            "data": spec, "split": args.split, "samples": stats.count,
            "loss": stats.mean_loss(), "accuracy": stats.accuracy(),
        });
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} step {step} ({}): {} {} loss {:.4}, accuracy {:.2}% ({} samples)",
            args.run.display(),
            info.rule,
            spec,
            args.split,
            stats.mean_loss(),
            100.0 * stats.accuracy(),
            stats.count
        );
    }
    Ok(())
}
