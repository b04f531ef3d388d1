//! The binary version of CIFAR-10: batch files of 3,073-byte records, each a
//! label byte followed by 3,072 pixel bytes (the 32x32 red plane, then green,
//! then blue). Pixels are kept in that file order, giving `dim = 3072`.

use std::path::{Path, PathBuf};

use super::files::{read_maybe_gzip, write_atomic};
use super::{check_labels, DataError, DataSplits, Dataset, CLASSES};

/// Pixels per image: 3 colour planes of 32x32.
pub const DIM: usize = 3 * 32 * 32;
/// Bytes per record: one label byte and the pixels.
pub const RECORD: usize = 1 + DIM;
/// The training batches, in the order they are concatenated.
pub const TRAIN_BATCHES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
/// The test batch.
pub const TEST_BATCH: &str = "test_batch.bin";
/// The subfolder the official archive unpacks to.
pub const SUBFOLDER: &str = "cifar-10-batches-bin";

/// Loads CIFAR-10 from `dir`, which holds the batch files directly or holds
/// the `cifar-10-batches-bin/` folder the official archive unpacks to.
pub fn load_dir(dir: &Path) -> Result<DataSplits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir { path: dir.to_path_buf() });
    }
    let nested = dir.join(SUBFOLDER);
    let root = if !dir.join(TEST_BATCH).exists() && nested.is_dir() { nested } else { dir.to_path_buf() };

    let train_paths: Vec<PathBuf> = TRAIN_BATCHES.iter().map(|name| root.join(name)).collect();
    // Check every file exists before decoding any, so a missing one fails fast.
    for path in train_paths.iter().chain([&root.join(TEST_BATCH)]) {
        if !path.is_file() {
            return Err(DataError::MissingFile { path: path.clone(), also_tried_gz: false });
        }
    }

    let mut train = Dataset::empty(DIM, CLASSES);
    for path in &train_paths {
        read_batch_into(path, &mut train)?;
    }
    let mut test = Dataset::empty(DIM, CLASSES);
    read_batch_into(&root.join(TEST_BATCH), &mut test)?;
    Ok(DataSplits::new(format!("cifar10:{}", dir.display()), train, test))
}

/// Reads one batch file.
pub fn read_batch(path: &Path) -> Result<Dataset, DataError> {
    let mut batch = Dataset::empty(DIM, CLASSES);
    read_batch_into(path, &mut batch)?;
    Ok(batch)
}

/// Appends the records of one batch file to `out` (whose `dim` must be [`DIM`]).
fn read_batch_into(path: &Path, out: &mut Dataset) -> Result<(), DataError> {
    debug_assert_eq!(out.dim, DIM);
    let bytes = read_maybe_gzip(path)?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(DataError::BadRecordSize { path: path.to_path_buf(), size: bytes.len(), record: RECORD });
    }
    let first = out.len();
    let n = bytes.len() / RECORD;
    out.labels.reserve(n);
    out.pixels.reserve(n * DIM);
    for record in bytes.chunks_exact(RECORD) {
        let (label, pixels) = record.split_at(1);
        out.labels.push(label[0]);
        out.pixels.extend_from_slice(pixels);
    }
    check_labels(&out.labels[first..], CLASSES, path)
}

/// Writes one batch file: `labels.len()` records of a label and [`DIM`]
/// pixels taken in order from `pixels`. The write is atomic (temporary file, then rename).
pub fn write_batch(path: &Path, pixels: &[u8], labels: &[u8]) -> Result<(), DataError> {
    if labels.len().checked_mul(DIM) != Some(pixels.len()) {
        return Err(DataError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!("{} pixels do not make {} images of {DIM} pixels", pixels.len(), labels.len()),
        });
    }
    let mut bytes = Vec::with_capacity(labels.len() * RECORD);
    for (label, image) in labels.iter().zip(pixels.chunks_exact(DIM)) {
        bytes.push(*label);
        bytes.extend_from_slice(image);
    }
    write_atomic(path, &[&bytes], false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_keeps_plane_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        let pixels: Vec<u8> = (0..2 * DIM).map(|i| (i % 251) as u8).collect();
        write_batch(&path, &pixels, &[7, 2]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, 2 * RECORD);
        let batch = read_batch(&path).unwrap();
        assert_eq!(batch.labels, [7, 2]);
        assert_eq!(batch.pixels, pixels);
    }

    #[test]
    fn empty_batch_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        std::fs::write(&path, b"").unwrap();
        let err = read_batch(&path).unwrap_err();
        assert!(matches!(err, DataError::BadRecordSize { size: 0, .. }), "{err}");
    }
}
