//! `diag train`: flags → [`TrainConfig`] → the training loop, with progress and a summary.

use super::progress::TrainProgress;
use anyhow::{bail, Context};
use clap::Args;
use diag::ckpt::{RunDir, RunStatus};
use diag::net::{Activation, Rule};
use diag::train::{self, CkptSchedule, LrSchedule, OptimizerKind, RunControl, TrainConfig};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run directory to create (or continue, with --resume).
    #[arg(long)]
    out: PathBuf,
    /// Data: fixture (embedded Fashion-MNIST subset), fashion-mnist, idx:DIR, cifar10:DIR. [default: fixture]
    #[arg(long)]
    data: Option<String>,
    /// Train on the first N training samples only.
    #[arg(long)]
    subset: Option<usize>,
    /// Learning rule: bp, fa, ifa, dfa, sign, kp. [default: bp]
    #[arg(long)]
    rule: Option<Rule>,
    /// ifa: initial cosine between W_l^T and B_l, in [0, 1].
    #[arg(long, conflicts_with = "align_angle")]
    align: Option<f64>,
    /// ifa: initial angle between W_l^T and B_l in degrees, in [0, 90] (align = cos(angle)).
    #[arg(long)]
    align_angle: Option<f64>,
    /// Hidden widths, comma-separated. [default: 512,512,512,512]
    #[arg(long)]
    hidden: Option<super::Widths>,
    /// Hidden activation: relu, tanh, linear. [default: relu]
    #[arg(long)]
    activation: Option<Activation>,
    /// Seed for initialisation, feedback and shuffling. [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Optimiser: sgd (PyTorch momentum convention) or adam. [default: sgd]
    #[arg(long, value_parser = ["sgd", "adam"])]
    optimizer: Option<String>,
    /// Learning rate. [default: 0.005 for sgd, 0.001 for adam]
    #[arg(long)]
    lr: Option<f32>,
    /// SGD momentum. [default: 0.9]
    #[arg(long)]
    momentum: Option<f32>,
    /// L2 weight decay (added to the gradient, PyTorch style; also applied to kp feedback). [default: 0]
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Learning-rate schedule: constant or cosine. [default: constant]
    #[arg(long)]
    schedule: Option<LrSchedule>,
    /// Minibatch size. [default: 128]
    #[arg(long)]
    batch: Option<usize>,
    /// Epochs. [default: 10]
    #[arg(long)]
    epochs: Option<u64>,
    /// Checkpoints: N (every N steps), Nep (every N epochs) or log:N (about N log-spaced). Step 0 and the last step are always saved. [default: 1ep]
    #[arg(long)]
    ckpt_every: Option<CkptSchedule>,
    /// Write a train-metrics record every N steps. [default: 50]
    #[arg(long)]
    log_every: Option<u64>,
    /// Split each batch into this many chunks computed in parallel (results do not depend on the thread count). [default: 2]
    #[arg(long)]
    chunks: Option<usize>,
    /// Also count a batch mean loss above this many nats as divergence (NaN/Inf always is). [default: off]
    #[arg(long)]
    divergence_loss: Option<f64>,
    /// Continue the run in --out from its last checkpoint (its configuration comes from run.json).
    #[arg(long)]
    resume: bool,
    /// Replace an existing run directory.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// No progress output (the one-line summary is still printed).
    #[arg(long, short)]
    quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Stop after this step is checkpointed (status "interrupted"); for testing --resume.
    #[arg(long, hide = true)]
    stop_after: Option<u64>,
}

impl TrainArgs {
    /// Names of configuration flags that were given (they conflict with --resume).
    fn given_config_flags(&self) -> Vec<&'static str> {
        let flags = [
            ("--data", self.data.is_some()),
            ("--subset", self.subset.is_some()),
            ("--rule", self.rule.is_some()),
            ("--align", self.align.is_some()),
            ("--align-angle", self.align_angle.is_some()),
            ("--hidden", self.hidden.is_some()),
            ("--activation", self.activation.is_some()),
            ("--seed", self.seed.is_some()),
            ("--optimizer", self.optimizer.is_some()),
            ("--lr", self.lr.is_some()),
            ("--momentum", self.momentum.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
            ("--schedule", self.schedule.is_some()),
            ("--batch", self.batch.is_some()),
            ("--epochs", self.epochs.is_some()),
            ("--ckpt-every", self.ckpt_every.is_some()),
            ("--log-every", self.log_every.is_some()),
            ("--chunks", self.chunks.is_some()),
            ("--divergence-loss", self.divergence_loss.is_some()),
        ];
        flags.into_iter().filter(|(_, given)| *given).map(|(name, _)| name).collect()
    }

    /// Resolves defaults and checks every value; errors name the flag.
    fn config(&self) -> anyhow::Result<TrainConfig> {
        let rule = self.rule.unwrap_or(Rule::Bp);
        let alpha = match (self.align, self.align_angle) {
            (Some(a), _) => Some(a),
            (None, Some(deg)) => {
                if !(0.0..=90.0).contains(&deg) {
                    bail!("--align-angle: {deg} is outside [0, 90] degrees");
                }
                Some(deg.to_radians().cos().clamp(0.0, 1.0))
            }
            (None, None) => None,
        };
        let adam = self.optimizer.as_deref() == Some("adam");
        if adam && self.momentum.is_some() {
            bail!("--momentum: applies to sgd only (optimizer is adam)");
        }
        let optimizer = if adam {
            OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
        } else {
            OptimizerKind::Sgd { momentum: self.momentum.unwrap_or(0.9) }
        };
        let cfg = TrainConfig {
            data: self.data.clone().unwrap_or_else(|| "fixture".into()),
            subset: self.subset,
            rule,
            alpha,
            hidden: self.hidden.clone().map_or_else(|| vec![512; 4], |w| w.0),
            activation: self.activation.unwrap_or(Activation::Relu),
            seed: self.seed.unwrap_or(0),
            optimizer,
            lr: self.lr.unwrap_or(if adam { 0.001 } else { 0.005 }),
            weight_decay: self.weight_decay.unwrap_or(0.0),
            schedule: self.schedule.unwrap_or(LrSchedule::Constant),
            batch: self.batch.unwrap_or(128),
            epochs: self.epochs.unwrap_or(10),
            ckpt_every: self.ckpt_every.unwrap_or(CkptSchedule::Epochs(1)),
            log_every: self.log_every.unwrap_or(50),
            chunks: self.chunks.unwrap_or(2),
            divergence_loss: self.divergence_loss,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let run_dir = RunDir::new(&args.out);
    let cfg = if args.resume {
        let given = args.given_config_flags();
        if !given.is_empty() {
            bail!(
                "{}: conflicts with --resume (the run's configuration is in {})",
                given.join(", "),
                run_dir.run_json().display()
            );
        }
        let info = run_dir.info()?;
        if info.status == RunStatus::Completed {
            bail!("{}: run is already completed", run_dir.path.display());
        }
        serde_json::from_value::<TrainConfig>(info.config)
            .with_context(|| format!("{}: config", run_dir.run_json().display()))?
    } else {
        let cfg = args.config()?;
        if run_dir.path.exists()
            && !args.force
            && std::fs::read_dir(&run_dir.path).map(|mut d| d.next().is_some()).unwrap_or(true)
        {
            bail!(
                "--out: {} already exists (use --resume to continue it or --force to replace it)",
                run_dir.path.display()
            );
        }
        cfg
    };
    // Everything the user can get wrong is checked before the run directory is touched.
    let data = super::load_data(&cfg.data)?;
    train::training_split(&cfg, &data)?;
    if args.resume {
        let info = run_dir.info()?;
        if info.data.fingerprint != data.fingerprint {
            bail!(
                "--resume: data {} has fingerprint {} but the run was trained on {}",
                cfg.data,
                data.fingerprint,
                info.data.fingerprint
            );
        }
    } else if args.force && run_dir.path.exists() {
        std::fs::remove_dir_all(&run_dir.path).with_context(|| format!("{}: cannot remove", run_dir.path.display()))?;
    }

    let mut progress = TrainProgress::new(args.quiet, &cfg);
    let control = RunControl { resume: args.resume, stop_after: args.stop_after };
    let result = train::train(&cfg, &data, &run_dir, control, &mut progress);
    progress.finish();
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        let angle = cfg.alpha.map(|a| format!(" ({:.0} deg)", a.acos().to_degrees())).unwrap_or_default();
        println!(
            "{}: {}{} {} after {} steps ({} epochs): test accuracy {:.2}%, test loss {:.4}; {:.0} samples/s",
            run_dir.path.display(),
            cfg.rule,
            angle,
            match summary.status {
                RunStatus::Completed => "completed",
                RunStatus::Interrupted => "stopped",
                _ => "ended",
            },
            summary.steps,
            summary.epochs,
            100.0 * summary.test_accuracy,
            summary.test_loss,
            summary.samples_per_s
        );
    }
    Ok(())
}
