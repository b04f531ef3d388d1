//! Drawing primitives over plotters' SVG drawing area in float drawing units
//! (1/1200 in), plus the fonts and line widths of the paper style.

use super::fonts::Measurer;
use super::geom::{Pt, Rect};
use super::style::{pt, size, Color, FONT_FAMILY};
use plotters::backend::SVGBackend;
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, DashedPathElement, PathElement, Polygon, Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, FontTransform, RGBAColor, ShapeStyle, TextStyle};

/// Result of a drawing call (plotters' error rendered as text).
pub(crate) type Draw = Result<(), String>;

/// Font size (units) and weight.
#[derive(Clone, Copy)]
pub(crate) struct Font {
    pub size: f64,
    pub bold: bool,
}

impl Font {
    pub(crate) fn pt(points: f64) -> Font {
        Font { size: pt(points), bold: false }
    }
    pub(crate) fn bold(self) -> Font {
        Font { bold: true, ..self }
    }
    /// Baseline offset below the top of the text box (plotters' `VPos::Top`
    /// puts the baseline at 0.76 em).
    pub(crate) fn ascent(&self) -> f64 {
        0.76 * self.size
    }
    /// Height of a line of text from its top to below the descenders.
    pub(crate) fn line(&self) -> f64 {
        self.size
    }
    pub(crate) fn width(&self, m: &Measurer, s: &str) -> f64 {
        m.width(s, self.size, self.bold)
    }
}

/// Thin wrapper over the plotters drawing area taking float coordinates.
pub(crate) struct Canvas<'a, 'b> {
    pub area: &'a DrawingArea<SVGBackend<'b>, Shift>,
}

fn ip((x, y): Pt) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

fn style(c: Color, alpha: f64, filled: bool, width: f64) -> ShapeStyle {
    ShapeStyle { color: RGBAColor(c.r, c.g, c.b, alpha), filled, stroke_width: width.round().max(1.0) as u32 }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl Canvas<'_, '_> {
    pub(crate) fn polyline(&self, pts: &[Pt], c: Color, width: f64, dashed: bool) -> Draw {
        if pts.len() < 2 {
            return Ok(());
        }
        let p: Vec<(i32, i32)> = pts.iter().copied().map(ip).collect();
        if dashed {
            self.area
                .draw(&DashedPathElement::new(
                    p,
                    pt(size::DASH_ON) as i32,
                    pt(size::DASH_OFF) as i32 + width as i32,
                    style(c, 1.0, false, width),
                ))
                .map_err(err)
        } else {
            self.area.draw(&PathElement::new(p, style(c, 1.0, false, width))).map_err(err)
        }
    }

    pub(crate) fn polygon(&self, pts: &[Pt], c: Color, alpha: f64) -> Draw {
        if pts.len() < 3 {
            return Ok(());
        }
        let p: Vec<(i32, i32)> = pts.iter().copied().map(ip).collect();
        self.area.draw(&Polygon::new(p, style(c, alpha, true, 1.0))).map_err(err)
    }

    pub(crate) fn rect(&self, r: Rect, c: Color, alpha: f64) -> Draw {
        let (a, b) = (ip((r.x0, r.y0)), ip((r.x1, r.y1)));
        if a.0 == b.0 || a.1 == b.1 {
            return Ok(());
        }
        self.area.draw(&Rectangle::new([a, b], style(c, alpha, true, 1.0))).map_err(err)
    }

    pub(crate) fn outline(&self, r: Rect, c: Color, width: f64) -> Draw {
        let p = [(r.x0, r.y0), (r.x1, r.y0), (r.x1, r.y1), (r.x0, r.y1), (r.x0, r.y0)];
        self.polyline(&p, c, width, false)
    }

    pub(crate) fn circle(&self, p: Pt, r: f64, c: Color, alpha: f64) -> Draw {
        self.area.draw(&Circle::new(ip(p), r.round().max(1.0) as u32, style(c, alpha, true, 1.0))).map_err(err)
    }

    pub(crate) fn cross(&self, (x, y): Pt, half: f64, c: Color, width: f64) -> Draw {
        self.polyline(&[(x - half, y - half), (x + half, y + half)], c, width, false)?;
        self.polyline(&[(x - half, y + half), (x + half, y - half)], c, width, false)
    }

    /// Text whose box top is at `y` (`vertical`: rotated to read bottom-up,
    /// box extends to the right of `x`, `align` along the rotated baseline).
    pub(crate) fn text(&self, s: &str, (x, y): Pt, align: HPos, font: Font, c: Color, vertical: bool) -> Draw {
        if s.trim().is_empty() {
            return Ok(());
        }
        let desc = FontDesc::new(
            FontFamily::Name(FONT_FAMILY),
            // plotters' SVG backend writes font-size = size / 1.24
            font.size * 1.24,
            if font.bold { FontStyle::Bold } else { FontStyle::Normal },
        );
        let desc = if vertical { desc.transform(FontTransform::Rotate270) } else { desc };
        let ts = TextStyle {
            font: desc,
            color: plotters::style::Color::to_backend_color(&c.to_plotters()),
            pos: Pos::new(align, VPos::Top),
        };
        self.area.draw(&Text::new(s.to_string(), ip((x, y)), ts)).map_err(err)
    }
}

/// Fixed typographic sizes in units.
pub(crate) struct Metrics {
    pub tick: Font,
    pub label: Font,
    pub title: Font,
    pub letter: Font,
    pub legend: Font,
    pub note: Font,
    pub tick_len: f64,
    pub minor_len: f64,
    pub gap: f64,
    pub line_w: f64,
    pub axis_w: f64,
    pub grid_w: f64,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            tick: Font::pt(size::TICK_FONT),
            label: Font::pt(size::LABEL_FONT),
            title: Font::pt(size::TITLE_FONT),
            letter: Font::pt(size::LETTER_FONT).bold(),
            legend: Font::pt(size::LEGEND_FONT),
            note: Font::pt(size::NOTE_FONT),
            tick_len: pt(size::TICK_LEN),
            minor_len: pt(size::MINOR_TICK_LEN),
            gap: pt(2.0),
            line_w: pt(size::LINE),
            axis_w: pt(size::AXIS),
            grid_w: pt(size::GRID),
        }
    }
}
