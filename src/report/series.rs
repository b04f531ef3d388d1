//! Turning per-run series into figure layers: one colour per learning rule (and initial
//! angle), and a mean with a ±1 sd band when several runs share a configuration (seeds).

use crate::ckpt::RunInfo;
use crate::plot::{rule_color, Band, Color, Layer};
use std::collections::BTreeMap;

/// Who a run is, for legends and grouping.
#[derive(Clone, Debug)]
pub struct RunLabel {
    /// Legend text: rule and initial angle, e.g. `ifa 30°`.
    pub label: String,
    pub color: Color,
    /// Runs with equal keys differ only in their seed and are averaged.
    pub group: String,
    /// Sort key: bp, fa, ifa by angle, then the other rules.
    pub order: (u8, i64),
}

impl RunLabel {
    pub fn of(info: &RunInfo) -> RunLabel {
        let rule = info.rule.name();
        let angle = info.align_angle_deg;
        let label = match angle {
            Some(a) => format!("{rule} {a:.0}°"),
            None => rule.to_string(),
        };
        let mut config = info.config.clone();
        if let Some(obj) = config.as_object_mut() {
            obj.remove("seed");
        }
        let order = match rule {
            "bp" => 0,
            "fa" => 1,
            "ifa" => 2,
            _ => 3,
        };
        RunLabel {
            label,
            color: rule_color(rule, angle),
            group: format!("{}|{}", info.data.fingerprint, config),
            order: (order, angle.map_or(0, |a| (a * 1000.0).round() as i64)),
        }
    }
}

/// One run's series on shared x positions.
#[derive(Clone, Debug)]
pub struct RunSeries {
    pub run: RunLabel,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
}

/// Line layers for the series: runs in the same group with the same x positions become
/// one mean line with a ±1 sd band; others are drawn individually. Labels that would
/// repeat across different configurations get the group's index appended.
pub fn grouped_lines(series: &[RunSeries]) -> Vec<Layer> {
    let mut groups: BTreeMap<((u8, i64), String), Vec<&RunSeries>> = BTreeMap::new();
    for s in series {
        groups.entry((s.run.order, s.run.group.clone())).or_default().push(s);
    }
    let mut label_uses: BTreeMap<String, usize> = BTreeMap::new();
    for ((_, _), members) in &groups {
        *label_uses.entry(members[0].run.label.clone()).or_default() += 1;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut layers = Vec::new();
    for members in groups.values() {
        let first = members[0];
        let mut label = first.run.label.clone();
        if label_uses[&label] > 1 {
            let k = seen.entry(label.clone()).or_default();
            *k += 1;
            label = format!("{label} (config {k})");
        }
        let same_x = members.iter().all(|m| m.xs == first.xs);
        if members.len() > 1 && same_x {
            let ys: Vec<Vec<f64>> = members.iter().map(|m| m.ys.clone()).collect();
            let (mean, band) = Band::mean_sd(&ys, 1.0, format!("±1 sd over {} seeds", members.len()));
            layers.push(Layer::line(label, first.run.color, first.xs.clone(), mean).with_band(band));
        } else {
            for m in members {
                layers.push(Layer::line(label.clone(), m.run.color, m.xs.clone(), m.ys.clone()));
            }
        }
    }
    layers
}

/// A number with about three significant digits: plain in [0.01, 10^4), scientific otherwise.
pub fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(0.01..1e4).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}
