//! End-to-end tests of the figure system: render → files → parse/decode,
//! odd data, colours, and the report index.

use diag::plot::{self, rule_color, Axis, Band, Color, Figure, Layer, Panel, Scale, Width, CSV_HEADER};
use diag::report;
use resvg::usvg;
use std::path::Path;

fn steps() -> Vec<f64> {
    (0..=20).map(|i| 10f64.powf(i as f64 / 5.0)).collect()
}

/// Three panels: lines with bands on log x (with a NaN gap and a
/// non-positive x), a log-colour heat map, and a histogram + scatter.
fn three_panel_figure() -> Figure {
    let xs = {
        let mut v = steps();
        v[0] = 0.0; // dropped on the log axis
        v
    };
    let mut a = Panel::new("alignment").x(Axis::log("training step")).y(Axis::linear("angle (deg)"));
    for (rule, ang) in [("bp", None), ("fa", None), ("ifa", Some(30.0))] {
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| if i == 7 { f64::NAN } else { 60.0 / (1.0 + x / 100.0) + ang.unwrap_or(0.0) })
            .collect();
        let band =
            Band::new(ys.iter().map(|y| y - 3.0).collect(), ys.iter().map(|y| y + 3.0).collect(), "±1 sd over 3 seeds");
        let label = match ang {
            Some(a) => format!("{rule} {a}°"),
            None => rule.to_string(),
        };
        a = a.layer(Layer::line(label, rule_color(rule, ang), xs.clone(), ys).with_band(band));
    }
    a = a.layer(Layer::marker(300.0, f64::NAN, "diverged", Color::hex(0xd62728)));

    let rows: Vec<f64> = vec![0.0, 30.0, 60.0, 90.0];
    let cols: Vec<f64> = vec![1e-4, 1e-3, 1e-2, 1e-1];
    let values: Vec<Vec<f64>> = rows.iter().map(|r| cols.iter().map(|c| (r + 1.0) * c * 100.0).collect()).collect();
    let b = Panel::new("sweep")
        .x(Axis::log("learning rate"))
        .y(Axis::linear("initial angle (deg)"))
        .layer(Layer::heat_map(rows, cols, values).log_color().labelled("final loss"));

    let edges: Vec<f64> = (0..=10).map(|i| i as f64 * 9.0).collect();
    let counts: Vec<f64> = vec![1.0, 4.0, 9.0, 15.0, 20.0, 14.0, 8.0, 3.0, 1.0, 0.0];
    let c = Panel::new("distribution")
        .x(Axis::linear("angle (deg)"))
        .y(Axis::linear("count"))
        .layer(Layer::histogram("fa", rule_color("fa", None), edges, counts))
        .layer(Layer::scatter("eig", plot::palette(0), vec![10.0, 40.0, 70.0], vec![5.0, 12.0, 3.0]));

    Figure::new("three_panels")
        .caption("A test figure with three panels.")
        .command("diag figure test --seed 1")
        .columns(2)
        .panel(a)
        .panel(b)
        .panel(c)
}

fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()].chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width, info.height, px)
}

fn assert_png_has_content(path: &Path, width: u32) {
    let (w, h, px) = decode_png(path);
    assert_eq!(w, width);
    assert!(h > 100);
    let non_white = px.iter().filter(|p| **p != [255, 255, 255]).count();
    let frac = non_white as f64 / px.len() as f64;
    assert!(frac > 0.02, "only {:.3}% non-white pixels", 100.0 * frac);
    let distinct: std::collections::HashSet<[u8; 3]> = px.iter().copied().collect();
    assert!(distinct.len() > 10, "only {} distinct colours", distinct.len());
}

fn svg_parses(path: &Path) {
    let svg = std::fs::read_to_string(path).unwrap();
    let tree = usvg::Tree::from_str(&svg, &usvg::Options::default()).expect("SVG parses");
    // physical size: 3.5 in at usvg's 96 dpi
    assert!((tree.size().width() - 336.0).abs() < 0.5 || (tree.size().width() - 672.0).abs() < 0.5);
}

#[test]
fn renders_three_panel_figure() {
    let dir = tempfile::tempdir().unwrap();
    let fig = three_panel_figure();
    let w = plot::render(&fig, dir.path()).unwrap();
    for p in [&w.svg, &w.png, &w.json, &w.csv] {
        assert!(p.is_file(), "{} missing", p.display());
    }
    assert_eq!(w.png, dir.path().join("three_panels.png"));
    // no temporaries left behind
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n, 4);

    svg_parses(&w.svg);
    let svg = std::fs::read_to_string(&w.svg).unwrap();
    assert!(svg.contains("DejaVu Sans"));
    for text in ["training step", "learning rate", "final loss", "10⁻⁴", "10⁻¹", "10²"] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(svg.contains("font-weight=\"bold\">\na\n</text>"), "bold panel letter a");
    assert_png_has_content(&w.png, 1050);

    // JSON round-trips and carries the marker
    let json = std::fs::read_to_string(&w.json).unwrap();
    assert!(json.starts_with("{\"diag_figure\":1,"));
    let back = Figure::from_json(&json).unwrap();
    // NaN != NaN, so compare the NaN-free parts and check the NaNs separately
    assert_eq!(back.panels[1], fig.panels[1]);
    assert_eq!(back.panels[2], fig.panels[2]);
    assert_eq!((back.name.as_str(), back.caption.as_str()), (fig.name.as_str(), fig.caption.as_str()));
    assert_eq!(back.to_json(), fig.to_json());

    // CSV: header + one row per data point
    let csv = std::fs::read_to_string(&w.csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), CSV_HEADER.join(","));
    let expected_rows = 3 * steps().len() + 1 + 16 + 10 + 3;
    assert_eq!(csv.lines().count() - 1, expected_rows);
    assert!(csv.contains("a,0,line,bp,0,,"));
    assert!(csv.contains("b,0,heatmap,final loss,0.0001,,0,"));
    assert!(csv.contains("c,0,histogram,fa,0,9,1,,,"));
}

#[test]
fn json_round_trip_is_exact_for_finite_data() {
    let fig =
        Figure::new("rt").caption("c").command("cmd").width(Width::DoubleColumn).columns(3).panel_height(1.7).panel(
            Panel::new("t")
                .x(Axis::log("x").range(1e-3, 1e3))
                .y(Axis::linear("y"))
                .grid(false)
                .layer(
                    Layer::line("l", Color::hex(0x123456), vec![0.1, 0.2], vec![1.0 / 3.0, 2.0])
                        .with_band(Band::new(vec![0.0, 1.0], vec![1.0, 3.0], "range"))
                        .dashed()
                        .with_markers(),
                )
                .layer(Layer::hline(1.0, Color::BLACK).labelled("ref"))
                .layer(Layer::vline(2.0, Color::BLACK).solid())
                .layer(Layer::histogram("h", Color::BLACK, vec![0.0, 1.0], vec![2.0]).as_density())
                .layer(Layer::heat_map(vec![1.0], vec![1.0], vec![vec![5.0]]).color_range(0.0, 10.0))
                .layer(Layer::scatter("s", Color::WHITE, vec![1.0], vec![2.0]).sized(3.0))
                .layer(Layer::marker(1.0, 2.0, "m", Color::BLACK)),
        );
    let back = Figure::from_json(&fig.to_json()).unwrap();
    assert_eq!(back, fig);
}

#[test]
fn odd_data_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let fig = Figure::new("odd")
        .columns(0) // clamped to 1
        .panel_height(f64::NAN)
        .panel(Panel::new("empty"))
        .panel(
            Panel::new("all NaN")
                .x(Axis::log("x"))
                .y(Axis::log("y"))
                .layer(Layer::line("nan", Color::BLACK, vec![nan; 5], vec![nan; 5]))
                .layer(Layer::line("neg", Color::BLACK, vec![-1.0, 0.0, 1.0], vec![-5.0, 0.0, -1.0]))
                .layer(Layer::scatter("s", Color::BLACK, vec![], vec![]))
                .layer(Layer::histogram("h", Color::BLACK, vec![], vec![]))
                .layer(Layer::heat_map(vec![], vec![], vec![]))
                .layer(Layer::heat_map(vec![1.0], vec![1.0, 2.0], vec![vec![0.0, -1.0, 3.0], vec![2.0]]).log_color()),
        )
        .panel(
            Panel::new("mismatched and extreme")
                .x(Axis::linear("x").range(5.0, 5.0))
                .y(Axis::linear("y").range(nan, inf))
                .layer(Layer::line("short", Color::BLACK, vec![1.0, 2.0, 3.0], vec![1.0, inf]).with_band(Band::new(
                    vec![0.0],
                    vec![],
                    "broken band",
                )))
                .layer(Layer::line("huge", Color::BLACK, vec![0.0, 1.0], vec![1e300, -1e300]))
                .layer(Layer::line("single", Color::BLACK, vec![1.0], vec![1.0]).with_markers())
                .layer(Layer::histogram("bad", Color::BLACK, vec![1.0], vec![1.0, 2.0, nan]).as_density())
                .layer(Layer::hline(nan, Color::BLACK))
                .layer(Layer::vline(inf, Color::BLACK))
                .layer(Layer::marker(nan, nan, "m", Color::BLACK))
                .layer(Layer::scatter("s", Color::BLACK, vec![nan, 1.0], vec![1.0, nan]).sized(-2.0)),
        )
        .panel(Panel::new("constant").x(Axis::log("x")).y(Axis::linear("y")).layer(Layer::line(
            "c",
            Color::BLACK,
            vec![10.0, 10.0],
            vec![0.0, 0.0],
        )));
    let w = plot::render(&fig, dir.path()).unwrap();
    svg_parses(&w.svg);
    let (width, _, _) = decode_png(&w.png);
    assert_eq!(width, 1050);
    let back = Figure::from_json(&std::fs::read_to_string(&w.json).unwrap()).unwrap();
    assert_eq!(back.panels.len(), 4);

    // no panels at all
    let w = plot::render(&Figure::new(""), dir.path()).unwrap();
    assert_eq!(w.svg.file_name().unwrap(), "figure.svg");
    svg_parses(&w.svg);
}

#[test]
fn double_column_png_is_2100_px() {
    let dir = tempfile::tempdir().unwrap();
    let mut fig = three_panel_figure().width(Width::DoubleColumn).columns(3);
    fig.name = "wide".into();
    let w = plot::render(&fig, dir.path()).unwrap();
    assert_png_has_content(&w.png, 2100);
}

#[test]
fn rule_colours_are_stable_and_distinct() {
    assert_eq!(rule_color("bp", None), rule_color("bp", Some(10.0)));
    assert_eq!(rule_color("ifa", Some(30.0)), rule_color("ifa", Some(30.0)));
    let set = [
        rule_color("bp", None),
        rule_color("fa", None),
        rule_color("ifa", Some(0.0)),
        rule_color("ifa", Some(30.0)),
        rule_color("ifa", Some(60.0)),
        rule_color("ifa", Some(90.0)),
        rule_color("dfa", None),
        rule_color("sign", None),
        rule_color("kp", None),
    ];
    for i in 0..set.len() {
        for j in i + 1..set.len() {
            assert_ne!(set[i], set[j], "colours {i} and {j} coincide");
        }
    }
    assert_eq!(rule_color("bp", None), Color::BLACK);
    assert_eq!(rule_color("fa", None).to_string(), "#888888");
}

#[test]
fn scale_serialises_snake_case() {
    assert_eq!(serde_json::to_string(&Scale::Log10).unwrap(), "\"log10\"");
    assert_eq!(serde_json::to_string(&Width::DoubleColumn).unwrap(), "\"double_column\"");
}

#[test]
fn index_links_only_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fig1 = three_panel_figure();
    let fig2 = Figure::new("second & <last>")
        .caption("Caption with <markup> & ampersand")
        .command("diag figure second --x 'a b'")
        .panel(Panel::new("").layer(Layer::line("bp", Color::BLACK, vec![1.0, 2.0], vec![1.0, 2.0])));
    plot::render(&fig1, root).unwrap();
    let w2 = plot::render(&fig2, &root.join("sub")).unwrap();
    // deeper than two levels: not indexed
    plot::render(&Figure::new("too_deep").caption("deep caption"), &root.join("a/b/c")).unwrap();
    // a non-figure JSON and a broken one are ignored
    report::write_json_atomic(&root.join("results.json"), &serde_json::json!({"acc": 0.9})).unwrap();
    std::fs::write(root.join("broken.json"), "{\"diag_figure\": 1, ").unwrap();

    std::fs::remove_file(&w2.png).unwrap();
    let index = report::write_index(root, "Report <test>").unwrap();
    assert_eq!(index, root.join("index.html"));
    let html = std::fs::read_to_string(&index).unwrap();

    assert!(html.contains("<title>Report &lt;test&gt;</title>"));
    assert!(html.contains("A test figure with three panels."));
    assert!(html.contains("Caption with &lt;markup&gt; &amp; ampersand"));
    assert!(html.contains("<code>diag figure test --seed 1</code>"));
    assert!(!html.contains("deep caption"));
    assert!(!html.contains("results.json") && !html.contains("broken.json"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));

    // every href/src points to an existing file
    let mut links = 0;
    for attr in ["href=\"", "src=\""] {
        for part in html.split(attr).skip(1) {
            let target = part.split('"').next().unwrap();
            let decoded = percent_decode(&target.replace("&amp;", "&"));
            assert!(root.join(&decoded).is_file(), "link to missing file {decoded}");
            links += 1;
        }
    }
    assert!(links >= 8, "{links} links");
    // the deleted PNG is not linked but reported missing; its SVG still shown
    // (the file stem of "second & <last>" is sanitised to "second & _last_")
    assert!(!html.contains("_last_.png\""));
    assert!(html.contains("missing: second &amp; _last_.png"));
    assert!(html.contains("<img src=\"sub/second%20%26%20_last_.svg\""));
    assert!(html.contains("<img src=\"three_panels.png\""));
    // root-level figures come before sub-folder groups
    assert!(html.find("three_panels.png").unwrap() < html.find("<h2>sub</h2>").unwrap());
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
