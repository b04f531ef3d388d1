//! Renders realistic demo figures into /tmp/plot-demo (or the folder given as
//! the first argument) and writes the report index:
//!
//! ```text
//! cargo run --release --example plot_demo [-- OUT_DIR]
//! ```
//!
//! The data are synthetic but shaped like the real experiments: alignment
//! angle between forward and feedback weights falling with training for
//! bp / fa / ifa at several initial angles, with ±1 sd bands over seeds.

use diag::plot::{self, rule_color, Axis, Band, Color, Figure, Layer, Panel, Width};
use std::path::PathBuf;

/// Small deterministic PRNG (xorshift) so the demo needs no extra crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Approximately standard normal (sum of uniforms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.next()).sum::<f64>() - 6.0
    }
}

fn steps() -> Vec<f64> {
    (0..=40).map(|i| 10f64.powf(i as f64 / 10.0)).collect() // 1 … 10⁴
}

/// Alignment angle (deg) after `t` steps for a rule starting at `a0` deg and
/// settling at `a_inf`, one run per seed.
fn angle_runs(rng: &mut Rng, a0: f64, a_inf: f64, tau: f64, seeds: usize) -> Vec<Vec<f64>> {
    (0..seeds)
        .map(|_| {
            let jitter = 1.0 + 0.25 * rng.normal();
            steps()
                .iter()
                .map(|&t| {
                    let f = (-(t / (tau * jitter))).exp();
                    a_inf + (a0 - a_inf) * f + 1.5 * rng.normal()
                })
                .collect()
        })
        .collect()
}

fn loss_runs(rng: &mut Rng, floor: f64, rate: f64, seeds: usize) -> Vec<Vec<f64>> {
    (0..seeds)
        .map(|_| {
            steps().iter().map(|&t| floor + 2.3 * (1.0 + t / rate).powf(-0.8) * (1.0 + 0.08 * rng.normal())).collect()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args().nth(1).unwrap_or_else(|| "/tmp/plot-demo".into()).into();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = 3;
    let meaning = format!("±1 sd over {seeds} seeds");
    let xs = steps();

    // --- Figure 1: single panel, alignment angle vs step, log x -----------
    let mut angle = Panel::new("").x(Axis::log("training step")).y(Axis::linear("alignment angle (deg)"));
    let mut loss = Panel::new("").x(Axis::log("training step")).y(Axis::log("test loss (nats)"));
    let rules: Vec<(&str, String, Option<f64>, f64, f64)> = vec![
        ("bp", "bp".into(), None, 0.0, 0.0),
        ("fa", "fa".into(), None, 88.0, 42.0),
        ("ifa", "ifa 0°".into(), Some(0.0), 0.0, 12.0),
        ("ifa", "ifa 30°".into(), Some(30.0), 30.0, 18.0),
        ("ifa", "ifa 60°".into(), Some(60.0), 60.0, 27.0),
    ];
    for (i, (rule, label, a, a0, a_inf)) in rules.iter().enumerate() {
        let color = rule_color(rule, *a);
        let (mean, band) = if *rule == "bp" {
            // bp is aligned by construction: angle 0 with no spread
            let zeros = vec![vec![0.0; xs.len()]; seeds];
            Band::mean_sd(&zeros, 1.0, meaning.clone())
        } else {
            Band::mean_sd(&angle_runs(&mut rng, *a0, *a_inf, 300.0, seeds), 1.0, meaning.clone())
        };
        angle = angle.layer(Layer::line(label.clone(), color, xs.clone(), mean).with_band(band));
        let (lm, lb) = Band::mean_sd(
            &loss_runs(&mut rng, 0.05 + 0.04 * i as f64, 40.0 + 60.0 * i as f64, seeds),
            1.0,
            meaning.clone(),
        );
        loss = loss.layer(Layer::line(label.clone(), color, xs.clone(), lm).with_band(lb));
    }
    angle = angle.layer(Layer::hline(90.0, Color::hex(0x999999)).labelled("orthogonal (90°)"));

    let fig1 = Figure::new("alignment_angle_vs_step")
        .caption(format!(
            "Angle between the forward weights W₂ᵀ and the feedback matrix B during training. \
             Lines: mean over {seeds} seeds; shaded: ±1 sd."
        ))
        .command("diag figure alignment --runs runs/mnist-mlp --rules bp,fa,ifa --angles 0,30,60")
        .panel(angle.clone());
    let w = plot::render(&fig1, &out)?;
    println!("wrote {}", w.png.display());

    // --- Figure 2: two panels side by side (single column) -----------------
    let fig2 = Figure::new("angle_and_loss")
        .caption("(a) Alignment angle and (b) test loss vs training step.")
        .command("diag figure summary --runs runs/mnist-mlp")
        .columns(2)
        .panel_height(2.0)
        .panel(angle.clone().legend(true))
        .panel(loss.clone());
    let w = plot::render(&fig2, &out)?;
    println!("wrote {}", w.png.display());

    // --- Figure 3: double column, 3 panels incl. heat map, histogram, eigenvalues
    let lrs: Vec<f64> = (0..9).map(|i| 10f64.powf(-4.0 + 0.5 * i as f64)).collect();
    let angles0: Vec<f64> = (0..7).map(|i| i as f64 * 15.0).collect();
    let heat: Vec<Vec<f64>> = angles0
        .iter()
        .map(|&a| {
            lrs.iter()
                .map(|&lr| {
                    if lr > 0.2 && a > 60.0 {
                        f64::NAN // diverged
                    } else {
                        let opt = 10f64.powf(-2.0 + a / 90.0);
                        0.02 * (1.0 + 6.0 * (lr.log10() - opt.log10()).powi(2)) * (1.0 + a / 45.0)
                    }
                })
                .collect()
        })
        .collect();
    let heat_panel = Panel::new("final loss")
        .x(Axis::log("learning rate"))
        .y(Axis::linear("initial angle (deg)"))
        .layer(Layer::heat_map(angles0.clone(), lrs.clone(), heat).log_color().labelled("test loss"))
        .layer(Layer::marker(10f64.powf(-0.5), 90.0, "diverged", Color::hex(0xd62728)));

    let edges: Vec<f64> = (0..=36).map(|i| i as f64 * 2.5).collect();
    let hist_for = |center: f64, width: f64, rng: &mut Rng| -> Vec<f64> {
        let mut counts = vec![0.0; edges.len() - 1];
        for _ in 0..2000 {
            let v = center + width * rng.normal();
            if let Some(k) = edges.windows(2).position(|e| v >= e[0] && v < e[1]) {
                counts[k] += 1.0;
            }
        }
        counts
    };
    let hist_panel = Panel::new("per-neuron angle at step 10⁴")
        .x(Axis::linear("angle (deg)"))
        .y(Axis::linear("neurons"))
        .layer(Layer::histogram("fa", rule_color("fa", None), edges.clone(), hist_for(42.0, 9.0, &mut rng)))
        .layer(Layer::histogram(
            "ifa 30°",
            rule_color("ifa", Some(30.0)),
            edges.clone(),
            hist_for(18.0, 5.0, &mut rng),
        ));

    let mut eig_x = Vec::new();
    let mut eig_y = Vec::new();
    for _ in 0..300 {
        let r = rng.next().sqrt();
        let th = rng.next() * std::f64::consts::TAU;
        eig_x.push(0.9 * r * th.cos() + 0.1);
        eig_y.push(0.6 * r * th.sin());
    }
    let eig_panel = Panel::new("spectrum of BᵀW")
        .x(Axis::linear("Re λ"))
        .y(Axis::linear("Im λ"))
        .layer(Layer::scatter("eigenvalues", plot::palette(0), eig_x, eig_y).sized(1.2))
        .layer(Layer::vline(0.0, Color::hex(0x999999)))
        .layer(Layer::hline(0.0, Color::hex(0x999999)));

    let fig3 = Figure::new("sweep_overview")
        .caption("Learning-rate × initial-angle sweep (a), per-neuron alignment (b) and spectrum (c).")
        .command("diag figure sweep --sweep sweeps/lr-angle")
        .width(Width::DoubleColumn)
        .columns(3)
        .panel_height(2.1)
        .panel(heat_panel)
        .panel(hist_panel)
        .panel(eig_panel);
    let w = plot::render(&fig3, &out)?;
    println!("wrote {}", w.png.display());

    let index = diag::report::write_index(&out, "plot demo")?;
    println!("wrote {}", index.display());
    Ok(())
}
