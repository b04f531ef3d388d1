//! The shared legend strip under the panel grid: entries collected from all
//! panels (de-duplicated by label), flowed into centred rows that fit the
//! figure width.

use super::canvas::{Canvas, Draw, Font, Metrics};
use super::fonts::Measurer;
use super::geom::Rect;
use super::render::histogram_heights;
use super::style::{ink, pt, size, Color};
use super::ticks::fwd;
use super::{Figure, Layer, Panel};
use plotters::style::text_anchor::HPos;

/// One legend entry: a small sample of the layer's look plus its label.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub swatch: Swatch,
    pub text: String,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    Line {
        c: Color,
        dashed: bool,
        band: bool,
        marker: bool,
        /// Reference lines are drawn thinner than data lines.
        thin: bool,
    },
    Dot(Color),
    Bar(Color),
    Cross(Color),
    /// The shared "shaded: …" note.
    Band,
}

/// Laid-out legend; `height` is 0 when there is nothing to show.
pub(crate) struct Legend {
    pub entries: Vec<Entry>,
    widths: Vec<f64>,
    /// Entry index ranges of each row, with the row's total width.
    rows: Vec<(std::ops::Range<usize>, f64)>,
    row_h: f64,
    pub height: f64,
}

const SWATCH_W: f64 = 14.0; // pt
const SWATCH_GAP: f64 = 4.0; // pt, swatch to text
const ENTRY_GAP: f64 = 11.0; // pt, between entries

impl Legend {
    /// Collects the entries of `fig` and flows them into rows at most
    /// `avail` units wide.
    pub(crate) fn new(fig: &Figure, avail: f64, m: &Measurer, f: Font) -> Legend {
        let entries = Self::collect(fig);
        let widths: Vec<f64> = entries.iter().map(|e| pt(SWATCH_W + SWATCH_GAP) + f.width(m, &e.text)).collect();
        let mut rows = Vec::new();
        let mut start = 0;
        let mut w = 0.0;
        for (i, &ew) in widths.iter().enumerate() {
            let next = if i == start { ew } else { w + pt(ENTRY_GAP) + ew };
            if i > start && next > avail {
                rows.push((start..i, w));
                start = i;
                w = ew;
            } else {
                w = next;
            }
        }
        if start < widths.len() {
            rows.push((start..widths.len(), w));
        }
        let row_h = f.size * 1.45;
        let height = if rows.is_empty() { 0.0 } else { rows.len() as f64 * row_h + pt(1.0) };
        Legend { entries, widths, rows, row_h, height }
    }

    /// Labelled layers of all panels with `legend: true`, de-duplicated by
    /// label, in order of appearance. One shared band meaning becomes a final
    /// "shaded: …" entry; several are appended to their entries instead.
    fn collect(fig: &Figure) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut meanings: Vec<String> = Vec::new();
        let mut banded: Vec<(usize, String)> = Vec::new();
        for p in fig.panels.iter().filter(|p| p.legend) {
            // a layer with nothing to draw (all NaN, empty, all non-positive
            // on a log axis) is absent, also from the legend
            for layer in p.content.iter().filter(|l| drawable(l, p)) {
                let (label, swatch, meaning) = match layer {
                    Layer::Line { label, color, band, dashed, markers, xs, .. } => {
                        // only a band that draws something counts
                        let band = band.as_ref().filter(|b| {
                            let ok = |v: Option<&f64>| v.is_some_and(|v| fwd(p.y.scale, *v).is_some());
                            (0..xs.len()).any(|i| fwd(p.x.scale, xs[i]).is_some() && ok(b.lo.get(i)) && ok(b.hi.get(i)))
                        });
                        let sw = Swatch::Line {
                            c: *color,
                            dashed: *dashed,
                            band: band.is_some(),
                            marker: *markers,
                            thin: false,
                        };
                        (label, sw, band.as_ref().map(|b| b.meaning.trim().to_string()))
                    }
                    Layer::Scatter { label, color, .. } => (label, Swatch::Dot(*color), None),
                    Layer::Histogram { label, color, .. } => (label, Swatch::Bar(*color), None),
                    Layer::HLine { label, color, dashed, .. } | Layer::VLine { label, color, dashed, .. } => (
                        label,
                        Swatch::Line { c: *color, dashed: *dashed, band: false, marker: false, thin: true },
                        None,
                    ),
                    Layer::Marker { label, color, .. } => (label, Swatch::Cross(*color), None),
                    Layer::HeatMap { .. } => continue,
                };
                let label = label.trim();
                if label.is_empty() || entries.iter().any(|e| e.text == label) {
                    continue;
                }
                if let Some(mn) = meaning.filter(|m| !m.is_empty()) {
                    if !meanings.contains(&mn) {
                        meanings.push(mn.clone());
                    }
                    banded.push((entries.len(), mn));
                }
                entries.push(Entry { swatch, text: label.to_string() });
            }
        }
        match meanings.len() {
            0 => {}
            1 => entries.push(Entry { swatch: Swatch::Band, text: format!("shaded: {}", meanings[0]) }),
            _ => {
                for (i, mn) in banded {
                    entries[i].text = format!("{} (band: {mn})", entries[i].text);
                }
            }
        }
        entries
    }

    /// Draws the legend with its first row's top at `top`, rows centred in
    /// a canvas `width` units wide.
    pub(crate) fn draw(&self, cv: &Canvas, mt: &Metrics, top: f64, width: f64) -> Draw {
        for (r, (range, row_w)) in self.rows.iter().enumerate() {
            let mut x = (width - row_w) / 2.0;
            let y = top + pt(2.0) + r as f64 * self.row_h;
            for i in range.clone() {
                draw_entry(cv, mt, &self.entries[i], x, y)?;
                x += self.widths[i] + pt(ENTRY_GAP);
            }
        }
        Ok(())
    }
}

/// Whether `layer` draws anything on the panel's axes.
fn drawable(layer: &Layer, p: &Panel) -> bool {
    let (sx, sy) = (p.x.scale, p.y.scale);
    let point = |x: f64, y: f64| fwd(sx, x).is_some() && fwd(sy, y).is_some();
    match layer {
        Layer::Line { xs, ys, .. } | Layer::Scatter { xs, ys, .. } => xs.iter().zip(ys).any(|(x, y)| point(*x, *y)),
        Layer::Histogram { edges, counts, density, .. } => histogram_heights(edges, counts, *density)
            .iter()
            .enumerate()
            .any(|(i, h)| match (edges.get(i), edges.get(i + 1)) {
                (Some(l), Some(r)) => point(*l, *h) && fwd(sx, *r).is_some(),
                _ => false,
            }),
        Layer::HLine { at, .. } => fwd(sy, *at).is_some(),
        Layer::VLine { at, .. } => fwd(sx, *at).is_some(),
        Layer::Marker { x, .. } => fwd(sx, *x).is_some(),
        Layer::HeatMap { .. } => true,
    }
}

fn draw_entry(cv: &Canvas, mt: &Metrics, e: &Entry, x: f64, top: f64) -> Draw {
    let f = mt.legend;
    let cy = top + 0.76 * f.size - 0.3 * f.size; // centre of the x-height
    let (x0, x1) = (x, x + pt(SWATCH_W));
    let xm = (x0 + x1) / 2.0;
    let band_rect = Rect { x0, x1, y0: cy - f.size * 0.32, y1: cy + f.size * 0.32 };
    match e.swatch {
        Swatch::Line { c, dashed, band, marker, thin } => {
            if band {
                cv.rect(band_rect, c, size::BAND_ALPHA)?;
            }
            let w = if thin { pt(0.9) } else { mt.line_w };
            cv.polyline(&[(x0, cy), (x1, cy)], c, w, dashed)?;
            if marker {
                cv.circle((xm, cy), pt(size::LINE_MARKER_R), c, 1.0)?;
            }
        }
        Swatch::Dot(c) => cv.circle((xm, cy), pt(2.0), c, size::SCATTER_ALPHA)?,
        Swatch::Bar(c) => {
            let b = Rect { x0: x0 + pt(2.0), x1: x1 - pt(2.0), y0: cy - f.size * 0.36, y1: cy + f.size * 0.36 };
            cv.rect(b, c, size::HIST_ALPHA)?;
            cv.outline(b, c, pt(0.5))?;
        }
        Swatch::Cross(c) => cv.cross((xm, cy), pt(size::MARKER_CROSS), c, pt(1.1))?,
        Swatch::Band => cv.rect(band_rect, ink::BAND_NOTE, size::BAND_ALPHA * 1.5)?,
    }
    cv.text(&e.text, (x1 + pt(SWATCH_GAP), top), HPos::Left, f, ink::TEXT, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{Band, Panel};

    fn line(label: &str, band: Option<&str>) -> Layer {
        let l = Layer::line(label, Color::BLACK, vec![1.0, 2.0], vec![1.0, 2.0]);
        match band {
            Some(m) => l.with_band(Band::new(vec![0.0, 1.0], vec![2.0, 3.0], m)),
            None => l,
        }
    }

    #[test]
    fn entries_are_deduplicated_and_share_one_band_note() {
        let fig = Figure::new("f")
            .panel(Panel::new("").layer(line("bp", Some("±1 sd"))).layer(line("fa", Some("±1 sd"))))
            .panel(Panel::new("").layer(line("bp", Some("±1 sd"))).layer(line("", None)))
            .panel(Panel::new("").legend(false).layer(line("hidden", None)));
        let e = Legend::collect(&fig);
        let texts: Vec<&str> = e.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["bp", "fa", "shaded: ±1 sd"]);
    }

    #[test]
    fn differing_band_meanings_go_into_entries() {
        let fig = Figure::new("f").panel(
            Panel::new("").layer(line("bp", Some("±1 sd"))).layer(line("fa", Some("95% CI"))).layer(line("kp", None)),
        );
        let texts: Vec<String> = Legend::collect(&fig).into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["bp (band: ±1 sd)", "fa (band: 95% CI)", "kp"]);
    }

    #[test]
    fn all_nan_series_are_absent() {
        let fig =
            Figure::new("f").panel(Panel::new("").layer(Layer::line("ghost", Color::BLACK, vec![1.0], vec![f64::NAN])));
        assert!(Legend::collect(&fig).is_empty());
    }

    #[test]
    fn undrawable_layers_are_absent() {
        let fig = Figure::new("f").panel(
            Panel::new("")
                .x(crate::plot::Axis::log("x"))
                .layer(Layer::line("neg", Color::BLACK, vec![-1.0, 0.0], vec![1.0, 2.0]))
                .layer(Layer::scatter("empty", Color::BLACK, vec![], vec![]))
                .layer(Layer::histogram("h", Color::BLACK, vec![1.0], vec![3.0]))
                .layer(Layer::marker(f64::NAN, 1.0, "m", Color::BLACK))
                .layer(Layer::vline(0.0, Color::BLACK).labelled("v"))
                .layer(Layer::line("ok", Color::BLACK, vec![1.0], vec![1.0]).with_band(Band::new(
                    vec![f64::NAN],
                    vec![1.0],
                    "none drawable",
                ))),
        );
        let texts: Vec<String> = Legend::collect(&fig).into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["ok"]);
    }

    #[test]
    fn rows_wrap_to_width() {
        let m = Measurer::new();
        let fig = Figure::new("f").panel(Panel::new("").layers((0..12).map(|i| line(&format!("series {i}"), None))));
        let f = Font::pt(8.0);
        let lg = Legend::new(&fig, pt(3.5 * 72.0), &m, f);
        assert!(lg.rows.len() >= 2);
        assert!(lg.rows.iter().all(|(_, w)| *w <= pt(3.5 * 72.0)));
        assert_eq!(lg.rows.iter().map(|(r, _)| r.len()).sum::<usize>(), 12);
    }
}
