//! A small real subset of Fashion-MNIST embedded into the library, so that
//! [`DataSpec::Fixture`](super::DataSpec::Fixture) works with no files on disk.
//!
//! 5,000 training images (500 per class) and 1,000 test images (100 per
//! class), drawn with a fixed seed from Debian's `dataset-fashion-mnist` and
//! kept in file order; see `fixtures/README.md` and `scripts/make_fixture.py`.

use std::path::PathBuf;

use super::{idx_splits, DataError, DataSplits};

/// Name of the data set in [`DataSplits::name`].
pub const NAME: &str = "fixture";

/// Training images in the fixture.
pub const TRAIN_LEN: usize = 5_000;
/// Test images in the fixture.
pub const TEST_LEN: usize = 1_000;

macro_rules! fixture_file {
    ($name:literal) => {
        ($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/fashion-mnist-small/", $name)).as_slice())
    };
}

/// The embedded files, in the order of [`IDX_FILES`](super::IDX_FILES).
const FILES: [(&str, &[u8]); 4] = [
    fixture_file!("train-images-idx3-ubyte.gz"),
    fixture_file!("train-labels-idx1-ubyte.gz"),
    fixture_file!("t10k-images-idx3-ubyte.gz"),
    fixture_file!("t10k-labels-idx1-ubyte.gz"),
];

/// Decodes the embedded fixture with the ordinary IDX code.
pub fn load() -> Result<DataSplits, DataError> {
    let files = FILES.map(|(name, bytes)| {
        let path = PathBuf::from(format!("<embedded fixture>/{name}"));
        (path, bytes.to_vec())
    });
    idx_splits(NAME.to_owned(), files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IDX_FILES;

    #[test]
    fn embedded_names_follow_the_idx_convention() {
        for ((name, _), standard) in FILES.iter().zip(IDX_FILES) {
            assert_eq!(*name, format!("{standard}.gz"));
        }
    }
}
