//! `diag bench hessian`: the cost of one Hessian-vector product against one gradient.
//!
//! Network 784-256-256-10 (relu, He init, seed 0) on the first 2,048 training samples of
//! the embedded fixture. Both timings use both cores the same way (each core whole
//! chunks of the samples, one reduction in chunk order):
//!
//! - `hvp_ms`: one [`HessianOperator::apply`] (R-forward and R-backward passes; the
//!   primal pass is stored when the operator is built, timed separately as `setup_ms`);
//! - `gradient_ms`: one full gradient of the mean loss, forward pass, softmax and
//!   backward pass, as a training step computes it;
//! - `cached_gradient_ms`: [`HessianOperator::gradient`], the weight-gradient products
//!   only, from the stored errors.
//!
//! Each figure is the median of `repetitions` runs after two warm-up runs; the kinds of
//! work are interleaved within each repetition so that they see the same machine load.

use crate::data::{self, DataSpec};
use crate::error::{Error, Result};
use crate::linalg::{gemm, view, view_mut};
use crate::net::{init_model, Activation, ErrorPath, HessianOperator, Mlp, Rule, Workspace};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Settings of [`hessian_bench`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HessianBenchParams {
    /// Samples in the evaluation set (first of the fixture's training split).
    pub samples: usize,
    /// Chunk size of the operator (samples per core-sized piece of work).
    pub batch: usize,
    /// Timed runs of each kind (the median is reported).
    pub repetitions: usize,
}

impl Default for HessianBenchParams {
    fn default() -> Self {
        HessianBenchParams { samples: 2048, batch: 1024, repetitions: 15 }
    }
}

/// The result of `diag bench hessian` (times in milliseconds, medians).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianBench {
    pub sizes: Vec<usize>,
    pub samples: usize,
    /// Number of parameters (the side of the Hessian).
    pub params: usize,
    pub batch: usize,
    pub threads: usize,
    pub repetitions: usize,
    /// Building the operator: primal forward pass, softmax and errors, once.
    pub setup_ms: f64,
    /// One Hessian-vector product.
    pub hvp_ms: f64,
    /// One full gradient (forward and backward passes).
    pub gradient_ms: f64,
    /// HVP time over gradient time, the median of the per-repetition ratios (the two are
    /// timed back to back, so the ratio is steadier than either time on a busy machine).
    pub ratio: f64,
    /// The operator's gradient from its stored errors (weight-gradient products only).
    pub cached_gradient_ms: f64,
    /// GEMM throughput of the product (GFLOP/s).
    pub hvp_gflops: f64,
    /// The same GEMMs as one product, alone (same shapes, each core its chunks),
    /// measured in the same run: the floor for `hvp_ms` on this machine right now.
    pub hvp_gemm_only_ms: f64,
}

impl HessianBench {
    pub fn describe(&self) -> String {
        format!(
            "bench hessian {:?} on {} samples ({} parameters, chunks of {}, {} threads): \
             HVP {:.2} ms ({:.0} GFLOP/s; its GEMMs alone {:.2} ms), gradient {:.2} ms, ratio {:.2}; \
             stored-error gradient {:.2} ms; setup {:.1} ms",
            self.sizes,
            self.samples,
            self.params,
            self.batch,
            self.threads,
            self.hvp_ms,
            self.hvp_gflops,
            self.hvp_gemm_only_ms,
            self.gradient_ms,
            self.ratio,
            self.cached_gradient_ms,
            self.setup_ms
        )
    }
}

/// Times one HVP and one gradient on 784-256-256-10 over the fixture (see the module docs).
pub fn hessian_bench(params: &HessianBenchParams) -> Result<HessianBench> {
    if params.samples == 0 || params.batch == 0 || params.repetitions == 0 {
        return Err(Error::config("bench", "samples, batch and repetitions must be positive"));
    }
    let splits = data::load(&DataSpec::Fixture)?;
    let train = &splits.train;
    let samples = params.samples.min(train.len());
    let sizes = vec![train.dim, 256, 256, train.classes];
    let mlp = Mlp::new(&sizes, Activation::Relu);
    let model = init_model(&mlp, Rule::Bp, 0.0, 0);
    let indices: Vec<usize> = (0..samples).collect();
    let mut x = vec![0f32; train.dim * samples];
    let mut labels = vec![0u8; samples];
    train.fill_batch(&indices, &mut x, &mut labels);

    let start = Instant::now();
    let mut op = HessianOperator::new(&mlp, &model.params, &x, &labels, params.batch);
    let setup_ms = start.elapsed().as_secs_f64() * 1e3;

    let dim = op.dim();
    let v: Vec<f32> = (0..dim).map(|k| ((k % 97) as f32 - 48.0) * 1e-2).collect();
    let mut out = vec![0f32; dim];
    let mut reference = GemmReference::new(&mlp, samples, params.batch);
    let mut full = FullGradient::new(&mlp, &x, &labels, params.batch);
    let [hvp_ms, gradient_ms, ratio, cached_gradient_ms, hvp_gemm_only_ms] =
        interleaved_medians(params.repetitions, |task| match task {
            Task::Hvp => op.apply(&v, &mut out),
            Task::Gradient => full.compute(&model.params, &mut out),
            Task::CachedGradient => op.gradient(&mut out),
            Task::GemmReference => reference.run(&mlp),
        });

    Ok(HessianBench {
        sizes,
        samples,
        params: dim,
        batch: params.batch,
        threads: rayon::current_num_threads(),
        repetitions: params.repetitions,
        setup_ms,
        hvp_ms,
        gradient_ms,
        ratio,
        cached_gradient_ms,
        hvp_gflops: hvp_flops(&mlp, samples) / (hvp_ms * 1e6),
        hvp_gemm_only_ms,
    })
}

/// GEMM flops of one full HVP: `V_1 x` and `R{dW_1}` for the first layer; two products
/// each for the R-forward, R-backward and weight passes of every later layer.
fn hvp_flops(mlp: &Mlp, samples: usize) -> f64 {
    let macs: usize = (0..mlp.num_layers())
        .map(|i| {
            let (din, dout) = mlp.layer_dims(i);
            din * dout * if i == 0 { 2 } else { 6 }
        })
        .sum();
    2.0 * (macs * samples) as f64
}

/// The timed kinds of work, run one after another within each repetition.
#[derive(Clone, Copy)]
enum Task {
    Hvp,
    Gradient,
    CachedGradient,
    GemmReference,
}

/// Runs every task once per repetition, in turn (after two warm-up rounds), so that all
/// of them see the same machine load; returns the median wall times in milliseconds of
/// the HVP, the gradient, their per-repetition ratio, the cached gradient and the GEMM
/// reference.
fn interleaved_medians(repetitions: usize, mut run: impl FnMut(Task)) -> [f64; 5] {
    const TASKS: [Task; 4] = [Task::Hvp, Task::Gradient, Task::CachedGradient, Task::GemmReference];
    let mut times = vec![[0f64; 4]; repetitions + 2];
    for round in times.iter_mut() {
        for (slot, task) in round.iter_mut().zip(TASKS) {
            let start = Instant::now();
            run(task);
            *slot = start.elapsed().as_secs_f64() * 1e3;
        }
    }
    let timed = &times[2..];
    let median = |f: &dyn Fn(&[f64; 4]) -> f64| {
        let mut values: Vec<f64> = timed.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    [median(&|t| t[0]), median(&|t| t[1]), median(&|t| t[0] / t[1]), median(&|t| t[2]), median(&|t| t[3])]
}

/// A full gradient (forward, softmax, backward) over fixed samples, chunked like the
/// operator: the reference cost of "one gradient".
struct FullGradient<'a> {
    mlp: &'a Mlp,
    chunks: Vec<GradientChunk<'a>>,
    samples: usize,
}

/// One chunk's samples, workspace and share of the gradient.
struct GradientChunk<'a> {
    x: &'a [f32],
    labels: &'a [u8],
    workspace: Workspace,
    grad: Vec<f32>,
}

impl<'a> FullGradient<'a> {
    fn new(mlp: &'a Mlp, x: &'a [f32], labels: &'a [u8], batch: usize) -> Self {
        let samples = labels.len();
        let d0 = mlp.input_dim();
        let count = samples.div_ceil(batch).max(1);
        let chunks = (0..count)
            .map(|k| {
                let r = k * samples / count..(k + 1) * samples / count;
                let n = r.len();
                GradientChunk {
                    x: &x[r.start * d0..r.end * d0],
                    labels: &labels[r],
                    workspace: Workspace::new(mlp, n),
                    grad: vec![0f32; mlp.num_params()],
                }
            })
            .collect();
        FullGradient { mlp, chunks, samples }
    }

    fn compute(&mut self, params: &[f32], out: &mut [f32]) {
        let (mlp, scale) = (self.mlp, 1.0 / self.samples as f32);
        self.chunks.par_iter_mut().for_each(|c| {
            mlp.forward(params, c.x, c.labels.len(), &mut c.workspace);
            mlp.loss_and_output_error(c.labels, &mut c.workspace);
            mlp.backward(params, ErrorPath::Transpose, c.x, &mut c.workspace, scale, &mut c.grad, false);
        });
        out.copy_from_slice(&self.chunks[0].grad);
        for c in &self.chunks[1..] {
            for (o, &g) in out.iter_mut().zip(&c.grad) {
                *o += g;
            }
        }
    }
}

/// The GEMMs of one Hessian-vector product with the same shapes and transpositions, on
/// placeholder buffers, each chunk on its own core.
struct GemmReference {
    chunks: Vec<GemmChunk>,
    weights: Vec<Vec<f32>>,
}

/// Placeholder activations `a`, `b` (`d_max x n`) and a weight-shaped output `g`.
struct GemmChunk {
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    g: Vec<f32>,
}

impl GemmReference {
    fn new(mlp: &Mlp, samples: usize, batch: usize) -> Self {
        let count = samples.div_ceil(batch).max(1);
        let d_max = *mlp.sizes().iter().max().expect("sizes");
        let chunks = (0..count)
            .map(|k| {
                let n = (k + 1) * samples / count - k * samples / count;
                GemmChunk { n, a: vec![0.5f32; d_max * n], b: vec![0.25f32; d_max * n], g: vec![0f32; d_max * d_max] }
            })
            .collect();
        let weights = (0..mlp.num_layers())
            .map(|i| {
                let (din, dout) = mlp.layer_dims(i);
                (0..din * dout).map(|k| ((k % 17) as f32 - 8.0) * 1e-3).collect()
            })
            .collect();
        GemmReference { chunks, weights }
    }

    fn run(&mut self, mlp: &Mlp) {
        let weights = &self.weights;
        self.chunks.par_iter_mut().for_each(|GemmChunk { n, a, b, g }| {
            let n = *n;
            for (i, w) in weights.iter().enumerate() {
                let (din, dout) = mlp.layer_dims(i);
                let w_t = view(w, din, dout);
                // R-forward: W R{h} + V h (first layer: V x only).
                for k in 0..if i == 0 { 1 } else { 2 } {
                    gemm(view_mut(b, dout, n), k > 0, w_t.transpose(), view(a, din, n), 1.0);
                }
            }
            for (i, w) in weights.iter().enumerate().rev() {
                let (din, dout) = mlp.layer_dims(i);
                let w_t = view(w, din, dout);
                let passes = if i == 0 { 1 } else { 2 };
                // Weight products: h R{delta}^T + R{h} delta^T (errors stored `n x d`).
                for k in 0..passes {
                    gemm(view_mut(g, din, dout), k > 0, view(a, din, n), view(b, n, dout), 1.0);
                }
                // R-backward, transposed: R{delta}^T W + delta^T V.
                if i > 0 {
                    for k in 0..2 {
                        gemm(view_mut(a, n, din), k > 0, view(b, n, dout), w_t.transpose(), 1.0);
                    }
                }
            }
            std::hint::black_box((a, b, g));
        });
    }
}
