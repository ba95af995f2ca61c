//! Who is behind a request: SQL functions over `remote_ip` and
//! `user_agent`, from offline data only (nothing is fetched at run time).
//!
//! | function | returns |
//! |---|---|
//! | `ip_class(ip)` | `private`, `loopback`, `link_local`, `shared`, `documentation`, `multicast`, `reserved`, `public`, `invalid` |
//! | `ip_cloud_provider(ip)`, `ip_cloud_service(ip)`, `ip_cloud_region(ip)` | from `--ip-ranges` files (AWS, Google, Azure, Cloudflare) |
//! | `ip_country(ip)`, `ip_asn(ip)`, `ip_as_name(ip)` | from `make geo-data`'s databases or `--geoip` `.mmdb` files |
//! | `ua_family(ua)`, `ua_version(ua)`, `ua_is_bot(ua)` | the client of a user agent |
//! | `ip_ranges_loaded()` | whether `--ip-ranges` gave any range (billing queries say their basis with it) |
//!
//! Every function is NULL for a NULL argument and for a value it cannot
//! read (country and network also for addresses that are not public) (a masked address is `invalid` for `ip_class` and NULL elsewhere),
//! never an error. Results are cached per distinct value, so a function
//! costs per distinct address or user agent, not per row. Data files are
//! read on first use, once per process.

pub mod geo;
pub mod ip;
pub mod ranges;
pub mod ua;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringViewArray, TimestampMicrosecondArray,
    UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Where the enrichment data comes from.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Cloud IP range files (`--ip-ranges`, `S3LOGS_IP_RANGES`).
    pub ip_ranges: Vec<PathBuf>,
    /// MaxMind DB files (`--geoip`, `S3LOGS_GEOIP`).
    pub geoip: Vec<PathBuf>,
    /// The folder of `make geo-data` (default [`geo::default_dir`]).
    pub geo_dir: Option<PathBuf>,
}

impl Options {
    /// What the functions would read, as text that changes when the data
    /// does: each file's path, size and modification time (the range
    /// files, the `.mmdb` files, and what the data folder holds). The
    /// daily views key their days on it ([`crate::sql::views`]).
    pub fn fingerprint(&self) -> String {
        let mut files: Vec<PathBuf> = self.ip_ranges.iter().chain(&self.geoip).cloned().collect();
        if let Some(dir) = self.geo_dir.clone().or_else(geo::default_dir)
            && let Ok(entries) = std::fs::read_dir(&dir)
        {
            let mut inside: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            inside.sort();
            files.extend(inside);
        }
        let mut out = String::new();
        for f in files {
            let (size, modified) = match std::fs::metadata(&f) {
                Ok(m) => (
                    m.len(),
                    m.modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos()),
                ),
                Err(_) => (0, 0),
            };
            out.push_str(&format!("{} {size} {modified}; ", f.display()));
        }
        out
    }
}

/// The functions, with one line each, for `s3logs queries`.
pub const FUNCTIONS: &[(&str, &str)] = &[
    (
        "ip_class(ip)",
        "private, loopback, link_local, shared, documentation, multicast, reserved, public or invalid",
    ),
    (
        "ip_cloud_provider(ip)",
        "aws, google, azure or cloudflare, from --ip-ranges files (NULL outside them)",
    ),
    (
        "ip_cloud_service(ip)",
        "the range's service (S3, EC2, CLOUDFRONT, …); the longest prefix wins",
    ),
    ("ip_cloud_region(ip)", "the range's region (us-east-1, …)"),
    (
        "ip_country(ip)",
        "ISO country code, from make geo-data or --geoip FILE.mmdb",
    ),
    ("ip_asn(ip)", "autonomous system number"),
    ("ip_as_name(ip)", "autonomous system organisation"),
    (
        "ua_family(user_agent)",
        "aws-cli, Boto3, aws-sdk-java, S3Console, curl, Chrome, … (NULL if unknown)",
    ),
    (
        "ua_version(user_agent)",
        "the client's version (2.15.17 of aws-cli/2.15.17)",
    ),
    ("ua_is_bot(user_agent)", "whether it is a bot or crawler"),
    (
        "endpoint_region(host_header)",
        "the region of an S3 endpoint (eu-west-1 of b.s3.eu-west-1.amazonaws.com; NULL for the global one)",
    ),
    (
        "delivery_time(source_file)",
        "when AWS delivered the log object, from its name (NULL when the name has no delivery time)",
    ),
    ("ip_ranges_loaded()", "whether --ip-ranges gave any range"),
];

/// The data of a session, read on first use.
#[derive(Debug, Default)]
pub struct Enrichment {
    options: Options,
    ranges: OnceLock<Result<ranges::CloudRanges, String>>,
    geo: OnceLock<Result<geo::Geo, String>>,
    told: AtomicBool,
    /// Per function, the values looked up so far.
    cache: [Mutex<Memo<Box<str>>>; KINDS],
    /// Lookups computed (not answered from the cache), for tests.
    computed: AtomicUsize,
}

/// The most distinct values cached per function and process; past it,
/// lookups still work, uncached.
const CACHE_LIMIT: usize = 1 << 20;

/// Lookups by text, with a fast hash (these are not keys an attacker can
/// aim at a table: one process, one query's values).
type Memo<K> = HashMap<K, Value, foldhash::fast::RandomState>;

const KINDS: usize = Kind::DeliveryTime as usize + 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    IpClass,
    CloudProvider,
    CloudService,
    CloudRegion,
    Country,
    Asn,
    AsName,
    UaFamily,
    UaVersion,
    UaIsBot,
    EndpointRegion,
    DeliveryTime,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Text(Option<Arc<str>>),
    Int(Option<i64>),
    Bool(Option<bool>),
    /// Microseconds since the epoch, UTC.
    Time(Option<i64>),
}

impl Enrichment {
    /// The data named by `options`; nothing is read yet.
    pub fn new(options: Options) -> Enrichment {
        Enrichment {
            options,
            ..Enrichment::default()
        }
    }

    fn ranges(&self) -> DfResult<&ranges::CloudRanges> {
        self.ranges
            .get_or_init(|| {
                ranges::CloudRanges::load(&self.options.ip_ranges).map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| DataFusionError::Execution(e.clone()))
    }

    fn geo(&self) -> DfResult<&geo::Geo> {
        self.geo
            .get_or_init(|| {
                let dir = self.options.geo_dir.clone().or_else(geo::default_dir);
                geo::Geo::load(&self.options.geoip, dir.as_deref()).map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| DataFusionError::Execution(e.clone()))
    }

    /// Says once per process, on stderr, what to install.
    fn tell(&self, what: &str) {
        if !self.told.swap(true, Ordering::Relaxed) {
            eprintln!("s3logs: note: {what}");
        }
    }

    fn compute(&self, kind: Kind, text: &str) -> DfResult<Value> {
        let owned = |s: Option<&str>| Value::Text(s.map(Arc::from));
        Ok(match kind {
            Kind::IpClass => owned(Some(ip::class(text))),
            Kind::CloudProvider | Kind::CloudService | Kind::CloudRegion => {
                // Without range files these are NULL, quietly: the billing
                // queries use them only to refine, and say their basis.
                let ranges = self.ranges()?;
                let owner = ranges.lookup(text);
                Value::Text(owner.and_then(|o| match kind {
                    Kind::CloudProvider => Some(Arc::clone(&o.provider)),
                    Kind::CloudService => o.service.clone(),
                    _ => o.region.clone(),
                }))
            }
            Kind::Country | Kind::Asn | Kind::AsName => {
                let geo = self.geo()?;
                let missing = match kind {
                    Kind::Country => !geo.has_countries(),
                    _ => !geo.has_networks(),
                };
                if missing {
                    self.tell(
                        "ip_country, ip_asn and ip_as_name need an IP database: run `make geo-data` \
                         (free ip-location-db data, offline afterwards) or pass --geoip FILE.mmdb; NULL until then",
                    );
                }
                // Private, documentation and other special addresses have
                // no country or network, whatever a whois-based database
                // says of their blocks.
                if ip::class(text) != "public" {
                    return Ok(match kind {
                        Kind::Asn => Value::Int(None),
                        _ => Value::Text(None),
                    });
                }
                let network = || {
                    geo.network(text)
                        .map_err(|e| DataFusionError::Execution(format!("{e:#}")))
                };
                match kind {
                    Kind::Country => owned(geo.country(text).as_deref()),
                    Kind::Asn => Value::Int(network()?.map(|n| n.0)),
                    _ => owned(network()?.and_then(|n| n.1).as_deref()),
                }
            }
            Kind::UaFamily => owned(ua::client(text).map(|c| c.family).as_deref()),
            Kind::UaVersion => owned(ua::client(text).and_then(|c| c.version).as_deref()),
            Kind::UaIsBot => Value::Bool(Some(ua::is_bot(text))),
            Kind::EndpointRegion => owned(endpoint_region(text)),
            Kind::DeliveryTime => Value::Time(crate::source::delivery_time(text)),
        })
    }

    fn lookup(&self, kind: Kind, text: &str) -> DfResult<Value> {
        let cache = &self.cache[kind as usize];
        if let Ok(cache) = cache.lock()
            && let Some(v) = cache.get(text)
        {
            return Ok(v.clone());
        }
        let v = self.compute(kind, text)?;
        self.computed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut cache) = cache.lock()
            && cache.len() < CACHE_LIMIT
        {
            cache.insert(Box::from(text), v.clone());
        }
        Ok(v)
    }
}

/// The region of an S3 endpoint host name: `eu-west-1` of
/// `b.s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com` and
/// `b.s3.dualstack.eu-west-1.amazonaws.com`; `None` for the global
/// endpoint (`s3.amazonaws.com`) and names that are not AWS's.
pub fn endpoint_region(host: &str) -> Option<&str> {
    static PATTERN: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"(?:^|\.)s3[.-](?:dualstack\.)?([a-z]{2}(?:-gov)?-[a-z]+-[0-9]+)\.amazonaws\.",
        )
        .ok()
    });
    Some(pattern.as_ref()?.captures(host)?.get(1)?.as_str())
}

/// One function of the table above.
#[derive(Debug)]
struct Lookup {
    name: &'static str,
    kind: Kind,
    signature: Signature,
    data: Arc<Enrichment>,
}

impl PartialEq for Lookup {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.data, &other.data)
    }
}

impl Eq for Lookup {}

impl Hash for Lookup {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl Lookup {
    fn type_of(kind: Kind) -> DataType {
        match kind {
            Kind::Asn => DataType::Int64,
            Kind::UaIsBot => DataType::Boolean,
            Kind::DeliveryTime => crate::schema::timestamp_type(),
            _ => DataType::Utf8View,
        }
    }
}

impl ScalarUDFImpl for Lookup {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(Lookup::type_of(self.kind))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(format!(
                "{} takes one argument",
                self.name
            )));
        };
        let array = arg.to_array(args.number_rows)?;
        let mut batch = BatchMemo::new(self, array.len());
        match array.data_type() {
            DataType::Utf8View => {
                // A row's 16-byte view is its key, so a row costs one hash
                // of 16 bytes and no pointer followed: a short text (12
                // bytes or less: most addresses) is its whole view, and a
                // longer one is its length, prefix and place in this
                // array's buffers, which every row of one dictionary value
                // shares (Parquet's dictionary pages decode that way). Two
                // views of the same text in different places are each
                // looked up in `batch`, which keys by text.
                let texts = array.as_string_view();
                let mut by_view: HashMap<u128, u32, foldhash::fast::RandomState> =
                    HashMap::default();
                for (i, view) in texts.views().iter().enumerate() {
                    if texts.is_null(i) {
                        batch.push(None);
                    } else {
                        let at = match by_view.get(view) {
                            Some(&at) => at,
                            None => {
                                let at = batch.index(texts.value(i))?;
                                by_view.insert(*view, at);
                                at
                            }
                        };
                        batch.push(Some(at));
                    }
                }
            }
            DataType::Utf8 => {
                for t in array.as_string::<i32>() {
                    let at = t.map(|t| batch.index(t)).transpose()?;
                    batch.push(at);
                }
            }
            DataType::LargeUtf8 => {
                for t in array.as_string::<i64>() {
                    let at = t.map(|t| batch.index(t)).transpose()?;
                    batch.push(at);
                }
            }
            DataType::Null => (0..array.len()).for_each(|_| batch.push(None)),
            other => {
                return Err(DataFusionError::Plan(format!(
                    "{} takes text, not {other}",
                    self.name
                )));
            }
        }
        Ok(ColumnarValue::Array(batch.finish()?))
    }
}

/// One batch's answers: its distinct texts, each looked up once, and a
/// row at a time the index of the row's text.
struct BatchMemo<'a> {
    function: &'a Lookup,
    seen: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    values: Vec<Value>,
    rows: Vec<u32>,
}

/// A row with no text.
const NO_TEXT: u32 = u32::MAX;

impl<'a> BatchMemo<'a> {
    fn new(function: &'a Lookup, rows: usize) -> Self {
        BatchMemo {
            function,
            seen: HashMap::default(),
            values: Vec::new(),
            rows: Vec::with_capacity(rows),
        }
    }

    fn index(&mut self, text: &'a str) -> DfResult<u32> {
        if let Some(&at) = self.seen.get(text) {
            return Ok(at);
        }
        // A batch has fewer rows than u32::MAX, so fewer distinct texts.
        let at = u32::try_from(self.values.len()).unwrap_or(NO_TEXT - 1);
        let f = self.function;
        self.values.push(f.data.lookup(f.kind, text)?);
        self.seen.insert(text, at);
        Ok(at)
    }

    fn push(&mut self, at: Option<u32>) {
        self.rows.push(at.unwrap_or(NO_TEXT));
    }

    /// The result column: a column of the distinct answers, each written
    /// once, and a row a `take` of its answer (for text, a copy of its
    /// 16-byte view: the text is neither copied nor validated again).
    fn finish(self) -> DfResult<ArrayRef> {
        let values = &self.values;
        let answers: ArrayRef = match Lookup::type_of(self.function.kind) {
            DataType::Int64 => Arc::new(Int64Array::from_iter(values.iter().map(|v| match v {
                Value::Int(n) => *n,
                _ => None,
            }))),
            DataType::Boolean => {
                Arc::new(BooleanArray::from_iter(values.iter().map(|v| match v {
                    Value::Bool(x) => *x,
                    _ => None,
                })))
            }
            DataType::Timestamp(..) => Arc::new(
                TimestampMicrosecondArray::from_iter(values.iter().map(|v| match v {
                    Value::Time(t) => *t,
                    _ => None,
                }))
                .with_timezone("UTC"),
            ),
            _ => Arc::new(StringViewArray::from_iter(values.iter().map(|v| match v {
                Value::Text(Some(s)) => Some(s.as_ref()),
                _ => None,
            }))),
        };
        let rows: UInt32Array = self
            .rows
            .iter()
            .map(|&at| (at != NO_TEXT).then_some(at))
            .collect();
        Ok(take(&answers, &rows, None)?)
    }
}

/// `ip_ranges_loaded()`.
#[derive(Debug)]
struct RangesLoaded {
    signature: Signature,
    data: Arc<Enrichment>,
}

impl PartialEq for RangesLoaded {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl Eq for RangesLoaded {}

impl Hash for RangesLoaded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "ip_ranges_loaded".hash(state);
    }
}

impl ScalarUDFImpl for RangesLoaded {
    fn name(&self) -> &str {
        "ip_ranges_loaded"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let loaded = !self.data.ranges()?.is_empty();
        Ok(ColumnarValue::Scalar(
            datafusion::scalar::ScalarValue::Boolean(Some(loaded)),
        ))
    }
}

/// Registers every function of the table above in `ctx`.
pub fn register(ctx: &SessionContext, options: Options) {
    let data = Arc::new(Enrichment::new(options));
    for (name, kind) in [
        ("ip_class", Kind::IpClass),
        ("ip_cloud_provider", Kind::CloudProvider),
        ("ip_cloud_service", Kind::CloudService),
        ("ip_cloud_region", Kind::CloudRegion),
        ("ip_country", Kind::Country),
        ("ip_asn", Kind::Asn),
        ("ip_as_name", Kind::AsName),
        ("ua_family", Kind::UaFamily),
        ("ua_version", Kind::UaVersion),
        ("ua_is_bot", Kind::UaIsBot),
        ("endpoint_region", Kind::EndpointRegion),
        ("delivery_time", Kind::DeliveryTime),
    ] {
        ctx.register_udf(ScalarUDF::from(Lookup {
            name,
            kind,
            signature: Signature::string(1, Volatility::Immutable),
            data: Arc::clone(&data),
        }));
    }
    ctx.register_udf(ScalarUDF::from(RangesLoaded {
        signature: Signature::nullary(Volatility::Stable),
        data,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_function_costs_per_distinct_value() {
        let ctx = SessionContext::new();
        let data = Arc::new(Enrichment::new(Options::default()));
        ctx.register_udf(ScalarUDF::from(Lookup {
            name: "ua_family",
            kind: Kind::UaFamily,
            signature: Signature::uniform(1, vec![DataType::Utf8], Volatility::Immutable),
            data: Arc::clone(&data),
        }));
        let sql = "SELECT ua_family(column1) AS f, count(*) AS n FROM (VALUES ('curl/8.5.0'), ('aws-cli/2.15.17 Python/3.11'), (NULL), ('curl/8.5.0')) GROUP BY 1 ORDER BY 1";
        for _ in 0..3 {
            let rows = ctx
                .sql(sql)
                .await
                .expect("plan")
                .collect()
                .await
                .expect("run");
            let text = arrow::util::pretty::pretty_format_batches(&rows)
                .expect("format")
                .to_string();
            assert!(
                text.contains("| aws-cli | 1 |") && text.contains("| curl    | 2 |"),
                "{text}"
            );
        }
        assert_eq!(
            data.computed.load(Ordering::Relaxed),
            2,
            "two distinct values, computed once each"
        );
    }

    #[test]
    fn endpoint_regions_from_host_headers() {
        for (host, region) in [
            ("photos.s3.eu-west-1.amazonaws.com", Some("eu-west-1")),
            ("s3-eu-west-1.amazonaws.com", Some("eu-west-1")),
            (
                "s3.dualstack.us-gov-west-1.amazonaws.com",
                Some("us-gov-west-1"),
            ),
            (
                "b.s3.ap-southeast-2.amazonaws.com:443",
                Some("ap-southeast-2"),
            ),
            ("s3.amazonaws.com", None),
            ("photos.s3.amazonaws.com", None),
            ("mys3.eu-west-1.amazonaws.com", None),
            ("example.com", None),
        ] {
            assert_eq!(endpoint_region(host), region, "{host}");
        }
    }

    #[tokio::test]
    async fn functions_read_views_and_plain_strings_alike() {
        let ctx = SessionContext::new();
        register(&ctx, Options::default());
        // The same values as Utf8 and as Utf8View, repeated, with NULLs:
        // every row gets its own value's answer.
        let sql = "SELECT arrow_cast(column1, 'Utf8View') AS v, column1 AS s FROM (VALUES \
                   ('logs/2024-03-04-02-00-00-507BF4DE51B20A40'), (NULL), ('notes.txt'), \
                   ('logs/2024-03-04-02-00-00-507BF4DE51B20A40'), ('b/2024-02-29-23-59-59-X'))";
        let df = ctx.sql(sql).await.expect("plan");
        ctx.register_table("t", df.into_view()).expect("view");
        let rows = ctx
            .sql("SELECT CAST(delivery_time(v) AS STRING) AS a, CAST(delivery_time(s) AS STRING) AS b, \
                  arrow_typeof(delivery_time(v)) AS ty FROM t")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let text = arrow::util::pretty::pretty_format_batches(&rows)
            .expect("format")
            .to_string();
        let want = [
            "| 2024-03-04T02:00:00Z | 2024-03-04T02:00:00Z |",
            "|                      |                      |",
            "| 2024-02-29T23:59:59Z | 2024-02-29T23:59:59Z |",
        ];
        for w in want {
            assert!(text.contains(w), "{w} in\n{text}");
        }
        assert_eq!(text.matches("2024-03-04T02:00:00Z").count(), 4, "{text}");
        assert!(text.contains("Timestamp(µs, \"UTC\")"), "{text}");
    }
}
