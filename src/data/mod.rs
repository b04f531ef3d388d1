//! TEMPORARY stub with the agreed API; replaced by the real data module.
use std::path::PathBuf;
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
    pub dim: usize,
    pub classes: usize,
}
impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn fill_batch(&self, indices: &[usize], x: &mut [f32], y: &mut [u8]) {
        for (j, &i) in indices.iter().enumerate() {
            for k in 0..self.dim {
                x[j * self.dim + k] = self.pixels[i * self.dim + k] as f32 / 255.0;
            }
            y[j] = self.labels[i];
        }
    }
    pub fn head(&self, n: usize) -> Dataset {
        Dataset {
            pixels: self.pixels[..n * self.dim].to_vec(),
            labels: self.labels[..n].to_vec(),
            dim: self.dim,
            classes: self.classes,
        }
    }
}
pub struct DataSplits {
    pub train: Dataset,
    pub test: Dataset,
    pub name: String,
    pub fingerprint: String,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    FashionMnist,
    Fixture,
    Idx(PathBuf),
    Cifar10(PathBuf),
}
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    Other(String),
}
pub fn load(_spec: &DataSpec) -> Result<DataSplits, DataError> {
    Err(DataError::Other("stub".into()))
}
impl std::str::FromStr for DataSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fixture" => Ok(DataSpec::Fixture),
            "fashion-mnist" => Ok(DataSpec::FashionMnist),
            _ => Err(format!("bad {s}")),
        }
    }
}
