//! Analysis results cached next to each run, keyed by what they depend on.
//!
//! An entry is `<run>/report-cache/<kind>.json`. Its key is a SHA-256 over the analysis
//! kind, its settings (as JSON), the crate version and the contents of every checkpoint
//! it reads, so it is recomputed exactly when one of those changes; anything else (file
//! times, paths, a copy of the run made elsewhere) leaves it valid.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Folder of a run that holds its cached analyses.
pub const CACHE_DIR: &str = "report-cache";

/// SHA-256 of a file's contents, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let io = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A checkpoint an analysis reads: its step and content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub step: u64,
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Entry<T> {
    key: String,
    kind: String,
    settings: serde_json::Value,
    inputs: Vec<Input>,
    /// Wall time of the computation.
    #[serde(default)]
    seconds: f64,
    /// The result, or the message of the error the analysis ended with (also a result:
    /// a diverged checkpoint has no curvature, and asking again will not give one).
    result: std::result::Result<T, String>,
}

/// How a cached value was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Computed,
}

/// The cache of one run.
pub struct RunCache {
    dir: PathBuf,
}

impl RunCache {
    pub fn new(run_dir: &Path) -> RunCache {
        RunCache { dir: run_dir.join(CACHE_DIR) }
    }

    pub fn path(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("{kind}.json"))
    }

    /// The cached result of `kind` for these settings and inputs, or `compute()`'s,
    /// which is then stored. An analysis error is stored and returned as `Err(message)`;
    /// only failures to read or write the cache itself are errors of this function.
    pub fn get_or_compute<S, T, F>(
        &self,
        kind: &str,
        settings: &S,
        inputs: &[Input],
        compute: F,
    ) -> Result<(std::result::Result<T, String>, Source)>
    where
        S: Serialize,
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T>,
    {
        let settings =
            serde_json::to_value(settings).map_err(|e| Error::numerical("report cache", format!("settings: {e}")))?;
        let key = {
            let mut h = Sha256::new();
            h.update(kind.as_bytes());
            h.update([0]);
            h.update(env!("CARGO_PKG_VERSION").as_bytes());
            h.update([0]);
            h.update(settings.to_string().as_bytes());
            for input in inputs {
                h.update([0]);
                h.update(input.step.to_le_bytes());
                h.update(input.sha256.as_bytes());
            }
            hex(&h.finalize())
        };
        let path = self.path(kind);
        if let Ok(text) = std::fs::read_to_string(&path) {
            // An unreadable or stale entry is simply recomputed.
            if let Ok(entry) = serde_json::from_str::<Entry<T>>(&text) {
                if entry.key == key {
                    return Ok((entry.result, Source::Cache));
                }
            }
        }
        let start = std::time::Instant::now();
        let result = compute().map_err(|e| e.to_string());
        let seconds = start.elapsed().as_secs_f64();
        let entry = Entry { key, kind: kind.to_string(), settings, inputs: inputs.to_vec(), seconds, result };
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        crate::io::write_json_atomic(&path, &entry).map_err(|e| Error::io(&path, e))?;
        Ok((entry.result, Source::Computed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_reused_only_for_equal_settings_and_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RunCache::new(dir.path());
        let inputs = vec![Input { step: 5, sha256: "ab".into() }];
        let mut calls = 0;
        let mut get = |settings: u32, inputs: &[Input]| {
            cache
                .get_or_compute("thing", &settings, inputs, || {
                    calls += 1;
                    Ok(settings * 2)
                })
                .unwrap()
        };
        assert_eq!(get(1, &inputs), (Ok(2), Source::Computed));
        assert_eq!(get(1, &inputs), (Ok(2), Source::Cache));
        assert_eq!(get(2, &inputs), (Ok(4), Source::Computed));
        let changed = vec![Input { step: 5, sha256: "ac".into() }];
        assert_eq!(get(2, &changed), (Ok(4), Source::Computed));
        assert_eq!(get(2, &changed), (Ok(4), Source::Cache));
        assert_eq!(calls, 3);
    }

    #[test]
    fn analysis_errors_are_cached_as_results() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RunCache::new(dir.path());
        let fail = || -> Result<u32> { Err(Error::numerical("power iteration", "not finite")) };
        let (r, s) = cache.get_or_compute("x", &0, &[], fail).unwrap();
        assert!(r.unwrap_err().contains("not finite"));
        assert_eq!(s, Source::Computed);
        let (r, s) = cache.get_or_compute("x", &0, &[], || Ok(1u32)).unwrap();
        assert!(r.is_err());
        assert_eq!(s, Source::Cache);
    }
}
