//! The per-sample maths of the attacks: random starts, gradient steps, projections.
//!
//! With `x0` the clean input, `x` the current iterate, `g` the input gradient of the loss,
//! `eps` the budget and `a` the step size (all clipping onto [0, 1]):
//! - FGSM: `x' = clip(x0 + eps sign(g))`;
//! - PGD L-inf: `x' = clip(proj_inf(x + a sign(g)))`, `proj_inf` clamping each coordinate
//!   to `[x0 - eps, x0 + eps]`;
//! - PGD L2: `x' = clip(proj_2(x + a g / ||g||))`, `proj_2(z) = x0 + (z - x0) min(1, eps / ||z - x0||)`;
//! - starts: uniform in the L-inf ball, uniform in the L2 ball (Gaussian direction, radius
//!   `eps u^(1/d)`), or Gaussian noise `x0 + sigma n`, each clipped.
//!
//! Clipping after the ball projection moves every coordinate towards `x0` (which lies in
//! [0, 1]), so the result stays inside the ball. `sign(0) = 0`, and a zero gradient leaves
//! an L2 iterate where it is.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// `sign(v)` with `sign(0) = 0` (unlike `f32::signum`).
#[inline]
pub(crate) fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[inline]
fn clip_unit(v: f32) -> f32 {
    v.clamp(0.0, 1.0)
}

/// FGSM: `x = clip(x0 + eps sign(g))`.
pub(crate) fn fgsm_step(x: &mut [f32], x0: &[f32], g: &[f32], eps: f32) {
    for ((xi, &x0i), &gi) in x.iter_mut().zip(x0).zip(g) {
        *xi = clip_unit(x0i + eps * sign(gi));
    }
}

/// PGD L-inf: `x = clip(clamp(x + a sign(g), x0 - eps, x0 + eps))`.
pub(crate) fn linf_step(x: &mut [f32], x0: &[f32], g: &[f32], step: f32, eps: f32) {
    for ((xi, &x0i), &gi) in x.iter_mut().zip(x0).zip(g) {
        let moved = *xi + step * sign(gi);
        *xi = clip_unit(moved.clamp(x0i - eps, x0i + eps));
    }
}

/// Euclidean norm accumulated in `f64`.
fn norm2(v: impl Iterator<Item = f32>) -> f64 {
    v.map(|c| c as f64 * c as f64).sum::<f64>().sqrt()
}

/// Moves `x` onto the L2 ball of radius `eps` around `x0` (if outside), then clips.
fn project_l2(x: &mut [f32], x0: &[f32], eps: f32) {
    let dist = norm2(x.iter().zip(x0).map(|(&xi, &x0i)| xi - x0i));
    if dist > eps as f64 {
        let shrink = (eps as f64 / dist) as f32;
        for (xi, &x0i) in x.iter_mut().zip(x0) {
            *xi = x0i + (*xi - x0i) * shrink;
        }
    }
    for xi in x.iter_mut() {
        *xi = clip_unit(*xi);
    }
}

/// PGD L2: `x = clip(proj_2(x + a g / ||g||))`.
pub(crate) fn l2_step(x: &mut [f32], x0: &[f32], g: &[f32], step: f32, eps: f32) {
    let g_norm = norm2(g.iter().copied());
    if g_norm > 0.0 {
        let scale = (step as f64 / g_norm) as f32;
        for (xi, &gi) in x.iter_mut().zip(g) {
            *xi += scale * gi;
        }
    }
    project_l2(x, x0, eps);
}

/// `x = clip(x0 + u)`, `u` uniform in `[-eps, eps]^d`.
pub(crate) fn linf_random_start(x: &mut [f32], x0: &[f32], eps: f32, rng: &mut ChaCha8Rng) {
    for (xi, &x0i) in x.iter_mut().zip(x0) {
        let u: f32 = rng.random();
        *xi = clip_unit(x0i + eps * (2.0 * u - 1.0));
    }
}

/// `x = clip(x0 + r n / ||n||)`, `n` standard normal and `r = eps u^(1/d)`: uniform in the
/// L2 ball of radius `eps`.
pub(crate) fn l2_random_start(x: &mut [f32], x0: &[f32], eps: f32, rng: &mut ChaCha8Rng) {
    for xi in x.iter_mut() {
        *xi = StandardNormal.sample(rng);
    }
    let n_norm = norm2(x.iter().copied());
    let u: f64 = rng.random();
    let radius = eps as f64 * u.powf(1.0 / x.len().max(1) as f64);
    let scale = if n_norm > 0.0 { (radius / n_norm) as f32 } else { 0.0 };
    for (xi, &x0i) in x.iter_mut().zip(x0) {
        *xi = x0i + scale * *xi;
    }
    project_l2(x, x0, eps);
}

/// `x = clip(x0 + sigma n)`, `n` standard normal.
pub(crate) fn gaussian_noise(x: &mut [f32], x0: &[f32], sigma: f32, rng: &mut ChaCha8Rng) {
    for (xi, &x0i) in x.iter_mut().zip(x0) {
        let n: f32 = StandardNormal.sample(rng);
        *xi = clip_unit(x0i + sigma * n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn linf(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }
    fn l2(a: &[f32], b: &[f32]) -> f64 {
        norm2(a.iter().zip(b).map(|(x, y)| x - y))
    }

    #[test]
    fn sign_of_zero_is_zero() {
        assert_eq!([sign(-2.0), sign(0.0), sign(-0.0), sign(3.0)], [-1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn fgsm_moves_each_pixel_by_eps_then_clips() {
        let x0 = [0.5, 0.95, 0.02, 0.3];
        let g = [1.0, 2.0, -1.0, 0.0];
        let mut x = [0.0; 4];
        fgsm_step(&mut x, &x0, &g, 0.1);
        let want = [0.6, 1.0, 0.0, 0.3];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{x:?}");
        }
    }

    #[test]
    fn linf_steps_stay_in_the_ball_and_the_box() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x0: Vec<f32> = (0..200).map(|i| (i as f32 / 199.0).powi(2)).collect();
        let mut x = vec![0.0; 200];
        linf_random_start(&mut x, &x0, 0.1, &mut rng);
        for k in 0..30 {
            let g: Vec<f32> = (0..200).map(|i| ((i * 7 + k * 13) as f32).sin()).collect();
            linf_step(&mut x, &x0, &g, 0.03, 0.1);
            assert!(linf(&x, &x0) <= 0.1 + 1e-6);
            assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }

    #[test]
    fn l2_steps_stay_in_the_ball_and_the_box_and_reach_its_surface() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x0: Vec<f32> = (0..300).map(|i| 0.2 + 0.6 * (i as f32 * 0.37).sin().abs()).collect();
        let mut x = vec![0.0; 300];
        l2_random_start(&mut x, &x0, 0.5, &mut rng);
        assert!(l2(&x, &x0) <= 0.5 + 1e-6);
        let g: Vec<f32> = (0..300).map(|i| (i as f32 * 0.11).cos()).collect();
        for _ in 0..20 {
            l2_step(&mut x, &x0, &g, 0.2, 0.5);
            assert!(l2(&x, &x0) <= 0.5 + 1e-6);
            assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        // far from the box edges a constant gradient pushes the iterate onto the sphere
        assert!((l2(&x, &x0) - 0.5).abs() < 1e-4, "{}", l2(&x, &x0));
    }

    #[test]
    fn a_zero_budget_leaves_the_input_unchanged() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x0 = [0.0, 0.25, 1.0];
        let g = [1.0, -1.0, 0.5];
        let mut x = [9.0; 3];
        linf_random_start(&mut x, &x0, 0.0, &mut rng);
        linf_step(&mut x, &x0, &g, 0.0, 0.0);
        assert_eq!(x, x0);
        l2_random_start(&mut x, &x0, 0.0, &mut rng);
        l2_step(&mut x, &x0, &g, 0.0, 0.0);
        assert_eq!(x, x0);
        gaussian_noise(&mut x, &x0, 0.0, &mut rng);
        assert_eq!(x, x0);
    }

    #[test]
    fn one_pgd_step_of_size_eps_from_the_input_is_fgsm() {
        let x0: Vec<f32> = (0..50).map(|i| (i as f32 * 0.731).sin() * 0.5 + 0.5).collect();
        let g: Vec<f32> = (0..50).map(|i| (i as f32 * 1.37).cos() * (i % 3) as f32).collect();
        let (mut a, mut b) = (x0.clone(), vec![0.0; 50]);
        linf_step(&mut a, &x0, &g, 0.07, 0.07);
        fgsm_step(&mut b, &x0, &g, 0.07);
        assert_eq!(a, b);
    }
}
