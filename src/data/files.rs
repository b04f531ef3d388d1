//! File helpers shared by the format modules: transparent gzip decoding
//! (detected by magic bytes) and atomic writes.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::DataError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate cannot expand data more than about 1032-fold; bounding the
/// up-front reservation by it keeps a corrupt size trailer harmless.
const MAX_DEFLATE_RATIO: usize = 1032;

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DataError + '_ {
    move |source| DataError::Io { path: path.to_path_buf(), source }
}

/// Reads a whole file, decompressing it if it is gzip data (whatever its name).
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => DataError::MissingFile { path: path.to_path_buf(), also_tried_gz: false },
        _ => DataError::Io { path: path.to_path_buf(), source },
    })?;
    gunzip_if_needed(bytes, path)
}

/// Returns `bytes` unchanged, or decompressed if they start with the gzip magic.
/// `path` only names the data in error messages.
pub(crate) fn gunzip_if_needed(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    // The last four bytes hold the uncompressed size modulo 2^32: a good hint.
    let hint = match bytes.len().checked_sub(4) {
        Some(at) => {
            let trailer = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            u32::from_le_bytes(trailer) as usize
        }
        None => 0,
    };
    let mut out = Vec::with_capacity(hint.min(bytes.len().saturating_mul(MAX_DEFLATE_RATIO)));
    MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip { path: path.to_path_buf(), source })?;
    Ok(out)
}

/// Writes `chunks` to `path` atomically (through [`crate::io::write_atomic`]),
/// gzip-compressed if asked.
pub(crate) fn write_atomic(path: &Path, chunks: &[&[u8]], gzip: bool) -> Result<(), DataError> {
    let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
    let bytes = if gzip {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        for chunk in chunks {
            encoder.write_all(chunk).map_err(io_err)?;
        }
        encoder.finish().map_err(io_err)?
    } else {
        chunks.concat()
    };
    crate::io::write_atomic(path, &bytes).map_err(io_err)
}
