//! Pricing files (`queries/pricing/*.toml`) as the `pricing` table.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use serde::Deserialize;

/// The bundled pricing files: name and text.
pub const BUNDLED: &[(&str, &str)] = &[(
    "us-east-1-standard",
    include_str!("../../queries/pricing/us-east-1-standard.toml"),
)];

#[derive(Deserialize)]
struct Tier {
    up_to_gb: Option<f64>,
    usd: f64,
}

#[derive(Deserialize)]
struct PricingFile {
    plan: String,
    tier1_per_1000: f64,
    tier2_per_1000: f64,
    egress_internet_per_gb: Vec<Tier>,
}

/// Reads a pricing plan: a bundled name, or a path to a TOML file.
pub fn load(name_or_path: &str) -> Result<RecordBatch> {
    let text = match BUNDLED.iter().find(|(n, _)| *n == name_or_path) {
        Some((_, t)) => t.to_string(),
        None => std::fs::read_to_string(name_or_path).with_context(|| {
            let known: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
            format!(
                "pricing {name_or_path:?} is neither a bundled plan ({}) nor a readable file",
                known.join(", ")
            )
        })?,
    };
    let file: PricingFile =
        toml::from_str(&text).with_context(|| format!("reading the pricing {name_or_path}"))?;
    let (mut plan, mut item, mut from, mut to, mut usd) = (vec![], vec![], vec![], vec![], vec![]);
    let mut push = |i: &str, f: f64, t: f64, u: f64| {
        plan.push(file.plan.clone());
        item.push(i.to_string());
        from.push(f);
        to.push(t);
        usd.push(u);
    };
    push("tier1_per_1000", 0.0, f64::INFINITY, file.tier1_per_1000);
    push("tier2_per_1000", 0.0, f64::INFINITY, file.tier2_per_1000);
    let mut lower = 0.0;
    for (i, t) in file.egress_internet_per_gb.iter().enumerate() {
        let upper = t.up_to_gb.unwrap_or(f64::INFINITY);
        if upper <= lower || (t.up_to_gb.is_none() && i + 1 != file.egress_internet_per_gb.len()) {
            bail!(
                "pricing {name_or_path}: egress tiers must rise, and only the last may be open-ended"
            );
        }
        push("egress_internet_per_gb", lower, upper, t.usd);
        lower = upper;
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("plan", DataType::Utf8, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("from_gb", DataType::Float64, false),
        Field::new("to_gb", DataType::Float64, false),
        Field::new("usd", DataType::Float64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(plan)),
            Arc::new(StringArray::from(item)),
            Arc::new(Float64Array::from(from)),
            Arc::new(Float64Array::from(to)),
            Arc::new(Float64Array::from(usd)),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_plan_has_the_published_prices() {
        let b = super::load("us-east-1-standard").expect("load");
        assert_eq!(b.num_rows(), 7);
        let usd = b
            .column(4)
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .expect("f64");
        assert_eq!(usd.value(0), 0.005);
        assert_eq!(usd.value(1), 0.0004);
        assert_eq!(usd.value(2), 0.0, "first 100 GB free");
        assert_eq!(usd.value(3), 0.09);
        assert!(super::load("nope").is_err());
    }
}
