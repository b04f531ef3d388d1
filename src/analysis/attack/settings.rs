//! Attack settings: what perturbation, how strong, which gradient; validated before anything runs
//! and echoed into every result.

use crate::error::{Error, Result};
use crate::net::{Feedback, Model, OutputLoss, Rule};
use serde::{Deserialize, Serialize};

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 0;
/// PGD steps when none are given.
pub const DEFAULT_STEPS: usize = 20;
/// Samples per active batch of one worker (a speed setting: results do not depend on it).
pub const DEFAULT_BATCH: usize = 128;

/// The perturbation (`SPEC.md` section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// One signed-gradient step of size eps: `x' = clip(x + eps sign(g), 0, 1)`.
    Fgsm,
    /// Projected gradient descent with random start, `steps` steps and `restarts` restarts.
    Pgd,
    /// Additive Gaussian noise of standard deviation sigma, clipped to [0, 1].
    Noise,
}

impl AttackKind {
    pub const ALL: [AttackKind; 3] = [AttackKind::Fgsm, AttackKind::Pgd, AttackKind::Noise];

    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::Noise => "noise",
        }
    }
}

/// The norm of the perturbation ball of PGD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// `||x' - x||_inf <= eps`; steps along `sign(g)`.
    Linf,
    /// `||x' - x||_2 <= eps`; steps along `g / ||g||_2`.
    L2,
}

impl Norm {
    pub const ALL: [Norm; 2] = [Norm::Linf, Norm::L2];

    pub fn name(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        }
    }
}

/// Which gradient the attacker follows (`SPEC.md` section 6), stated with every result.
#[derive(Clone, Debug, PartialEq)]
pub enum GradientSource {
    /// The exact input gradient of the loss through the forward weights (`W_l^T` all the way
    /// down): the honest white-box attack, and the only one a robustness claim may rest on.
    True,
    /// The model's own feedback path down to the input (`B_L ... B_1`); equal to `True` for
    /// `bp`. A gap between `feedback` and `true` shows gradient masking. `dfa` has no path
    /// to the input, and is rejected.
    Feedback,
    /// Crafted on another model with its true gradient, then evaluated on the attacked one.
    /// `name` (e.g. the checkpoint path) is echoed in the results.
    Transfer { source: Model, name: String },
}

/// The gradient source without its model, as echoed in results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradientName {
    True,
    Feedback,
    Transfer,
    /// No gradient is used (Gaussian noise).
    None,
}

impl GradientSource {
    pub fn name(&self) -> GradientName {
        match self {
            GradientSource::True => GradientName::True,
            GradientSource::Feedback => GradientName::Feedback,
            GradientSource::Transfer { .. } => GradientName::Transfer,
        }
    }
}

/// Everything that determines a robustness evaluation. Build with [`AttackSettings::pgd`],
/// [`AttackSettings::fgsm`] or [`AttackSettings::noise`] and adjust the public fields; every
/// entry point calls [`AttackSettings::validate`] and [`AttackSettings::check_model`] first.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackSettings {
    pub attack: AttackKind,
    /// Perturbation budgets (`--eps`); for `noise` the standard deviations sigma.
    pub eps: Vec<f32>,
    pub norm: Norm,
    /// PGD steps per restart (`--steps`, default 20); FGSM takes one step, noise none.
    pub steps: usize,
    /// PGD step size (`--step-size`); `None` means `2.5 eps / steps` for each eps.
    pub step_size: Option<f32>,
    /// PGD restarts (`--restarts`, default 1); a sample is robust only if it survives all.
    pub restarts: usize,
    /// PGD starts from a uniform draw in the eps ball (`--random-start`, default true).
    pub random_start: bool,
    /// Seed of the random starts and the noise (`--seed`); each sample, restart and eps
    /// draws from its own stream, so results do not depend on batching or threads.
    pub seed: u64,
    pub gradient: GradientSource,
    /// The loss whose input gradient the attack ascends (`--loss`): cross-entropy (the
    /// default, `SPEC.md`) or the margin, which keeps a gradient where the softmax saturates.
    pub loss: OutputLoss,
    /// Evaluate the first N samples of the split (`--samples`); `None`: all of them.
    pub samples: Option<usize>,
    /// Samples per active batch of one worker (`--batch`); speed only.
    pub batch: usize,
    /// Stop attacking a sample at its first misclassified iterate (default true). Turning it
    /// off runs every sample through every step and restart; the outcome is the same.
    pub early_exit: bool,
}

impl AttackSettings {
    /// PGD, L-infinity, 20 steps of `2.5 eps / 20`, one restart, random start, true gradient.
    pub fn pgd(eps: Vec<f32>) -> AttackSettings {
        AttackSettings {
            attack: AttackKind::Pgd,
            eps,
            norm: Norm::Linf,
            steps: DEFAULT_STEPS,
            step_size: None,
            restarts: 1,
            random_start: true,
            seed: DEFAULT_SEED,
            gradient: GradientSource::True,
            loss: OutputLoss::CrossEntropy,
            samples: None,
            batch: DEFAULT_BATCH,
            early_exit: true,
        }
    }

    /// FGSM with the true gradient.
    pub fn fgsm(eps: Vec<f32>) -> AttackSettings {
        AttackSettings { attack: AttackKind::Fgsm, ..AttackSettings::pgd(eps) }
    }

    /// Gaussian noise of the given standard deviations.
    pub fn noise(sigmas: Vec<f32>) -> AttackSettings {
        AttackSettings { attack: AttackKind::Noise, ..AttackSettings::pgd(sigmas) }
    }

    /// Steps actually taken per restart: `steps` for PGD, 1 for FGSM, 0 for noise.
    pub fn effective_steps(&self) -> usize {
        match self.attack {
            AttackKind::Pgd => self.steps,
            AttackKind::Fgsm => 1,
            AttackKind::Noise => 0,
        }
    }

    /// Restarts actually run: `restarts` for PGD, otherwise 1.
    pub fn effective_restarts(&self) -> usize {
        match self.attack {
            AttackKind::Pgd => self.restarts,
            AttackKind::Fgsm | AttackKind::Noise => 1,
        }
    }

    /// Whether iterates start from a random point: PGD's `random_start`; FGSM never.
    pub fn effective_random_start(&self) -> bool {
        match self.attack {
            AttackKind::Pgd => self.random_start,
            AttackKind::Fgsm => false,
            AttackKind::Noise => true,
        }
    }

    /// The step size used at budget `eps`: the given one, `2.5 eps / steps` by default,
    /// `eps` for FGSM and 0 for noise.
    pub fn step_size_for(&self, eps: f32) -> f32 {
        match self.attack {
            AttackKind::Pgd => self.step_size.unwrap_or(2.5 * eps / self.steps.max(1) as f32),
            AttackKind::Fgsm => eps,
            AttackKind::Noise => 0.0,
        }
    }

    /// Checks every value a user can set; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, flag: &str, message: String| if ok { Ok(()) } else { Err(Error::config(flag, message)) };
        check(!self.eps.is_empty(), "--eps", "give at least one value".into())?;
        for &eps in &self.eps {
            check(eps.is_finite() && eps >= 0.0, "--eps", format!("{eps} must be a finite number >= 0"))?;
            if self.attack != AttackKind::Noise && self.norm == Norm::Linf {
                check(
                    eps <= 1.0,
                    "--eps",
                    format!(
                        "{eps} is outside [0, 1]: inputs live in [0, 1], so an L-infinity budget above 1 means nothing"
                    ),
                )?;
            }
        }
        match self.attack {
            AttackKind::Pgd => {
                check(self.steps >= 1, "--steps", "pgd needs at least 1 step".into())?;
                check(self.restarts >= 1, "--restarts", "must be at least 1".into())?;
                if let Some(a) = self.step_size {
                    check(a.is_finite() && a > 0.0, "--step-size", format!("{a} must be a positive number"))?;
                }
            }
            AttackKind::Fgsm => {
                check(self.norm == Norm::Linf, "--norm", "fgsm is an L-infinity attack; use pgd for l2".into())?;
                check(self.step_size.is_none(), "--step-size", "fgsm takes one step of exactly eps; use pgd".into())?;
                check(self.restarts == 1, "--restarts", "fgsm is deterministic; restarts apply to pgd".into())?;
            }
            AttackKind::Noise => {
                check(self.norm == Norm::Linf, "--norm", "noise is Gaussian; the norm applies to fgsm and pgd".into())?;
                check(self.step_size.is_none(), "--step-size", "noise takes no steps".into())?;
                check(self.restarts == 1, "--restarts", "noise draws once per sample; restarts apply to pgd".into())?;
                check(
                    self.gradient == GradientSource::True,
                    "--gradient",
                    "noise uses no gradient; leave the gradient source at its default".into(),
                )?;
            }
        }
        check(self.samples != Some(0), "--samples", "must be positive".into())?;
        check(self.batch >= 2, "--batch", format!("{} must be at least 2", self.batch))?;
        Ok(())
    }

    /// Checks that the attack can run on `model`: the feedback path must reach the input,
    /// and a transfer source must take the same inputs and predict the same classes.
    pub fn check_model(&self, model: &Model) -> Result<()> {
        match &self.gradient {
            GradientSource::True => Ok(()),
            GradientSource::Feedback => match model.feedback {
                Feedback::Direct(_) => Err(Error::config(
                    "--gradient",
                    format!(
                        "rule {} sends the error straight from the output to each hidden layer, so it has no \
                         feedback path to the input; use --gradient true or transfer",
                        Rule::Dfa
                    ),
                )),
                Feedback::None | Feedback::Matrices(_) | Feedback::SignMagnitudes(_) => Ok(()),
            },
            GradientSource::Transfer { source, name } => {
                let (src, dst) = (&source.mlp, &model.mlp);
                if src.input_dim() != dst.input_dim() {
                    return Err(Error::config(
                        "--gradient",
                        format!(
                            "the transfer model {name} takes {} inputs but the attacked model takes {}",
                            src.input_dim(),
                            dst.input_dim()
                        ),
                    ));
                }
                if src.classes() != dst.classes() {
                    return Err(Error::config(
                        "--gradient",
                        format!(
                            "the transfer model {name} predicts {} classes but the attacked model predicts {}",
                            src.classes(),
                            dst.classes()
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The settings as echoed in results, with the values actually used.
    pub fn echo(&self, samples: usize) -> AttackEcho {
        AttackEcho {
            attack: self.attack,
            norm: (self.attack != AttackKind::Noise).then_some(self.norm),
            eps: self.eps.clone(),
            steps: self.effective_steps(),
            step_size: self.eps.iter().map(|&eps| self.step_size_for(eps)).collect(),
            restarts: self.effective_restarts(),
            random_start: self.effective_random_start(),
            gradient: if self.attack == AttackKind::Noise { GradientName::None } else { self.gradient.name() },
            transfer_source: match &self.gradient {
                GradientSource::Transfer { name, .. } => Some(name.clone()),
                _ => None,
            },
            loss: (self.attack != AttackKind::Noise).then_some(self.loss),
            samples,
            seed: self.seed,
            early_exit: self.early_exit,
        }
    }
}

/// The settings of a robustness evaluation as actually run, echoed in every result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackEcho {
    pub attack: AttackKind,
    /// `None` for noise.
    pub norm: Option<Norm>,
    /// Budgets (noise: standard deviations), in input units ([0, 1] pixels).
    pub eps: Vec<f32>,
    /// Steps per restart actually taken (FGSM 1, noise 0).
    pub steps: usize,
    /// Step size used at each eps (FGSM: eps; noise: 0).
    pub step_size: Vec<f32>,
    pub restarts: usize,
    pub random_start: bool,
    pub gradient: GradientName,
    /// The transfer model's name (e.g. its checkpoint path), for `gradient = transfer`.
    pub transfer_source: Option<String>,
    /// The loss the attack ascends; `None` for noise. Absent from results written before
    /// the option existed, which all used cross-entropy.
    #[serde(default = "cross_entropy")]
    pub loss: Option<OutputLoss>,
    /// Number of evaluated samples (the first ones of the split).
    pub samples: usize,
    pub seed: u64,
    pub early_exit: bool,
}

fn cross_entropy() -> Option<OutputLoss> {
    Some(OutputLoss::CrossEntropy)
}

crate::name_enum!(AttackKind, "attack");
crate::name_enum!(Norm, "norm");

impl GradientName {
    pub const ALL: [GradientName; 3] = [GradientName::True, GradientName::Feedback, GradientName::Transfer];

    pub fn name(self) -> &'static str {
        match self {
            GradientName::True => "true",
            GradientName::Feedback => "feedback",
            GradientName::Transfer => "transfer",
            GradientName::None => "none",
        }
    }
}

crate::name_enum!(GradientName, "gradient source");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{init_model, Activation, Mlp};

    fn flag_of(result: Result<()>) -> String {
        match result {
            Err(Error::Config { flag, .. }) => flag,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let s = AttackSettings::pgd(vec![0.1]);
        s.validate().unwrap();
        assert_eq!((s.steps, s.restarts, s.random_start, s.norm), (20, 1, true, Norm::Linf));
        assert!((s.step_size_for(0.1) - 2.5 * 0.1 / 20.0).abs() < 1e-9);
        assert_eq!(AttackSettings::fgsm(vec![0.1]).step_size_for(0.1), 0.1);
        assert_eq!(AttackSettings::fgsm(vec![0.1]).effective_steps(), 1);
    }

    #[test]
    fn every_bad_value_names_its_flag() {
        let pgd = AttackSettings::pgd(vec![0.1]);
        let cases: Vec<(AttackSettings, &str)> = vec![
            (AttackSettings { eps: vec![], ..pgd.clone() }, "--eps"),
            (AttackSettings { eps: vec![1.5], ..pgd.clone() }, "--eps"),
            (AttackSettings { eps: vec![-0.1], ..pgd.clone() }, "--eps"),
            (AttackSettings { eps: vec![f32::NAN], ..pgd.clone() }, "--eps"),
            (AttackSettings { steps: 0, ..pgd.clone() }, "--steps"),
            (AttackSettings { step_size: Some(-0.01), ..pgd.clone() }, "--step-size"),
            (AttackSettings { step_size: Some(0.0), ..pgd.clone() }, "--step-size"),
            (AttackSettings { restarts: 0, ..pgd.clone() }, "--restarts"),
            (AttackSettings { samples: Some(0), ..pgd.clone() }, "--samples"),
            (AttackSettings { batch: 1, ..pgd.clone() }, "--batch"),
            (AttackSettings { norm: Norm::L2, ..AttackSettings::fgsm(vec![0.1]) }, "--norm"),
            (AttackSettings { restarts: 3, ..AttackSettings::fgsm(vec![0.1]) }, "--restarts"),
            (AttackSettings { gradient: GradientSource::Feedback, ..AttackSettings::noise(vec![0.1]) }, "--gradient"),
        ];
        for (settings, flag) in cases {
            assert_eq!(flag_of(settings.validate()), flag, "{settings:?}");
        }
        // an L2 budget may exceed 1, and noise may be strong
        AttackSettings { norm: Norm::L2, eps: vec![3.0], ..pgd }.validate().unwrap();
        AttackSettings::noise(vec![2.0]).validate().unwrap();
    }

    #[test]
    fn feedback_gradient_of_dfa_and_mismatched_transfer_are_rejected() {
        let mlp = Mlp::new(&[6, 5, 3], Activation::Relu);
        let dfa = init_model(&mlp, Rule::Dfa, 0.0, 1);
        let feedback = AttackSettings { gradient: GradientSource::Feedback, ..AttackSettings::pgd(vec![0.1]) };
        let message = feedback.check_model(&dfa).unwrap_err().to_string();
        assert!(message.contains("--gradient") && message.contains("dfa"), "{message}");
        for rule in [Rule::Bp, Rule::Fa, Rule::Sign, Rule::Kp] {
            feedback.check_model(&init_model(&mlp, rule, 0.0, 1)).unwrap();
        }
        let other = init_model(&Mlp::new(&[6, 5, 4], Activation::Relu), Rule::Bp, 0.0, 1);
        let transfer = AttackSettings {
            gradient: GradientSource::Transfer { source: other, name: "other".into() },
            ..AttackSettings::pgd(vec![0.1])
        };
        let message = transfer.check_model(&dfa).unwrap_err().to_string();
        assert!(message.contains("4 classes") && message.contains("3"), "{message}");
    }

    #[test]
    fn names_round_trip() {
        for a in AttackKind::ALL {
            assert_eq!(a.name().parse::<AttackKind>().unwrap(), a);
        }
        for n in Norm::ALL {
            assert_eq!(n.name().parse::<Norm>().unwrap(), n);
        }
        for g in GradientName::ALL {
            assert_eq!(g.name().parse::<GradientName>().unwrap(), g);
        }
        assert!("l3".parse::<Norm>().unwrap_err().contains("linf, l2"));
    }
}
