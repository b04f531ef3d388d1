//! Axis ranges, data→drawing coordinate maps, tick placement and tick-label
//! formatting (pure functions; text fitting is done by the renderer, which
//! asks for fewer ticks until the labels no longer collide).

use super::Scale;

/// Value in the axis' working space: identity (linear) or log10 (log axes;
/// `None` for non-positive or non-finite values).
pub(crate) fn fwd(scale: Scale, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    match scale {
        Scale::Linear => Some(v),
        Scale::Log10 => (v > 0.0).then(|| v.log10()),
    }
}

/// Running min/max of values in working space.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extent(Option<(f64, f64)>);

impl Extent {
    /// Adds a data value (ignored if invalid for the scale).
    pub(crate) fn add(&mut self, scale: Scale, v: f64) {
        if let Some(t) = fwd(scale, v) {
            self.add_t(t);
        }
    }

    pub(crate) fn add_t(&mut self, t: f64) {
        if !t.is_finite() {
            return;
        }
        self.0 = Some(match self.0 {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
    }

    pub(crate) fn get(&self) -> Option<(f64, f64)> {
        self.0
    }
}

/// Final axis range in working space.
///
/// An explicit range wins if it is usable (finite, distinct, positive on log
/// axes; reversed bounds are swapped); otherwise the data extent is padded by
/// `pad` (fraction of the span). `zero_floor` keeps a linear axis from going
/// below zero when the data does not (histogram bars).
pub(crate) fn resolve_range(
    scale: Scale,
    explicit: Option<(f64, f64)>,
    data: Extent,
    pad: f64,
    zero_floor: bool,
) -> (f64, f64) {
    if let Some((a, b)) = explicit {
        if let (Some(a), Some(b)) = (fwd(scale, a), fwd(scale, b)) {
            if a != b {
                return (a.min(b), a.max(b));
            }
        }
    }
    let Some((lo, hi)) = data.get() else {
        return match scale {
            Scale::Linear => (0.0, 1.0),
            Scale::Log10 => (0.0, 1.0), // 1 … 10
        };
    };
    let (lo, hi) = if hi - lo > 1e-12 * lo.abs().max(hi.abs()).max(1e-300) {
        let p = (hi - lo) * pad;
        (lo - p, hi + p)
    } else {
        // constant data: a unit-ish window around it
        match scale {
            Scale::Linear => {
                let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
                (lo - d, hi + d)
            }
            Scale::Log10 => (lo - 0.5, hi + 0.5),
        }
    };
    if zero_floor && scale == Scale::Linear {
        if let Some((dlo, _)) = data.get() {
            if dlo >= 0.0 && lo < 0.0 {
                return (0.0, hi);
            }
        }
    }
    (lo, hi)
}

/// Maps working-space values onto a drawing-coordinate interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AxisMap {
    pub scale: Scale,
    /// Working-space range.
    pub lo: f64,
    pub hi: f64,
    /// Drawing coordinates of `lo` and `hi` (`p1 < p0` for y axes).
    pub p0: f64,
    pub p1: f64,
}

impl AxisMap {
    /// Drawing coordinate of a data value (`None` if invalid for the scale).
    /// Values outside the range map outside `p0..p1` (the caller clips).
    pub(crate) fn px(&self, v: f64) -> Option<f64> {
        fwd(self.scale, v).map(|t| self.px_t(t))
    }

    pub(crate) fn px_t(&self, t: f64) -> f64 {
        let span = self.hi - self.lo;
        let f = if span != 0.0 { (t - self.lo) / span } else { 0.5 };
        // keep far-away points finite and well inside i32
        self.p0 + (self.p1 - self.p0) * f.clamp(-1e3, 1e3)
    }

    pub(crate) fn contains_t(&self, t: f64) -> bool {
        let eps = 1e-9 * (self.hi - self.lo).abs();
        t >= self.lo - eps && t <= self.hi + eps
    }
}

/// Ticks of one axis: labelled major ticks (data values) and unlabelled minor
/// ones, plus an optional common multiplier such as `×10⁵`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Ticks {
    pub major: Vec<(f64, String)>,
    pub minor: Vec<f64>,
    pub multiplier: Option<String>,
}

/// At most (about) `max_n` labelled ticks over the working-space range.
pub(crate) fn ticks(scale: Scale, lo: f64, hi: f64, max_n: usize) -> Ticks {
    let max_n = max_n.max(1);
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Ticks::default();
    }
    match scale {
        Scale::Linear => linear(lo, hi, max_n),
        Scale::Log10 => log(lo, hi, max_n),
    }
}

/// Candidate tick sets with at most `max_n` labels, densest first; the
/// renderer takes the first whose labels do not collide. On log axes
/// spanning two or more decades these are every 1st, 2nd, 3rd, … decade
/// (each at the phase labelling the most decades), so a narrow axis still
/// gets two well-separated labels.
pub(crate) fn tick_candidates(scale: Scale, lo: f64, hi: f64, max_n: usize) -> Vec<Ticks> {
    let mut out: Vec<Ticks> = Vec::new();
    let mut push = |t: Ticks| {
        if out.last() != Some(&t) {
            out.push(t);
        }
    };
    if scale == Scale::Log10 && lo.is_finite() && hi.is_finite() && decade_span(lo, hi).2 >= 2 {
        for every in EVERY {
            if let Some(t) = log_decades(lo, hi, every, max_n.max(1)) {
                push(t);
            }
        }
    } else {
        for n in (1..=max_n.max(1)).rev() {
            push(ticks(scale, lo, hi, n));
        }
    }
    out
}

const EVERY: [i64; 11] = [1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 1000];

/// First and last whole decade inside `[lo, hi]` (log10 space), and their count.
fn decade_span(lo: f64, hi: f64) -> (i64, i64, i64) {
    let k0 = (lo - EPS).ceil() as i64;
    let k1 = (hi + EPS).floor() as i64;
    (k0, k1, k1 - k0 + 1)
}

/// Decade ticks labelling every `every`-th decade: the multiples of `every`
/// (so 10⁰ is labelled), or, when fewer than two multiples are in range, the
/// phase giving the most labels. `None` if that exceeds `max_n` labels.
fn log_decades(lo: f64, hi: f64, every: i64, max_n: usize) -> Option<Ticks> {
    let (k0, k1, _) = decade_span(lo, hi);
    let count = |ph: i64| (k0..=k1).filter(|k| (k - ph).rem_euclid(every) == 0).count();
    let phase = match count(0) {
        n if n > max_n => return None,
        n if n >= 2 => 0,
        // too few multiples in range (narrow axis): shift the phase
        _ => (0..every).filter(|&ph| count(ph) <= max_n).max_by_key(|&ph| (count(ph), ph == 0))?,
    };
    let mut t = Ticks::default();
    for k in k0..=k1 {
        if (k - phase).rem_euclid(every) == 0 {
            t.major.push((k as f64, pow10_label(k)));
        } else if hi - lo <= 60.0 {
            t.minor.push(k as f64);
        }
    }
    if every == 1 && hi - lo <= 6.5 {
        for k in k0 - 1..=k1 {
            for m in 2..=9 {
                let v = k as f64 + (m as f64).log10();
                if v >= lo - EPS && v <= hi + EPS {
                    t.minor.push(v);
                }
            }
        }
    }
    Some(t)
}

const EPS: f64 = 1e-9;

/// Nice tick values (1, 2, 2.5, 5 × 10ᵏ steps) in `[lo, hi]`.
fn nice_values(lo: f64, hi: f64, max_n: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    let e0 = span.log10().floor() as i32 - 3;
    for e in e0..e0 + 6 {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * 10f64.powi(e);
            let a = (lo / step - EPS).ceil();
            let b = (hi / step + EPS).floor();
            let n = b - a + 1.0;
            if n <= max_n as f64 {
                let v = (a as i64..=b as i64)
                    .map(|i| {
                        let x = i as f64 * step;
                        if x.abs() < step * 1e-9 {
                            0.0
                        } else {
                            x
                        }
                    })
                    .collect();
                return (v, step);
            }
        }
    }
    (vec![lo, hi], span)
}

fn linear(lo: f64, hi: f64, max_n: usize) -> Ticks {
    let (values, step) = nice_values(lo, hi, max_n);
    let (labels, multiplier) = format_linear(&values, step);
    Ticks { major: values.into_iter().zip(labels).collect(), minor: Vec::new(), multiplier }
}

/// Log-axis ticks in log10 space: decades `10ᵏ` when the range spans at
/// least two of them (thinned to every 2nd/5th/… decade if crowded, with
/// 2…9 minor ticks on short ranges); otherwise 1-2-5 style ticks labelled as
/// plain numbers.
fn log(lo: f64, hi: f64, max_n: usize) -> Ticks {
    let in_range = |t: f64| t >= lo - EPS && t <= hi + EPS;
    if decade_span(lo, hi).2 >= 2 {
        return EVERY.into_iter().find_map(|e| log_decades(lo, hi, e, max_n)).unwrap_or_default();
    }
    // Less than two decades: mantissa sets, densest that fits.
    let sets: [&[u32]; 4] = [&[1, 2, 3, 4, 5, 6, 7, 8, 9], &[1, 2, 5], &[1, 3], &[1]];
    let kmin = lo.floor() as i64 - 1;
    let kmax = hi.ceil() as i64;
    let collect = |set: &[u32]| -> Vec<f64> {
        (kmin..=kmax)
            .flat_map(|k| set.iter().map(move |&m| m as f64 * 10f64.powi(k as i32)))
            .filter(|v| in_range(v.log10()))
            .collect()
    };
    let all = collect(sets[0]);
    for set in sets {
        let v = collect(set);
        if v.len() >= 2 && v.len() <= max_n {
            let minor =
                all.iter().filter(|a| !v.iter().any(|b| (*a / b - 1.0).abs() < 1e-9)).map(|a| a.log10()).collect();
            return Ticks {
                major: v.iter().map(|&x| (x.log10(), format_number(x))).collect(),
                minor,
                multiplier: None,
            };
        }
    }
    // Very short range: nice linear values of the raw numbers.
    let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
    let (values, step) = nice_values(a, b, max_n);
    let (labels, multiplier) = format_linear(&values, step);
    Ticks {
        major: values.into_iter().zip(labels).filter(|(v, _)| *v > 0.0).map(|(v, l)| (v.log10(), l)).collect(),
        minor: Vec::new(),
        multiplier,
    }
}

/// Labels for evenly spaced ticks with a common number of decimals. Very
/// large or small magnitudes share a multiplier `×10ᵉ` (returned separately).
pub(crate) fn format_linear(values: &[f64], step: f64) -> (Vec<String>, Option<String>) {
    let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (scale_exp, mult) = if max_abs >= 1e5 || (max_abs > 0.0 && max_abs < 1e-3) {
        let e = max_abs.log10().floor() as i32;
        (e, Some(format!("×{}", pow10_label(e as i64))))
    } else {
        (0, None)
    };
    let f = 10f64.powi(-scale_exp);
    let step = (step * f).abs();
    let scaled: Vec<f64> = values.iter().map(|v| v * f).collect();
    let decimals = (0..=12)
        .find(|&d| {
            scaled.iter().all(|v| {
                let p = 10f64.powi(d);
                ((v * p).round() / p - v).abs() <= step.max(f64::MIN_POSITIVE) * 1e-6
            })
        })
        .unwrap_or(12) as usize;
    let labels = scaled.iter().map(|v| typographic_minus(&format!("{:.*}", decimals, v))).collect();
    (labels, mult)
}

/// A single number in compact form: up to 4 significant digits, `a×10ᵏ`
/// for very large or small magnitudes.
pub(crate) fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        let ms = trim_zeros(&format!("{m:.2}"));
        return if ms == "1" || ms == "-1" {
            typographic_minus(&format!("{}{}", if v < 0.0 { "-" } else { "" }, pow10_label(e as i64)))
        } else {
            typographic_minus(&format!("{ms}×{}", pow10_label(e as i64)))
        };
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    typographic_minus(&trim_zeros(&format!("{v:.digits$}")))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `10` with a superscript exponent, e.g. `10⁻³`.
pub(crate) fn pow10_label(k: i64) -> String {
    format!("10{}", superscript(k))
}

fn superscript(k: i64) -> String {
    k.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            c => c,
        })
        .collect()
}

/// ASCII hyphen-minus → U+2212 minus sign; `-0` → `0`.
fn typographic_minus(s: &str) -> String {
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        return s[1..].to_string();
    }
    s.replace('-', "−")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &Ticks) -> Vec<&str> {
        t.major.iter().map(|(_, l)| l.as_str()).collect()
    }

    #[test]
    fn linear_nice_ticks() {
        let t = ticks(Scale::Linear, 0.0, 1.0, 6);
        assert_eq!(labels(&t), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = ticks(Scale::Linear, -3.2, 91.0, 5);
        assert_eq!(labels(&t), ["0", "20", "40", "60", "80"]);
        let t = ticks(Scale::Linear, -3.2, 91.0, 4);
        assert_eq!(labels(&t), ["0", "25", "50", "75"]);
        let t = ticks(Scale::Linear, -1.0, 1.0, 5);
        assert_eq!(labels(&t), ["−1.0", "−0.5", "0.0", "0.5", "1.0"]);
        assert!(t.major.len() <= 5);
    }

    #[test]
    fn linear_large_values_share_multiplier() {
        let t = ticks(Scale::Linear, 0.0, 2.0e6, 5);
        assert_eq!(t.multiplier.as_deref(), Some("×10⁶"));
        assert_eq!(labels(&t), ["0.0", "0.5", "1.0", "1.5", "2.0"]);
    }

    #[test]
    fn log_decades() {
        let t = ticks(Scale::Log10, 0.0, 4.0, 8);
        assert_eq!(labels(&t), ["10⁰", "10¹", "10²", "10³", "10⁴"]);
        assert_eq!(t.minor.len(), 4 * 8);
        let t = ticks(Scale::Log10, -12.0, 12.0, 6);
        assert!(t.major.len() <= 6 && t.major.len() >= 3, "{t:?}");
        assert!(labels(&t).contains(&"10⁰"));
        assert!(labels(&t).contains(&"10⁻¹²") || labels(&t).contains(&"10⁻¹⁰"));
    }

    #[test]
    fn log_candidates_keep_two_labels_when_thinned() {
        // 10⁻⁴ … 10⁻¹: every 3rd decade from 10⁻⁴ labels both ends
        let c = tick_candidates(Scale::Log10, -4.2, -0.8, 10);
        let two_far: Vec<&Ticks> = c.iter().filter(|t| t.major.len() == 2).collect();
        assert!(two_far.iter().any(|t| labels(t) == ["10⁻⁴", "10⁻¹"]), "{c:?}");
        assert_eq!(labels(&c[0]), ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹"]);
        // ties prefer multiples: 10⁰ stays labelled
        let c = tick_candidates(Scale::Log10, -2.0, 2.0, 10);
        assert_eq!(labels(&c[1]), ["10⁻²", "10⁰", "10²"]);
        // linear candidates shrink
        let c = tick_candidates(Scale::Linear, 0.0, 1.0, 6);
        assert!(c.windows(2).all(|w| w[0].major.len() > w[1].major.len()));
    }

    #[test]
    fn log_short_range_uses_plain_numbers() {
        let t = ticks(Scale::Log10, 2f64.log10(), 30f64.log10(), 6);
        assert_eq!(labels(&t), ["2", "5", "10", "20"]);
        let t = ticks(Scale::Log10, 3f64.log10(), 3.5f64.log10(), 6);
        assert!(!t.major.is_empty());
    }

    #[test]
    fn degenerate_ranges_do_not_panic() {
        assert!(ticks(Scale::Linear, 1.0, 1.0, 5).major.is_empty());
        assert!(ticks(Scale::Linear, f64::NAN, 1.0, 5).major.is_empty());
        let _ = ticks(Scale::Linear, 0.0, 1e-300, 5);
        let _ = ticks(Scale::Linear, -1e300, 1e300, 5);
        let _ = ticks(Scale::Log10, -300.0, 300.0, 1);
    }

    #[test]
    fn ranges() {
        let mut e = Extent::default();
        for v in [f64::NAN, -1.0, 0.0, 10.0, 1000.0] {
            e.add(Scale::Log10, v);
        }
        assert_eq!(e.get(), Some((1.0, 3.0)));
        assert_eq!(resolve_range(Scale::Log10, None, e, 0.0, false), (1.0, 3.0));
        // explicit wins, reversed bounds swapped, unusable ones ignored
        assert_eq!(resolve_range(Scale::Linear, Some((5.0, 1.0)), e, 0.0, false), (1.0, 5.0));
        assert_eq!(resolve_range(Scale::Log10, Some((-1.0, 10.0)), e, 0.0, false), (1.0, 3.0));
        // constant and empty data
        let mut c = Extent::default();
        c.add(Scale::Linear, 2.0);
        let (a, b) = resolve_range(Scale::Linear, None, c, 0.05, false);
        assert!(a < 2.0 && b > 2.0);
        assert_eq!(resolve_range(Scale::Linear, None, Extent::default(), 0.05, false), (0.0, 1.0));
        // zero floor
        let mut h = Extent::default();
        h.add(Scale::Linear, 0.0);
        h.add(Scale::Linear, 10.0);
        assert_eq!(resolve_range(Scale::Linear, None, h, 0.05, true).0, 0.0);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(1234.0), "1234");
        assert_eq!(format_number(-2.0), "−2");
        assert_eq!(format_number(2e-5), "2×10⁻⁵");
        assert_eq!(format_number(1e6), "10⁶");
    }
}
