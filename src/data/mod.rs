//! Data loading: image-classification data sets as compact `u8` splits.
//!
//! A [`DataSpec`] names a source — Debian's Fashion-MNIST package, the small
//! Fashion-MNIST subset embedded in the library, a folder of IDX files, or a
//! folder of CIFAR-10 binary batches — and [`load`] turns it into
//! [`DataSplits`]: a training and a test [`Dataset`] plus a name and a content
//! fingerprint. Pixels stay `u8` in memory; [`Dataset::fill_batch`] scales the
//! samples of a mini-batch to `f32` in `[0, 1]` into caller-owned buffers.
//!
//! Every failure is a [`DataError`] whose message is one line naming the file
//! or folder at fault. Writers for both formats ([`idx::write_images`],
//! [`idx::write_labels`], [`cifar::write_batch`]) exist for tests and for
//! building fixtures; they write atomically.

pub mod cifar;
mod error;
mod files;
pub mod fixture;
pub mod idx;

use std::env;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub use error::DataError;

/// Number of classes of the MNIST family and of CIFAR-10.
pub const CLASSES: usize = 10;

/// Where Debian's `dataset-fashion-mnist` package installs its IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Environment variable that overrides [`FASHION_MNIST_DIR`].
pub const FASHION_MNIST_DIR_VAR: &str = "DIAG_FASHION_MNIST_DIR";

/// Standard IDX file names: training images, training labels, test images,
/// test labels. Each may also be present with a `.gz` suffix.
pub const IDX_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// `SCALE[p] == p as f32 / 255.0`, exact at both ends (0.0 and 1.0).
const SCALE: [f32; 256] = {
    let mut table = [0.0; 256];
    let mut p = 0;
    while p < 256 {
        table[p] = p as f32 / 255.0;
        p += 1;
    }
    table
};

/// One split: pixels stored compactly as u8, sample-contiguous (sample i
/// occupies `pixels[i*dim..(i+1)*dim]`).
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
    pub dim: usize,
    pub classes: usize,
}

impl Dataset {
    /// An empty split of the given shape.
    pub(crate) fn empty(dim: usize, classes: usize) -> Self {
        Dataset { pixels: Vec::new(), labels: Vec::new(), dim, classes }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.dim..(i + 1) * self.dim]
    }

    /// Number of samples of each class (`classes` entries; labels outside
    /// the range are not counted).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &label in &self.labels {
            if let Some(count) = counts.get_mut(usize::from(label)) {
                *count += 1;
            }
        }
        counts
    }

    /// Write samples `indices` as f32 in `[0, 1]` (pixel/255) into `x` (len
    /// `indices.len()*dim`, sample-contiguous: sample j at `x[j*dim..]`) and
    /// labels into `y`. Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != indices.len() * dim`, `y.len() != indices.len()`, or
    /// an index is out of range: these are programming errors.
    pub fn fill_batch(&self, indices: &[usize], x: &mut [f32], y: &mut [u8]) {
        let dim = self.dim;
        assert_eq!(x.len(), indices.len() * dim, "fill_batch: x must hold {} samples of {dim} values", indices.len());
        assert_eq!(y.len(), indices.len(), "fill_batch: y must hold one label per index");
        for (j, &i) in indices.iter().enumerate() {
            let dst = &mut x[j * dim..(j + 1) * dim];
            for (value, &pixel) in dst.iter_mut().zip(self.image(i)) {
                *value = SCALE[usize::from(pixel)];
            }
            y[j] = self.labels[i];
        }
    }

    /// First n samples (file order) as a new Dataset; all of them if `n`
    /// exceeds [`len`](Self::len).
    #[must_use]
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            pixels: self.pixels[..n * self.dim].to_vec(),
            labels: self.labels[..n].to_vec(),
            dim: self.dim,
            classes: self.classes,
        }
    }

    /// The samples at `indices`, in that order, as a new Dataset.
    ///
    /// # Panics
    /// If an index is out of range.
    #[must_use]
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            dim: self.dim,
            classes: self.classes,
        }
    }

    /// The indices [`sample`](Self::sample) picks: `n` distinct indices
    /// (all of them if `n` exceeds the length) drawn by `seed` with
    /// `ChaCha8Rng` and `rand::seq::index::sample`, in ascending order.
    /// Stable for a given `rand`/`rand_chacha` version; a major upgrade of
    /// either may change the draw.
    #[must_use]
    pub fn sample_indices(&self, n: usize, seed: u64) -> Vec<usize> {
        let len = self.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut indices = rand::seq::index::sample(&mut rng, len, n.min(len)).into_vec();
        indices.sort_unstable();
        indices
    }

    /// n samples drawn without replacement by seed (deterministic: same seed
    /// → same indices), kept in ascending file order. All samples if `n`
    /// exceeds the length.
    #[must_use]
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        self.subset(&self.sample_indices(n, seed))
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("dim", &self.dim)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

/// The training and test splits of a data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSplits {
    pub train: Dataset,
    pub test: Dataset,
    /// E.g. `"fashion-mnist"`, `"idx:/path"`, `"fixture"`.
    pub name: String,
    /// See [`fingerprint`].
    pub fingerprint: String,
}

impl DataSplits {
    /// Bundles two splits, computing their [`fingerprint`].
    pub fn new(name: String, train: Dataset, test: Dataset) -> Self {
        let fingerprint = fingerprint(&train, &test);
        DataSplits { train, test, name, fingerprint }
    }
}

/// First 16 hex characters of the SHA-256 of both splits' contents. For the
/// training split then the test split, the hash takes `dim` and the number
/// of samples (each a little-endian `u64`), the labels, then the pixels.
pub fn fingerprint(train: &Dataset, test: &Dataset) -> String {
    let mut hasher = Sha256::new();
    for split in [train, test] {
        hasher.update((split.dim as u64).to_le_bytes());
        hasher.update((split.len() as u64).to_le_bytes());
        hasher.update(&split.labels);
        hasher.update(&split.pixels);
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where a data set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    /// Debian's Fashion-MNIST ([`FASHION_MNIST_DIR`], or `$DIAG_FASHION_MNIST_DIR`).
    FashionMnist,
    /// The Fashion-MNIST subset embedded in the library (see [`fixture`]).
    Fixture,
    /// A folder of IDX files with the standard names ([`IDX_FILES`]).
    Idx(PathBuf),
    /// A folder of CIFAR-10 binary batches (see [`cifar`]).
    Cifar10(PathBuf),
}

impl FromStr for DataSpec {
    type Err = DataError;

    /// Accepts `fashion-mnist`, `fixture`, `idx:DIR` and `cifar10:DIR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match (s, s.split_once(':')) {
            ("fashion-mnist", _) => Ok(DataSpec::FashionMnist),
            ("fixture", _) => Ok(DataSpec::Fixture),
            (_, Some(("idx", dir))) if !dir.is_empty() => Ok(DataSpec::Idx(dir.into())),
            (_, Some(("cifar10", dir))) if !dir.is_empty() => Ok(DataSpec::Cifar10(dir.into())),
            _ => Err(DataError::UnknownSpec { spec: s.to_owned() }),
        }
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::FashionMnist => f.write_str("fashion-mnist"),
            DataSpec::Fixture => f.write_str(fixture::NAME),
            DataSpec::Idx(dir) => write!(f, "idx:{}", dir.display()),
            DataSpec::Cifar10(dir) => write!(f, "cifar10:{}", dir.display()),
        }
    }
}

/// Loads the data set `spec` names.
pub fn load(spec: &DataSpec) -> Result<DataSplits, DataError> {
    match spec {
        DataSpec::FashionMnist => load_fashion_mnist_dir(&fashion_mnist_dir()),
        DataSpec::Fixture => fixture::load(),
        DataSpec::Idx(dir) => load_idx_dir(dir),
        DataSpec::Cifar10(dir) => load_cifar10_dir(dir),
    }
}

/// The Fashion-MNIST folder: `$DIAG_FASHION_MNIST_DIR` if set and not
/// empty, else [`FASHION_MNIST_DIR`].
pub fn fashion_mnist_dir() -> PathBuf {
    env::var_os(FASHION_MNIST_DIR_VAR)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(FASHION_MNIST_DIR), PathBuf::from)
}

/// Loads Fashion-MNIST IDX files from `dir`, named `"fashion-mnist"`. A
/// missing folder yields an error suggesting the Debian package.
pub fn load_fashion_mnist_dir(dir: &Path) -> Result<DataSplits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::FashionMnistMissing { path: dir.to_path_buf() });
    }
    load_idx_files(dir, "fashion-mnist".to_owned())
}

/// Loads a folder of IDX files with the standard names ([`IDX_FILES`]), each
/// raw or gzipped; named `"idx:DIR"`.
pub fn load_idx_dir(dir: &Path) -> Result<DataSplits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir { path: dir.to_path_buf() });
    }
    load_idx_files(dir, format!("idx:{}", dir.display()))
}

/// Loads a CIFAR-10 binary folder (see [`cifar::load_dir`]).
pub fn load_cifar10_dir(dir: &Path) -> Result<DataSplits, DataError> {
    cifar::load_dir(dir)
}

/// Finds the four standard IDX files in `dir` (each raw or `.gz`, raw
/// preferred), reads them and decodes them.
fn load_idx_files(dir: &Path, name: String) -> Result<DataSplits, DataError> {
    let mut sources: [(PathBuf, Vec<u8>); 4] = Default::default();
    // Locate every file before reading any, so a missing one fails fast.
    for ((path, _), file) in sources.iter_mut().zip(IDX_FILES) {
        *path = find_idx_file(dir, file)?;
    }
    for (path, bytes) in &mut sources {
        *bytes = fs::read(&*path).map_err(files::io_error(path))?;
    }
    idx_splits(name, sources)
}

fn find_idx_file(dir: &Path, file: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(file);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{file}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile { path: raw, also_tried_gz: true })
}

/// Decodes the four IDX files (in the order of [`IDX_FILES`], raw or
/// gzipped) into splits. The paths only name the data in errors.
pub(crate) fn idx_splits(
    name: String,
    [train_images, train_labels, test_images, test_labels]: [(PathBuf, Vec<u8>); 4],
) -> Result<DataSplits, DataError> {
    let train = idx_split(train_images, train_labels);
    let test = idx_split(test_images, test_labels);
    let ((train, train_path), (test, test_path)) = (train?, test?);
    if train.dim != test.dim {
        return Err(DataError::ShapeMismatch { train_path, train_dim: train.dim, test_path, test_dim: test.dim });
    }
    Ok(DataSplits::new(name, train, test))
}

/// Decodes one split; also returns the image path for later error messages.
fn idx_split(
    (images_path, images): (PathBuf, Vec<u8>),
    (labels_path, labels): (PathBuf, Vec<u8>),
) -> Result<(Dataset, PathBuf), DataError> {
    let images = idx::parse_images(images, &images_path)?;
    let labels = idx::parse_labels(labels, &labels_path)?;
    if images.n != labels.len() {
        return Err(DataError::CountMismatch { images_path, images: images.n, labels_path, labels: labels.len() });
    }
    check_labels(&labels, CLASSES, &labels_path)?;
    let dataset = Dataset { dim: images.dim(), pixels: images.pixels, labels, classes: CLASSES };
    Ok((dataset, images_path))
}

/// Rejects the first label that is not below `classes`.
pub(crate) fn check_labels(labels: &[u8], classes: usize, path: &Path) -> Result<(), DataError> {
    match labels.iter().position(|&label| usize::from(label) >= classes) {
        Some(index) => {
            Err(DataError::LabelOutOfRange { path: path.to_path_buf(), index, label: labels[index], classes })
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset {
        Dataset { pixels: vec![0, 255, 1, 2, 3, 4, 128, 64, 10, 20], labels: vec![0, 1, 2, 3, 4], dim: 2, classes: 5 }
    }

    #[test]
    fn scale_table_is_exact_at_the_ends() {
        assert_eq!(SCALE[0], 0.0);
        assert_eq!(SCALE[255], 1.0);
        assert!(SCALE.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn fill_batch_follows_the_index_order() {
        let data = toy();
        let mut x = [f32::NAN; 6];
        let mut y = [99; 3];
        data.fill_batch(&[3, 0, 3], &mut x, &mut y);
        assert_eq!(x, [SCALE[128], SCALE[64], 0.0, 1.0, SCALE[128], SCALE[64]]);
        assert_eq!(y, [3, 0, 3]);
    }

    #[test]
    #[should_panic(expected = "fill_batch")]
    fn fill_batch_rejects_a_wrong_buffer() {
        toy().fill_batch(&[0, 1], &mut [0.0; 3], &mut [0; 2]);
    }

    #[test]
    fn head_subset_and_sample_clamp_and_copy() {
        let data = toy();
        assert_eq!(data.head(2).pixels, [0, 255, 1, 2]);
        assert_eq!(data.head(99), data);
        assert_eq!(data.subset(&[4, 1]).labels, [4, 1]);
        assert_eq!(data.sample(99, 7), data);
        assert_eq!(data.sample(0, 7).len(), 0);
        assert_eq!(data.class_counts(), [1; 5]);
    }

    #[test]
    fn fingerprint_tracks_content_and_split_boundaries() {
        let data = toy();
        let base = fingerprint(&data, &data);
        assert_eq!(base.len(), 16);
        assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(base, fingerprint(&data.clone(), &data.clone()));

        let mut pixel = data.clone();
        pixel.pixels[3] ^= 1;
        assert_ne!(base, fingerprint(&data, &pixel));

        let mut label = data.clone();
        label.labels[0] = 1;
        assert_ne!(base, fingerprint(&label, &data));

        // Moving a sample from one split to the other changes the hash too.
        let (first, rest) = (data.head(1), data.subset(&[1, 2, 3, 4]));
        let (first2, rest2) = (data.head(2), data.subset(&[2, 3, 4]));
        assert_ne!(fingerprint(&first, &rest), fingerprint(&first2, &rest2));
    }

    #[test]
    fn spec_parsing_edge_cases() {
        assert_eq!("idx:C:\\data".parse::<DataSpec>().unwrap(), DataSpec::Idx("C:\\data".into()));
        for bad in ["", "idx:", "cifar10:", "idx", "Fashion-MNIST", "mnist", "cifar100:/x"] {
            let err = bad.parse::<DataSpec>().unwrap_err();
            assert!(matches!(err, DataError::UnknownSpec { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_fashion_mnist_folder_suggests_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let message = load_fashion_mnist_dir(&missing).unwrap_err().to_string();
        assert!(message.contains(&*missing.to_string_lossy()), "{message}");
        assert!(message.contains("apt-get install dataset-fashion-mnist"), "{message}");
        assert!(message.contains(FASHION_MNIST_DIR_VAR), "{message}");
    }

    #[test]
    fn check_labels_reports_the_first_offender() {
        let err = check_labels(&[1, 10, 12], 10, Path::new("l")).unwrap_err();
        assert!(matches!(err, DataError::LabelOutOfRange { index: 1, label: 10, .. }), "{err}");
    }
}
