//! Initialisation: He-normal weights, random feedback, and the one-time soft alignment
//! of `SPEC.md` section 2.
//!
//! Soft alignment with degree `alpha` (the initial cosine between `W_l^T` and `B_l`):
//! draw `R_l` like `W_l^T`, remove its component along `W_l^T`, and set
//! `B_l = ||R_l|| (alpha W_l^T/||W_l|| + sqrt(1 - alpha^2) Rperp_l/||Rperp_l||)`,
//! so `cos(W_l^T, B_l) = alpha` and `||B_l|| = ||R_l||`.

use super::{Feedback, Mlp, Model, Rule};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Independent random streams derived from one seed, so that e.g. the forward weights
/// of a seed are the same whatever the rule.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(crate) enum Stream {
    Weights = 1,
    Feedback = 2,
}

pub(crate) fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// The initial angle in degrees that alignment degree `alpha` stands for (`arccos(alpha)`,
/// the inverse of `--align-angle`), rounded to 1e-9 degrees so that an angle given on the
/// command line is recorded as given (30, not 29.999999999999993).
pub fn alignment_angle_deg(alpha: f64) -> f64 {
    (crate::linalg::cosine_to_deg(alpha) * 1e9).round() / 1e9
}

/// `len` draws from `N(0, 2 / fan_in)`.
pub fn he_normal(rng: &mut ChaCha8Rng, len: usize, fan_in: usize) -> Vec<f32> {
    let normal = Normal::new(0.0f64, (2.0 / fan_in as f64).sqrt()).expect("finite std");
    (0..len).map(|_| normal.sample(rng) as f32).collect()
}

/// The soft-aligned feedback matrix for forward weight `w_t` (= `W^T`) and an independent
/// draw `r` of the same shape: cosine `alpha` with `w_t`, norm `||r||`. Computed in `f64`.
///
/// `alpha` must lie in [0, 1]; `w_t` must be nonzero.
pub fn soft_align(w_t: &[f32], r: &[f32], alpha: f64) -> Vec<f32> {
    assert_eq!(w_t.len(), r.len());
    assert!((0.0..=1.0).contains(&alpha), "alpha must lie in [0, 1]");
    let w: Vec<f64> = w_t.iter().map(|&v| v as f64).collect();
    let r: Vec<f64> = r.iter().map(|&v| v as f64).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let w_norm2 = dot(&w, &w);
    let r_norm = dot(&r, &r).sqrt();
    let along = dot(&r, &w) / w_norm2;
    let r_perp: Vec<f64> = r.iter().zip(&w).map(|(ri, wi)| ri - along * wi).collect();
    let perp_norm = dot(&r_perp, &r_perp).sqrt();
    let a = r_norm * alpha / w_norm2.sqrt();
    let c = if perp_norm > 0.0 { r_norm * (1.0 - alpha * alpha).sqrt() / perp_norm } else { 0.0 };
    w.iter().zip(&r_perp).map(|(wi, pi)| (a * wi + c * pi) as f32).collect()
}

/// A freshly initialised model: He-normal weights (independent of the rule for a given
/// seed), zero biases, and the rule's feedback state. `alpha` is used by `ifa` only.
pub fn init_model(mlp: &Mlp, rule: Rule, alpha: f64, seed: u64) -> Model {
    let mut wrng = rng(seed, Stream::Weights);
    let mut params = vec![0f32; mlp.num_params()];
    for i in 0..mlp.num_layers() {
        let (din, _) = mlp.layer_dims(i);
        let range = mlp.weight_range(i);
        let w = he_normal(&mut wrng, range.len(), din);
        params[range].copy_from_slice(&w);
    }
    let mut frng = rng(seed, Stream::Feedback);
    // Each B_l is drawn like W_l^T: same shape, same distribution (fan-in of W_l).
    let mut draw_b = |i: usize| {
        let (din, dout) = mlp.layer_dims(i);
        he_normal(&mut frng, din * dout, din)
    };
    let layers = 0..mlp.num_layers();
    let feedback = match rule {
        Rule::Bp => Feedback::None,
        Rule::Fa | Rule::Kp => Feedback::Matrices(layers.map(&mut draw_b).collect()),
        Rule::Ifa => {
            Feedback::Matrices(layers.map(|i| soft_align(&params[mlp.weight_range(i)], &draw_b(i), alpha)).collect())
        }
        Rule::Sign => Feedback::SignMagnitudes(layers.map(|i| draw_b(i).into_iter().map(f32::abs).collect()).collect()),
        Rule::Dfa => {
            // D_l (d_l x d_L) maps the output error to hidden layer l; drawn with the
            // output width as fan-in.
            let classes = mlp.classes();
            Feedback::Direct(
                (1..mlp.num_layers()).map(|l| he_normal(&mut frng, mlp.sizes()[l] * classes, classes)).collect(),
            )
        }
    };
    Model { mlp: mlp.clone(), rule, params, feedback }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{dot, norm};
    use crate::net::Activation;

    fn cos(a: &[f32], b: &[f32]) -> f64 {
        dot(a, b) / (norm(a) * norm(b))
    }

    #[test]
    fn soft_alignment_sets_the_cosine_and_keeps_the_norm() {
        for &(din, dout) in &[(784, 512), (512, 512), (512, 10), (3, 2)] {
            let mut rng = rng(7, Stream::Weights);
            let w = he_normal(&mut rng, din * dout, din);
            let r = he_normal(&mut rng, din * dout, din);
            for &alpha in &[0.0, 0.1, 0.5, (30f64).to_radians().cos(), 0.99, 1.0] {
                let b = soft_align(&w, &r, alpha);
                assert!((cos(&w, &b) - alpha).abs() < 1e-6, "{din}x{dout} alpha {alpha}: cos {}", cos(&w, &b));
                assert!((norm(&b) / norm(&r) - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn an_angle_given_as_align_angle_is_recorded_as_given() {
        for deg in (0..=90).step_by(5).map(f64::from).chain([0.5, 12.25, 89.999]) {
            // The CLI's conversion, then back.
            assert_eq!(alignment_angle_deg(deg.to_radians().cos()), deg, "{deg} degrees");
        }
        assert!((alignment_angle_deg(0.3) - 0.3f64.acos().to_degrees()).abs() < 1e-9);
        assert!(alignment_angle_deg(f64::NAN).is_nan());
    }

    #[test]
    fn full_alignment_is_the_scaled_transpose_and_unit_norm_ratio_gives_exact_transpose() {
        let mut rng = rng(3, Stream::Weights);
        let w = he_normal(&mut rng, 40 * 30, 40);
        let r = he_normal(&mut rng, 40 * 30, 40);
        let b = soft_align(&w, &r, 1.0);
        let s = (norm(&r) / norm(&w)) as f32;
        for (bi, wi) in b.iter().zip(&w) {
            assert!((bi - s * wi).abs() < 1e-6);
        }
        // When R has the norm of W (as for an ifa draw in expectation), B = W^T exactly.
        let r_same_norm: Vec<f32> = r.iter().map(|v| v * (norm(&w) / norm(&r)) as f32).collect();
        let b = soft_align(&w, &r_same_norm, 1.0);
        for (bi, wi) in b.iter().zip(&w) {
            assert!((bi - wi).abs() < 1e-6);
        }
    }

    #[test]
    fn ifa_model_feedback_has_plain_fa_norm_and_requested_cosine() {
        let mlp = Mlp::new(&[20, 16, 12, 5], Activation::Relu);
        let fa = init_model(&mlp, Rule::Fa, 0.0, 11);
        let ifa = init_model(&mlp, Rule::Ifa, 0.5, 11);
        assert_eq!(fa.params, ifa.params, "forward weights independent of the rule");
        let (Feedback::Matrices(bf), Feedback::Matrices(bi)) = (&fa.feedback, &ifa.feedback) else {
            panic!("expected feedback matrices")
        };
        for i in 0..mlp.num_layers() {
            assert!((norm(&bf[i]) - norm(&bi[i])).abs() / norm(&bf[i]) < 1e-6);
            assert!((cos(ifa.weight_t(i), &bi[i]) - 0.5).abs() < 1e-6);
        }
    }

    #[test]
    fn he_normal_has_the_right_variance() {
        let mut rng = rng(1, Stream::Weights);
        let v = he_normal(&mut rng, 200_000, 50);
        let var = dot(&v, &v) / v.len() as f64;
        assert!((var / (2.0 / 50.0) - 1.0).abs() < 0.02, "variance {var}");
    }
}
