//! Times the spectrum analysis (`diag::analysis::spectrum`) over a synthetic run: 50
//! checkpoints of a 784-512x4-10 relu `ifa` network written with `save_checkpoint` into a
//! temporary folder, all of them analysed (singular values of every `W_l` and `B_l`,
//! spectra of `P_2..P_5`, end-to-end products, gradient flow over 128 samples).
//!
//! `cargo run --release --example spectrum_bench [checkpoints] [flow_samples]`; the
//! alignment of the same run (1024 samples) is timed as well.

use diag::analysis::align::align_checkpoints;
use diag::analysis::batch::EvalBatch;
use diag::analysis::spectrum::{spectrum_checkpoints, SpectrumOptions};
use diag::ckpt::{list_checkpoints, save_checkpoint, CheckpointMeta, RunDir};
use diag::data::Dataset;
use diag::net::{init_model, Activation, Mlp, Rule};
use std::time::Instant;

/// CPU seconds (user + system) of this process so far, from `/proc/self/stat`; the
/// machine is shared, so wall time alone over-states the cost when others are busy.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |k: usize| fields.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().map_or(Ok(50), |a| a.parse())?;
    let flow_samples: usize = args.next().map_or(Ok(SpectrumOptions::default().flow_samples), |a| a.parse())?;
    let mlp = Mlp::new(&[784, 512, 512, 512, 512, 10], Activation::Relu);
    let dir = tempfile::tempdir()?;
    let run = RunDir::new(dir.path());
    let t = Instant::now();
    let mut model = init_model(&mlp, Rule::Ifa, 0.5, 1);
    for k in 0..count {
        // A small drift per checkpoint, so that no two are alike.
        for (j, p) in model.params.iter_mut().enumerate().step_by(7) {
            *p += 1e-3 * ((j as u64 * 31 + k) as f32).sin();
        }
        let meta = CheckpointMeta {
            step: 100 * k,
            rule: Rule::Ifa,
            alpha: Some(0.5),
            seed: Some(1),
            activation: mlp.activation(),
        };
        save_checkpoint(&run.checkpoint(100 * k), &model, &meta)?;
    }
    println!("wrote {count} checkpoints in {:.1} s", t.elapsed().as_secs_f64());

    let data = Dataset {
        pixels: (0..784 * 2000u32).map(|v| (v.wrapping_mul(2_654_435_761) >> 24) as u8).collect(),
        labels: (0..2000).map(|s| (s % 10) as u8).collect(),
        dim: 784,
        classes: 10,
    };
    let checkpoints = list_checkpoints(&run)?;
    let options = SpectrumOptions { flow_samples, ..SpectrumOptions::default() };
    let flow = EvalBatch::from_dataset(&data, options.flow_samples, options.seed);
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let spectra =
        spectrum_checkpoints(&checkpoints, &flow, None, options.rank_cutoff, options.eigenvalues_at_every_checkpoint)?;
    let spectrum_seconds = t.elapsed().as_secs_f64();
    println!(
        "spectrum: {} checkpoints in {spectrum_seconds:.2} s wall ({:.0} ms each), {:.1} CPU-s, on {} threads",
        spectra.len(),
        1e3 * spectrum_seconds / spectra.len() as f64,
        cpu_seconds() - cpu,
        rayon::current_num_threads()
    );

    let eval = EvalBatch::from_dataset(&data, 1024, 0);
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let alignments = align_checkpoints(&checkpoints, &eval, None)?;
    println!(
        "alignment: {} checkpoints in {:.2} s wall, {:.1} CPU-s (1024 samples)",
        alignments.len(),
        t.elapsed().as_secs_f64(),
        cpu_seconds() - cpu
    );
    Ok(())
}
