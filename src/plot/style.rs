//! Colours, palettes and the typographic constants of the paper style.
//!
//! All lengths used by the renderer are in *units* of 1/1200 inch (four units
//! per pixel of the 300 dpi PNG); helpers here convert from points.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Drawing units per inch (SVG user units). 1200 = 4 × 300 dpi, which gives
/// the integer-coordinate SVG backend sub-pixel precision in the PNG.
pub(crate) const UNITS_PER_INCH: f64 = 1200.0;
/// Resolution of the rasterised PNG.
pub const PNG_DPI: f64 = 300.0;

/// Points (1/72 inch) to drawing units.
pub(crate) fn pt(points: f64) -> f64 {
    points * UNITS_PER_INCH / 72.0
}

/// Font family written into the SVG. The first name resolves to the bundled
/// DejaVu Sans when rasterising; the rest are fallbacks for SVG viewers.
pub(crate) const FONT_FAMILY: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
/// Family name of the bundled font, as registered in the font database.
pub(crate) const BUNDLED_FAMILY: &str = "DejaVu Sans";

/// Sizes of the paper style, in points at final print size.
pub(crate) mod size {
    pub const TICK_FONT: f64 = 7.5;
    pub const LABEL_FONT: f64 = 8.5;
    pub const TITLE_FONT: f64 = 8.5;
    pub const LEGEND_FONT: f64 = 8.0;
    pub const LETTER_FONT: f64 = 10.0;
    pub const NOTE_FONT: f64 = 7.5;
    /// Data lines (≈5 px at 300 dpi).
    pub const LINE: f64 = 1.25;
    pub const AXIS: f64 = 0.6;
    pub const GRID: f64 = 0.45;
    pub const TICK_LEN: f64 = 3.0;
    pub const MINOR_TICK_LEN: f64 = 1.7;
    pub const LINE_MARKER_R: f64 = 1.6;
    pub const MARKER_CROSS: f64 = 2.6;
    pub const BAND_ALPHA: f64 = 0.2;
    pub const HIST_ALPHA: f64 = 0.45;
    pub const SCATTER_ALPHA: f64 = 0.8;
    pub const DASH_ON: f64 = 3.6;
    pub const DASH_OFF: f64 = 2.0;
}

/// An opaque sRGB colour. Serialised as `"#rrggbb"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Color {
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    pub const WHITE: Color = Color::rgb(255, 255, 255);

    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { r, g, b }
    }

    /// `0xRRGGBB` → colour.
    pub const fn hex(v: u32) -> Self {
        Color::rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
    }

    /// Parses `"#rrggbb"` (the `#` is optional).
    pub fn parse(s: &str) -> Option<Self> {
        let h = s.trim().trim_start_matches('#');
        if h.len() != 6 || !h.is_ascii() {
            return None;
        }
        u32::from_str_radix(h, 16).ok().map(Color::hex)
    }

    /// Linear interpolation in sRGB, `t` clamped to [0, 1].
    pub fn lerp(self, other: Color, t: f64) -> Color {
        let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
        let m = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        Color::rgb(m(self.r, other.r), m(self.g, other.g), m(self.b, other.b))
    }

    pub(crate) fn to_plotters(self) -> plotters::style::RGBColor {
        plotters::style::RGBColor(self.r, self.g, self.b)
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

impl From<Color> for String {
    fn from(c: Color) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Color {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Color::parse(&s).ok_or_else(|| format!("invalid colour {s:?}, expected \"#rrggbb\""))
    }
}

/// Okabe–Ito colour-blind-safe palette (without black).
pub const OKABE_ITO: [Color; 7] = [
    Color::hex(0xE69F00), // orange
    Color::hex(0x56B4E9), // sky blue
    Color::hex(0x009E73), // bluish green
    Color::hex(0xF0E442), // yellow
    Color::hex(0x0072B2), // blue
    Color::hex(0xD55E00), // vermillion
    Color::hex(0xCC79A7), // reddish purple
];

/// The `i`-th colour of a qualitative colour-blind-safe cycle (Okabe–Ito,
/// skipping the low-contrast yellow) for series that are not learning rules.
pub fn palette(i: usize) -> Color {
    const CYCLE: [usize; 6] = [4, 5, 2, 0, 1, 6];
    OKABE_ITO[CYCLE[i % CYCLE.len()]]
}

/// Matplotlib's viridis sampled at t = 0, 0.1, …, 1.
const VIRIDIS: [Color; 11] = [
    Color::hex(0x440154),
    Color::hex(0x482475),
    Color::hex(0x414487),
    Color::hex(0x355F8D),
    Color::hex(0x2A788E),
    Color::hex(0x21918C),
    Color::hex(0x22A884),
    Color::hex(0x44BF70),
    Color::hex(0x7AD151),
    Color::hex(0xBDDF26),
    Color::hex(0xFDE725),
];

/// Perceptually ordered viridis colour map, `t` in [0, 1] (clamped; NaN → 0).
pub fn viridis(t: f64) -> Color {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    VIRIDIS[i].lerp(VIRIDIS[i + 1], x - i as f64)
}

/// Colour for a learning rule, stable across figures and runs.
///
/// * `bp` (backprop): black; `fa`: grey `#888888`;
/// * `ifa`: sequential viridis sub-range by initial angle, dark blue at 0°
///   to yellow-green at 90° (angles clamped to 0..90; `None` → 45°);
/// * `dfa`, `sign`, `kp`: Okabe–Ito vermillion, reddish purple, orange;
/// * any other name: a fixed Okabe–Ito colour chosen by a hash of the name.
///
/// Names are matched case-insensitively (`backprop`, `sign-symmetry`,
/// `kolen-pollack` are accepted aliases).
pub fn rule_color(rule: &str, angle_deg: Option<f64>) -> Color {
    match rule.trim().to_ascii_lowercase().as_str() {
        "bp" | "backprop" | "backpropagation" => Color::BLACK,
        "fa" | "feedback-alignment" => Color::hex(0x888888),
        "ifa" | "soft-fa" | "soft-aligned" => {
            let a = angle_deg.filter(|a| a.is_finite()).unwrap_or(45.0);
            viridis(0.15 + 0.7 * (a / 90.0).clamp(0.0, 1.0))
        }
        "dfa" => OKABE_ITO[5],
        "sign" | "sign-symmetry" | "signsym" => OKABE_ITO[6],
        "kp" | "kolen-pollack" => OKABE_ITO[0],
        other => {
            // FNV-1a: stable across platforms and releases (unlike std's hasher).
            let h = other.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
            const SPARE: [Color; 3] = [OKABE_ITO[1], OKABE_ITO[4], OKABE_ITO[2]];
            SPARE[(h % SPARE.len() as u64) as usize]
        }
    }
}

/// Fixed neutral colours of the style.
pub(crate) mod ink {
    use super::Color;
    pub const TEXT: Color = Color::hex(0x1a1a1a);
    pub const AXIS: Color = Color::hex(0x333333);
    pub const GRID: Color = Color::hex(0xe3e3e3);
    pub const MUTED: Color = Color::hex(0x777777);
    pub const MISSING: Color = Color::hex(0xd4d4d4);
    pub const BAND_NOTE: Color = Color::hex(0x666666);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_hex_round_trip() {
        let c = Color::hex(0x12ab9f);
        assert_eq!(c.to_string(), "#12ab9f");
        assert_eq!(Color::parse("#12AB9F"), Some(c));
        assert_eq!(Color::parse("12ab9f"), Some(c));
        assert_eq!(Color::parse("#12ab9"), None);
        assert_eq!(Color::parse("#12ab9g"), None);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"#12ab9f\"");
        assert_eq!(serde_json::from_str::<Color>(&json).unwrap(), c);
    }

    #[test]
    fn viridis_endpoints_and_clamping() {
        assert_eq!(viridis(0.0), Color::hex(0x440154));
        assert_eq!(viridis(1.0), Color::hex(0xFDE725));
        assert_eq!(viridis(2.0), viridis(1.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
    }

    #[test]
    fn ifa_angles_are_ordered_dark_to_light() {
        let lum = |c: Color| 0.2126 * c.r as f64 + 0.7152 * c.g as f64 + 0.0722 * c.b as f64;
        let l: Vec<f64> = [0.0, 30.0, 60.0, 90.0].iter().map(|&a| lum(rule_color("ifa", Some(a)))).collect();
        assert!(l.windows(2).all(|w| w[0] < w[1]), "{l:?}");
        assert_eq!(rule_color("ifa", Some(-5.0)), rule_color("ifa", Some(0.0)));
        assert_eq!(rule_color("ifa", Some(400.0)), rule_color("ifa", Some(90.0)));
    }

    #[test]
    fn unknown_rules_are_stable() {
        assert_eq!(rule_color("weird", None), rule_color("WEIRD", None));
        assert_eq!(rule_color("BP", None), Color::BLACK);
    }
}
