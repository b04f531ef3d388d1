//! Paper-style figures from plain data series.
//!
//! This module knows nothing about neural networks: science code builds a
//! [`Figure`] (panels of [`Layer`]s holding plain `f64` series) and calls
//! [`render`], which writes four sibling files into a folder:
//!
//! | file | content |
//! |------|---------|
//! | `<name>.svg`  | vector figure (plotters' SVG backend), physical size in inches |
//! | `<name>.png`  | raster of *that same SVG* at 300 dpi (resvg, bundled DejaVu fonts only): 1050 px wide for a single column, 2100 px for a double column |
//! | `<name>.json` | the whole [`Figure`] plus the marker `"diag_figure": 1` ([`FIGURE_FORMAT`]); loadable with [`Figure::from_json`] |
//! | `<name>.csv`  | every data point in one tidy long table (schema below) |
//!
//! All four are written atomically (temporary file + rename).
//!
//! # Style
//! Panel letters (**a**, **b**, …) when there is more than one panel; axis
//! labels should include units (`"angle (deg)"`). Log axes get decade ticks
//! labelled `10ᵏ`; non-positive values on a log axis are dropped, non-finite
//! values are skipped everywhere (a line breaks at them; a series that is all
//! NaN is simply absent). The legend is a shared strip *below* the panel grid,
//! de-duplicated by label. A line with a [`Band`] is drawn as the mean line over
//! a translucent band of the same colour; if every band in the figure has the
//! same meaning, the legend gets one “shaded: …” note, otherwise each entry
//! reads “label (band: meaning)”. The caption is *not* drawn (it belongs to
//! the paper/HTML index) but is stored in the JSON.
//!
//! # Tidy CSV schema
//! Header: `panel,layer,kind,label,x,x_end,y,value,lo,hi`, one row per data
//! point; fields that do not apply are empty. Non-finite numbers are written
//! as `NaN`, `inf`, `-inf`.
//!
//! | kind        | label            | x            | x_end          | y            | value      | lo, hi |
//! |-------------|------------------|--------------|----------------|--------------|------------|--------|
//! | `line`      | series label     | x            |                | y (mean)     |            | band bounds if any |
//! | `scatter`   | series label     | x            |                | y            | marker size|        |
//! | `histogram` | series label     | bin left edge| bin right edge | count (raw)  | density if `density` | |
//! | `heatmap`   | colour-bar label | column position | | row position | cell value |        |
//! | `hline`     | label            |              |                | level        |            |        |
//! | `vline`     | label            | position     |                |              |            |        |
//! | `marker`    | label            | x            |                | y            |            |        |
//!
//! `panel` is the panel letter (`a`, `b`, …), `layer` the layer's index within
//! its panel. Line/scatter rows are emitted for `min(xs.len(), ys.len())`
//! points, heat-map rows for every `values[row][col]` that has both a row and a
//! column position.

mod canvas;
mod fonts;
mod geom;
mod legend;
mod raster;
mod render;
pub mod style;
mod ticks;
mod tidy;

pub use raster::svg_to_png;
pub use render::render_svg;
pub use style::{palette, rule_color, viridis, Color, OKABE_ITO, PNG_DPI};
pub use tidy::{to_csv, CSV_HEADER};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Value of the `"diag_figure"` marker field in figure JSON files (format version).
pub const FIGURE_FORMAT: u32 = 1;

/// Errors from [`render`]; each names the file or figure involved.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("drawing figure {figure:?} failed: {message}")]
    Draw { figure: String, message: String },
    #[error("rasterising {path} failed: {message}")]
    Raster { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] crate::report::ReportError),
}

/// Target width of the figure in the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Width {
    /// 3.5 in (1050 px at 300 dpi).
    #[default]
    SingleColumn,
    /// 7.0 in (2100 px at 300 dpi).
    DoubleColumn,
}

impl Width {
    pub fn inches(self) -> f64 {
        match self {
            Width::SingleColumn => 3.5,
            Width::DoubleColumn => 7.0,
        }
    }

    /// Width of the PNG in pixels.
    pub fn pixels(self) -> u32 {
        (self.inches() * PNG_DPI).round() as u32
    }
}

/// Axis scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    #[default]
    Linear,
    /// Base-10 logarithmic; non-positive values are dropped.
    Log10,
}

/// A figure: a grid of panels plus provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// File stem of the outputs (`<name>.svg`, …).
    pub name: String,
    #[serde(default)]
    pub caption: String,
    /// The CLI command that produced the figure.
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub panels: Vec<Panel>,
    /// Number of panel-grid columns (clamped to 1..=panels).
    #[serde(default = "one")]
    pub columns: usize,
    #[serde(default)]
    pub width: Width,
    /// Height of one panel-grid row in inches (axes, ticks, labels and title
    /// included; the legend strip is extra).
    #[serde(default = "default_panel_height", deserialize_with = "nan_serde::num")]
    pub panel_height_in: f64,
}

fn one() -> usize {
    1
}
fn default_panel_height() -> f64 {
    Figure::DEFAULT_PANEL_HEIGHT_IN
}
fn yes() -> bool {
    true
}

impl Figure {
    pub const DEFAULT_PANEL_HEIGHT_IN: f64 = 2.2;

    /// Empty single-column figure with one grid column.
    pub fn new(name: impl Into<String>) -> Self {
        Figure {
            name: name.into(),
            caption: String::new(),
            command: String::new(),
            panels: Vec::new(),
            columns: 1,
            width: Width::SingleColumn,
            panel_height_in: Self::DEFAULT_PANEL_HEIGHT_IN,
        }
    }

    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = caption.into();
        self
    }

    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }

    pub fn width(mut self, width: Width) -> Self {
        self.width = width;
        self
    }

    pub fn columns(mut self, columns: usize) -> Self {
        self.columns = columns;
        self
    }

    pub fn panel_height(mut self, inches: f64) -> Self {
        self.panel_height_in = inches;
        self
    }

    pub fn panel(mut self, panel: Panel) -> Self {
        self.panels.push(panel);
        self
    }

    /// JSON with the `"diag_figure"` marker (what [`render`] writes).
    pub fn to_json(&self) -> String {
        tidy::figure_json(self)
    }

    /// Loads a figure from JSON written by [`render`] (the marker is ignored;
    /// `null` numbers, i.e. NaN/inf on output, load as NaN).
    pub fn from_json(json: &str) -> Result<Figure, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// One plotting area with its axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub x: Axis,
    #[serde(default)]
    pub y: Axis,
    #[serde(default)]
    pub content: Vec<Layer>,
    /// Whether this panel's labelled layers appear in the shared legend.
    #[serde(default = "yes")]
    pub legend: bool,
    /// Light grid at major ticks (never drawn under heat maps).
    #[serde(default = "yes")]
    pub grid: bool,
}

impl Default for Panel {
    fn default() -> Self {
        Panel::new("")
    }
}

impl Panel {
    pub fn new(title: impl Into<String>) -> Self {
        Panel {
            title: title.into(),
            x: Axis::default(),
            y: Axis::default(),
            content: Vec::new(),
            legend: true,
            grid: true,
        }
    }

    pub fn x(mut self, axis: Axis) -> Self {
        self.x = axis;
        self
    }

    pub fn y(mut self, axis: Axis) -> Self {
        self.y = axis;
        self
    }

    pub fn layer(mut self, layer: Layer) -> Self {
        self.content.push(layer);
        self
    }

    pub fn layers(mut self, layers: impl IntoIterator<Item = Layer>) -> Self {
        self.content.extend(layers);
        self
    }

    pub fn legend(mut self, on: bool) -> Self {
        self.legend = on;
        self
    }

    pub fn grid(mut self, on: bool) -> Self {
        self.grid = on;
        self
    }
}

/// An axis: label (with unit), scale and optional fixed range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Axis {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub scale: Scale,
    /// Fixed `(min, max)`; `None` (or an unusable range) = fit the data.
    #[serde(default, deserialize_with = "nan_serde::opt_pair")]
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Self {
        Axis { label: label.into(), scale: Scale::Linear, range: None }
    }

    pub fn log(label: impl Into<String>) -> Self {
        Axis { label: label.into(), scale: Scale::Log10, range: None }
    }

    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }
}

/// Uncertainty band around a line (same length as the line's `xs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    #[serde(deserialize_with = "nan_serde::vec")]
    pub lo: Vec<f64>,
    #[serde(deserialize_with = "nan_serde::vec")]
    pub hi: Vec<f64>,
    /// What the band is, e.g. `"±1 sd over 3 seeds"`.
    pub meaning: String,
}

impl Band {
    pub fn new(lo: Vec<f64>, hi: Vec<f64>, meaning: impl Into<String>) -> Self {
        Band { lo, hi, meaning: meaning.into() }
    }

    /// Pointwise mean ± `k` standard deviations over `runs` (e.g. seeds),
    /// ignoring non-finite entries. Returns `(mean, band)`; positions with no
    /// finite value are NaN, with a single value have a zero-width band.
    /// Runs of different lengths are allowed (length = longest run).
    pub fn mean_sd(runs: &[Vec<f64>], k: f64, meaning: impl Into<String>) -> (Vec<f64>, Band) {
        let n = runs.iter().map(Vec::len).max().unwrap_or(0);
        let (mut mean, mut lo, mut hi) = (vec![f64::NAN; n], vec![f64::NAN; n], vec![f64::NAN; n]);
        for i in 0..n {
            let v: Vec<f64> = runs.iter().filter_map(|r| r.get(i).copied()).filter(|v| v.is_finite()).collect();
            if v.is_empty() {
                continue;
            }
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = if v.len() > 1 {
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
            } else {
                0.0
            };
            mean[i] = m;
            lo[i] = m - k * sd;
            hi[i] = m + k * sd;
        }
        (mean, Band::new(lo, hi, meaning))
    }
}

/// Something drawn in a panel. Serialised with a `"kind"` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Layer {
    /// A line (e.g. a mean over seeds), optionally with a band and markers.
    Line {
        label: String,
        color: Color,
        #[serde(deserialize_with = "nan_serde::vec")]
        xs: Vec<f64>,
        #[serde(deserialize_with = "nan_serde::vec")]
        ys: Vec<f64>,
        #[serde(default)]
        band: Option<Band>,
        #[serde(default)]
        dashed: bool,
        #[serde(default)]
        markers: bool,
    },
    /// Points; `size` is the marker radius in points (≤0 or NaN → 1.5).
    /// For eigenvalues in the complex plane use x = Re, y = Im.
    Scatter {
        label: String,
        color: Color,
        #[serde(deserialize_with = "nan_serde::vec")]
        xs: Vec<f64>,
        #[serde(deserialize_with = "nan_serde::vec")]
        ys: Vec<f64>,
        #[serde(default = "default_scatter_size", deserialize_with = "nan_serde::num")]
        size: f64,
    },
    /// Bars between consecutive `edges` (`edges.len() == counts.len() + 1`);
    /// with `density` bar heights are `count / (total · bin width)`.
    Histogram {
        label: String,
        color: Color,
        #[serde(deserialize_with = "nan_serde::vec")]
        edges: Vec<f64>,
        #[serde(deserialize_with = "nan_serde::vec")]
        counts: Vec<f64>,
        #[serde(default)]
        density: bool,
    },
    /// Cells centred at (`cols[c]`, `rows[r]`) coloured by `values[r][c]`
    /// (viridis; non-finite cells, and non-positive ones with `log_color`, are
    /// light grey). Cell edges are midpoints between neighbouring positions
    /// (in log space on a log axis). The first heat map of a panel gets a
    /// colour bar.
    #[serde(rename = "heatmap")]
    HeatMap {
        #[serde(deserialize_with = "nan_serde::vec")]
        rows: Vec<f64>,
        #[serde(deserialize_with = "nan_serde::vec")]
        cols: Vec<f64>,
        #[serde(deserialize_with = "nan_serde::vec_vec")]
        values: Vec<Vec<f64>>,
        #[serde(default)]
        log_color: bool,
        #[serde(default)]
        colorbar_label: String,
        /// Fixed colour range (e.g. to compare panels); `None` = data range.
        #[serde(default, deserialize_with = "nan_serde::opt_pair")]
        color_range: Option<(f64, f64)>,
    },
    /// Horizontal reference line at y = `at`.
    #[serde(rename = "hline")]
    HLine {
        #[serde(deserialize_with = "nan_serde::num")]
        at: f64,
        color: Color,
        #[serde(default)]
        dashed: bool,
        #[serde(default)]
        label: String,
    },
    /// Vertical reference line at x = `at`.
    #[serde(rename = "vline")]
    VLine {
        #[serde(deserialize_with = "nan_serde::num")]
        at: f64,
        color: Color,
        #[serde(default)]
        dashed: bool,
        #[serde(default)]
        label: String,
    },
    /// A single × mark, e.g. where a run diverged. A non-finite `y` puts the
    /// mark just inside the top edge of the panel (at `x`).
    Marker {
        #[serde(deserialize_with = "nan_serde::num")]
        x: f64,
        #[serde(deserialize_with = "nan_serde::num")]
        y: f64,
        #[serde(default)]
        label: String,
        color: Color,
    },
}

fn default_scatter_size() -> f64 {
    1.5
}

impl Layer {
    /// Solid line without band or markers.
    pub fn line(label: impl Into<String>, color: Color, xs: Vec<f64>, ys: Vec<f64>) -> Layer {
        Layer::Line { label: label.into(), color, xs, ys, band: None, dashed: false, markers: false }
    }

    pub fn scatter(label: impl Into<String>, color: Color, xs: Vec<f64>, ys: Vec<f64>) -> Layer {
        Layer::Scatter { label: label.into(), color, xs, ys, size: default_scatter_size() }
    }

    pub fn histogram(label: impl Into<String>, color: Color, edges: Vec<f64>, counts: Vec<f64>) -> Layer {
        Layer::Histogram { label: label.into(), color, edges, counts, density: false }
    }

    pub fn heat_map(rows: Vec<f64>, cols: Vec<f64>, values: Vec<Vec<f64>>) -> Layer {
        Layer::HeatMap { rows, cols, values, log_color: false, colorbar_label: String::new(), color_range: None }
    }

    /// Horizontal reference line, dashed by default (see [`Layer::solid`]).
    pub fn hline(at: f64, color: Color) -> Layer {
        Layer::HLine { at, color, dashed: true, label: String::new() }
    }

    /// Vertical reference line, dashed by default (see [`Layer::solid`]).
    pub fn vline(at: f64, color: Color) -> Layer {
        Layer::VLine { at, color, dashed: true, label: String::new() }
    }

    pub fn marker(x: f64, y: f64, label: impl Into<String>, color: Color) -> Layer {
        Layer::Marker { x, y, label: label.into(), color }
    }

    /// Adds a band (lines only; other layers are returned unchanged).
    pub fn with_band(mut self, b: Band) -> Layer {
        if let Layer::Line { band, .. } = &mut self {
            *band = Some(b);
        }
        self
    }

    /// Dashed stroke (lines and reference lines).
    pub fn dashed(mut self) -> Layer {
        match &mut self {
            Layer::Line { dashed, .. } | Layer::HLine { dashed, .. } | Layer::VLine { dashed, .. } => *dashed = true,
            _ => {}
        }
        self
    }

    /// Solid stroke (lines and reference lines).
    pub fn solid(mut self) -> Layer {
        match &mut self {
            Layer::Line { dashed, .. } | Layer::HLine { dashed, .. } | Layer::VLine { dashed, .. } => *dashed = false,
            _ => {}
        }
        self
    }

    /// Point markers on a line.
    pub fn with_markers(mut self) -> Layer {
        if let Layer::Line { markers, .. } = &mut self {
            *markers = true;
        }
        self
    }

    /// Legend label (reference lines and markers too).
    pub fn labelled(mut self, text: impl Into<String>) -> Layer {
        match &mut self {
            Layer::Line { label, .. }
            | Layer::Scatter { label, .. }
            | Layer::Histogram { label, .. }
            | Layer::HLine { label, .. }
            | Layer::VLine { label, .. }
            | Layer::Marker { label, .. } => *label = text.into(),
            Layer::HeatMap { colorbar_label, .. } => *colorbar_label = text.into(),
        }
        self
    }

    /// Scatter marker radius in points.
    pub fn sized(mut self, points: f64) -> Layer {
        if let Layer::Scatter { size, .. } = &mut self {
            *size = points;
        }
        self
    }

    /// Histogram as a probability density.
    pub fn as_density(mut self) -> Layer {
        if let Layer::Histogram { density, .. } = &mut self {
            *density = true;
        }
        self
    }

    /// Heat map with logarithmic colour scale.
    pub fn log_color(mut self) -> Layer {
        if let Layer::HeatMap { log_color, .. } = &mut self {
            *log_color = true;
        }
        self
    }

    /// Heat map with a fixed colour range.
    pub fn color_range(mut self, min: f64, max: f64) -> Layer {
        if let Layer::HeatMap { color_range, .. } = &mut self {
            *color_range = Some((min, max));
        }
        self
    }

    /// Short kind name, as used in the CSV `kind` column and JSON tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Line { .. } => "line",
            Layer::Scatter { .. } => "scatter",
            Layer::Histogram { .. } => "histogram",
            Layer::HeatMap { .. } => "heatmap",
            Layer::HLine { .. } => "hline",
            Layer::VLine { .. } => "vline",
            Layer::Marker { .. } => "marker",
        }
    }
}

/// Paths of the files written by [`render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub svg: PathBuf,
    pub png: PathBuf,
    pub json: PathBuf,
    pub csv: PathBuf,
}

/// Renders `fig` into `out_dir` (created if needed) as `<name>.svg`,
/// `<name>.png` (300 dpi), `<name>.json` and `<name>.csv`, each written
/// atomically. Odd data (NaN, empty series, non-positive values on log
/// axes, empty panels) never panics.
pub fn render(fig: &Figure, out_dir: &Path) -> Result<Written, PlotError> {
    use crate::report::{write_bytes_atomic, write_text_atomic};
    let stem = file_stem(&fig.name);
    let path = |ext: &str| out_dir.join(format!("{stem}.{ext}"));
    let written = Written { svg: path("svg"), png: path("png"), json: path("json"), csv: path("csv") };
    let svg = render_svg(fig)?;
    let png = svg_to_png(&svg, fig.width.pixels())
        .map_err(|message| PlotError::Raster { path: written.png.clone(), message })?;
    write_text_atomic(&written.svg, &svg)?;
    write_bytes_atomic(&written.png, &png)?;
    write_text_atomic(&written.json, &fig.to_json())?;
    write_text_atomic(&written.csv, &to_csv(fig))?;
    Ok(written)
}

/// `name` made safe as a file stem (path separators and control characters
/// replaced by `_`; empty → `figure`).
fn file_stem(name: &str) -> String {
    let s: String =
        name.trim()
            .chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "figure".into()
    } else {
        s.into()
    }
}

/// Deserialisers that read JSON `null` (how serde_json writes NaN/±inf) back
/// as NaN, so figures with missing data round-trip.
mod nan_serde {
    use serde::{Deserialize, Deserializer};

    fn f(v: Option<f64>) -> f64 {
        v.unwrap_or(f64::NAN)
    }

    pub fn num<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(f(Option::<f64>::deserialize(d)?))
    }

    pub fn vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(f).collect())
    }

    pub fn vec_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Vec<Option<f64>>>::deserialize(d)?.into_iter().map(|r| r.into_iter().map(f).collect()).collect())
    }

    pub fn opt_pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(f64, f64)>, D::Error> {
        Ok(Option::<(Option<f64>, Option<f64>)>::deserialize(d)?.map(|(a, b)| (f(a), f(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_compose() {
        let l = Layer::line("bp", Color::BLACK, vec![1.0], vec![2.0]).dashed().with_markers().with_band(Band::new(
            vec![1.0],
            vec![3.0],
            "range",
        ));
        match l {
            Layer::Line { dashed, markers, band, .. } => assert!(dashed && markers && band.is_some()),
            _ => unreachable!(),
        }
        // modifiers that do not apply are no-ops
        let h = Layer::histogram("h", Color::BLACK, vec![0.0, 1.0], vec![1.0]).with_markers();
        assert_eq!(h.kind(), "histogram");
    }

    #[test]
    fn mean_sd_ignores_nan_and_ragged_runs() {
        let runs = vec![vec![1.0, 2.0, f64::NAN], vec![3.0, f64::NAN], vec![2.0]];
        let (m, b) = Band::mean_sd(&runs, 1.0, "±1 sd");
        assert_eq!(m[0], 2.0);
        assert!((b.hi[0] - 3.0).abs() < 1e-12 && (b.lo[0] - 1.0).abs() < 1e-12);
        assert_eq!((m[1], b.lo[1], b.hi[1]), (2.0, 2.0, 2.0));
        assert!(m[2].is_nan() && b.lo[2].is_nan());
    }

    #[test]
    fn nan_survives_json() {
        let fig = Figure::new("n").panel(
            Panel::new("")
                .x(Axis::linear("x").range(0.0, f64::NAN))
                .layer(Layer::line("a", Color::BLACK, vec![1.0, f64::NAN], vec![f64::INFINITY, 2.0]))
                .layer(Layer::marker(1.0, f64::NAN, "diverged", Color::BLACK)),
        );
        let back = Figure::from_json(&fig.to_json()).unwrap();
        match &back.panels[0].content[0] {
            Layer::Line { xs, ys, .. } => {
                assert!(xs[1].is_nan() && ys[0].is_nan());
                assert_eq!((xs[0], ys[1]), (1.0, 2.0));
            }
            _ => unreachable!(),
        }
        assert!(back.panels[0].x.range.unwrap().1.is_nan());
    }

    #[test]
    fn minimal_json_uses_defaults() {
        let f =
            Figure::from_json(r##"{"name":"m","panels":[{"content":[{"kind":"hline","at":1,"color":"#000000"}]}]}"##)
                .unwrap();
        assert_eq!(f.columns, 1);
        assert_eq!(f.width, Width::SingleColumn);
        assert!(f.panels[0].legend && f.panels[0].grid);
    }

    #[test]
    fn file_stems_are_sanitised() {
        assert_eq!(file_stem("a/b"), "a_b");
        assert_eq!(file_stem("  "), "figure");
        assert_eq!(file_stem("..x"), "x");
        assert_eq!(file_stem("angle_vs_step"), "angle_vs_step");
    }
}
