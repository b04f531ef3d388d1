//! `diag`: learning without weight transport.
//!
//! Train multilayer perceptrons with backpropagation, feedback alignment, one-time
//! soft-aligned feedback alignment and related rules; log checkpoints; and analyse
//! them (alignment, spectra, curvature, robustness). See `SPEC.md` for the definition
//! of every quantity and `ARCHITECTURE.md` for the shape of the code.

/// `Display` and `FromStr` for an enum named on the command line, through its `name()` and
/// `ALL`; an unknown name is rejected with the list of known ones.
macro_rules! name_enum {
    ($ty:ty, $what:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                <$ty>::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = <$ty>::ALL.iter().map(|v| v.name()).collect();
                    format!("unknown {} '{s}' (expected one of {})", $what, names.join(", "))
                })
            }
        }
    };
}
pub(crate) use name_enum;

pub mod alloc;
pub mod analysis;
pub mod ckpt;
pub mod data;
pub mod error;
pub mod io;
pub mod linalg;
pub mod net;
pub mod plot;
pub mod report;
pub mod stats;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
