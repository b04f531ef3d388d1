//! In-process A/B of the training step with its weights, feedback matrices and optimiser
//! state on transparent huge pages (what `diag`'s allocator gives them) against the same
//! buffers on ordinary 4 KiB pages, on 784-512x4-10, batch 128, SGD momentum, Fashion-MNIST.
//! The two copies alternate every 10 steps, in alternating order, so that the host's drift
//! and the position in a round hit both alike.
//! `cargo run --release --example huge_pages_ab -- [bp|fa] [STEPS]` (Linux).
use diag::alloc::HugePageAlloc;
use diag::data::{fashion_mnist_dir, load_fashion_mnist_dir};
use diag::net::{init_model, Activation, Feedback, Mlp, Model, Rule};
use diag::train::{BatchEngine, Optimizer, OptimizerKind};
use std::time::Instant;

#[global_allocator]
static ALLOC: HugePageAlloc = HugePageAlloc;

/// A copy of `v` on 4 KiB pages: advised `MADV_NOHUGEPAGE` before its first touch.
fn small_pages(v: &[f32]) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(v.len());
    if v.len() * 4 >= diag::alloc::THRESHOLD {
        let bytes = (v.len() * 4).next_multiple_of(diag::alloc::HUGE_PAGE);
        // SAFETY: advice on the (untouched) mapping the allocator made for `out`.
        let rc = unsafe { libc::madvise(out.as_mut_ptr() as *mut libc::c_void, bytes, libc::MADV_NOHUGEPAGE) };
        assert_eq!(rc, 0, "madvise");
    }
    out.extend_from_slice(v);
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rule: Rule = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(Rule::Bp);
    let steps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(3000);
    let data = load_fashion_mnist_dir(&fashion_mnist_dir()).unwrap();
    let mlp = Mlp::new(&[784, 512, 512, 512, 512, 10], Activation::Relu);
    let kind = OptimizerKind::Sgd { momentum: 0.9 };
    let huge = init_model(&mlp, rule, 0.5, 0);
    let small = Model {
        mlp: huge.mlp.clone(),
        rule,
        params: small_pages(&huge.params),
        feedback: match &huge.feedback {
            Feedback::Matrices(b) => Feedback::Matrices(b.iter().map(|m| small_pages(m)).collect()),
            Feedback::None => Feedback::None,
            _ => unimplemented!("bp and fa only"),
        },
    };
    let mut small_opt = Optimizer::new(kind, 0);
    small_opt.m1 = small_pages(&vec![0.0; huge.params.len()]);
    let mut runs = [
        ("huge pages", Optimizer::new(kind, huge.params.len()), BatchEngine::new(&huge, 128, 2), huge, 0f64),
        ("4 KiB pages", small_opt, BatchEngine::new(&small, 128, 2), small, 0f64),
    ];
    let n = data.train.len();
    let idx: Vec<Vec<usize>> = (0..n / 128).map(|b| (b * 128..(b + 1) * 128).collect()).collect();
    let block = 10;
    for s in (0..steps).step_by(block) {
        // The copy that runs second in a round runs about 1.5% faster here (measured with
        // two identical copies), so the order alternates: A B, B A, A B, ...
        let order = if (s / block) % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (_, opt, engine, model, secs) = &mut runs[i];
            let start = Instant::now();
            for k in s..s + block {
                engine.step(model, opt, &mut [], &data.train, &idx[k % idx.len()], 0.005, 0.0);
            }
            *secs += start.elapsed().as_secs_f64();
        }
    }
    let rate = |secs: f64| (steps * 128) as f64 / secs;
    for (name, _, _, _, secs) in &runs {
        println!("{rule} {name}: {:.0} samples/s", rate(*secs));
    }
    println!("{rule} huge / 4 KiB: {:.3}", runs[1].4 / runs[0].4);
}
