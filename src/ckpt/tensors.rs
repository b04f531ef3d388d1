//! Safetensors checkpoints: a [`Model`] to and from PyTorch-named tensors.

use super::CkptError;
use crate::net::{alignment_angle_deg, Activation, Feedback, Mlp, Model, Rule};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Named `f32` tensors with shapes, in insertion-independent (sorted) order.
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// What a checkpoint says about itself in `__metadata__`.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointMeta {
    pub step: u64,
    pub rule: Rule,
    /// Soft-alignment degree (initial cosine) for `ifa`; `None` for other rules.
    pub alpha: Option<f64>,
    pub seed: Option<u64>,
    pub activation: Activation,
}

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    pub model: Model,
}

/// The tensors of `model` under their documented names (`out x in` layout).
pub fn model_tensors(model: &Model) -> TensorMap {
    let mlp = &model.mlp;
    let mut map = TensorMap::new();
    let fb = model.feedback_matrices();
    for i in 0..mlp.num_layers() {
        let (din, dout) = mlp.layer_dims(i);
        map.insert(format!("layers.{i}.weight"), (vec![dout, din], model.weight_t(i).to_vec()));
        map.insert(format!("layers.{i}.bias"), (vec![dout], model.bias(i).to_vec()));
        if let Some(b) = &fb {
            map.insert(format!("layers.{i}.feedback"), (vec![dout, din], b[i].clone()));
        }
    }
    if let Feedback::Direct(d) = &model.feedback {
        let classes = mlp.classes();
        for (i, di) in d.iter().enumerate() {
            let (_, dout) = mlp.layer_dims(i);
            map.insert(format!("layers.{i}.direct_feedback"), (vec![classes, dout], di.clone()));
        }
    }
    map
}

/// Serialises named tensors with string metadata into safetensors bytes.
pub fn serialize_tensors(
    map: &TensorMap,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let bytes: Vec<(&String, &Vec<usize>, Vec<u8>)> = map
        .iter()
        .map(|(name, (shape, data))| (name, shape, data.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| Ok((name.as_str(), TensorView::new(Dtype::F32, shape.to_vec(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let bytes = safetensors::serialize(views, Some(metadata))?;
    Ok(canonical_header(bytes))
}

/// Rewrites the JSON header with sorted keys, so equal contents give equal bytes (the
/// crate writes `__metadata__` in hash-map order). Offsets are relative to the data
/// section, so only the header and its 8-byte-aligned padding change.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length prefix")) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + header_len]).expect("the crate writes valid JSON");
    let mut text = serde_json::to_string(&header).expect("JSON values serialise");
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - header_len);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + header_len..]);
    out
}

/// Reads every `f32` tensor and the metadata of a safetensors file.
pub fn read_tensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>), CkptError> {
    let bytes = std::fs::read(path).map_err(|e| CkptError::io(path, e))?;
    parse_tensors(path, &bytes)
}

fn parse_tensors(path: &Path, bytes: &[u8]) -> Result<(TensorMap, HashMap<String, String>), CkptError> {
    let corrupt = |e: safetensors::SafeTensorError| {
        CkptError::invalid(path, format!("not a valid safetensors file (truncated or corrupt: {e})"))
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let tensors = SafeTensors::deserialize(bytes).map_err(corrupt)?;
    let mut map = TensorMap::new();
    for (name, view) in tensors.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(CkptError::invalid(
                path,
                format!("tensor {name} has dtype {:?}; diag reads float32 tensors", view.dtype()),
            ));
        }
        let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        map.insert(name.to_string(), (view.shape().to_vec(), data));
    }
    Ok((map, header.metadata().clone().unwrap_or_default()))
}

/// Writes `model` at `step` to `path` atomically, with rule, alpha and seed in the metadata.
pub fn save_checkpoint(path: &Path, model: &Model, meta: &CheckpointMeta) -> Result<(), CkptError> {
    let mut info = HashMap::new();
    info.insert("format".to_string(), "diag-mlp/1".to_string());
    info.insert("diag_version".to_string(), env!("CARGO_PKG_VERSION").to_string());
    info.insert("step".to_string(), meta.step.to_string());
    info.insert("rule".to_string(), meta.rule.to_string());
    info.insert("activation".to_string(), meta.activation.to_string());
    if let Some(alpha) = meta.alpha {
        info.insert("alpha".to_string(), format!("{alpha}"));
        info.insert("align_angle_deg".to_string(), format!("{}", alignment_angle_deg(alpha)));
    }
    if let Some(seed) = meta.seed {
        info.insert("seed".to_string(), seed.to_string());
    }
    let sizes: Vec<String> = model.mlp.sizes().iter().map(|d| d.to_string()).collect();
    info.insert("sizes".to_string(), sizes.join(","));
    let bytes = serialize_tensors(&model_tensors(model), info)
        .map_err(|e| CkptError::invalid(path, format!("cannot serialise checkpoint: {e}")))?;
    crate::io::write_atomic(path, &bytes).map_err(|e| CkptError::io(path, e))
}

/// Loads a checkpoint written by `diag` or by anyone using the documented layout.
///
/// Without metadata the rule is inferred (`feedback` present: `fa`; `direct_feedback`:
/// `dfa`; neither: `bp`) and the activation defaults to relu; `activation` overrides it.
pub fn load_checkpoint(path: &Path, activation: Option<Activation>) -> Result<Checkpoint, CkptError> {
    let (mut tensors, metadata) = read_tensors(path)?;
    let bad = |message: String| CkptError::invalid(path, message);
    let num_layers = (0..).take_while(|i| tensors.contains_key(&format!("layers.{i}.weight"))).count();
    if num_layers == 0 {
        return Err(bad("no tensor named layers.0.weight: not an MLP checkpoint in diag's layout".into()));
    }
    let mut sizes = Vec::with_capacity(num_layers + 1);
    for i in 0..num_layers {
        let (shape, _) = &tensors[&format!("layers.{i}.weight")];
        let [dout, din] = shape[..] else {
            return Err(bad(format!("layers.{i}.weight has shape {shape:?}; expected [out, in]")));
        };
        match sizes.last() {
            None => sizes.extend([din, dout]),
            Some(&prev) if prev == din => sizes.push(dout),
            Some(&prev) => {
                return Err(bad(format!("layers.{i}.weight takes {din} inputs but layer {} has {prev} outputs", i - 1)))
            }
        }
    }
    if sizes.contains(&0) {
        return Err(bad("a layer has zero width".into()));
    }
    let activation = match (activation, metadata.get("activation")) {
        (Some(a), _) => a,
        (None, Some(name)) => name.parse().map_err(|e: String| bad(format!("metadata: {e}")))?,
        (None, None) => Activation::Relu,
    };
    let mlp = Mlp::new(&sizes, activation);
    let mut take = |name: &str, shape: &[usize]| -> Result<Option<Vec<f32>>, CkptError> {
        match tensors.remove(name) {
            None => Ok(None),
            Some((s, _)) if s != shape => {
                Err(CkptError::invalid(path, format!("{name} has shape {s:?}; expected {shape:?}")))
            }
            Some((_, data)) => Ok(Some(data)),
        }
    };
    let mut params = vec![0f32; mlp.num_params()];
    let mut feedback = Vec::new();
    let mut direct = Vec::new();
    for i in 0..num_layers {
        let (din, dout) = mlp.layer_dims(i);
        let w = take(&format!("layers.{i}.weight"), &[dout, din])?.expect("counted above");
        params[mlp.weight_range(i)].copy_from_slice(&w);
        if let Some(b) = take(&format!("layers.{i}.bias"), &[dout])? {
            params[mlp.bias_range(i)].copy_from_slice(&b);
        }
        if let Some(b) = take(&format!("layers.{i}.feedback"), &[dout, din])? {
            feedback.push(b);
        }
        if i + 1 < num_layers {
            if let Some(d) = take(&format!("layers.{i}.direct_feedback"), &[mlp.classes(), dout])? {
                direct.push(d);
            }
        }
    }
    let inferred = if !direct.is_empty() {
        Rule::Dfa
    } else if !feedback.is_empty() {
        Rule::Fa
    } else {
        Rule::Bp
    };
    let rule = match metadata.get("rule") {
        Some(name) => name.parse().map_err(|e: String| bad(format!("metadata: {e}")))?,
        None => inferred,
    };
    let complete = |got: usize, want: usize, what: &str| {
        if got == want {
            Ok(())
        } else {
            Err(bad(format!("rule {rule} needs {what} for {want} layers, found {got}")))
        }
    };
    let feedback = match rule {
        Rule::Bp => Feedback::None,
        Rule::Fa | Rule::Ifa | Rule::Kp => {
            complete(feedback.len(), num_layers, "layers.{i}.feedback")?;
            Feedback::Matrices(feedback)
        }
        Rule::Sign => {
            complete(feedback.len(), num_layers, "layers.{i}.feedback")?;
            Feedback::SignMagnitudes(feedback.into_iter().map(|b| b.into_iter().map(f32::abs).collect()).collect())
        }
        Rule::Dfa => {
            complete(direct.len(), num_layers - 1, "layers.{i}.direct_feedback")?;
            Feedback::Direct(direct)
        }
    };
    let parse_num = |key: &str| metadata.get(key).and_then(|v| v.parse::<f64>().ok());
    let meta = CheckpointMeta {
        step: parse_num("step").map(|s| s as u64).unwrap_or(0),
        rule,
        alpha: parse_num("alpha"),
        seed: metadata.get("seed").and_then(|s| s.parse().ok()),
        activation,
    };
    Ok(Checkpoint { meta, model: Model { mlp, rule, params, feedback } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::init_model;

    fn meta(rule: Rule) -> CheckpointMeta {
        CheckpointMeta { step: 7, rule, alpha: Some(0.5), seed: Some(3), activation: Activation::Tanh }
    }

    #[test]
    fn every_rule_round_trips_through_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mlp = Mlp::new(&[6, 5, 4, 3], Activation::Tanh);
        for rule in Rule::ALL {
            let model = init_model(&mlp, rule, 0.5, 3);
            let path = dir.path().join(format!("{rule}.safetensors"));
            save_checkpoint(&path, &model, &meta(rule)).unwrap();
            let back = load_checkpoint(&path, None).unwrap();
            assert_eq!(back.meta, meta(rule));
            if rule == Rule::Sign {
                assert_eq!(back.model.feedback_matrices(), model.feedback_matrices());
                assert_eq!(back.model.params, model.params);
            } else {
                assert_eq!(back.model, model, "{rule}");
            }
        }
    }

    #[test]
    fn truncated_and_foreign_files_are_rejected_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let mlp = Mlp::new(&[4, 3, 2], Activation::Relu);
        let path = dir.path().join("c.safetensors");
        save_checkpoint(&path, &init_model(&mlp, Rule::Fa, 0.0, 1), &meta(Rule::Fa)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let err = load_checkpoint(&path, None).unwrap_err().to_string();
        assert!(err.contains("c.safetensors") && err.contains("truncated"), "{err}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(load_checkpoint(&path, None).is_err());
    }
}
