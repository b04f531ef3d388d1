//! `diag train`: flags → [`TrainConfig`] → the training loop, with progress and a summary.

use super::progress::TrainProgress;
use anyhow::{bail, Context};
use clap::Args;
use diag::ckpt::{RunDir, RunStatus};
use diag::net::{alignment_angle_deg, Activation, Rule};
use diag::train::{self, CkptSchedule, LrSchedule, OptimizerKind, RunControl, TrainConfig};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run directory to create (or continue, with --resume).
    #[arg(long)]
    out: PathBuf,
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
    /// Seed for initialisation, feedback and shuffling. [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    config: ConfigFlags,
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

/// The training flags shared by `diag train` and `diag sweep` (everything but the run
/// directory, rule, alignment, widths and seed, which a sweep takes from its grid).
#[derive(Args, Debug)]
pub struct ConfigFlags {
    /// Data: fixture (embedded Fashion-MNIST subset), fashion-mnist, idx:DIR, cifar10:DIR. [default: fixture]
    #[arg(long)]
    data: Option<String>,
    /// Train on the first N training samples only.
    #[arg(long)]
    subset: Option<usize>,
    /// Hidden activation: relu, tanh, linear. [default: relu]
    #[arg(long)]
    activation: Option<Activation>,
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
    /// Split each step into this many groups computed in parallel, each owning a slice of every layer's units (results do not depend on the thread count). [default: 2]
    #[arg(long)]
    chunks: Option<usize>,
    /// Also count a batch mean loss above this many nats as divergence (NaN/Inf always is). [default: off]
    #[arg(long)]
    divergence_loss: Option<f64>,
}

impl ConfigFlags {
    /// `(flag, value)` of every flag that was given, in a fixed order.
    fn given(&self) -> Vec<(&'static str, String)> {
        fn opt<T: ToString>(flag: &'static str, v: &Option<T>) -> Option<(&'static str, String)> {
            v.as_ref().map(|v| (flag, v.to_string()))
        }
        [
            opt("--data", &self.data),
            opt("--subset", &self.subset),
            opt("--activation", &self.activation),
            opt("--optimizer", &self.optimizer),
            opt("--lr", &self.lr),
            opt("--momentum", &self.momentum),
            opt("--weight-decay", &self.weight_decay),
            opt("--schedule", &self.schedule),
            opt("--batch", &self.batch),
            opt("--epochs", &self.epochs),
            opt("--ckpt-every", &self.ckpt_every),
            opt("--log-every", &self.log_every),
            opt("--chunks", &self.chunks),
            opt("--divergence-loss", &self.divergence_loss),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The given flags as `diag train` arguments (`--flag value`, or `--flag=value` when the
    /// value starts with `-`), which parse back to the same values.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        for (flag, value) in self.given() {
            if value.starts_with('-') {
                argv.push(format!("{flag}={value}"));
            } else {
                argv.extend([flag.to_string(), value]);
            }
        }
        argv
    }
}

impl TrainArgs {
    /// Names of configuration flags that were given (they conflict with --resume).
    fn given_config_flags(&self) -> Vec<&'static str> {
        let grid_flags = [
            ("--rule", self.rule.is_some()),
            ("--align", self.align.is_some()),
            ("--align-angle", self.align_angle.is_some()),
            ("--hidden", self.hidden.is_some()),
            ("--seed", self.seed.is_some()),
        ];
        let mut given: Vec<&'static str> = grid_flags.into_iter().filter(|(_, g)| *g).map(|(name, _)| name).collect();
        given.extend(self.config.given().into_iter().map(|(name, _)| name));
        given
    }

    /// Resolves defaults and checks every value; errors name the flag.
    fn config(&self) -> anyhow::Result<TrainConfig> {
        let c = &self.config;
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
        let adam = c.optimizer.as_deref() == Some("adam");
        if adam && c.momentum.is_some() {
            bail!("--momentum: applies to sgd only (optimizer is adam)");
        }
        let optimizer = if adam {
            OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
        } else {
            OptimizerKind::Sgd { momentum: c.momentum.unwrap_or(0.9) }
        };
        let cfg = TrainConfig {
            data: c.data.clone().unwrap_or_else(|| "fixture".into()),
            subset: c.subset,
            rule,
            alpha,
            hidden: self.hidden.clone().map_or_else(|| vec![512; 4], |w| w.0),
            activation: c.activation.unwrap_or(Activation::Relu),
            seed: self.seed.unwrap_or(0),
            optimizer,
            lr: c.lr.unwrap_or(if adam { 0.001 } else { 0.005 }),
            weight_decay: c.weight_decay.unwrap_or(0.0),
            schedule: c.schedule.unwrap_or(LrSchedule::Constant),
            batch: c.batch.unwrap_or(128),
            epochs: c.epochs.unwrap_or(10),
            ckpt_every: c.ckpt_every.unwrap_or(CkptSchedule::Epochs(1)),
            log_every: c.log_every.unwrap_or(50),
            chunks: c.chunks.unwrap_or(2),
            divergence_loss: c.divergence_loss,
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
        let angle = cfg.alpha.map(|a| format!(" ({:.0} deg)", alignment_angle_deg(a))).unwrap_or_default();
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

/// `diag train` alone, for parsing an argument vector built by `diag sweep`.
#[derive(clap::Parser, Debug)]
#[command(name = "diag train")]
struct TrainCommand {
    #[command(flatten)]
    args: TrainArgs,
}

/// Parses `train ...` arguments (as `diag train` would) and resolves them into a
/// validated configuration; errors name the flag.
pub fn parse_config(argv: &[String]) -> anyhow::Result<TrainConfig> {
    use clap::Parser;
    let rest = argv.strip_prefix(&["train".to_string()]).unwrap_or(argv);
    let parsed = TrainCommand::try_parse_from(std::iter::once("diag train").chain(rest.iter().map(String::as_str)))
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().lines().next().unwrap_or("bad training flags")))?;
    parsed.args.config()
}
