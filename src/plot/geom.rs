//! Small 2-D helpers in drawing coordinates (y grows downwards): rectangles
//! and clipping of polylines/polygons to the plotting area.

pub(crate) type Pt = (f64, f64);

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub(crate) fn h(&self) -> f64 {
        self.y1 - self.y0
    }
    pub(crate) fn contains(&self, (x, y): Pt) -> bool {
        x >= self.x0 - 1e-6 && x <= self.x1 + 1e-6 && y >= self.y0 - 1e-6 && y <= self.y1 + 1e-6
    }
    /// Intersection with `other` (`None` if empty).
    pub(crate) fn intersect(&self, o: &Rect) -> Option<Rect> {
        let r = Rect { x0: self.x0.max(o.x0), y0: self.y0.max(o.y0), x1: self.x1.min(o.x1), y1: self.y1.min(o.y1) };
        (r.x1 > r.x0 && r.y1 > r.y0).then_some(r)
    }
}

/// Clips one segment (Liang–Barsky); `None` if it misses the rectangle.
fn clip_segment(a: Pt, b: Pt, r: &Rect) -> Option<(Pt, Pt)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a.0 - r.x0), (dx, r.x1 - a.0), (-dy, a.1 - r.y0), (dy, r.y1 - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    Some(((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy)))
}

/// Clips a polyline to `r`, returning the visible pieces (each ≥ 2 points).
pub(crate) fn clip_polyline(pts: &[Pt], r: &Rect) -> Vec<Vec<Pt>> {
    let mut out: Vec<Vec<Pt>> = Vec::new();
    let mut cur: Vec<Pt> = Vec::new();
    if pts.len() == 1 && r.contains(pts[0]) {
        return vec![vec![pts[0]]];
    }
    for w in pts.windows(2) {
        match clip_segment(w[0], w[1], r) {
            Some((a, b)) => {
                let joined = cur.last().is_some_and(|l| (l.0 - a.0).abs() < 1e-9 && (l.1 - a.1).abs() < 1e-9);
                if !joined {
                    if cur.len() >= 2 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(b);
            }
            None => {
                if cur.len() >= 2 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() >= 2 {
        out.push(cur);
    }
    out
}

/// Clips a polygon to `r` (Sutherland–Hodgman).
pub(crate) fn clip_polygon(pts: &[Pt], r: &Rect) -> Vec<Pt> {
    let mut poly = pts.to_vec();
    type Inside = fn(Pt, &Rect) -> bool;
    type Cross = fn(Pt, Pt, &Rect) -> Pt;
    let edges: [(Inside, Cross); 4] = [
        (|p, r| p.0 >= r.x0, |a, b, r| (r.x0, a.1 + (b.1 - a.1) * (r.x0 - a.0) / (b.0 - a.0))),
        (|p, r| p.0 <= r.x1, |a, b, r| (r.x1, a.1 + (b.1 - a.1) * (r.x1 - a.0) / (b.0 - a.0))),
        (|p, r| p.1 >= r.y0, |a, b, r| (a.0 + (b.0 - a.0) * (r.y0 - a.1) / (b.1 - a.1), r.y0)),
        (|p, r| p.1 <= r.y1, |a, b, r| (a.0 + (b.0 - a.0) * (r.y1 - a.1) / (b.1 - a.1), r.y1)),
    ];
    for (inside, cross) in edges {
        if poly.is_empty() {
            break;
        }
        let input = std::mem::take(&mut poly);
        let mut prev = *input.last().expect("non-empty");
        for &p in &input {
            match (inside(p, r), inside(prev, r)) {
                (true, true) => poly.push(p),
                (true, false) => {
                    poly.push(cross(prev, p, r));
                    poly.push(p);
                }
                (false, true) => poly.push(cross(prev, p, r)),
                (false, false) => {}
            }
            prev = p;
        }
    }
    poly
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rect = Rect { x0: 0.0, y0: 0.0, x1: 10.0, y1: 10.0 };

    #[test]
    fn polyline_clipping_splits_at_exits() {
        let p = [(-5.0, 5.0), (5.0, 5.0), (5.0, 20.0), (8.0, 20.0), (8.0, 5.0)];
        let parts = clip_polyline(&p, &R);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], vec![(0.0, 5.0), (5.0, 5.0), (5.0, 10.0)]);
        assert_eq!(parts[1], vec![(8.0, 10.0), (8.0, 5.0)]);
        assert!(clip_polyline(&[(20.0, 20.0), (30.0, 30.0)], &R).is_empty());
    }

    #[test]
    fn polygon_clipping() {
        let sq = [(-5.0, -5.0), (5.0, -5.0), (5.0, 5.0), (-5.0, 5.0)];
        let c = clip_polygon(&sq, &R);
        assert!(c.iter().all(|&p| R.contains(p)));
        assert!(c.contains(&(5.0, 5.0)) && c.contains(&(0.0, 0.0)));
        assert!(clip_polygon(&[(20.0, 20.0), (30.0, 20.0), (30.0, 30.0)], &R).is_empty());
    }
}
