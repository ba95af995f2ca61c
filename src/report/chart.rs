//! Bar charts drawn as SVG by s3logs itself: no chart library, no script.
//! Each bar carries its values (`data-x`, `data-series`, `data-value`) and
//! a `<title>`, which browsers show on hover.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::html::escape;
use super::{Cell, ChartSpec, Panel};

/// At most this many series are drawn; the rest are summed as `other`.
pub const MAX_SERIES: usize = 7;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// Colours of the series, in order, then of `other`.
const COLOURS: [&str; MAX_SERIES + 1] = [
    "#2b8a3e", "#1c7ed6", "#f08c00", "#e03131", "#7048e8", "#0c8599", "#c2255c", "#868e96",
];

/// Status classes keep their colours (2xx green, 3xx blue, 4xx orange,
/// 5xx red) whatever else is in the data.
const STATUS_ORDER: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "none"];

/// The bars of a chart: periods in order and the value of each series.
#[derive(Debug, Default)]
pub struct Bars {
    /// The x values, in the query's order.
    pub periods: Vec<String>,
    /// Series names, in drawing order.
    pub series: Vec<String>,
    /// `values[p][s]`: the value of series `s` in period `p`.
    pub values: Vec<Vec<f64>>,
}

/// Groups a panel's rows into bars.
pub fn bars(panel: &Panel, spec: ChartSpec) -> Bars {
    let (Some(x), Some(v)) = (panel.column(spec.x), panel.column(spec.value)) else {
        return Bars::default();
    };
    let s = spec.series.and_then(|s| panel.column(s));
    let label = |c: &Cell| match c {
        Cell::Text(t) => t.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Null => "NULL".to_string(),
    };
    // Series by total, the status classes in their own order.
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for row in &panel.rows {
        let name = s.map_or_else(|| spec.value.to_string(), |s| label(&row[s]));
        *totals.entry(name).or_default() += row[v].number().unwrap_or(0.0);
    }
    let mut names: Vec<(String, f64)> = totals.into_iter().collect();
    names.sort_by(|a, b| {
        let rank = |n: &str| STATUS_ORDER.iter().position(|s| *s == n);
        match (rank(&a.0), rank(&b.0)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)),
        }
    });
    let mut series: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
    let other = series.len() > MAX_SERIES;
    if other {
        series.truncate(MAX_SERIES);
        series.push("other".to_string());
    }
    let mut out = Bars {
        series,
        ..Bars::default()
    };
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for row in &panel.rows {
        let period = label(&row[x]);
        let p = *index.entry(period.clone()).or_insert_with(|| {
            out.periods.push(period);
            out.values.push(vec![0.0; out.series.len()]);
            out.periods.len() - 1
        });
        let name = s.map_or_else(|| spec.value.to_string(), |s| label(&row[s]));
        let k = out
            .series
            .iter()
            .position(|n| *n == name)
            .unwrap_or(out.series.len() - 1);
        out.values[p][k] += row[v].number().unwrap_or(0.0);
    }
    out
}

/// The chart as an SVG element, values shown by `show`.
pub fn svg(bars: &Bars, title: &str, show: impl Fn(f64) -> String) -> String {
    let mut out = String::new();
    let max = bars
        .values
        .iter()
        .map(|v| v.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    // Grid lines and the y axis labels: 0, half, max.
    for (frac, value) in [(0.0, 0.0), (0.5, max / 2.0), (1.0, max)] {
        let y = TOP + plot_h * (1.0 - frac);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&show(value))
        );
    }
    let n = bars.periods.len().max(1) as f64;
    let step = plot_w / n;
    let width = (step * 0.8).max(0.5);
    for (p, period) in bars.periods.iter().enumerate() {
        let x = LEFT + step * p as f64 + (step - width) / 2.0;
        let mut base = 0.0;
        let _ = write!(out, "<g class=\"bar\" data-x=\"{}\">", escape(period));
        for (k, name) in bars.series.iter().enumerate() {
            let value = bars.values[p][k];
            if value <= 0.0 || max <= 0.0 {
                continue;
            }
            let h = plot_h * value / max;
            let y = TOP + plot_h * (1.0 - (base + value) / max);
            base += value;
            let colour = COLOURS[k.min(COLOURS.len() - 1)];
            let _ = write!(
                out,
                "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{width:.2}\" height=\"{h:.2}\" fill=\"{colour}\" \
                 data-series=\"{}\" data-value=\"{value}\"><title>{} · {}: {}</title></rect>",
                escape(name),
                escape(period),
                escape(name),
                escape(&show(value))
            );
        }
        out.push_str("</g>");
    }
    // The first, middle and last periods under the axis.
    let count = bars.periods.len();
    let mut labelled = vec![0, count / 2, count.saturating_sub(1)];
    labelled.dedup();
    for p in labelled.into_iter().filter(|&p| p < count) {
        let x = LEFT + step * (p as f64 + 0.5);
        let anchor = if p == 0 && count > 1 {
            "start"
        } else if p + 1 == count && count > 1 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            HEIGHT - 8.0,
            escape(&bars.periods[p])
        );
    }
    out.push_str("</svg>");
    // The legend.
    out.push_str("<p class=\"legend\">");
    for (k, name) in bars.series.iter().enumerate() {
        let colour = COLOURS[k.min(COLOURS.len() - 1)];
        let _ = write!(
            out,
            "<span><svg class=\"swatch\" viewBox=\"0 0 10 10\"><rect width=\"10\" height=\"10\" fill=\"{colour}\"/></svg>{}</span>",
            escape(name)
        );
    }
    out.push_str("</p>");
    out
}
