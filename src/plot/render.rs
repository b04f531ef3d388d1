//! Figure layout and drawing with plotters' SVG backend.
//!
//! Layout happens in drawing units (1/1200 in, see [`super::style`]): the
//! canvas is a grid of equal panel cells plus a legend strip below it. Within
//! a cell, margins for titles, tick labels and axis labels are computed from
//! measured text (the bundled font), tick counts are reduced until labels do
//! not collide, and plot areas of panels in the same grid column share their
//! left edge so axes line up. The SVG's root size is then rewritten to
//! physical inches (the viewBox keeps the fine unit grid).

use super::canvas::{Canvas, Draw, Font, Metrics};
use super::fonts::Measurer;
use super::geom::{clip_polygon, clip_polyline, Pt, Rect};
use super::legend::Legend;
use super::style::{ink, pt, size, viridis, Color, UNITS_PER_INCH};
use super::ticks::{self, fwd, AxisMap, Extent, Ticks};
use super::tidy::panel_letter;
use super::{Figure, Layer, Panel, PlotError, Scale};
use plotters::backend::SVGBackend;
use plotters::drawing::IntoDrawingArea;
use plotters::style::text_anchor::HPos;

/// Renders the figure to an SVG document (what [`super::render`] writes).
pub fn render_svg(fig: &Figure) -> Result<String, PlotError> {
    let m = Measurer::new();
    let layout = Layout::new(fig, &m);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (layout.width as u32, layout.height as u32)).into_drawing_area();
        let cv = Canvas { area: &root };
        layout.draw(fig, &cv, &m).map_err(|message| PlotError::Draw { figure: fig.name.clone(), message })?;
        root.present().map_err(|e| PlotError::Draw { figure: fig.name.clone(), message: e.to_string() })?;
    }
    Ok(finish_svg(svg, layout.width, layout.height))
}

/// Physical size on the root element; round joins for polylines.
fn finish_svg(svg: String, w: f64, h: f64) -> String {
    let (w, h) = (w as u32, h as u32);
    let old = format!("<svg width=\"{w}\" height=\"{h}\"");
    let new =
        format!("<svg width=\"{:.4}in\" height=\"{:.4}in\"", w as f64 / UNITS_PER_INCH, h as f64 / UNITS_PER_INCH);
    svg.replacen(&old, &new, 1).replace(
        "<polyline fill=\"none\"",
        "<polyline fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\"",
    )
}

const OUTER: f64 = 3.0; // pt, figure margin

/// A colour bar attached to the first heat map of a panel.
struct ColorBar {
    scale: Scale,
    /// Working-space colour range.
    lo: f64,
    hi: f64,
    label: String,
    ticks: Ticks,
    tick_w: f64,
    rect: Rect,
}

impl ColorBar {
    fn color(&self, v: f64) -> Color {
        match fwd(self.scale, v) {
            Some(t) => viridis((t - self.lo) / (self.hi - self.lo)),
            None => ink::MISSING,
        }
    }

    /// Space needed right of the plot area.
    fn width(&self, mt: &Metrics, m: &Measurer) -> f64 {
        let label = if self.label.trim().is_empty() { 0.0 } else { mt.gap * 1.5 + mt.label.line() };
        let mult = self.ticks.multiplier.as_ref().map_or(0.0, |s| mt.tick.width(m, s));
        pt(6.0) + pt(6.0) + mt.tick_len + mt.gap + self.tick_w.max(mult) + label + pt(6.0)
    }
}

/// Everything needed to draw one panel.
struct PanelPlan {
    cell: Rect,
    plot: Rect,
    x: AxisMap,
    y: AxisMap,
    xt: Ticks,
    yt: Ticks,
    ytick_w: f64,
    heat: bool,
    empty: bool,
    cbar: Option<ColorBar>,
}

struct Layout {
    width: f64,
    height: f64,
    mt: Metrics,
    panels: Vec<PanelPlan>,
    header: bool,
    letters: bool,
    legend: Legend,
    legend_top: f64,
}

/// Per-panel data extents and axis ranges (independent of geometry).
struct Ranges {
    x: (f64, f64),
    y: (f64, f64),
    heat: bool,
    empty: bool,
}

/// Working-space `(lo, hi)` extent of each heat-map cell along one axis;
/// edges are midpoints between neighbouring valid centres.
fn cell_edges(centers: &[f64], scale: Scale) -> Vec<Option<(f64, f64)>> {
    let t: Vec<Option<f64>> = centers.iter().map(|&c| fwd(scale, c)).collect();
    let valid: Vec<usize> = (0..t.len()).filter(|&i| t[i].is_some()).collect();
    let mut out = vec![None; t.len()];
    for (k, &i) in valid.iter().enumerate() {
        let c = t[i].unwrap_or_default();
        let prev = k.checked_sub(1).and_then(|j| t[valid[j]]);
        let next = valid.get(k + 1).and_then(|&j| t[j]);
        let (a, b) = match (prev, next) {
            (Some(p), Some(n)) => ((p + c) / 2.0, (c + n) / 2.0),
            (None, Some(n)) => (c - (n - c) / 2.0, (c + n) / 2.0),
            (Some(p), None) => ((p + c) / 2.0, c + (c - p) / 2.0),
            (None, None) => (c - 0.5, c + 0.5),
        };
        if a != b && a.is_finite() && b.is_finite() {
            out[i] = Some((a.min(b), a.max(b)));
        }
    }
    out
}

pub(crate) fn histogram_heights(edges: &[f64], counts: &[f64], density: bool) -> Vec<f64> {
    let total: f64 = counts.iter().filter(|c| c.is_finite()).sum();
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if !density {
                return c;
            }
            match (edges.get(i), edges.get(i + 1)) {
                (Some(&l), Some(&r)) if r != l && total != 0.0 => c / (total * (r - l).abs()),
                _ => f64::NAN,
            }
        })
        .collect()
}

fn panel_ranges(p: &Panel) -> Ranges {
    let (xs, ys) = (p.x.scale, p.y.scale);
    let (mut ex, mut ey) = (Extent::default(), Extent::default());
    let mut heat = false;
    let mut hist = false;
    let mut data = false;
    for layer in &p.content {
        match layer {
            Layer::Line { xs: x, ys: y, band, .. } => {
                for (i, (&a, &b)) in x.iter().zip(y).enumerate() {
                    if fwd(xs, a).is_none() {
                        continue;
                    }
                    let mut any = fwd(ys, b).is_some();
                    ey.add(ys, b);
                    if let Some(bd) = band {
                        for v in [bd.lo.get(i), bd.hi.get(i)].into_iter().flatten() {
                            any |= fwd(ys, *v).is_some();
                            ey.add(ys, *v);
                        }
                    }
                    if any {
                        ex.add(xs, a);
                        data = true;
                    }
                }
            }
            Layer::Scatter { xs: x, ys: y, .. } => {
                for (&a, &b) in x.iter().zip(y) {
                    if fwd(xs, a).is_some() && fwd(ys, b).is_some() {
                        ex.add(xs, a);
                        ey.add(ys, b);
                        data = true;
                    }
                }
            }
            Layer::Histogram { edges, counts, density, .. } => {
                hist = true;
                for (i, h) in histogram_heights(edges, counts, *density).into_iter().enumerate() {
                    if let (Some(&l), Some(&r)) = (edges.get(i), edges.get(i + 1)) {
                        if fwd(xs, l).is_some() && fwd(xs, r).is_some() && fwd(ys, h).is_some() {
                            ex.add(xs, l);
                            ex.add(xs, r);
                            ey.add(ys, h);
                            ey.add(ys, 0.0);
                            data = true;
                        }
                    }
                }
            }
            Layer::HeatMap { rows, cols, values, .. } => {
                heat = true;
                let (re, ce) = (cell_edges(rows, ys), cell_edges(cols, xs));
                for (r, row) in values.iter().enumerate() {
                    for c in 0..row.len() {
                        if let (Some(Some(a)), Some(Some(b))) = (re.get(r), ce.get(c)) {
                            ey.add_t(a.0);
                            ey.add_t(a.1);
                            ex.add_t(b.0);
                            ex.add_t(b.1);
                            data = true;
                        }
                    }
                }
            }
            Layer::HLine { at, .. } => {
                ey.add(ys, *at);
                data |= fwd(ys, *at).is_some();
            }
            Layer::VLine { at, .. } => {
                ex.add(xs, *at);
                data |= fwd(xs, *at).is_some();
            }
            Layer::Marker { x, y, .. } => {
                if fwd(xs, *x).is_some() {
                    ex.add(xs, *x);
                    ey.add(ys, *y);
                    data = true;
                }
            }
        }
    }
    let (px, py) = if heat { (0.0, 0.0) } else { (0.03, 0.05) };
    Ranges {
        x: ticks::resolve_range(xs, p.x.range, ex, if hist && !heat { 0.01 } else { px }, false),
        y: ticks::resolve_range(ys, p.y.range, ey, py, hist),
        heat,
        empty: !data,
    }
}

/// Colour bar for the first heat map in the panel (geometry filled in later).
fn colorbar_for(p: &Panel) -> Option<ColorBar> {
    let Layer::HeatMap { values, log_color, colorbar_label, color_range, .. } =
        p.content.iter().find(|l| matches!(l, Layer::HeatMap { .. }))?
    else {
        return None;
    };
    let scale = if *log_color { Scale::Log10 } else { Scale::Linear };
    let mut e = Extent::default();
    for v in values.iter().flatten() {
        e.add(scale, *v);
    }
    let (lo, hi) = ticks::resolve_range(scale, *color_range, e, 0.0, false);
    Some(ColorBar {
        scale,
        lo,
        hi,
        label: colorbar_label.clone(),
        ticks: Ticks::default(),
        tick_w: 0.0,
        rect: Rect { x0: 0.0, y0: 0.0, x1: 0.0, y1: 0.0 },
    })
}

/// Densest candidate tick set whose labels do not overlap. `per` is the
/// smallest spacing (units) worth trying; `along` measures a label's extent
/// along the axis.
fn fit_ticks(map: &AxisMap, per: f64, along: impl Fn(&str) -> f64, min_gap: f64) -> Ticks {
    let len = (map.p1 - map.p0).abs();
    let max_n = ((len / per).floor() as usize + 1).clamp(2, 10);
    let candidates = ticks::tick_candidates(map.scale, map.lo, map.hi, max_n);
    let fits = |t: &Ticks| {
        let mut pos: Vec<(f64, f64)> = t.major.iter().map(|(v, l)| (map.px_t(*v), along(l))).collect();
        pos.sort_by(|a, b| a.0.total_cmp(&b.0));
        pos.windows(2).all(|w| w[1].0 - w[0].0 >= (w[0].1 + w[1].1) / 2.0 + min_gap)
    };
    let last = candidates.last().cloned().unwrap_or_default();
    candidates.into_iter().find(|t| fits(t)).unwrap_or(last)
}

fn max_width(m: &Measurer, f: Font, t: &Ticks) -> f64 {
    t.major.iter().map(|(_, l)| f.width(m, l)).fold(0.0, f64::max)
}

/// Axis label with the common tick multiplier, e.g. `training step (×10⁵)`.
fn axis_label(label: &str, t: &Ticks) -> String {
    match (&t.multiplier, label.trim().is_empty()) {
        (Some(mu), false) => format!("{label} ({mu})"),
        (Some(mu), true) => mu.clone(),
        (None, _) => label.to_string(),
    }
}

/// Shrinks a font (down to 6 pt) until `s` fits in `max_w`.
fn fit_font(m: &Measurer, s: &str, f: Font, max_w: f64) -> Font {
    let w = f.width(m, s);
    if w <= max_w || w == 0.0 {
        return f;
    }
    Font { size: (f.size * max_w / w).max(pt(6.0)), ..f }
}

impl Layout {
    fn new(fig: &Figure, m: &Measurer) -> Layout {
        let mt = Metrics::new();
        let width = (fig.width.inches() * UNITS_PER_INCH).round();
        let n = fig.panels.len();
        let cols = fig.columns.clamp(1, n.max(1));
        let rows = n.div_ceil(cols).max(1);
        let ph = if fig.panel_height_in.is_finite() {
            fig.panel_height_in.clamp(0.8, 20.0)
        } else {
            Figure::DEFAULT_PANEL_HEIGHT_IN
        };
        let cell_h = (ph * UNITS_PER_INCH).round();
        let outer = pt(OUTER);
        let cell_w = (width - 2.0 * outer) / cols as f64;

        let letters = n > 1;
        let header = letters || fig.panels.iter().any(|p| !p.title.trim().is_empty());
        let any_xlabel = fig.panels.iter().any(|p| !p.x.label.trim().is_empty());
        let head_font = mt.letter.size.max(mt.title.size);
        let top_m = if header { pt(2.0) + head_font + pt(4.0) } else { pt(5.0) };
        let bottom_m =
            mt.tick_len + mt.gap + mt.tick.line() + if any_xlabel { pt(3.0) + mt.label.line() } else { 0.0 } + pt(3.0);

        let ranges: Vec<Ranges> = fig.panels.iter().map(panel_ranges).collect();
        let mut plans: Vec<PanelPlan> = Vec::with_capacity(n);
        // Pass 1: vertical geometry, y ticks, colour bars, left margins.
        for (i, (p, r)) in fig.panels.iter().zip(&ranges).enumerate() {
            let (row, col) = (i / cols, i % cols);
            let cell = Rect {
                x0: outer + col as f64 * cell_w,
                y0: outer + row as f64 * cell_h,
                x1: outer + (col + 1) as f64 * cell_w,
                y1: outer + (row + 1) as f64 * cell_h,
            };
            let plot_y0 = cell.y0 + top_m;
            let plot_y1 = (cell.y1 - bottom_m).max(plot_y0 + pt(20.0));
            let y = AxisMap { scale: p.y.scale, lo: r.y.0, hi: r.y.1, p0: plot_y1, p1: plot_y0 };
            let tick_h = mt.tick.size;
            let yt = fit_ticks(&y, pt(16.0), |_| tick_h, pt(3.0));
            let ytick_w = max_width(m, mt.tick, &yt);
            let mut cbar = colorbar_for(p);
            if let Some(cb) = cbar.as_mut() {
                let map = AxisMap { scale: cb.scale, lo: cb.lo, hi: cb.hi, p0: plot_y1, p1: plot_y0 };
                cb.ticks = fit_ticks(&map, pt(16.0), |_| tick_h, pt(3.0));
                cb.tick_w = max_width(m, mt.tick, &cb.ticks);
            }
            plans.push(PanelPlan {
                cell,
                plot: Rect { x0: 0.0, y0: plot_y0, x1: 0.0, y1: plot_y1 },
                x: AxisMap { scale: p.x.scale, lo: r.x.0, hi: r.x.1, p0: 0.0, p1: 0.0 },
                y,
                xt: Ticks::default(),
                yt,
                ytick_w,
                heat: r.heat,
                empty: r.empty,
                cbar,
            });
        }
        let left_need = |pl: &PanelPlan, p: &Panel| {
            let ylabel = if axis_label(&p.y.label, &pl.yt).trim().is_empty() { 0.0 } else { mt.label.line() + pt(3.0) };
            pt(2.0) + ylabel + pl.ytick_w + mt.gap + mt.tick_len
        };
        let mut left_m = vec![0.0f64; cols];
        for (i, (pl, p)) in plans.iter().zip(&fig.panels).enumerate() {
            left_m[i % cols] = left_m[i % cols].max(left_need(pl, p));
        }
        // Pass 2: horizontal geometry and x ticks (twice if the last tick
        // label sticks out of the right margin).
        for (i, pl) in plans.iter_mut().enumerate() {
            let mut right = match &pl.cbar {
                Some(cb) => cb.width(&mt, m),
                None => pt(7.0),
            };
            for _ in 0..2 {
                pl.plot.x0 = pl.cell.x0 + left_m[i % cols];
                pl.plot.x1 = (pl.cell.x1 - right).max(pl.plot.x0 + pt(20.0));
                pl.x.p0 = pl.plot.x0;
                pl.x.p1 = pl.plot.x1;
                pl.xt = fit_ticks(&pl.x, pt(24.0), |s| mt.tick.width(m, s), pt(5.0));
                let overhang = pl
                    .xt
                    .major
                    .iter()
                    .map(|(v, l)| pl.x.px_t(*v) + mt.tick.width(m, l) / 2.0 - pl.plot.x1)
                    .fold(0.0f64, f64::max);
                let need = overhang + pt(2.0);
                if pl.cbar.is_some() || need <= right {
                    break;
                }
                right = need;
            }
            if let Some(cb) = pl.cbar.as_mut() {
                let x0 = pl.plot.x1 + pt(6.0);
                cb.rect = Rect { x0, y0: pl.plot.y0, x1: x0 + pt(6.0), y1: pl.plot.y1 };
            }
        }
        let grid_bottom = outer + rows as f64 * cell_h;
        let legend = Legend::new(fig, width - 2.0 * outer, m, mt.legend);
        let legend_top = grid_bottom + if legend.height == 0.0 { 0.0 } else { pt(2.0) };
        let height = (legend_top + legend.height + outer).round();
        Layout { width, height, mt, panels: plans, header, letters, legend, legend_top }
    }

    fn draw(&self, fig: &Figure, cv: &Canvas, m: &Measurer) -> Draw {
        cv.rect(Rect { x0: 0.0, y0: 0.0, x1: self.width, y1: self.height }, Color::WHITE, 1.0)?;
        if fig.panels.is_empty() {
            let f = self.mt.label;
            return cv.text(
                "(empty figure)",
                (self.width / 2.0, self.height / 2.0 - f.size / 2.0),
                HPos::Center,
                f,
                ink::MUTED,
                false,
            );
        }
        for (i, (p, pl)) in fig.panels.iter().zip(&self.panels).enumerate() {
            self.draw_panel(i, p, pl, cv, m)?;
        }
        self.legend.draw(cv, &self.mt, self.legend_top, self.width)
    }

    fn draw_panel(&self, idx: usize, p: &Panel, pl: &PanelPlan, cv: &Canvas, m: &Measurer) -> Draw {
        let mt = &self.mt;
        let r = pl.plot;
        // grid
        if p.grid && !pl.heat {
            for (v, _) in &pl.xt.major {
                let x = pl.x.px_t(*v);
                cv.polyline(&[(x, r.y0), (x, r.y1)], ink::GRID, mt.grid_w, false)?;
            }
            for (v, _) in &pl.yt.major {
                let y = pl.y.px_t(*v);
                cv.polyline(&[(r.x0, y), (r.x1, y)], ink::GRID, mt.grid_w, false)?;
            }
        }
        // data, back to front
        for layer in &p.content {
            match layer {
                Layer::HeatMap { .. } => self.draw_heatmap(layer, pl, cv)?,
                Layer::Histogram { .. } => self.draw_histogram(layer, pl, cv)?,
                _ => {}
            }
        }
        for layer in &p.content {
            match layer {
                Layer::HLine { at, color, dashed, .. } => {
                    if let Some(y) = pl.y.px(*at) {
                        for piece in clip_polyline(&[(r.x0, y), (r.x1, y)], &r) {
                            cv.polyline(&piece, *color, pt(0.9), *dashed)?;
                        }
                    }
                }
                Layer::VLine { at, color, dashed, .. } => {
                    if let Some(x) = pl.x.px(*at) {
                        for piece in clip_polyline(&[(x, r.y1), (x, r.y0)], &r) {
                            cv.polyline(&piece, *color, pt(0.9), *dashed)?;
                        }
                    }
                }
                _ => {}
            }
        }
        for layer in &p.content {
            if let Layer::Line { xs, band: Some(b), color, .. } = layer {
                for run in runs(xs.len().min(b.lo.len()).min(b.hi.len()), |i| {
                    Some((pl.x.px(xs[i])?, pl.y.px(b.lo[i])?, pl.y.px(b.hi[i])?))
                }) {
                    if run.len() < 2 {
                        continue;
                    }
                    let mut poly: Vec<Pt> = run.iter().map(|&(x, lo, _)| (x, lo)).collect();
                    poly.extend(run.iter().rev().map(|&(x, _, hi)| (x, hi)));
                    cv.polygon(&clip_polygon(&poly, &r), *color, size::BAND_ALPHA)?;
                }
            }
        }
        for layer in &p.content {
            match layer {
                Layer::Line { xs, ys, color, dashed, markers, .. } => {
                    let n = xs.len().min(ys.len());
                    for run in runs(n, |i| Some((pl.x.px(xs[i])?, pl.y.px(ys[i])?))) {
                        if run.len() == 1 {
                            if r.contains(run[0]) {
                                cv.circle(run[0], mt.line_w, *color, 1.0)?;
                            }
                            continue;
                        }
                        for piece in clip_polyline(&run, &r) {
                            cv.polyline(&piece, *color, mt.line_w, *dashed)?;
                        }
                        if *markers {
                            for &q in run.iter().filter(|&&q| r.contains(q)) {
                                cv.circle(q, pt(size::LINE_MARKER_R), *color, 1.0)?;
                            }
                        }
                    }
                }
                Layer::Scatter { xs, ys, color, size: s, .. } => {
                    let rad = if s.is_finite() && *s > 0.0 { pt(*s) } else { pt(1.5) };
                    for (&a, &b) in xs.iter().zip(ys) {
                        if let (Some(x), Some(y)) = (pl.x.px(a), pl.y.px(b)) {
                            if r.contains((x, y)) {
                                cv.circle((x, y), rad, *color, size::SCATTER_ALPHA)?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for layer in &p.content {
            if let Layer::Marker { x, y, color, .. } = layer {
                if let Some(px) = pl.x.px(*x) {
                    // no (valid) y: just inside the top edge
                    let top = r.y0 + pt(size::MARKER_CROSS) + pt(1.5);
                    let py = pl.y.px(*y).unwrap_or(top);
                    if r.contains((px, py)) {
                        cv.cross((px, py), pt(size::MARKER_CROSS), *color, pt(1.1))?;
                    }
                }
            }
        }
        if pl.empty {
            let f = mt.note;
            cv.text(
                "no data",
                ((r.x0 + r.x1) / 2.0, (r.y0 + r.y1) / 2.0 - f.size / 2.0),
                HPos::Center,
                f,
                ink::MUTED,
                false,
            )?;
        }
        self.draw_axes(idx, p, pl, cv, m)?;
        if let Some(cb) = &pl.cbar {
            self.draw_colorbar(cb, cv)?;
        }
        Ok(())
    }

    fn draw_axes(&self, idx: usize, p: &Panel, pl: &PanelPlan, cv: &Canvas, m: &Measurer) -> Draw {
        let mt = &self.mt;
        let r = pl.plot;
        // spines: full frame around heat maps, left + bottom otherwise
        if pl.heat {
            cv.outline(r, ink::AXIS, mt.axis_w)?;
        } else {
            cv.polyline(&[(r.x0, r.y0), (r.x0, r.y1), (r.x1, r.y1)], ink::AXIS, mt.axis_w, false)?;
        }
        // ticks
        for &v in &pl.xt.minor {
            let x = pl.x.px_t(v);
            if pl.x.contains_t(v) {
                cv.polyline(&[(x, r.y1), (x, r.y1 + mt.minor_len)], ink::AXIS, mt.axis_w, false)?;
            }
        }
        for &v in &pl.yt.minor {
            let y = pl.y.px_t(v);
            if pl.y.contains_t(v) {
                cv.polyline(&[(r.x0, y), (r.x0 - mt.minor_len, y)], ink::AXIS, mt.axis_w, false)?;
            }
        }
        let xl_top = r.y1 + mt.tick_len + mt.gap;
        for (v, label) in &pl.xt.major {
            let x = pl.x.px_t(*v);
            cv.polyline(&[(x, r.y1), (x, r.y1 + mt.tick_len)], ink::AXIS, mt.axis_w, false)?;
            cv.text(label, (x, xl_top), HPos::Center, mt.tick, ink::TEXT, false)?;
        }
        let yl_right = r.x0 - mt.tick_len - mt.gap;
        for (v, label) in &pl.yt.major {
            let y = pl.y.px_t(*v);
            cv.polyline(&[(r.x0, y), (r.x0 - mt.tick_len, y)], ink::AXIS, mt.axis_w, false)?;
            // centre the digits (cap height ≈ 0.73 em) on the tick
            let top = y + 0.365 * mt.tick.size - mt.tick.ascent();
            cv.text(label, (yl_right, top), HPos::Right, mt.tick, ink::TEXT, false)?;
        }
        // axis labels
        let xlabel = axis_label(&p.x.label, &pl.xt);
        if !xlabel.trim().is_empty() {
            let f = fit_font(m, &xlabel, mt.label, pl.cell.x1 - r.x0);
            let top = xl_top + mt.tick.line() + pt(3.0);
            cv.text(&xlabel, ((r.x0 + r.x1) / 2.0, top), HPos::Center, f, ink::TEXT, false)?;
        }
        let ylabel = axis_label(&p.y.label, &pl.yt);
        if !ylabel.trim().is_empty() {
            let f = fit_font(m, &ylabel, mt.label, r.h() + pt(20.0));
            let x = (yl_right - pl.ytick_w - pt(3.0) - f.line()).max(pl.cell.x0 + pt(1.0));
            cv.text(&ylabel, (x, (r.y0 + r.y1) / 2.0), HPos::Center, f, ink::TEXT, true)?;
        }
        // header: panel letter and title share a baseline
        if self.header {
            let head = mt.letter.size.max(mt.title.size);
            let baseline = pl.cell.y0 + pt(2.0) + 0.76 * head;
            let mut title_left = pl.cell.x0;
            if self.letters {
                let letter = panel_letter(idx);
                let lx = pl.cell.x0 + pt(1.0);
                cv.text(&letter, (lx, baseline - mt.letter.ascent()), HPos::Left, mt.letter, ink::TEXT, false)?;
                title_left = lx + mt.letter.width(m, &letter) + pt(4.0);
            }
            let title = p.title.trim();
            if !title.is_empty() {
                let right = pl.cbar.as_ref().map_or(r.x1, |c| c.rect.x1);
                let f = fit_font(m, title, mt.title, pl.cell.x1 - title_left - pt(2.0));
                let w = f.width(m, title);
                // centred over the plot, nudged right if it would hit the letter
                let cx = ((r.x0 + right) / 2.0).max(title_left + w / 2.0).min(pl.cell.x1 - pt(2.0) - w / 2.0);
                cv.text(title, (cx, baseline - f.ascent()), HPos::Center, f, ink::TEXT, false)?;
            }
        }
        Ok(())
    }

    fn draw_heatmap(&self, layer: &Layer, pl: &PanelPlan, cv: &Canvas) -> Draw {
        let Layer::HeatMap { rows, cols, values, log_color, color_range, .. } = layer else {
            return Ok(());
        };
        // Colour scale: the panel's colour bar if it belongs to this layer's
        // settings, otherwise this layer's own range.
        let own;
        let cb = match &pl.cbar {
            Some(cb) if (cb.scale == Scale::Log10) == *log_color => cb,
            _ => {
                let scale = if *log_color { Scale::Log10 } else { Scale::Linear };
                let mut e = Extent::default();
                values.iter().flatten().for_each(|v| e.add(scale, *v));
                let (lo, hi) = ticks::resolve_range(scale, *color_range, e, 0.0, false);
                own = ColorBar {
                    scale,
                    lo,
                    hi,
                    label: String::new(),
                    ticks: Ticks::default(),
                    tick_w: 0.0,
                    rect: pl.plot,
                };
                &own
            }
        };
        let (re, ce) = (cell_edges(rows, pl.y.scale), cell_edges(cols, pl.x.scale));
        // Snap to whole output pixels (4 units) so neighbours meet without
        // anti-aliasing seams; overlap by one unit.
        let snap = |v: f64| (v / 4.0).round() * 4.0;
        for (ri, row) in values.iter().enumerate() {
            let Some(Some((y_lo, y_hi))) = re.get(ri) else {
                continue;
            };
            for (ci, v) in row.iter().enumerate() {
                let Some(Some((x_lo, x_hi))) = ce.get(ci) else {
                    continue;
                };
                let cell = Rect {
                    x0: snap(pl.x.px_t(*x_lo)),
                    x1: snap(pl.x.px_t(*x_hi)) + 1.0,
                    y0: snap(pl.y.px_t(*y_hi)),
                    y1: snap(pl.y.px_t(*y_lo)) + 1.0,
                };
                if let Some(c) = cell.intersect(&pl.plot) {
                    cv.rect(c, cb.color(*v), 1.0)?;
                }
            }
        }
        Ok(())
    }

    fn draw_histogram(&self, layer: &Layer, pl: &PanelPlan, cv: &Canvas) -> Draw {
        let Layer::Histogram { color, edges, counts, density, .. } = layer else {
            return Ok(());
        };
        let r = pl.plot;
        let base = match pl.y.scale {
            Scale::Linear => pl.y.px(0.0).unwrap_or(r.y1).clamp(r.y0, r.y1),
            Scale::Log10 => r.y1,
        };
        for (i, h) in histogram_heights(edges, counts, *density).into_iter().enumerate() {
            let (Some(&l), Some(&rt)) = (edges.get(i), edges.get(i + 1)) else {
                continue;
            };
            let (Some(x0), Some(x1), Some(y)) = (pl.x.px(l), pl.x.px(rt), pl.y.px(h)) else {
                continue;
            };
            let bar = Rect { x0: x0.min(x1), x1: x0.max(x1), y0: y.min(base), y1: y.max(base) };
            if let Some(b) = bar.intersect(&r) {
                cv.rect(b, *color, size::HIST_ALPHA)?;
                cv.outline(b, *color, pt(0.5))?;
            }
        }
        Ok(())
    }

    fn draw_colorbar(&self, cb: &ColorBar, cv: &Canvas) -> Draw {
        let mt = &self.mt;
        let r = cb.rect;
        // Slices snapped to whole output pixels (4 units), each overlapping
        // the next by one unit, so no anti-aliasing seams appear.
        let n = 96;
        let snap = |v: f64| (v / 4.0).round() * 4.0;
        for k in 0..n {
            let (a, b) = (k as f64 / n as f64, (k + 1) as f64 / n as f64);
            let slice =
                Rect { x0: r.x0, x1: r.x1, y0: snap(r.y1 - b * r.h()), y1: (snap(r.y1 - a * r.h()) + 1.0).min(r.y1) };
            cv.rect(slice, viridis((a + b) / 2.0), 1.0)?;
        }
        cv.outline(r, ink::AXIS, mt.axis_w)?;
        let map = AxisMap { scale: cb.scale, lo: cb.lo, hi: cb.hi, p0: r.y1, p1: r.y0 };
        let lx = r.x1 + mt.tick_len + mt.gap;
        for &v in &cb.ticks.minor {
            let y = map.px_t(v);
            cv.polyline(&[(r.x1, y), (r.x1 + mt.minor_len, y)], ink::AXIS, mt.axis_w, false)?;
        }
        for (v, label) in &cb.ticks.major {
            let y = map.px_t(*v);
            cv.polyline(&[(r.x1, y), (r.x1 + mt.tick_len, y)], ink::AXIS, mt.axis_w, false)?;
            let top = y + 0.365 * mt.tick.size - mt.tick.ascent();
            cv.text(label, (lx, top), HPos::Left, mt.tick, ink::TEXT, false)?;
        }
        let label = axis_label(&cb.label, &cb.ticks);
        if !label.trim().is_empty() {
            let x = lx + cb.tick_w + mt.gap * 1.5;
            cv.text(&label, (x, (r.y0 + r.y1) / 2.0), HPos::Center, mt.label, ink::TEXT, true)?;
        }
        Ok(())
    }
}

/// Maximal runs of consecutive indices `0..n` for which `f` yields a point.
fn runs<T>(n: usize, f: impl Fn(usize) -> Option<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for i in 0..n {
        match f(i) {
            Some(p) => cur.push(p),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_at_gaps() {
        let v = [1.0, f64::NAN, 2.0, 3.0, f64::NAN];
        let r = runs(v.len(), |i| v[i].is_finite().then_some(v[i]));
        assert_eq!(r, vec![vec![1.0], vec![2.0, 3.0]]);
    }

    #[test]
    fn heat_cell_edges() {
        let e = cell_edges(&[0.0, 1.0, 3.0], Scale::Linear);
        assert_eq!(e, vec![Some((-0.5, 0.5)), Some((0.5, 2.0)), Some((2.0, 4.0))]);
        let e = cell_edges(&[1.0, 10.0, -1.0], Scale::Log10);
        assert_eq!(e[0], Some((-0.5, 0.5)));
        assert_eq!(e[2], None);
        assert_eq!(cell_edges(&[5.0], Scale::Linear), vec![Some((4.5, 5.5))]);
    }

    #[test]
    fn svg_has_physical_size() {
        let svg = render_svg(&Figure::new("x")).unwrap();
        assert!(svg.contains("width=\"3.5000in\""), "{}", &svg[..200]);
        assert!(svg.contains("viewBox=\"0 0 4200 "));
    }
}
