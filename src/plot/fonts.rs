//! The bundled DejaVu fonts: one font database shared by the rasteriser and
//! the text measurer, so layout decisions use exactly the glyph metrics that
//! end up in the PNG. No system font is ever consulted.

use super::style::BUNDLED_FAMILY;
use resvg::usvg::{self, fontdb};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

static REGULAR: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/DejaVuSans.ttf"));
static BOLD: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/DejaVuSans-Bold.ttf"));

/// Font database containing only DejaVu Sans (regular and bold), which is
/// also the generic `sans-serif` family.
pub(crate) fn font_db() -> Arc<fontdb::Database> {
    static DB: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_font_source(fontdb::Source::Binary(Arc::new(REGULAR)));
        db.load_font_source(fontdb::Source::Binary(Arc::new(BOLD)));
        db.set_sans_serif_family(BUNDLED_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// usvg options that resolve every font to the bundled database.
pub(crate) fn usvg_options() -> usvg::Options<'static> {
    usvg::Options { font_family: BUNDLED_FAMILY.to_string(), fontdb: font_db(), ..usvg::Options::default() }
}

/// Measures rendered text widths with the same engine that rasterises the
/// figure (ink extents, cached per string).
pub(crate) struct Measurer {
    opt: usvg::Options<'static>,
    cache: RefCell<HashMap<(String, bool), f64>>,
}

/// Font size at which strings are measured; widths scale linearly.
const REF_SIZE: f64 = 1000.0;

impl Measurer {
    pub(crate) fn new() -> Self {
        Measurer { opt: usvg_options(), cache: RefCell::new(HashMap::new()) }
    }

    /// Width of `text` set at `size` (any length unit; result in the same).
    pub(crate) fn width(&self, text: &str, size: f64, bold: bool) -> f64 {
        if text.trim().is_empty() || !size.is_finite() || size <= 0.0 {
            return 0.0;
        }
        let key = (text.to_string(), bold);
        if let Some(w) = self.cache.borrow().get(&key) {
            return w * size / REF_SIZE;
        }
        let w = self.measure_ref(text, bold).unwrap_or_else(|| 0.62 * REF_SIZE * text.chars().count() as f64);
        self.cache.borrow_mut().insert(key, w);
        w * size / REF_SIZE
    }

    fn measure_ref(&self, text: &str, bold: bool) -> Option<f64> {
        let svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="3000"><text x="100" y="2000" font-family="{BUNDLED_FAMILY}" font-size="{REF_SIZE}"{weight}>{t}</text></svg>"#,
            w = 200.0 + REF_SIZE * text.chars().count() as f64 * 1.5,
            weight = if bold { r#" font-weight="bold""# } else { "" },
            t = xml_escape(text),
        );
        let tree = usvg::Tree::from_str(&svg, &self.opt).ok()?;
        let w = tree.root().abs_bounding_box().width() as f64;
        (w.is_finite() && w > 0.0).then_some(w)
    }
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_has_only_the_bundled_faces() {
        let db = font_db();
        assert_eq!(db.len(), 2);
        assert!(db.faces().all(|f| f.families.iter().any(|(n, _)| n == "DejaVu Sans")));
    }

    #[test]
    fn measured_widths_are_plausible() {
        let m = Measurer::new();
        let one = m.width("1", 100.0, false);
        let many = m.width("11111", 100.0, false);
        assert!(one > 20.0 && one < 70.0, "{one}");
        assert!(many > 4.0 * one, "{one} {many}");
        assert!(m.width("Wide", 100.0, true) > m.width("Wide", 100.0, false));
        assert_eq!(m.width("  ", 100.0, false), 0.0);
        // superscripts and typographic symbols are covered by DejaVu
        assert!(m.width("10⁻³ ±°−×", 100.0, false) > 0.0);
    }
}
