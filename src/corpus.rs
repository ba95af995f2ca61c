//! A deterministic generator of realistic access-log corpora, for
//! benchmarks, tests and demos (`s3logs gen`).
//!
//! The same [`GenOptions`] always give the same bytes: the generator uses
//! its own small PRNG (SplitMix64), not a crate whose sequence could change
//! between versions. Lines are 400–700 bytes, with a real operation mix,
//! Zipf-skewed keys, requesters and IPs, lifecycle, batch-delete and copy
//! lines, user agents with raw quotes in one line of a hundred, and a
//! configurable share of malformed and late lines.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::civil::{civil_from_days, days_from_civil};

/// An owned record, rendered to a log line by [`OwnedRecord::render`].
/// Text fields are `None` for `-`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedRecord {
    /// Fields in `FORMAT.md` order; see [`crate::parse::LogRecord`].
    pub bucket_owner: Option<String>,
    #[allow(missing_docs)]
    pub bucket: Option<String>,
    /// Microseconds since the epoch (whole seconds), UTC.
    pub request_time: i64,
    #[allow(missing_docs)]
    pub remote_ip: Option<String>,
    #[allow(missing_docs)]
    pub requester: Option<String>,
    #[allow(missing_docs)]
    pub request_id: Option<String>,
    #[allow(missing_docs)]
    pub operation: String,
    #[allow(missing_docs)]
    pub key: Option<String>,
    #[allow(missing_docs)]
    pub request_uri: Option<String>,
    #[allow(missing_docs)]
    pub http_status: Option<i16>,
    #[allow(missing_docs)]
    pub error_code: Option<String>,
    #[allow(missing_docs)]
    pub bytes_sent: Option<i64>,
    #[allow(missing_docs)]
    pub object_size: Option<i64>,
    #[allow(missing_docs)]
    pub total_time_ms: Option<i32>,
    #[allow(missing_docs)]
    pub turn_around_time_ms: Option<i32>,
    #[allow(missing_docs)]
    pub referer: Option<String>,
    #[allow(missing_docs)]
    pub user_agent: Option<String>,
    /// Fields 18 to 27 as tokens (`None` is `-`), only the first
    /// `tail_len` of them are written.
    pub tail: [Option<String>; 10],
    /// How many of fields 18 to 27 the line has (0 to 10).
    pub tail_len: usize,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `[DD/Mon/YYYY:HH:MM:SS +0000]` for microseconds since the epoch.
pub fn format_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "[{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000]",
        MONTHS[(m - 1) as usize],
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

impl OwnedRecord {
    /// Renders the record as AWS writes it (no trailing newline).
    pub fn render(&self) -> String {
        fn tok(s: &Option<String>) -> &str {
            s.as_deref().unwrap_or("-")
        }
        fn num<T: ToString>(n: Option<T>) -> String {
            n.map_or_else(|| "-".to_string(), |v| v.to_string())
        }
        fn quoted(s: &Option<String>) -> String {
            s.as_ref()
                .map_or_else(|| "\"-\"".to_string(), |v| format!("\"{v}\""))
        }
        let mut line = String::with_capacity(640);
        let _ = write!(
            line,
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            tok(&self.bucket_owner),
            tok(&self.bucket),
            format_time(self.request_time),
            tok(&self.remote_ip),
            tok(&self.requester),
            tok(&self.request_id),
            self.operation,
            tok(&self.key),
            quoted(&self.request_uri),
            num(self.http_status),
            tok(&self.error_code),
            num(self.bytes_sent),
            num(self.object_size),
            num(self.total_time_ms),
            num(self.turn_around_time_ms),
            quoted(&self.referer),
            quoted(&self.user_agent),
        );
        for t in &self.tail[..self.tail_len.min(10)] {
            line.push(' ');
            line.push_str(tok(t));
        }
        line
    }
}

/// SplitMix64: small, fast, and its sequence never changes.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Zipf-like skew over `0..n`: small indexes are much more likely.
    pub fn zipf(&mut self, n: u64) -> u64 {
        ((n as f64) * self.unit().powi(4)) as u64 % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chars(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            out.push(alphabet[self.below(alphabet.len() as u64) as usize] as char);
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Total size to write, about.
    pub bytes: u64,
    /// Size of each object, about.
    pub object_bytes: u64,
    /// First day (days since the epoch) of the corpus.
    pub start_day: i64,
    /// Days covered.
    pub days: u32,
    /// Buckets.
    pub buckets: u32,
    /// Share of malformed lines, 0 to 1.
    pub malformed: f64,
    /// Share of late lines (records from up to 3 days before delivery).
    pub late: f64,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            bytes: 64 << 20,
            object_bytes: 4 << 20,
            // 2024-03-01
            start_day: days_from_civil(2024, 3, 1),
            days: 7,
            buckets: 3,
            malformed: 0.001,
            late: 0.01,
            seed: 42,
        }
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const UPPER_HEX: &[u8] = b"0123456789ABCDEF";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const AGENTS: [&str; 8] = [
    "aws-sdk-java/1.12.261 Linux/5.10.184-175.731.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/25.372-b07 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard",
    "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.15.0-1053-aws md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.34",
    "aws-cli/2.15.17 Python/3.11.6 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "aws-sdk-go-v2/1.24.1 os/linux lang/go#1.21.6 md/GOOS#linux md/GOARCH#amd64 api/s3#1.48.0",
    "S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.205-172.807.amzn2int.x86_64",
    "curl/8.5.0",
];
/// User agents with unescaped quotes: the hard case of FORMAT.md that
/// CSV readers get wrong.
const QUOTED_AGENTS: [&str; 2] = [
    r#"Mozilla/5.0 (compatible; "SecurityScanner" 2.1; +https://scanner.example/bot)"#,
    r#"python-requests/2.31.0 "custom-sync" "#,
];
const PREFIXES: [&str; 6] = [
    "data/raw",
    "data/curated",
    "logs/app",
    "images/2024",
    "backups/db",
    "public/assets",
];
const EXTS: [&str; 5] = ["parquet", "json.gz", "jpg", "csv", "tar.zst"];

struct Universe {
    owners: Vec<String>,
    buckets: Vec<String>,
    requesters: Vec<String>,
    ips: Vec<String>,
    keys: Vec<String>,
}

impl Universe {
    fn new(rng: &mut Rng, buckets: u32) -> Self {
        let mut owners = Vec::new();
        let mut names = Vec::new();
        for b in 0..buckets.max(1) {
            let mut owner = String::new();
            rng.chars(&mut owner, HEX, 64);
            owners.push(owner);
            names.push(format!("example-bucket-{b}"));
        }
        let mut requesters = vec![
            "-".to_string(),
            "svc:s3.amazonaws.com".to_string(),
            "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHAPOMQZL"
                .to_string(),
        ];
        for i in 0..200 {
            let account = 100_000_000_000u64 + rng.below(5) * 111_111_111_111 % 899_999_999_999;
            requesters.push(match i % 3 {
                0 => format!("arn:aws:iam::{account}:user/user-{i}"),
                1 => format!(
                    "arn:aws:sts::{account}:assumed-role/role-{i}/session-{}",
                    rng.below(1000)
                ),
                _ => format!("arn:aws:iam::{account}:role/service-role-{i}"),
            });
        }
        let ips = (0..2000)
            .map(|i| match i % 10 {
                9 => format!(
                    "2600:1f18:{:x}:{:x}::{:x}",
                    rng.below(65536),
                    rng.below(65536),
                    rng.below(65536)
                ),
                8 => format!(
                    "10.{}.{}.{}",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                ),
                _ => format!(
                    "{}.{}.{}.{}",
                    3 + rng.below(220),
                    rng.below(256),
                    rng.below(256),
                    1 + rng.below(254)
                ),
            })
            .collect();
        let keys = (0..20_000)
            .map(|i| {
                let p = PREFIXES[i % PREFIXES.len()];
                let e = EXTS[(i / 7) % EXTS.len()];
                format!("{p}/part-{:05}/{:08x}.{e}", i % 997, rng.next_u64() as u32)
            })
            .collect();
        Universe {
            owners,
            buckets: names,
            requesters,
            ips,
            keys,
        }
    }
}

/// Generates one realistic record at `time` (microseconds).
fn record(rng: &mut Rng, u: &Universe, time: i64) -> Vec<OwnedRecord> {
    let b = rng.zipf(u.buckets.len() as u64) as usize;
    let bucket = u.buckets[b].clone();
    let key = u.keys[rng.zipf(u.keys.len() as u64) as usize].clone();
    let requester = u.requesters[rng.zipf(u.requesters.len() as u64) as usize].clone();
    let ip = u.ips[rng.zipf(u.ips.len() as u64) as usize].clone();
    let mut request_id = String::new();
    rng.chars(&mut request_id, UPPER_HEX, 16);
    let mut host_id = String::new();
    rng.chars(&mut host_id, B64, 76);
    let size = 1_000 + rng.zipf(50_000_000) as i64;
    let roll = rng.below(1000);
    let (op, method) = match roll {
        0..=549 => ("REST.GET.OBJECT", "GET"),
        550..=669 => ("REST.PUT.OBJECT", "PUT"),
        670..=769 => ("REST.HEAD.OBJECT", "HEAD"),
        770..=829 => ("REST.GET.BUCKET", "GET"),
        830..=859 => ("REST.DELETE.OBJECT", "DELETE"),
        860..=879 => ("REST.POST.MULTI_OBJECT_DELETE", "POST"),
        880..=899 => ("REST.COPY.OBJECT", "PUT"),
        900..=929 => ("S3.EXPIRE.OBJECT", "-"),
        930..=949 => ("REST.GET.ACL", "GET"),
        950..=969 => ("REST.GET.OBJECT_TAGGING", "GET"),
        970..=984 => ("WEBSITE.GET.OBJECT", "GET"),
        _ => ("REST.OPTIONS.PREFLIGHT", "OPTIONS"),
    };
    let (status, error) = match rng.below(1000) {
        0..=899 => (
            if method == "GET" && rng.below(10) == 0 {
                206
            } else {
                200
            },
            None,
        ),
        900..=939 => (403, Some("AccessDenied")),
        940..=969 => (404, Some("NoSuchKey")),
        970..=979 => (503, Some("SlowDown")),
        980..=984 => (500, Some("InternalError")),
        985..=989 => (403, Some("SignatureDoesNotMatch")),
        _ => (304, None),
    };
    let presigned = method == "GET" && rng.below(20) == 0;
    let tls = match rng.below(100) {
        0..=69 => Some("TLSv1.2"),
        70..=94 => Some("TLSv1.3"),
        95..=97 => None,
        _ => Some("TLSv1.1"),
    };
    let region = ["us-east-1", "eu-west-1", "us-west-2"][b % 3];
    let host = format!("{bucket}.s3.{region}.amazonaws.com");
    let uri = if presigned {
        format!(
            "GET /{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240301%2F{region}%2Fs3%2Faws4_request&X-Amz-Date=20240301T000000Z&X-Amz-Expires={}&X-Amz-SignedHeaders=host&X-Amz-Signature={:016x}{:016x} HTTP/1.1",
            [300, 3600, 86400, 604800][rng.below(4) as usize],
            rng.next_u64(),
            rng.next_u64()
        )
    } else if op == "REST.GET.BUCKET" {
        format!(
            "GET /?list-type=2&prefix={}&max-keys=1000 HTTP/1.1",
            PREFIXES[rng.below(6) as usize].replace('/', "%2F")
        )
    } else {
        format!("{method} /{key} HTTP/1.1")
    };
    let ok = status < 300;
    let base = OwnedRecord {
        bucket_owner: Some(u.owners[b].clone()),
        bucket: Some(bucket.clone()),
        request_time: time,
        remote_ip: Some(ip),
        requester: (requester != "-").then_some(requester),
        request_id: Some(request_id.clone()),
        operation: op.to_string(),
        key: (op != "REST.GET.BUCKET").then(|| key.clone()),
        request_uri: Some(uri),
        http_status: Some(status),
        error_code: error.map(str::to_string),
        bytes_sent: match (method, ok) {
            ("GET", true) => Some(size),
            (_, false) => Some(200 + rng.below(200) as i64),
            _ => None,
        },
        object_size: (op.contains("OBJECT") && ok).then_some(size),
        total_time_ms: Some(1 + rng.zipf(5000) as i32),
        turn_around_time_ms: Some(1 + rng.zipf(200) as i32),
        referer: (rng.below(20) == 0)
            .then(|| format!("https://www.example.com/page/{}", rng.below(100))),
        // About one line in a hundred carries a user agent with raw quotes
        // inside, as scanners and some SDK wrappers send.
        user_agent: Some(if rng.below(100) == 0 {
            rng.pick(&QUOTED_AGENTS).to_string()
        } else {
            rng.pick(&AGENTS).to_string()
        }),
        tail: [
            (rng.below(10) == 0).then(|| format!("3HL4kqtJlcpXroDTDmJ{:x}", rng.next_u64())),
            Some(host_id),
            Some(if rng.below(50) == 0 { "SigV2" } else { "SigV4" }.to_string()),
            tls.map(|_| "ECDHE-RSA-AES128-GCM-SHA256".to_string()),
            Some(
                if presigned {
                    "QueryString"
                } else {
                    "AuthHeader"
                }
                .to_string(),
            ),
            Some(host),
            tls.map(str::to_string),
            None,
            Some(if rng.below(50) == 0 { "Yes" } else { "-" }.to_string()),
            Some(region.to_string()),
        ],
        tail_len: 10,
    };
    match op {
        "S3.EXPIRE.OBJECT" => vec![OwnedRecord {
            remote_ip: None,
            requester: Some("AmazonS3".into()),
            request_uri: None,
            http_status: None,
            error_code: None,
            bytes_sent: None,
            total_time_ms: None,
            turn_around_time_ms: None,
            referer: None,
            user_agent: None,
            tail: std::array::from_fn(|i| if i == 1 { base.tail[1].clone() } else { None }),
            ..base
        }],
        "REST.POST.MULTI_OBJECT_DELETE" => {
            let n = 1 + rng.below(5) as usize;
            let mut out = vec![OwnedRecord {
                key: None,
                request_uri: Some(format!("POST /{bucket}?delete HTTP/1.1")),
                ..base.clone()
            }];
            for i in 0..n {
                out.push(OwnedRecord {
                    operation: "BATCH.DELETE.OBJECT".into(),
                    key: Some(
                        u.keys[(rng.zipf(u.keys.len() as u64) as usize + i) % u.keys.len()].clone(),
                    ),
                    request_uri: None,
                    http_status: Some(204),
                    error_code: None,
                    bytes_sent: None,
                    object_size: None,
                    total_time_ms: None,
                    turn_around_time_ms: None,
                    referer: None,
                    user_agent: None,
                    ..base.clone()
                });
            }
            out
        }
        "REST.COPY.OBJECT" => {
            let get = OwnedRecord {
                operation: "REST.COPY.OBJECT_GET".into(),
                key: Some(u.keys[rng.zipf(u.keys.len() as u64) as usize].clone()),
                request_uri: None,
                bytes_sent: None,
                referer: None,
                user_agent: None,
                total_time_ms: None,
                turn_around_time_ms: None,
                ..base.clone()
            };
            vec![base, get]
        }
        _ => vec![base],
    }
}

/// A malformed line of one of the kinds seen in real logs.
fn malformed(rng: &mut Rng, good: &str) -> String {
    match rng.below(4) {
        // Truncated mid-record (a partial write).
        0 => good[..good.len().min(60 + rng.below(200) as usize)].to_string(),
        // A time that is not a time.
        1 => good.replacen("+0000]", "+0000 ]", 1),
        // A status that is not a number.
        2 => good
            .replacen("\" 200 ", "\" 2O0 ", 1)
            .replacen("\" 403 ", "\" 4O3 ", 1)
            .replacen(" HTTP/1.1\" ", " HTTP/1.1\" x", 1),
        // Two records spliced together.
        _ => format!("{} {}", &good[..good.len() / 3], good),
    }
}

/// Writes a corpus into `dir` as SimplePrefix objects
/// (`YYYY-MM-DD-HH-MM-SS-UNIQUE`), returning their paths.
///
/// # Errors
///
/// Creating or writing a file failed.
pub fn generate(dir: &Path, opts: &GenOptions) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(opts.seed);
    let universe = Universe::new(&mut rng, opts.buckets);
    let objects = opts.bytes.div_ceil(opts.object_bytes.max(1)).max(1);
    let span = i64::from(opts.days.max(1)) * 86_400;
    let start = opts.start_day * 86_400;
    let mut paths = Vec::new();
    for o in 0..objects {
        // Deliveries spread evenly over the covered days.
        let delivered = start + (span * (o as i64 + 1)) / objects as i64;
        let (y, m, d) = civil_from_days(delivered.div_euclid(86_400));
        let sod = delivered.rem_euclid(86_400);
        let mut unique = String::new();
        rng.chars(&mut unique, UPPER_HEX, 16);
        let name = format!(
            "{y:04}-{m:02}-{d:02}-{:02}-{:02}-{:02}-{unique}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
        let path = dir.join(name);
        let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let mut written = 0u64;
        let window = (span / objects as i64).max(60);
        while written < opts.object_bytes {
            let mut t = delivered - 60 - rng.below(window as u64) as i64;
            if rng.unit() < opts.late {
                t -= 3_600 + rng.below(3 * 86_400) as i64;
            }
            for rec in record(&mut rng, &universe, t.max(start) * 1_000_000) {
                let mut line = rec.render();
                if rng.unit() < opts.malformed {
                    line = malformed(&mut rng, &line);
                }
                line.push('\n');
                out.write_all(line.as_bytes())?;
                written += line.len() as u64;
            }
        }
        out.flush()?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;

    #[test]
    fn time_round_trips() {
        for micros in [0, 1_549_411_238_000_000, 1_709_251_199_000_000] {
            let s = format_time(micros);
            assert_eq!(
                crate::parse::bracketed_time(s.as_bytes())
                    .ok()
                    .map(|(_, t)| t),
                Some(micros),
                "{s}"
            );
        }
    }

    #[test]
    fn corpus_is_deterministic_realistic_and_parses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = GenOptions {
            bytes: 400_000,
            object_bytes: 100_000,
            malformed: 0.01,
            ..GenOptions::default()
        };
        let a = generate(&dir.path().join("a"), &opts).expect("gen");
        let b = generate(&dir.path().join("b"), &opts).expect("gen");
        assert_eq!(a.len(), 4);
        let (mut ok, mut bad, mut bytes, mut lines) = (0, 0, 0, 0);
        for (pa, pb) in a.iter().zip(&b) {
            let da = std::fs::read(pa).expect("read");
            assert_eq!(
                da,
                std::fs::read(pb).expect("read"),
                "same options, same bytes"
            );
            for line in da.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                lines += 1;
                bytes += line.len();
                match parse_line(line) {
                    Ok(_) => ok += 1,
                    Err(_) => bad += 1,
                }
            }
        }
        let mean = bytes / lines;
        assert!((350..=750).contains(&mean), "mean line length {mean}");
        assert!(bad > 0 && bad * 50 < ok, "{bad} malformed of {ok}");
    }
}
