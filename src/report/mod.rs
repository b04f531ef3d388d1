//! Writing results: atomic file helpers shared by all modules, a CSV line
//! helper, and the HTML index of a report folder.
//!
//! [`write_index`] finds figure JSON files (recognised by the marker field
//! `"diag_figure"` that [`crate::plot::render`] writes) up to two folder
//! levels below the report folder and writes a self-contained
//! `index.html` (inline CSS, no scripts, no external resources) that shows
//! each figure's PNG (linked to its SVG), caption, producing command and
//! links to its JSON/CSV data, linking only files that exist.

pub mod align;
pub mod series;
pub mod spectrum;
pub mod sweep;

use serde::Serialize;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Name of the marker field identifying figure JSON files.
pub const FIGURE_MARKER: &str = "diag_figure";

/// Errors from writing results; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialise JSON for {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot read report folder {path}: {source}")]
    Scan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` atomically: a uniquely named temporary file in
/// the same folder (created if needed) is written, synced and renamed over
/// `path`, so readers never see a partial file.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io)?;
    }
    crate::io::write_atomic(path, bytes).map_err(io)
}

/// [`write_bytes_atomic`] for text.
pub fn write_text_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    write_bytes_atomic(path, text.as_bytes())
}

/// Pretty-printed JSON of `value`, written atomically (with trailing newline).
/// Note: serde_json writes non-finite floats as `null`.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), ReportError> {
    let mut s =
        serde_json::to_string_pretty(value).map_err(|source| ReportError::Json { path: path.to_path_buf(), source })?;
    s.push('\n');
    write_text_atomic(path, &s)
}

/// One CSV record (RFC 4180 quoting where needed) terminated by `\n`.
pub fn csv_line<I, S>(fields: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut line = String::new();
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let f = f.as_ref();
        if f.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(f);
        }
    }
    line.push('\n');
    line
}

/// Writes a CSV table (header + rows) atomically.
pub fn write_csv_atomic<H, R, S>(path: &Path, header: H, rows: R) -> Result<(), ReportError>
where
    H: IntoIterator<Item = S>,
    R: IntoIterator,
    R::Item: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = csv_line(header);
    for r in rows {
        out.push_str(&csv_line(r));
    }
    write_text_atomic(path, &out)
}

/// A figure found in a report folder.
#[derive(Debug, Clone)]
struct FoundFigure {
    /// Path of the JSON relative to the report folder.
    rel_json: PathBuf,
    name: String,
    caption: String,
    command: String,
    inches: f64,
}

/// Scans `dir` (and sub-folders, two levels deep) for figure JSON files and
/// writes `dir/index.html` atomically. Returns the path of the index.
///
/// Figures are grouped by sub-folder and sorted by path. For each one the
/// PNG is shown (or the SVG when the PNG is missing) and linked to the SVG;
/// JSON and CSV are linked when present; missing outputs are listed as
/// missing, never linked.
pub fn write_index(dir: &Path, title: &str) -> Result<PathBuf, ReportError> {
    let mut figures = Vec::new();
    scan(dir, Path::new(""), 0, &mut figures)?;
    // root-level figures first, then one group per sub-folder
    figures.sort_by(|a, b| (a.rel_json.parent(), &a.rel_json).cmp(&(b.rel_json.parent(), &b.rel_json)));
    let html = index_html(dir, title, &figures);
    let path = dir.join("index.html");
    write_text_atomic(&path, &html)?;
    Ok(path)
}

const MAX_DEPTH: usize = 2;

fn scan(root: &Path, rel: &Path, depth: usize, out: &mut Vec<FoundFigure>) -> Result<(), ReportError> {
    let here = root.join(rel);
    let entries = match fs::read_dir(&here) {
        Ok(e) => e,
        // unreadable sub-folders are skipped; an unreadable root is an error
        Err(source) if depth == 0 => return Err(ReportError::Scan { path: here, source }),
        Err(_) => return Ok(()),
    };
    let mut names: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let is_dir = e.file_type().ok()?.is_dir();
            (!name.starts_with('.')).then_some((name, is_dir))
        })
        .collect();
    names.sort();
    for (name, is_dir) in names {
        let rel_path = rel.join(&name);
        if is_dir {
            if depth < MAX_DEPTH {
                scan(root, &rel_path, depth + 1, out)?;
            }
        } else if name.ends_with(".json") {
            if let Some(f) = read_figure(&root.join(&rel_path), rel_path) {
                out.push(f);
            }
        }
    }
    Ok(())
}

fn read_figure(path: &Path, rel_json: PathBuf) -> Option<FoundFigure> {
    // Figure files can be large; check the marker cheaply before parsing.
    let text = fs::read_to_string(path).ok()?;
    if !text.contains(FIGURE_MARKER) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get(FIGURE_MARKER)?.as_u64()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let inches = match v.get("width").and_then(|w| w.as_str()) {
        Some("double_column") => 7.0,
        _ => 3.5,
    };
    Some(FoundFigure { name: s("name"), caption: s("caption"), command: s("command"), inches, rel_json })
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Relative URL of a path relative to the report folder (percent-encoded).
fn href(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect()
        })
        .collect();
    html_escape(&parts.join("/"))
}

/// Markdown tables at the top of the report folder (`*.md`), shown as text and linked
/// with the CSV of the same name when it exists.
fn tables_html(dir: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".md") && !n.starts_with('.'))
        .collect();
    names.sort();
    let mut h = String::new();
    for name in names {
        let Ok(text) = fs::read_to_string(dir.join(&name)) else { continue };
        let csv = name.trim_end_matches(".md").to_string() + ".csv";
        let _ = write!(
            h,
            "<h2>{}</h2>\n<pre>{}</pre>\n<p class=\"files\"><a href=\"{}\">Markdown</a>",
            html_escape(&name),
            html_escape(&text),
            href(Path::new(&name))
        );
        if dir.join(&csv).is_file() {
            let _ = write!(h, "<a href=\"{}\">CSV</a>", href(Path::new(&csv)));
        }
        h.push_str("</p>\n");
    }
    h
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;padding:0 1.2em;color:#1a1a1a;line-height:1.45;background:#fff}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em;color:#333}\
.meta{color:#666;font-size:.9em}\
figure{margin:1.6em 0;padding:1em 1em .6em;border:1px solid #e4e4e4;border-radius:6px;background:#fcfcfc}\
figure img{display:block;max-width:100%;height:auto;background:#fff;border:1px solid #eee}\
figcaption{margin-top:.6em}.name{font-weight:600}\
pre{background:#f3f3f3;padding:.45em .7em;border-radius:4px;overflow-x:auto;margin:.5em 0;font-size:.85em}\
.files a,.files span{margin-right:1em;font-size:.9em}.missing{color:#b00}\
a{color:#0b5fa5}";

fn index_html(dir: &Path, title: &str, figures: &[FoundFigure]) -> String {
    let mut h = String::new();
    let t = html_escape(title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n\
         <p class=\"meta\">{} figure{}. Each image links to its vector (SVG) version; \
         the JSON holds the full figure data, the CSV the same data as a tidy table.</p>\n",
        figures.len(),
        if figures.len() == 1 { "" } else { "s" }
    );
    if figures.is_empty() {
        h.push_str("<p>No figures found.</p>\n");
    }
    h.push_str(&tables_html(dir));
    let mut group: Option<PathBuf> = None;
    for f in figures {
        let folder = f.rel_json.parent().map(Path::to_path_buf).unwrap_or_default();
        if group.as_ref() != Some(&folder) {
            if !folder.as_os_str().is_empty() {
                let _ = writeln!(h, "<h2>{}</h2>", html_escape(&folder.to_string_lossy()));
            }
            group = Some(folder);
        }
        h.push_str(&figure_html(dir, f));
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn figure_html(dir: &Path, f: &FoundFigure) -> String {
    let sibling = |ext: &str| {
        let rel = f.rel_json.with_extension(ext);
        dir.join(&rel).is_file().then_some(rel)
    };
    let (svg, png, csv) = (sibling("svg"), sibling("png"), sibling("csv"));
    let stem = f.rel_json.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let alt = html_escape(if f.caption.is_empty() { &f.name } else { &f.caption });
    let width_px = (f.inches * 150.0).round();
    let mut h = String::from("<figure>\n");
    match png.as_ref().or(svg.as_ref()) {
        Some(img) => {
            let tag = format!("<img src=\"{}\" alt=\"{alt}\" width=\"{width_px}\" loading=\"lazy\">", href(img));
            match &svg {
                Some(s) => {
                    let _ = writeln!(h, "<a href=\"{}\">{tag}</a>", href(s));
                }
                None => {
                    let _ = writeln!(h, "{tag}");
                }
            }
        }
        None => h.push_str("<p class=\"missing\">(image missing)</p>\n"),
    }
    let name = if f.name.is_empty() { &stem } else { &f.name };
    let _ = write!(h, "<figcaption><span class=\"name\">{}</span>", html_escape(name));
    if !f.caption.is_empty() {
        let _ = write!(h, ": {}", html_escape(&f.caption));
    }
    h.push_str("</figcaption>\n");
    if !f.command.is_empty() {
        let _ = writeln!(h, "<pre><code>{}</code></pre>", html_escape(&f.command));
    }
    h.push_str("<div class=\"files\">");
    let _ = write!(h, "<a href=\"{}\">data (JSON)</a>", href(&f.rel_json));
    let mut missing = Vec::new();
    match &csv {
        Some(c) => {
            let _ = write!(h, "<a href=\"{}\">table (CSV)</a>", href(c));
        }
        None => missing.push("csv"),
    }
    match &svg {
        Some(s) => {
            let _ = write!(h, "<a href=\"{}\">vector (SVG)</a>", href(s));
        }
        None => missing.push("svg"),
    }
    match &png {
        Some(p) => {
            let _ = write!(h, "<a href=\"{}\">image (PNG)</a>", href(p));
        }
        None => missing.push("png"),
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|e| format!("{}.{e}", html_escape(&stem))).collect();
        let _ = write!(h, "<span class=\"missing\">missing: {}</span>", list.join(", "));
    }
    h.push_str("</div>\n</figure>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_line(["a", "b,c", "d\"e", ""]), "a,\"b,c\",\"d\"\"e\",\n");
    }

    #[test]
    fn atomic_writes_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.json");
        write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
        write_text_atomic(&p, "{}\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{}\n");
        let n = fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(n, 1);
        write_csv_atomic(&dir.path().join("t.csv"), ["a", "b"], [["1", "2"]]).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("t.csv")).unwrap(), "a,b\n1,2\n");
    }

    #[test]
    fn write_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").unwrap();
        let err = write_text_atomic(&blocker.join("inner.txt"), "y").unwrap_err();
        assert!(err.to_string().contains("inner.txt"), "{err}");
    }

    #[test]
    fn hrefs_are_encoded() {
        assert_eq!(href(Path::new("a b/c&d.png")), "a%20b/c%26d.png");
    }
}
