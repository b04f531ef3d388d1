//! The data behind a figure: JSON (whole [`Figure`] + marker) and a tidy CSV
//! (schema documented in the [module docs](super)).

use super::{Figure, Layer, FIGURE_FORMAT};
use crate::report::{csv_line, FIGURE_MARKER};
use serde::Serialize;

/// Header of the tidy CSV.
pub const CSV_HEADER: [&str; 10] = ["panel", "layer", "kind", "label", "x", "x_end", "y", "value", "lo", "hi"];

#[derive(Serialize)]
struct FigureFile<'a> {
    #[serde(rename = "diag_figure")]
    marker: u32,
    #[serde(flatten)]
    figure: &'a Figure,
}

/// Compact JSON of `fig` with the `"diag_figure"` marker first.
pub(crate) fn figure_json(fig: &Figure) -> String {
    debug_assert_eq!(FIGURE_MARKER, "diag_figure");
    let file = FigureFile { marker: FIGURE_FORMAT, figure: fig };
    // Serialising plain structs, strings and floats cannot fail.
    serde_json::to_string(&file).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// Panel letter for index `i`: a … z, aa, ab, …
pub(crate) fn panel_letter(i: usize) -> String {
    let mut n = i;
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn num(v: f64) -> String {
    // Rust's Display is the shortest string that round-trips; NaN, inf, -inf.
    format!("{v}")
}

/// The whole figure as one tidy long CSV table (with header line).
pub fn to_csv(fig: &Figure) -> String {
    let mut out = csv_line(CSV_HEADER);
    for (pi, panel) in fig.panels.iter().enumerate() {
        let p = panel_letter(pi);
        for (li, layer) in panel.content.iter().enumerate() {
            let l = li.to_string();
            let kind = layer.kind();
            let mut row = |label: &str, x: String, x_end: String, y: String, value: String, lo: String, hi: String| {
                out.push_str(&csv_line([p.as_str(), &l, kind, label, &x, &x_end, &y, &value, &lo, &hi]));
            };
            let e = String::new;
            match layer {
                Layer::Line { label, xs, ys, band, .. } => {
                    for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
                        let (lo, hi) = match band {
                            Some(b) => (
                                b.lo.get(i).map(|v| num(*v)).unwrap_or_default(),
                                b.hi.get(i).map(|v| num(*v)).unwrap_or_default(),
                            ),
                            None => (e(), e()),
                        };
                        row(label, num(*x), e(), num(*y), e(), lo, hi);
                    }
                }
                Layer::Scatter { label, xs, ys, size, .. } => {
                    for (x, y) in xs.iter().zip(ys) {
                        row(label, num(*x), e(), num(*y), num(*size), e(), e());
                    }
                }
                Layer::Histogram { label, edges, counts, density, .. } => {
                    let total: f64 = counts.iter().filter(|c| c.is_finite()).sum();
                    for (i, c) in counts.iter().enumerate() {
                        let left = edges.get(i).copied().unwrap_or(f64::NAN);
                        let right = edges.get(i + 1).copied().unwrap_or(f64::NAN);
                        let d = if *density { num(c / (total * (right - left))) } else { e() };
                        row(label, num(left), num(right), num(*c), d, e(), e());
                    }
                }
                Layer::HeatMap { rows, cols, values, colorbar_label, .. } => {
                    for (r, vals) in values.iter().enumerate() {
                        let Some(y) = rows.get(r) else { continue };
                        for (c, v) in vals.iter().enumerate() {
                            let Some(x) = cols.get(c) else { continue };
                            row(colorbar_label, num(*x), e(), num(*y), num(*v), e(), e());
                        }
                    }
                }
                Layer::HLine { at, label, .. } => row(label, e(), e(), num(*at), e(), e(), e()),
                Layer::VLine { at, label, .. } => row(label, num(*at), e(), e(), e(), e(), e()),
                Layer::Marker { x, y, label, .. } => row(label, num(*x), e(), num(*y), e(), e(), e()),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{Band, Color, Panel};

    #[test]
    fn letters() {
        assert_eq!(panel_letter(0), "a");
        assert_eq!(panel_letter(25), "z");
        assert_eq!(panel_letter(26), "aa");
        assert_eq!(panel_letter(27), "ab");
    }

    #[test]
    fn csv_rows_per_point_and_quoting() {
        let fig = Figure::new("t").panel(
            Panel::new("")
                .layer(Layer::line("ifa, 30°", Color::BLACK, vec![1.0, 2.0], vec![0.5, f64::NAN]).with_band(Band::new(
                    vec![0.4, 0.1],
                    vec![0.6, 0.2],
                    "sd",
                )))
                .layer(Layer::histogram("h", Color::BLACK, vec![0.0, 1.0, 2.0], vec![1.0, 3.0]).as_density())
                .layer(Layer::heat_map(vec![1.0], vec![1.0, 2.0, 3.0], vec![vec![1.0, 2.0, 3.0, 4.0]])),
        );
        let csv = to_csv(&fig);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "panel,layer,kind,label,x,x_end,y,value,lo,hi");
        assert_eq!(lines.len(), 1 + 2 + 2 + 3);
        assert_eq!(lines[1], "a,0,line,\"ifa, 30°\",1,,0.5,,0.4,0.6");
        assert_eq!(lines[2], "a,0,line,\"ifa, 30°\",2,,NaN,,0.1,0.2");
        assert_eq!(lines[3], "a,1,histogram,h,0,1,1,0.25,,");
        assert!(lines[7].starts_with("a,2,heatmap,,3,,1,3"));
    }
}
