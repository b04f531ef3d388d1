//! Errors of the data module: each renders as one line naming the offending
//! file or folder and what is wrong with it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while loading or writing a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A `DataSpec` string that matches none of the accepted forms.
    #[error("unknown data spec {spec:?}: expected one of `fashion-mnist`, `fixture`, `idx:DIR`, `cifar10:DIR`")]
    UnknownSpec { spec: String },

    /// The folder of the Debian `dataset-fashion-mnist` package (or the one
    /// named by `DIAG_FASHION_MNIST_DIR`) does not exist.
    #[error(
        "{}: Fashion-MNIST folder not found; install it with `apt-get install dataset-fashion-mnist` or point DIAG_FASHION_MNIST_DIR at a folder of IDX files",
        .path.display()
    )]
    FashionMnistMissing { path: PathBuf },

    /// A data folder does not exist or is not a folder.
    #[error("{}: data folder not found", .path.display())]
    MissingDir { path: PathBuf },

    /// A required file is absent from its folder.
    #[error("{}: file not found{}", .path.display(), if *.also_tried_gz { " (also tried .gz)" } else { "" })]
    MissingFile { path: PathBuf, also_tried_gz: bool },

    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file starts with the gzip magic bytes but does not decompress.
    #[error("{}: corrupt gzip data: {source}", .path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The IDX magic number is not the one for this kind of file.
    #[error("{}: wrong magic 0x{found:08x}, expected 0x{expected:08x} ({what})", .path.display())]
    BadMagic { path: PathBuf, found: u32, expected: u32, what: &'static str },

    /// The file is shorter than its header (or the header itself) requires.
    #[error("{}: truncated: expected {expected} bytes, found {found}", .path.display())]
    Truncated { path: PathBuf, expected: usize, found: usize },

    /// The file is longer than its header says.
    #[error("{}: trailing data: expected {expected} bytes, found {found}", .path.display())]
    TrailingBytes { path: PathBuf, expected: usize, found: usize },

    /// The file is structurally invalid in some other way.
    #[error("{}: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },

    /// An image file and its label file disagree on the number of samples.
    #[error(
        "sample count mismatch: {} holds {images} images but {} holds {labels} labels",
        .images_path.display(), .labels_path.display()
    )]
    CountMismatch { images_path: PathBuf, images: usize, labels_path: PathBuf, labels: usize },

    /// Training and test images have different shapes.
    #[error(
        "image shape mismatch: {} holds {train_dim}-pixel images but {} holds {test_dim}-pixel images",
        .train_path.display(), .test_path.display()
    )]
    ShapeMismatch { train_path: PathBuf, train_dim: usize, test_path: PathBuf, test_dim: usize },

    /// A label is not below the number of classes.
    #[error(
        "{}: label {label} of sample {index} is out of range (expected < {classes})",
        .path.display()
    )]
    LabelOutOfRange { path: PathBuf, index: usize, label: u8, classes: usize },

    /// A CIFAR-10 batch whose size is not a whole number of records.
    #[error(
        "{}: size {size} bytes is not a multiple of the {record}-byte CIFAR-10 record",
        .path.display()
    )]
    BadRecordSize { path: PathBuf, size: usize, record: usize },

    /// A writer was handed inconsistent arguments.
    #[error("{}: cannot write: {reason}", .path.display())]
    InvalidInput { path: PathBuf, reason: String },
}
