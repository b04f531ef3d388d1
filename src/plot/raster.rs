//! SVG → PNG: the PNG is rasterised from the very SVG string that is written
//! to disk, with resvg and the bundled fonts only, and tagged as 300 dpi.

use super::fonts::usvg_options;
use super::style::PNG_DPI;
use resvg::{tiny_skia, usvg};

/// Rasterises `svg` to an opaque (white-background) RGB PNG exactly
/// `width_px` pixels wide; the height follows the SVG aspect ratio.
/// The PNG carries a pHYs chunk declaring [`PNG_DPI`].
pub fn svg_to_png(svg: &str, width_px: u32) -> Result<Vec<u8>, String> {
    let tree = usvg::Tree::from_str(svg, &usvg_options()).map_err(|e| format!("SVG parse: {e}"))?;
    let size = tree.size();
    let scale = width_px as f32 / size.width();
    let height_px = (size.height() * scale).round().max(1.0) as u32;
    let mut pixmap = tiny_skia::Pixmap::new(width_px.max(1), height_px)
        .ok_or_else(|| format!("cannot allocate a {width_px}×{height_px} pixmap"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    encode_rgb_png(&pixmap)
}

fn encode_rgb_png(pixmap: &tiny_skia::Pixmap) -> Result<Vec<u8>, String> {
    // Background is opaque white, so premultiplied == straight RGB.
    let rgb: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue()]
        })
        .collect();
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let ppm = (PNG_DPI / 0.0254).round() as u32;
        enc.set_pixel_dims(Some(png::PixelDimensions { xppu: ppm, yppu: ppm, unit: png::Unit::Meter }));
        let mut w = enc.write_header().map_err(|e| format!("PNG header: {e}"))?;
        w.write_image_data(&rgb).map_err(|e| format!("PNG data: {e}"))?;
        w.finish().map_err(|e| format!("PNG finish: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rasterises_text_with_bundled_font() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="1in" height="0.5in" viewBox="0 0 1200 600"><text x="100" y="400" font-family="DejaVu Sans" font-size="300">Ag 10⁴</text></svg>"#;
        let png = svg_to_png(svg, 300).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = dec.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (300, 150));
        let dims = info.pixel_dims.unwrap();
        assert_eq!(dims.xppu, 11811);
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        let dark = buf.chunks(3).filter(|p| p[0] < 128).count();
        assert!(dark > 100, "text should produce dark pixels, got {dark}");
    }
}
