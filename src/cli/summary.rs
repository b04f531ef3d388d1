//! `diag summary`: one row per run — rule, initial angle, status, test accuracy at chosen
//! epochs, final test loss, the peak logged training loss and where the loss blew up
//! (first logged training loss above 10x the lowest before it).

use anyhow::Context;
use clap::Args;
use diag::ckpt::{read_metrics, RunDir, RunStatus};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// Run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Epochs at which to report test accuracy (comma-separated). [default: the last]
    #[arg(long, value_delimiter = ',')]
    at_epochs: Vec<u64>,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RunRow {
    run: PathBuf,
    rule: String,
    align_angle_deg: Option<f64>,
    status: RunStatus,
    diverged_step: Option<u64>,
    /// `(epoch, test accuracy)` at the requested epochs (absent when not reached).
    test_accuracy: Vec<(u64, Option<f64>)>,
    final_epoch: u64,
    final_test_accuracy: Option<f64>,
    final_test_loss: Option<f64>,
    /// Largest logged training loss and its step.
    peak_train_loss: Option<(f64, u64)>,
    /// First logged step whose training loss exceeds 10x the lowest before it, and that loss.
    loss_blowup: Option<(u64, f64)>,
}

pub fn run(args: SummaryArgs) -> anyhow::Result<()> {
    let rows = args.runs.iter().map(|path| row(path, &args.at_epochs)).collect::<anyhow::Result<Vec<_>>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let epochs: Vec<u64> = rows.first().map(|r| r.test_accuracy.iter().map(|(e, _)| *e).collect()).unwrap_or_default();
    let mut header = "| run | rule | initial angle | status |".to_string();
    for e in &epochs {
        header.push_str(&format!(" test acc @ {e} ep |"));
    }
    header.push_str(" final test loss | peak train loss (step) | loss blow-up at step |");
    println!("{header}");
    println!("|{}", "---|".repeat(7 + epochs.len()));
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |a| format!("{:.2}%", 100.0 * a));
    for r in &rows {
        let status = match (r.status, r.diverged_step) {
            (RunStatus::Diverged, Some(step)) => format!("diverged at step {step}"),
            (s, _) => format!("{s:?}").to_lowercase(),
        };
        let angle = r.align_angle_deg.map_or("—".to_string(), |a| format!("{a:.0}°"));
        let mut line = format!("| {} | {} | {angle} | {status} |", r.run.display(), r.rule);
        for (_, acc) in &r.test_accuracy {
            line.push_str(&format!(" {} |", pct(*acc)));
        }
        let loss = r.final_test_loss.map_or("—".to_string(), |l| format!("{l:.4}"));
        let peak = r.peak_train_loss.map_or("—".to_string(), |(l, s)| format!("{l:.3} ({s})"));
        let blowup = r.loss_blowup.map_or("—".to_string(), |(s, _)| s.to_string());
        line.push_str(&format!(" {loss} | {peak} | {blowup} |"));
        println!("{line}");
    }
    Ok(())
}

fn row(path: &PathBuf, at_epochs: &[u64]) -> anyhow::Result<RunRow> {
    let run = RunDir::new(path);
    let info = run.info()?;
    let metrics = read_metrics(&run).with_context(|| format!("{}", run.metrics().display()))?;
    // test records are written at whole epochs
    let tests: Vec<(u64, f64, f64)> =
        diag::report::sweep::test_curve(&metrics).into_iter().map(|(e, acc, loss)| (e as u64, acc, loss)).collect();
    let last = tests.last().copied();
    let wanted: Vec<u64> =
        if at_epochs.is_empty() { last.map(|t| t.0).into_iter().collect() } else { at_epochs.to_vec() };
    let peak_train_loss = metrics
        .iter()
        .filter(|r| r["kind"] == "train")
        .filter_map(|r| Some((r["train_loss"].as_f64()?, r["step"].as_u64()?)))
        .fold(None, |best: Option<(f64, u64)>, (l, s)| match best {
            Some((b, _)) if b >= l => best,
            _ => Some((l, s)),
        });
    Ok(RunRow {
        run: path.clone(),
        rule: info.rule.to_string(),
        align_angle_deg: info.align_angle_deg,
        status: info.status,
        diverged_step: info.diverged.map(|d| d.step),
        test_accuracy: wanted.iter().map(|&e| (e, tests.iter().find(|t| t.0 == e).map(|t| t.1))).collect(),
        final_epoch: last.map_or(0, |t| t.0),
        final_test_accuracy: last.map(|t| t.1),
        final_test_loss: last.map(|t| t.2),
        peak_train_loss,
        loss_blowup: diag::train::loss_blowup(&metrics),
    })
}
