//! Integration tests of the data module through its public API.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use diag::data::{
    self, cifar, fixture, idx, load, load_cifar10_dir, load_idx_dir, DataError, DataSpec, Dataset, CLASSES, IDX_FILES,
};
use tempfile::TempDir;

const ROWS: usize = 3;
const COLS: usize = 2;
const DIM: usize = ROWS * COLS;

/// Deterministic toy pixels covering 0 and 255.
fn pixels(n: usize, salt: usize) -> Vec<u8> {
    (0..n * DIM).map(|i| ((i * 37 + salt) % 256) as u8).collect()
}

fn labels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % CLASSES) as u8).collect()
}

/// Writes a small IDX data set (12 train, 5 test samples) into a new folder.
fn write_idx_dir(gzip: bool) -> (TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let suffix = if gzip { ".gz" } else { "" };
    let path = |file: &str| dir.path().join(format!("{file}{suffix}"));
    let (train, test) = (pixels(12, 0), pixels(5, 11));
    idx::write_images(&path(IDX_FILES[0]), &train, 12, ROWS, COLS, gzip).unwrap();
    idx::write_labels(&path(IDX_FILES[1]), &labels(12), gzip).unwrap();
    idx::write_images(&path(IDX_FILES[2]), &test, 5, ROWS, COLS, gzip).unwrap();
    idx::write_labels(&path(IDX_FILES[3]), &labels(5), gzip).unwrap();
    (dir, train, test)
}

/// Path of a standard IDX file in `dir`, with or without `.gz`.
fn idx_path(dir: &Path, index: usize, gzip: bool) -> PathBuf {
    let suffix = if gzip { ".gz" } else { "" };
    dir.join(format!("{}{suffix}", IDX_FILES[index]))
}

/// Asserts the error is a single line mentioning `needle` (a file or folder).
fn assert_names(err: &DataError, needle: &Path) {
    let message = err.to_string();
    assert!(!message.contains('\n'), "multi-line message: {message}");
    assert!(message.contains(&*needle.to_string_lossy()), "{message:?} does not name {}", needle.display());
}

fn no_tmp_files(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().all(|entry| !entry.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
}

#[test]
fn idx_round_trip_raw_and_gzip() {
    for gzip in [false, true] {
        let (dir, train, test) = write_idx_dir(gzip);
        let first = fs::read(idx_path(dir.path(), 0, gzip)).unwrap();
        assert_eq!(first.starts_with(&[0x1f, 0x8b]), gzip);
        assert!(no_tmp_files(dir.path()));

        let splits = load_idx_dir(dir.path()).unwrap();
        assert_eq!(splits.name, format!("idx:{}", dir.path().display()));
        assert_eq!((splits.train.dim, splits.train.classes), (DIM, CLASSES));
        assert_eq!(splits.train.pixels, train);
        assert_eq!(splits.train.labels, labels(12));
        assert_eq!(splits.test.pixels, test);
        assert_eq!(splits.test.labels, labels(5));
        assert_eq!(splits.fingerprint, data::fingerprint(&splits.train, &splits.test));

        let again = load(&DataSpec::Idx(dir.path().to_path_buf())).unwrap();
        assert_eq!(again, splits);
    }
}

#[test]
fn raw_and_gzip_files_give_the_same_fingerprint() {
    let (raw, _, _) = write_idx_dir(false);
    let (gz, _, _) = write_idx_dir(true);
    let (raw, gz) = (load_idx_dir(raw.path()).unwrap(), load_idx_dir(gz.path()).unwrap());
    assert_eq!(raw.fingerprint, gz.fingerprint);
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let (dir, train, _) = write_idx_dir(false);
    // Gzipped training images under the raw name.
    let path = idx_path(dir.path(), 0, false);
    idx::write_images(&path, &train, 12, ROWS, COLS, true).unwrap();
    assert!(fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]));
    assert_eq!(load_idx_dir(dir.path()).unwrap().train.pixels, train);
}

#[test]
fn idx_wrong_magic_is_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 0, false);
    // Label data where images are expected.
    idx::write_labels(&path, &[1, 2, 3], false).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { .. }), "{err}");
    assert_names(&err, &path);
    assert!(err.to_string().contains("0x00000801"), "{err}");
}

#[test]
fn idx_truncated_images_are_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 2, false);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn idx_truncated_labels_are_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 1, false);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..5]).unwrap(); // inside the header
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn idx_trailing_bytes_are_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 3, false);
    let mut bytes = fs::read(&path).unwrap();
    bytes.push(0);
    fs::write(&path, bytes).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::TrailingBytes { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn idx_count_mismatch_names_both_files() {
    let (dir, _, _) = write_idx_dir(true);
    let labels_path = idx_path(dir.path(), 1, true);
    idx::write_labels(&labels_path, &labels(11), true).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { images: 12, labels: 11, .. }), "{err}");
    assert_names(&err, &labels_path);
    assert_names(&err, &idx_path(dir.path(), 0, true));
}

#[test]
fn idx_shape_mismatch_between_splits_is_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 2, false);
    idx::write_images(&path, &[0; 5 * 4], 5, 2, 2, false).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::ShapeMismatch { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn idx_missing_file_is_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 3, false);
    fs::remove_file(&path).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn idx_missing_folder_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    let err = load_idx_dir(&missing).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err}");
    assert_names(&err, &missing);

    // A file where a folder is expected is no better.
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    assert_names(&load_idx_dir(&file).unwrap_err(), &file);
}

#[test]
fn idx_bad_gzip_is_rejected() {
    let (dir, _, _) = write_idx_dir(true);
    let path = idx_path(dir.path(), 0, true);

    // Garbage after a gzip magic.
    fs::write(&path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1, 2, 3, 4, 5]).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert_names(&err, &path);

    // A gzip stream cut short.
    let (good, train, _) = write_idx_dir(true);
    let bytes = fs::read(idx_path(good.path(), 0, true)).unwrap();
    assert!(bytes.len() > 20, "{} bytes for {} pixels", bytes.len(), train.len());
    fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn idx_label_out_of_range_is_rejected() {
    let (dir, _, _) = write_idx_dir(false);
    let path = idx_path(dir.path(), 3, false);
    idx::write_labels(&path, &[0, 1, 10, 2, 3], false).unwrap();
    let err = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { index: 2, label: 10, classes: 10, .. }), "{err}");
    assert_names(&err, &path);
}

/// Writes a small CIFAR-10 folder (batches of 3, 1, 2, 2, 4 and a test batch
/// of 3 records) and returns it with the expected train and test splits.
fn write_cifar_dir(root: &Path) -> (Dataset, Dataset) {
    fs::create_dir_all(root).unwrap();
    let mut train = Dataset { pixels: Vec::new(), labels: Vec::new(), dim: cifar::DIM, classes: CLASSES };
    for (batch, (name, n)) in cifar::TRAIN_BATCHES.iter().zip([3, 1, 2, 2, 4]).enumerate() {
        let pixels: Vec<u8> = (0..n * cifar::DIM).map(|i| ((i + batch) % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i + batch) % CLASSES) as u8).collect();
        cifar::write_batch(&root.join(name), &pixels, &labels).unwrap();
        train.pixels.extend(pixels);
        train.labels.extend(labels);
    }
    let test = Dataset {
        pixels: (0..3 * cifar::DIM).map(|i| (i % 199) as u8).collect(),
        labels: vec![9, 0, 5],
        dim: cifar::DIM,
        classes: CLASSES,
    };
    cifar::write_batch(&root.join(cifar::TEST_BATCH), &test.pixels, &test.labels).unwrap();
    (train, test)
}

#[test]
fn cifar_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = write_cifar_dir(dir.path());
    assert!(no_tmp_files(dir.path()));
    let splits = load_cifar10_dir(dir.path()).unwrap();
    assert_eq!(splits.train, train);
    assert_eq!(splits.test, test);
    assert_eq!(splits.train.len(), 12);
    assert_eq!(splits.name, format!("cifar10:{}", dir.path().display()));
    assert_eq!(splits, load(&DataSpec::Cifar10(dir.path().to_path_buf())).unwrap());
}

#[test]
fn cifar_accepts_the_parent_of_the_archive_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = write_cifar_dir(&dir.path().join(cifar::SUBFOLDER));
    let splits = load_cifar10_dir(dir.path()).unwrap();
    assert_eq!((splits.train, splits.test), (train, test));
}

#[test]
fn cifar_missing_file_and_folder_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path());
    let path = dir.path().join(cifar::TRAIN_BATCHES[3]);
    fs::remove_file(&path).unwrap();
    let err = load_cifar10_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { .. }), "{err}");
    assert_names(&err, &path);

    let missing = dir.path().join("absent");
    let err = load_cifar10_dir(&missing).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err}");
    assert_names(&err, &missing);
}

#[test]
fn cifar_bad_size_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path());
    let path = dir.path().join(cifar::TEST_BATCH);
    let mut bytes = fs::read(&path).unwrap();
    bytes.pop();
    fs::write(&path, bytes).unwrap();
    let err = load_cifar10_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::BadRecordSize { size, record: 3073, .. } if size == 3 * 3073 - 1), "{err}");
    assert_names(&err, &path);
}

#[test]
fn cifar_label_out_of_range_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path());
    let path = dir.path().join(cifar::TRAIN_BATCHES[1]);
    cifar::write_batch(&path, &vec![0; 2 * cifar::DIM], &[3, 200]).unwrap();
    let err = load_cifar10_dir(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { index: 1, label: 200, .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn fill_batch_scales_and_keeps_order() {
    let data = Dataset { pixels: vec![0, 255, 51, 102, 7, 8], labels: vec![4, 5, 6], dim: 2, classes: CLASSES };
    let mut x = [f32::NAN; 8];
    let mut y = [0; 4];
    data.fill_batch(&[1, 0, 2, 1], &mut x, &mut y);
    assert_eq!(x[2..4], [0.0, 1.0]);
    assert_eq!(x[..2], [0.2, 0.4]);
    assert_eq!(x[..2], x[6..]);
    assert_eq!(x[4..6], [7.0 / 255.0, 8.0 / 255.0]);
    assert_eq!(y, [5, 4, 6, 5]);

    let (mut x, mut y) = ([0.0f32; 0], [0u8; 0]);
    data.fill_batch(&[], &mut x, &mut y);
}

#[test]
fn sample_is_deterministic_and_without_duplicates() {
    let splits = load(&DataSpec::Fixture).unwrap();
    let train = &splits.train;
    let indices = train.sample_indices(700, 42);
    assert_eq!(indices, train.sample_indices(700, 42));
    assert_ne!(indices, train.sample_indices(700, 43));
    assert!(indices.windows(2).all(|pair| pair[0] < pair[1]), "ascending, distinct");
    assert!(indices.iter().all(|&i| i < train.len()));

    let sample = train.sample(700, 42);
    assert_eq!(sample, train.sample(700, 42));
    assert_eq!(sample, train.subset(&indices));
    assert_eq!((sample.len(), sample.dim, sample.classes), (700, 784, CLASSES));
    let distinct: BTreeSet<&[u8]> = (0..sample.len()).map(|i| sample.image(i)).collect();
    assert!(distinct.len() > 690, "{} distinct images", distinct.len());

    assert_eq!(train.head(3).pixels, train.pixels[..3 * 784]);
    assert_eq!(train.sample(train.len() + 5, 1), *train);
}

#[test]
fn fixture_is_the_documented_subset() {
    let splits = load(&DataSpec::Fixture).unwrap();
    assert_eq!(splits.name, "fixture");
    assert_eq!(splits.train.len(), fixture::TRAIN_LEN);
    assert_eq!(splits.test.len(), fixture::TEST_LEN);
    for split in [&splits.train, &splits.test] {
        assert_eq!((split.dim, split.classes), (784, CLASSES));
        assert_eq!(split.pixels.len(), split.len() * 784);
    }
    assert_eq!(splits.train.class_counts(), [500; CLASSES]);
    assert_eq!(splits.test.class_counts(), [100; CLASSES]);
    // Pinned: changes only if the fixture's content changes.
    assert_eq!(splits.fingerprint, "bad5a4349b5be764");
}

#[test]
fn fixture_is_a_subset_of_debian_fashion_mnist() {
    let Some(full) = load_fashion_mnist_if_present() else {
        return;
    };
    let fixture = load(&DataSpec::Fixture).unwrap();
    for (small, big) in [(&fixture.train, &full.train), (&fixture.test, &full.test)] {
        // Both keep file order, so one forward scan matches every sample.
        let mut next = 0;
        for i in 0..small.len() {
            let found = (next..big.len()).find(|&j| big.image(j) == small.image(i) && big.labels[j] == small.labels[i]);
            next = found.expect("fixture sample missing from Fashion-MNIST (or out of order)") + 1;
        }
    }
}

fn load_fashion_mnist_if_present() -> Option<data::DataSplits> {
    let dir = data::fashion_mnist_dir();
    if !dir.is_dir() {
        println!("note: skipping, {} is absent (apt-get install dataset-fashion-mnist)", dir.display());
        return None;
    }
    Some(load(&DataSpec::FashionMnist).unwrap())
}

#[test]
fn fashion_mnist_loads_when_installed() {
    let start = Instant::now();
    let Some(splits) = load_fashion_mnist_if_present() else {
        return;
    };
    println!("fashion-mnist loaded in {:?}", start.elapsed());
    assert_eq!(splits.name, "fashion-mnist");
    assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
    assert_eq!((splits.train.dim, splits.test.dim), (784, 784));
    assert_eq!(splits.train.class_counts(), [6_000; CLASSES]);
    assert_eq!(splits.test.class_counts(), [1_000; CLASSES]);
}

#[test]
fn spec_round_trips_through_display() {
    let specs = [
        DataSpec::FashionMnist,
        DataSpec::Fixture,
        DataSpec::Idx("/data/mnist".into()),
        DataSpec::Cifar10("relative/cifar".into()),
    ];
    for spec in specs {
        let text = spec.to_string();
        assert_eq!(text.parse::<DataSpec>().unwrap(), spec, "{text}");
    }
    assert_eq!("fashion-mnist".parse::<DataSpec>().unwrap(), DataSpec::FashionMnist);
    assert_eq!("idx:/x/y".parse::<DataSpec>().unwrap(), DataSpec::Idx("/x/y".into()));
}

#[test]
fn unknown_spec_is_rejected_with_the_accepted_forms() {
    let err = "mnist".parse::<DataSpec>().unwrap_err();
    let message = err.to_string();
    for form in ["\"mnist\"", "fashion-mnist", "fixture", "idx:DIR", "cifar10:DIR"] {
        assert!(message.contains(form), "{message} lacks {form}");
    }
}
