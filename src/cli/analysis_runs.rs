//! What the analysis commands share: loading runs with their own data, and writing figures.

use diag::ckpt::{RunData, RunDir, RunInfo};
use diag::data::{DataSplits, Dataset};
use diag::report::series::RunLabel;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A run directory with its metadata and its own training split.
pub struct LoadedRun {
    pub dir: RunDir,
    pub info: RunInfo,
    pub label: RunLabel,
    /// The training samples the run used (`--subset`: the first N).
    pub train: Dataset,
    /// Both splits of the run's data (shared between runs on the same data).
    pub data: Arc<DataSplits>,
    /// A file-name-safe name for per-run figures.
    pub slug: String,
}

/// Loads every run and its data (each distinct data set once); checks fingerprints.
pub fn load_runs(paths: &[PathBuf]) -> anyhow::Result<Vec<LoadedRun>> {
    let mut loaded = RunData::default();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let dir = RunDir::new(path);
        let info = dir.info()?;
        let data = loaded.of(path, &info)?;
        let train = data.train.head(info.data.train_samples);
        let slug = path
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
                    .collect()
            })
            .unwrap_or_else(|| "run".to_string());
        out.push(LoadedRun { label: RunLabel::of(&info), dir, info, train, data, slug });
    }
    Ok(out)
}

/// The command line that is running, for figure captions.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut parts = vec!["diag".to_string()];
    parts.extend(args.into_iter().skip(1));
    parts.join(" ")
}

/// Renders figures into `out` (SVG, PNG, JSON, CSV each) and refreshes its index.html.
pub fn write_figures(out: &Path, figures: &[diag::plot::Figure], title: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    for fig in figures {
        let written = diag::plot::render(fig, out)?;
        eprintln!("wrote {}", written.png.display());
    }
    diag::report::write_index(out, title)?;
    Ok(())
}
