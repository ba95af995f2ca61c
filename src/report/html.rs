//! The report as one HTML page: no network requests of any kind, readable
//! offline, from `file://` and on paper.
//!
//! Every value from the logs (keys, user agents, referers, requesters, error
//! codes) is written by whoever sent the request, so each is escaped for
//! where it goes: [`escape`] for text and attribute values (always quoted);
//! no log value is ever put in a URL, a script or a style. The page's
//! Content-Security-Policy allows only its own stylesheet and script, by
//! their SHA-256, and forbids loading anything: an injected `<script>` or
//! `<img>` would not run or load even if escaping failed.

use std::fmt::Write;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::chart;
use super::{Cell, Panel, Report, SECTIONS};
use crate::output::{human_bytes, printable};
use crate::sql::findings::{FINDINGS, Finding};

/// The longest text shown in a cell; longer values (a 1 MiB user agent)
/// are cut, so the page stays small.
pub const MAX_CELL_CHARS: usize = 300;

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --card: #f6f8fa; --alert: #cf222e; --ok: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; }
h1 { font-size: 22px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 4px; }
nav a { margin-right: 12px; }
a { color: #0969da; }
.sub, .desc, .from, .note, .legend { color: var(--muted); }
.desc { margin: 0 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .label { display: block; color: var(--muted); font-size: 12px; }
.card .value { display: block; font-size: 20px; font-weight: 600; }
ul.findings { padding-left: 0; list-style: none; }
ul.findings li { padding: 6px 10px; border-left: 4px solid var(--line); margin: 4px 0; background: var(--card); }
ul.findings li.alert { border-left-color: var(--alert); }
ul.findings li.ok { border-left-color: var(--ok); }
ul.findings li.off { color: var(--muted); }
.panel { margin: 16px 0 24px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; overflow-wrap: break-word; max-width: 460px; }
th { background: var(--card); cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \25B2"; }
th[aria-sort="descending"]::after { content: " \25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.null { color: var(--muted); }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: var(--card); padding: 8px; overflow-x: auto; white-space: pre-wrap; }
svg.chart { width: 100%; height: auto; max-height: 280px; display: block; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .axis { fill: var(--muted); font-size: 11px; }
svg.chart rect:hover { opacity: 0.7; }
svg.swatch { width: 10px; height: 10px; margin: 0 4px 0 12px; vertical-align: -1px; }
.empty { padding: 8px 10px; background: var(--card); border: 1px dashed var(--line); }
footer { color: var(--muted); padding: 24px 16px 40px; }
@media print {
  nav { display: none; }
  details > *:not(summary) { display: block; }
  .panel { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table');
    var body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var key = function (row) {
      var cell = row.cells[col];
      var v = cell.getAttribute('data-v');
      if (v !== null && v !== '') { return [0, parseFloat(v), '']; }
      if (cell.classList.contains('null')) { return [2, 0, '']; }
      return [1, 0, cell.textContent];
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"#;

/// Text made safe for HTML text and for a quoted attribute value: the five
/// characters that can end either are written as entities, and control
/// characters are shown as escapes (see [`printable`]).
pub fn escape(text: &str) -> String {
    let text = printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `'sha256-…'` of a stylesheet or script, for the policy.
fn source_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's Content-Security-Policy: nothing may load, only the page's
/// own stylesheet and script run.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; base-uri 'none'; form-action 'none'",
        source_hash(STYLE),
        source_hash(SCRIPT)
    )
}

/// Groups of three digits: `1234567` as `1,234,567`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A number shown for its column: bytes and dollars by their names, as the
/// table format of `s3logs query` shows them.
fn show(column: &str, value: f64, whole: bool) -> String {
    let name = column.to_ascii_lowercase();
    if name == "usd" || name.ends_with("_usd") {
        format!("${value:.6}")
    } else if whole
        && (name.ends_with("bytes") || name.ends_with("bytes_sent") || name.ends_with("_size"))
    {
        human_bytes(value)
    } else if name.ends_with("_rate") {
        format!("{:.2}%", value * 100.0)
    } else if whole {
        thousands(value as i64)
    } else {
        format!("{value}")
    }
}

/// Renders the page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(256 << 10);
    let source = &report.options.source;
    let range = match (&report.options.since, &report.options.until) {
        (Some(s), Some(u)) => format!("{s} to {u}"),
        (Some(s), None) => format!("from {s}"),
        (None, Some(u)) => format!("until {u}"),
        (None, None) => "every day".to_string(),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>s3logs report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>S3 access report: {}</h1>\n<p class=\"sub\">Days: {}. Made by <code>s3logs report</code> from the bundled queries; every panel names the query that reruns it.</p>\n<nav><a href=\"#findings\">Findings</a><a href=\"#overview\">Overview</a>",
        content_security_policy(),
        escape(source),
        escape(source),
        escape(&range),
    );
    for (id, title) in SECTIONS {
        let _ = write!(out, "<a href=\"#{id}\">{}</a>", escape(title));
    }
    out.push_str("</nav>\n</header>\n<main>\n");
    findings(&mut out, report);
    overview(&mut out, report);
    for (id, title) in SECTIONS {
        let _ = write!(out, "<section id=\"{id}\">\n<h2>{}</h2>\n", escape(title));
        for panel in report.panels.iter().filter(|p| p.section == *id) {
            panel_html(&mut out, panel);
        }
        out.push_str("</section>\n");
    }
    let _ = write!(
        out,
        "</main>\n<footer>Estimates are estimates: AWS delivers server access logs best effort, \
         and the costs leave out storage and the free tier shared with other services. \
         This page loads nothing from anywhere.</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

fn findings(out: &mut String, report: &Report) {
    out.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    let alerts = report.findings.iter().filter(|f| f.alert).count();
    let _ = writeln!(
        out,
        "<p class=\"sub\">{} of {} checks need attention (the default policy of <code>s3logs audit</code>).</p>",
        alerts,
        report.findings.iter().filter(|f| f.enabled).count()
    );
    out.push_str("<ul class=\"findings\">\n");
    let mut ordered: Vec<&Finding> = report.findings.iter().collect();
    ordered.sort_by_key(|f| (!f.alert, !f.enabled));
    for f in ordered {
        let query = FINDINGS
            .iter()
            .find(|d| d.name == f.name)
            .map_or("", |d| d.query);
        let anchor = Report::anchor(query);
        let value = f.value.unwrap_or(0.0);
        let count = show("", value, value.fract() == 0.0);
        let (class, sentence) = if !f.enabled {
            (
                "off",
                format!(
                    "Not checked: {} (off in the default policy; turn it on in an audit policy).",
                    escape(&f.what)
                ),
            )
        } else if f.alert {
            let since = f
                .since
                .as_deref()
                .map(|s| format!(" since {}", escape(s)))
                .unwrap_or_default();
            (
                "alert",
                format!(
                    "<strong data-finding-value=\"{value}\">{count}</strong> {}{since}, above the threshold of {}.",
                    escape(&f.what),
                    show("", f.threshold, f.threshold.fract() == 0.0)
                ),
            )
        } else if value == 0.0 {
            (
                "ok",
                format!(
                    "No {} <span data-finding-value=\"0\"></span>found.",
                    escape(&f.what)
                ),
            )
        } else {
            (
                "ok",
                format!(
                    "<strong data-finding-value=\"{value}\">{count}</strong> {}, within the threshold of {}.",
                    escape(&f.what),
                    show("", f.threshold, f.threshold.fract() == 0.0)
                ),
            )
        };
        let _ = writeln!(
            out,
            "<li class=\"{class}\" data-finding=\"{}\">{sentence} <a href=\"#{anchor}\">Details</a></li>",
            escape(&f.name)
        );
    }
    out.push_str("</ul>\n</section>\n");
}

fn overview(out: &mut String, report: &Report) {
    out.push_str("<section id=\"overview\">\n<h2>Overview</h2>\n");
    let Some(o) = report.panel("report/overview") else {
        return;
    };
    let get = |name: &str| {
        o.column(name)
            .and_then(|i| o.rows.first().map(|r| r[i].clone()))
            .unwrap_or(Cell::Null)
    };
    let requests = get("requests").number().unwrap_or(0.0);
    if requests == 0.0 {
        out.push_str("<p class=\"empty\" id=\"no-data\">No requests in this range: the lake (or the raw logs) holds no record of these days.</p>\n");
    }
    let rejected = report
        .panel("report/rejects_by_reason")
        .map_or(0.0, |p| p.sum("lines"));
    let cost = report
        .panel("billing/cost_estimate")
        .map_or(0.0, |p| p.sum("total_usd"));
    let mut cards: Vec<(&str, &str, f64, String)> = vec![(
        "requests",
        "Requests",
        requests,
        show("requests", requests, true),
    )];
    let bytes = get("bytes_sent").number().unwrap_or(0.0);
    cards.push((
        "bytes_sent",
        "Bytes sent",
        bytes,
        show("bytes_sent", bytes, true),
    ));
    let rate = get("error_rate").number().unwrap_or(0.0);
    cards.push((
        "error_rate",
        "4xx/5xx responses",
        rate,
        show("error_rate", rate, false),
    ));
    for (key, label) in [("buckets", "Buckets"), ("days", "Days")] {
        let v = get(key).number().unwrap_or(0.0);
        cards.push((key, label, v, show(key, v, true)));
    }
    cards.push((
        "rejected",
        "Rejected lines",
        rejected,
        show("lines", rejected, true),
    ));
    // Cents, unless the whole is less than a dollar (request charges are
    // fractions of a cent).
    let shown_cost = if cost >= 1.0 {
        format!("${cost:.2}")
    } else {
        format!("${cost:.6}")
    };
    cards.push(("cost_usd", "Estimated cost", cost, shown_cost));
    out.push_str("<div class=\"cards\">\n");
    for (key, label, value, shown) in cards {
        let _ = writeln!(
            out,
            "<div class=\"card\" data-card=\"{key}\" data-value=\"{value}\"><span class=\"label\">{label}</span><span class=\"value\">{}</span></div>",
            escape(&shown)
        );
    }
    out.push_str("</div>\n");
    let first = match get("first_request") {
        Cell::Text(t) => t,
        _ => "-".into(),
    };
    let last = match get("last_request") {
        Cell::Text(t) => t,
        _ => "-".into(),
    };
    let _ = writeln!(
        out,
        "<p class=\"from\">First request {}, last {}. From <code>{}</code>, the sum of <code>lines</code> of <a href=\"#{}\">report/rejects_by_reason</a> and of <code>total_usd</code> of <a href=\"#{}\">billing/cost_estimate</a> (grain of the time charts: {}).</p>",
        escape(&first),
        escape(&last),
        escape(&o.command),
        Report::anchor("report/rejects_by_reason"),
        Report::anchor("billing/cost_estimate"),
        report.grain
    );
    out.push_str("</section>\n");
}

fn panel_html(out: &mut String, p: &Panel) {
    let _ = writeln!(
        out,
        "<article class=\"panel\" id=\"{}\" data-query=\"{}\">\n<h3>{}</h3>\n<p class=\"desc\">{}</p>",
        escape(&p.id),
        escape(&p.query),
        escape(&p.title),
        escape(&p.description)
    );
    if let Some(spec) = p.chart {
        let bars = chart::bars(p, spec);
        if !bars.periods.is_empty() {
            let name = spec.value;
            out.push_str(&chart::svg(&bars, &p.title, |v| show(name, v, true)));
        }
    }
    if p.rows.is_empty() {
        out.push_str("<p class=\"empty\">No rows in this range.</p>\n");
    } else {
        let charted = p.chart.is_some();
        if charted {
            out.push_str("<details><summary>The numbers</summary>\n");
        }
        table(out, p);
        if charted {
            out.push_str("</details>\n");
        }
    }
    let _ = writeln!(
        out,
        "<p class=\"from\">From <code>{}</code></p>\n<details><summary>SQL</summary><pre>{}</pre></details>\n</article>",
        escape(&p.command),
        escape(&p.sql)
    );
}

fn table(out: &mut String, p: &Panel) {
    out.push_str("<div class=\"scroll\"><table class=\"sortable\">\n<thead><tr>");
    for c in &p.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in p.rows.iter().take(super::MAX_ROWS) {
        out.push_str("<tr>");
        for (c, cell) in row.iter().enumerate() {
            let column = p.columns.get(c).map_or("", String::as_str);
            match cell {
                Cell::Null => out.push_str("<td class=\"null\">NULL</td>"),
                Cell::Int(i) => {
                    let _ = write!(
                        out,
                        "<td class=\"num\" data-v=\"{i}\">{}</td>",
                        escape(&show(column, *i as f64, true))
                    );
                }
                Cell::Float(f) => {
                    let _ = write!(
                        out,
                        "<td class=\"num\" data-v=\"{f}\">{}</td>",
                        escape(&show(column, *f, false))
                    );
                }
                Cell::Text(t) => {
                    let shown: String = t.chars().take(MAX_CELL_CHARS).collect();
                    let cut = if shown.len() < t.len() { "…" } else { "" };
                    let _ = write!(out, "<td>{}{cut}</td>", escape(&shown));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    if p.total_rows > p.rows.len().min(super::MAX_ROWS) {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {} of {} rows; the command below gives them all.</p>",
            p.rows.len().min(super::MAX_ROWS),
            thousands(p.total_rows as i64)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_ends_text_or_attributes() {
        assert_eq!(
            escape("</script><script>alert(1)</script>"),
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape("\"><img src=x onerror='x'>&"),
            "&quot;&gt;&lt;img src=x onerror=&#39;x&#39;&gt;&amp;"
        );
        assert_eq!(escape("a\u{1b}[31mb"), "a\\u{1b}[31mb");
    }

    #[test]
    fn numbers_read_as_their_columns() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1_000), "-1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(show("bytes_sent", 6_065_979.0, true), "6.07 MB");
        assert_eq!(show("total_usd", 0.5, false), "$0.500000");
        assert_eq!(show("error_rate", 0.125, false), "12.50%");
    }

    #[test]
    fn the_policy_names_the_page_s_own_style_and_script() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none';"));
        assert!(csp.contains(&source_hash(STYLE)) && csp.contains(&source_hash(SCRIPT)));
        assert!(!csp.contains("unsafe"));
    }
}
