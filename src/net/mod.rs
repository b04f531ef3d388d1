//! The multilayer perceptron and its learning rules (`SPEC.md` sections 1 and 2).
//!
//! Layers `l = 1..L` (index `i = l - 1` in code): `a_l = W_l h_{l-1} + b_l`,
//! `h_l = phi(a_l)` for `l < L`, logits `a_L`, loss the mean softmax cross-entropy.
//! Every rule updates a layer with the same local outer product
//! `dW_l = delta_l h_{l-1}^T`; rules differ only in the path that carries the error
//! `delta_l` back to a hidden layer ([`ErrorPath`]).
//!
//! Storage (see [`crate::linalg`]): all parameters live in one flat `f32` vector laid
//! out by [`Mlp`]; layer `i` holds its weight as `W^T` column-major (`d_in x d_out`,
//! which is PyTorch's `out x in` row-major) followed by its bias. Feedback matrices
//! `B_l` (`d_in x d_out`) are stored column-major, which is PyTorch's `out x in`
//! `feedback` layout, so `cos(W_l^T, B_l)` is taken elementwise between the two buffers.

mod backprop;
mod eval;
mod init;
pub mod rop;

pub(crate) use backprop::{activate, add_bias, add_column_sums, multiply_by_derivative};
pub use backprop::{BatchStats, OutputLoss, Workspace};
pub use eval::evaluate;
pub use init::{alignment_angle_deg, he_normal, init_model, soft_align};
pub use rop::HessianOperator;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// Hidden-layer nonlinearity `phi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Tanh,
    Linear,
}

impl Activation {
    pub const ALL: [Activation; 3] = [Activation::Relu, Activation::Tanh, Activation::Linear];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Linear => "linear",
        }
    }

    #[inline]
    pub fn apply(self, a: f32) -> f32 {
        match self {
            Activation::Relu => a.max(0.0),
            Activation::Tanh => a.tanh(),
            Activation::Linear => a,
        }
    }

    /// `phi'(a)` expressed through `a` and `h = phi(a)` (whichever is cheaper).
    #[inline]
    pub fn derivative(self, a: f32, h: f32) -> f32 {
        match self {
            Activation::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => 1.0 - h * h,
            Activation::Linear => 1.0,
        }
    }

    /// `phi''(a)` expressed through `h = phi(a)` (zero almost everywhere for relu and linear).
    #[inline]
    pub fn second_derivative(self, h: f32) -> f32 {
        match self {
            Activation::Tanh => -2.0 * h * (1.0 - h * h),
            Activation::Relu | Activation::Linear => 0.0,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown activation '{s}' (expected relu, tanh or linear)"))
    }
}

/// How the error reaches hidden layers (`SPEC.md` section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Backpropagation: `W_l^T` (weight transport).
    Bp,
    /// Feedback alignment: fixed random `B_l`.
    Fa,
    /// One-time soft-aligned feedback alignment: `B_l` aligned with `W_l^T` at init, then fixed.
    Ifa,
    /// Direct feedback alignment: fixed random `D_l` straight from the output error.
    Dfa,
    /// Sign-symmetry: `sign(W_l)^T * |R_l|`, magnitudes fixed, signs follow `W_l`.
    Sign,
    /// Kolen-Pollack: `B_l` receives `dW_l^T` and the same weight decay each step.
    Kp,
}

impl Rule {
    pub const ALL: [Rule; 6] = [Rule::Bp, Rule::Fa, Rule::Ifa, Rule::Dfa, Rule::Sign, Rule::Kp];

    pub fn name(self) -> &'static str {
        match self {
            Rule::Bp => "bp",
            Rule::Fa => "fa",
            Rule::Ifa => "ifa",
            Rule::Dfa => "dfa",
            Rule::Sign => "sign",
            Rule::Kp => "kp",
        }
    }
}

crate::name_enum!(Rule, "rule");

/// Architecture and flat parameter layout of an MLP with widths `sizes = [d_0, ..., d_L]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mlp {
    sizes: Vec<usize>,
    activation: Activation,
    /// Start of layer `i`'s weight block; its bias follows at `offsets[i] + d_in * d_out`.
    offsets: Vec<usize>,
    num_params: usize,
}

impl Mlp {
    /// Panics if fewer than two sizes or a zero width are given: callers validate user input first.
    pub fn new(sizes: &[usize], activation: Activation) -> Mlp {
        assert!(sizes.len() >= 2, "an MLP needs an input and an output size");
        assert!(sizes.iter().all(|&d| d > 0), "layer widths must be positive");
        let mut offsets = Vec::with_capacity(sizes.len() - 1);
        let mut at = 0;
        for w in sizes.windows(2) {
            offsets.push(at);
            at += w[0] * w[1] + w[1];
        }
        Mlp { sizes: sizes.to_vec(), activation, offsets, num_params: at }
    }

    /// Widths `[d_0, ..., d_L]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Number of weight layers `L`.
    pub fn num_layers(&self) -> usize {
        self.sizes.len() - 1
    }
    pub fn input_dim(&self) -> usize {
        self.sizes[0]
    }
    pub fn classes(&self) -> usize {
        *self.sizes.last().expect("non-empty sizes")
    }
    pub fn num_params(&self) -> usize {
        self.num_params
    }
    /// `(d_in, d_out)` of layer `i` (0-based).
    pub fn layer_dims(&self, i: usize) -> (usize, usize) {
        (self.sizes[i], self.sizes[i + 1])
    }
    /// Range of layer `i`'s weight (`W^T`, `d_in x d_out` column-major) in the flat vector.
    pub fn weight_range(&self, i: usize) -> Range<usize> {
        let (din, dout) = self.layer_dims(i);
        self.offsets[i]..self.offsets[i] + din * dout
    }
    /// Range of layer `i`'s bias in the flat vector.
    pub fn bias_range(&self, i: usize) -> Range<usize> {
        let w = self.weight_range(i);
        w.end..w.end + self.sizes[i + 1]
    }
    /// Range of all of layer `i`'s parameters (weight then bias).
    pub fn layer_range(&self, i: usize) -> Range<usize> {
        self.offsets[i]..self.bias_range(i).end
    }
}

/// The feedback state a rule carries besides the forward weights.
#[derive(Clone, Debug, PartialEq)]
pub enum Feedback {
    /// `bp`: none.
    None,
    /// `fa`, `ifa`, `kp`: one `B_l` per layer (`d_in x d_out` column-major); `B_1` is kept
    /// for the feedback-path attack although training never uses it.
    Matrices(Vec<Vec<f32>>),
    /// `sign`: fixed magnitudes `|R_l|` per layer, same layout as `B_l`.
    SignMagnitudes(Vec<Vec<f32>>),
    /// `dfa`: one `D_l` (`d_l x d_L` column-major) per hidden layer `l = 1..L-1`.
    Direct(Vec<Vec<f32>>),
}

/// The path that carries the error backwards, borrowed for one backward pass.
#[derive(Clone, Copy, Debug)]
pub enum ErrorPath<'a> {
    /// Through the forward weights: `delta_{l-1} = (W_l^T delta_l) * phi'`.
    Transpose,
    /// Through one matrix per layer (`d_in x d_out`): `delta_{l-1} = (B_l delta_l) * phi'`.
    Matrices(&'a [Vec<f32>]),
    /// Straight from the output error: `delta_l = (D_l e) * phi'` for hidden layers.
    Direct(&'a [Vec<f32>]),
}

/// A network: architecture, flat parameters, rule and feedback state.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub mlp: Mlp,
    pub rule: Rule,
    pub params: Vec<f32>,
    pub feedback: Feedback,
}

impl Model {
    /// `W_l^T` of layer `i` (`d_in x d_out` column-major).
    pub fn weight_t(&self, i: usize) -> &[f32] {
        &self.params[self.mlp.weight_range(i)]
    }
    pub fn bias(&self, i: usize) -> &[f32] {
        &self.params[self.mlp.bias_range(i)]
    }

    /// The feedback matrices `B_l` the rule uses at this moment, one per layer, or `None`
    /// for `bp` (whose path is `W^T`) and `dfa` (whose path is direct). For `sign` this is
    /// `sign(W_l^T) * |R_l|` evaluated at the current weights.
    pub fn feedback_matrices(&self) -> Option<Vec<Vec<f32>>> {
        match &self.feedback {
            Feedback::Matrices(b) => Some(b.clone()),
            Feedback::SignMagnitudes(r) => {
                let mut out = r.clone();
                self.fill_sign_feedback(&mut out);
                Some(out)
            }
            Feedback::None | Feedback::Direct(_) => None,
        }
    }

    /// For `sign`: writes `sign(W_l^T) * |R_l|` into `out` (allocated to the right sizes).
    pub fn fill_sign_feedback(&self, out: &mut [Vec<f32>]) {
        if let Feedback::SignMagnitudes(r) = &self.feedback {
            for (i, (dst, mag)) in out.iter_mut().zip(r).enumerate() {
                for ((d, &m), &w) in dst.iter_mut().zip(mag).zip(self.weight_t(i)) {
                    *d = if w > 0.0 {
                        m
                    } else if w < 0.0 {
                        -m
                    } else {
                        0.0
                    };
                }
            }
        }
    }

    /// The error path of this model's rule. `sign_scratch` must hold the current
    /// `sign(W^T) * |R|` for `sign` models (see [`Model::fill_sign_feedback`]).
    pub fn error_path<'a>(&'a self, sign_scratch: &'a [Vec<f32>]) -> ErrorPath<'a> {
        match &self.feedback {
            Feedback::None => ErrorPath::Transpose,
            Feedback::Matrices(b) => ErrorPath::Matrices(b),
            Feedback::SignMagnitudes(_) => ErrorPath::Matrices(sign_scratch),
            Feedback::Direct(d) => ErrorPath::Direct(d),
        }
    }

    /// True when every parameter (and feedback value) is finite.
    pub fn is_finite(&self) -> bool {
        let fb_finite = match &self.feedback {
            Feedback::None => true,
            Feedback::Matrices(m) | Feedback::SignMagnitudes(m) | Feedback::Direct(m) => {
                m.iter().all(|b| b.iter().all(|v| v.is_finite()))
            }
        };
        fb_finite && self.params.iter().all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_weight_then_bias() {
        let mlp = Mlp::new(&[4, 3, 2], Activation::Relu);
        assert_eq!(mlp.weight_range(0), 0..12);
        assert_eq!(mlp.bias_range(0), 12..15);
        assert_eq!(mlp.weight_range(1), 15..21);
        assert_eq!(mlp.bias_range(1), 21..23);
        assert_eq!(mlp.num_params(), 23);
        assert_eq!(mlp.layer_range(1), 15..23);
    }

    #[test]
    fn rule_and_activation_names_round_trip() {
        for r in Rule::ALL {
            assert_eq!(r.name().parse::<Rule>().unwrap(), r);
        }
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        assert!("backprop".parse::<Rule>().unwrap_err().contains("bp, fa, ifa"));
    }
}
