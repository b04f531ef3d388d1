//! Progress reporting for long work: a bar on a terminal, plain lines otherwise.

use diag::net::{alignment_angle_deg, BatchStats};
use diag::train::{Observer, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Training progress: a bar with running loss and accuracy on a terminal; one line per
/// epoch when stderr is not a terminal; nothing with `--quiet`.
pub struct TrainProgress {
    bar: Option<ProgressBar>,
    lines: bool,
    label: String,
}

impl TrainProgress {
    pub fn new(quiet: bool, cfg: &TrainConfig) -> TrainProgress {
        let terminal = std::io::stderr().is_terminal();
        let angle = cfg.alpha.map(|a| format!(" {:.0}deg", alignment_angle_deg(a))).unwrap_or_default();
        TrainProgress { bar: None, lines: !quiet && !terminal, label: format!("{}{angle}", cfg.rule) }
            .with_bar(!quiet && terminal)
    }

    fn with_bar(mut self, bar: bool) -> Self {
        if bar {
            let pb = ProgressBar::new(0);
            pb.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps {msg} ({elapsed} < {eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            pb.set_prefix(self.label.clone());
            self.bar = Some(pb);
        }
        self
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for TrainProgress {
    fn start(&mut self, first_step: u64, total_steps: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total_steps);
            bar.set_position(first_step);
        }
    }

    fn step(&mut self, step: u64, running: &BatchStats) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            if step % 10 == 0 && running.count > 0 {
                bar.set_message(format!("loss {:.4} acc {:.1}%", running.mean_loss(), 100.0 * running.accuracy()));
            }
        }
    }

    fn epoch_end(&mut self, epoch: u64, step: u64, train: &BatchStats, test: &BatchStats) {
        let line = format!(
            "{} epoch {epoch} (step {step}): train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}%",
            self.label,
            train.mean_loss(),
            100.0 * train.accuracy(),
            test.mean_loss(),
            100.0 * test.accuracy()
        );
        if let Some(bar) = &self.bar {
            bar.println(line);
        } else if self.lines {
            eprintln!("{line}");
        }
    }
}

/// Progress over a count of items (runs, grid points): a bar on a terminal, one line per
/// item otherwise, nothing when quiet.
pub struct CountProgress {
    bar: Option<ProgressBar>,
    lines: bool,
    what: String,
}

impl CountProgress {
    pub fn new(quiet: bool, what: &str) -> CountProgress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let pb = ProgressBar::new(0);
            pb.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} < {eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            pb.set_prefix(what.to_string());
            pb
        });
        CountProgress { bar, lines: !quiet && !terminal, what: what.to_string() }
    }

    /// `done` of `total` items are finished, the last one being `item`.
    pub fn set(&mut self, done: usize, total: usize, item: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(item.to_string());
        } else if self.lines {
            eprintln!("{} {done}/{total}: {item}", self.what);
        }
    }

    /// Keeps `line` above the bar on a terminal (plain output prints every item anyway).
    pub fn keep(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
