//! The IDX format of MNIST and Fashion-MNIST: reading (raw or gzipped,
//! detected by magic bytes) and atomic writing.
//!
//! Only the two layouts those data sets use are supported: unsigned-byte
//! images with three dimensions (magic `0x00000803`: count, rows, columns)
//! and unsigned-byte labels with one dimension (magic `0x00000801`: count).
//! All header fields are big-endian `u32`.

use std::path::Path;

use super::files::{gunzip_if_needed, read_maybe_gzip, write_atomic};
use super::DataError;

/// Magic number of an IDX file of `u8` images with 3 dimensions.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of `u8` labels with 1 dimension.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

const IMAGES_HEADER: usize = 16;
const LABELS_HEADER: usize = 8;

/// Decoded contents of an IDX image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// `n * rows * cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Images {
    /// Pixels per image.
    pub fn dim(&self) -> usize {
        self.rows * self.cols
    }
}

/// Reads an IDX image file, raw or gzipped.
pub fn read_images(path: &Path) -> Result<Images, DataError> {
    parse_images(read_maybe_gzip(path)?, path)
}

/// Reads an IDX label file, raw or gzipped.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(read_maybe_gzip(path)?, path)
}

/// Parses the bytes of an IDX image file (gzipped or not). `source` only
/// names the data in error messages.
pub fn parse_images(bytes: Vec<u8>, source: &Path) -> Result<Images, DataError> {
    let mut bytes = gunzip_if_needed(bytes, source)?;
    let header = read_header::<4>(&bytes, source, IMAGES_MAGIC, "IDX u8 images, 3 dims")?;
    let [_, n, rows, cols] = header.map(|field| field as usize);
    let payload = n.checked_mul(rows).and_then(|len| len.checked_mul(cols)).ok_or_else(|| DataError::Malformed {
        path: source.to_path_buf(),
        reason: format!("header shape {n}x{rows}x{cols} is too large"),
    })?;
    check_length(&bytes, IMAGES_HEADER, payload, source)?;
    bytes.drain(..IMAGES_HEADER);
    Ok(Images { pixels: bytes, n, rows, cols })
}

/// Parses the bytes of an IDX label file (gzipped or not). `source` only
/// names the data in error messages.
pub fn parse_labels(bytes: Vec<u8>, source: &Path) -> Result<Vec<u8>, DataError> {
    let mut bytes = gunzip_if_needed(bytes, source)?;
    let [_, n] = read_header::<2>(&bytes, source, LABELS_MAGIC, "IDX u8 labels, 1 dim")?;
    check_length(&bytes, LABELS_HEADER, n as usize, source)?;
    bytes.drain(..LABELS_HEADER);
    Ok(bytes)
}

/// Writes `n` images of `rows x cols` pixels as an IDX file, gzipped if asked.
/// The write is atomic: the data goes to a temporary file, which is then renamed.
pub fn write_images(
    path: &Path,
    pixels: &[u8],
    n: usize,
    rows: usize,
    cols: usize,
    gzip: bool,
) -> Result<(), DataError> {
    let invalid = |reason: String| DataError::InvalidInput { path: path.to_path_buf(), reason };
    let expected = n.checked_mul(rows).and_then(|len| len.checked_mul(cols));
    if expected != Some(pixels.len()) {
        return Err(invalid(format!("{} pixels do not make {n} images of {rows}x{cols}", pixels.len())));
    }
    let field = |value: usize, what: &str| {
        u32::try_from(value).map_err(|_| invalid(format!("{what} {value} does not fit in u32")))
    };
    let header = encode_header(&[
        IMAGES_MAGIC,
        field(n, "image count")?,
        field(rows, "row count")?,
        field(cols, "column count")?,
    ]);
    write_atomic(path, &[&header, pixels], gzip)
}

/// Writes labels as an IDX file, gzipped if asked. The write is atomic.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<(), DataError> {
    let n = u32::try_from(labels.len()).map_err(|_| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason: format!("label count {} does not fit in u32", labels.len()),
    })?;
    let header = encode_header(&[LABELS_MAGIC, n]);
    write_atomic(path, &[&header, labels], gzip)
}

/// Reads `N` big-endian `u32` header fields and checks the first (the magic).
fn read_header<const N: usize>(
    bytes: &[u8],
    source: &Path,
    magic: u32,
    what: &'static str,
) -> Result<[u32; N], DataError> {
    let truncated = || DataError::Truncated { path: source.to_path_buf(), expected: 4 * N, found: bytes.len() };
    let field = |i: usize| -> Option<u32> {
        let word = bytes.get(4 * i..4 * i + 4)?;
        Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
    };
    // Check the magic first, so a short file of the wrong kind says so.
    let found = field(0).ok_or_else(truncated)?;
    if found != magic {
        return Err(DataError::BadMagic { path: source.to_path_buf(), found, expected: magic, what });
    }
    let mut header = [0; N];
    for (i, slot) in header.iter_mut().enumerate() {
        *slot = field(i).ok_or_else(truncated)?;
    }
    Ok(header)
}

fn check_length(bytes: &[u8], header: usize, payload: usize, source: &Path) -> Result<(), DataError> {
    let expected = header.saturating_add(payload);
    match bytes.len() {
        found if found < expected => Err(DataError::Truncated { path: source.to_path_buf(), expected, found }),
        found if found > expected => Err(DataError::TrailingBytes { path: source.to_path_buf(), expected, found }),
        _ => Ok(()),
    }
}

fn encode_header(fields: &[u32]) -> Vec<u8> {
    fields.iter().flat_map(|field| field.to_be_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> &'static Path {
        Path::new("mem/images")
    }

    fn images_bytes(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut bytes = encode_header(&[IMAGES_MAGIC, n, rows, cols]);
        bytes.extend_from_slice(pixels);
        bytes
    }

    #[test]
    fn parses_a_raw_image_file() {
        let images = parse_images(images_bytes(2, 1, 3, &[1, 2, 3, 4, 5, 6]), src()).unwrap();
        assert_eq!((images.n, images.rows, images.cols, images.dim()), (2, 1, 3, 3));
        assert_eq!(images.pixels, [1, 2, 3, 4, 5, 6]);
    }

    fn message(result: Result<impl std::fmt::Debug, DataError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn rejects_short_header_wrong_magic_and_bad_lengths() {
        assert_eq!(message(parse_images(vec![0, 0, 8], src())), "mem/images: truncated: expected 16 bytes, found 3");
        assert_eq!(
            message(parse_images(encode_header(&[IMAGES_MAGIC, 1]), src())),
            "mem/images: truncated: expected 16 bytes, found 8"
        );
        assert_eq!(
            message(parse_images(encode_header(&[LABELS_MAGIC, 0]), src())),
            "mem/images: wrong magic 0x00000801, expected 0x00000803 (IDX u8 images, 3 dims)"
        );
        assert_eq!(
            message(parse_images(images_bytes(2, 1, 3, &[0; 5]), src())),
            "mem/images: truncated: expected 22 bytes, found 21"
        );
        assert_eq!(
            message(parse_images(images_bytes(2, 1, 3, &[0; 7]), src())),
            "mem/images: trailing data: expected 22 bytes, found 23"
        );
        let mut labels = encode_header(&[LABELS_MAGIC, 3]);
        labels.extend_from_slice(&[1, 2]);
        assert_eq!(message(parse_labels(labels, src())), "mem/images: truncated: expected 11 bytes, found 10");
    }

    #[test]
    fn huge_header_is_rejected_without_allocating() {
        let bytes = images_bytes(u32::MAX, u32::MAX, u32::MAX, &[]);
        let err = parse_images(bytes, src()).unwrap_err();
        assert!(err.to_string().starts_with("mem/images: "), "{err}");
    }

    #[test]
    fn writers_reject_inconsistent_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-images");
        let err = write_images(&path, &[0; 5], 2, 1, 3, false).unwrap_err();
        assert!(matches!(err, DataError::InvalidInput { .. }), "{err}");
        assert!(!path.exists());
    }
}
