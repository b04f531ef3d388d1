//! `diag bench`: throughput measurements, printed as text or JSON.

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// One training epoch of 784-512x4-10, batch 128, SGD momentum 0.9: samples per second.
    Train {
        /// Rule to time.
        #[arg(long, default_value = "bp")]
        rule: diag::net::Rule,
        /// Data (the target figures refer to full Fashion-MNIST).
        #[arg(long, default_value = "fashion-mnist")]
        data: String,
        /// Timed epochs, training on from one to the next; the median is reported.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        epochs: u32,
        #[arg(long)]
        json: bool,
    },
    /// Hessian-vector product vs gradient on 784-256-256-10 over 2,048 fixture samples: milliseconds.
    Hessian {
        #[arg(long)]
        json: bool,
    },
    /// PGD-20 (eps 0.1, Linf) over the Fashion-MNIST test set on 784-512x4-10: images per second.
    Robustness {
        /// Attack this checkpoint (default: train a bp net for one epoch first).
        #[arg(long)]
        ckpt: Option<std::path::PathBuf>,
        /// Data (the target figures refer to full Fashion-MNIST).
        #[arg(long, default_value = "fashion-mnist")]
        data: String,
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        repetitions: u32,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchWhat::Train { rule, data, epochs, json } => {
            let data = super::load_data(&data)?;
            let report = diag::train::bench::train_epochs(rule, &data, epochs as usize)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", report.describe());
            }
            Ok(())
        }
        BenchWhat::Hessian { json } => {
            let report = diag::analysis::hessian::bench::hessian_bench(&Default::default())?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", report.describe());
            }
            Ok(())
        }
        BenchWhat::Robustness { ckpt, data, repetitions, json } => {
            let data = super::load_data(&data)?;
            let report = diag::analysis::attack::bench::pgd_throughput(&data, ckpt.as_deref(), repetitions as usize)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", report.describe());
            }
            Ok(())
        }
    }
}
