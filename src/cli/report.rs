//! `diag report DIR`: an `index.html` linking every figure in a report folder with its
//! caption and the command that made it.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Report folder (figures written by `--out` of the analysis commands).
    dir: PathBuf,
    /// Title of the index page.
    #[arg(long, default_value = "diag report")]
    title: String,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("{}: no such report folder", args.dir.display());
    }
    let index = diag::report::write_index(&args.dir, &args.title)?;
    println!("{}", index.display());
    Ok(())
}
