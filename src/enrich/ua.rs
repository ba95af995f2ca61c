//! User agents: the client family and version, and whether it is a bot.
//!
//! Most S3 traffic comes from AWS's own SDKs, CLI and console, and from a
//! few tools built on them; those are recognised here, with their versions,
//! from the product token they start with or carry (`aws-cli/2.15.17`,
//! `Boto3/1.34.34`, `aws-sdk-go-v2/1.17.0`). Browsers and crawlers are
//! recognised by woothee (Apache-2.0); bots by isbot's pattern list (MIT,
//! from omrilotan/isbot), except the S3 clients above, which are tools
//! people run, not crawlers.

use std::sync::LazyLock;

/// Product tokens, in the order they are tried: tools that wrap an SDK
/// before the SDK they carry, SDKs before the HTTP libraries under them.
/// (token as logged, family reported, whether it is an S3 client).
const PRODUCTS: &[(&str, &str, bool)] = &[
    ("aws-cli", "aws-cli", true),
    ("S3Console", "S3Console", true),
    ("AWS-Console", "S3Console", true),
    ("aws-internal", "aws-internal", true),
    ("Amazon CloudFront", "CloudFront", true),
    ("aiobotocore", "aiobotocore", true),
    ("s3fs", "s3fs", true),
    ("rclone", "rclone", true),
    ("s3cmd", "s3cmd", true),
    ("Cyberduck", "Cyberduck", true),
    ("WinSCP", "WinSCP", true),
    ("MinIO", "MinIO", true),
    ("minio-go", "MinIO", true),
    ("Hadoop", "Hadoop", true),
    ("Trino", "Trino", true),
    ("Presto", "Presto", true),
    ("Terraform", "Terraform", true),
    ("Boto3", "Boto3", true),
    ("Botocore", "Botocore", true),
    ("aws-sdk-java", "aws-sdk-java", true),
    ("aws-sdk-go-v2", "aws-sdk-go-v2", true),
    ("aws-sdk-go", "aws-sdk-go", true),
    ("aws-sdk-nodejs", "aws-sdk-js", true),
    ("aws-sdk-js", "aws-sdk-js", true),
    ("aws-sdk-dotnet", "aws-sdk-dotnet", true),
    ("aws-sdk-php", "aws-sdk-php", true),
    ("aws-sdk-ruby", "aws-sdk-ruby", true),
    ("aws-sdk-rust", "aws-sdk-rust", true),
    ("aws-sdk-cpp", "aws-sdk-cpp", true),
    ("aws-sdk-kotlin", "aws-sdk-kotlin", true),
    ("aws-sdk-swift", "aws-sdk-swift", true),
    ("curl", "curl", false),
    ("Wget", "Wget", false),
    ("python-requests", "python-requests", false),
    ("Go-http-client", "Go-http-client", false),
    ("okhttp", "okhttp", false),
    ("Apache-HttpClient", "Apache-HttpClient", false),
];

static WOOTHEE: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);
static BOTS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);

/// The product token `token` in `ua`, at the start or after a separator,
/// and the version after its `/` (a leading `v` dropped).
fn product<'a>(ua: &'a str, token: &str) -> Option<Option<&'a str>> {
    let lower = ua.to_ascii_lowercase();
    let want = token.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&want).map(|i| i + from) {
        let before = lower[..i].chars().next_back();
        let end = i + want.len();
        let after = lower[end..].chars().next();
        let starts = before.is_none_or(|c| matches!(c, ' ' | '[' | '(' | ',' | ';' | '"'));
        let ends = after.is_none_or(|c| matches!(c, '/' | ' ' | ')' | ',' | ';' | ']' | '#'));
        if starts && ends {
            let version = ua[end..]
                .strip_prefix('/')
                .map(|v| v.split([' ', ';', ')', ',', ']']).next().unwrap_or(""))
                .map(|v| v.strip_prefix('v').unwrap_or(v))
                .filter(|v| !v.is_empty());
            return Some(version);
        }
        from = end;
    }
    None
}

/// What a user agent is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// `aws-cli`, `Boto3`, `aws-sdk-java`, `curl`, `S3Console`, `Chrome`, …
    pub family: String,
    /// Its version, when the user agent gives one.
    pub version: Option<String>,
    /// A bot or crawler.
    pub bot: bool,
}

/// The client of a user agent; `None` for an empty one or one not
/// recognised.
pub fn client(ua: &str) -> Option<Client> {
    let ua = ua.trim();
    if ua.is_empty() || ua == "-" {
        return None;
    }
    for &(token, family, s3_client) in PRODUCTS {
        if let Some(version) = product(ua, token) {
            return Some(Client {
                family: family.to_string(),
                version: version.map(str::to_string),
                bot: !s3_client && BOTS.is_bot(ua),
            });
        }
    }
    let bot = BOTS.is_bot(ua);
    match WOOTHEE.parse(ua) {
        Some(w) if w.name != woothee::woothee::VALUE_UNKNOWN && !w.name.is_empty() => {
            Some(Client {
                family: w.name.to_string(),
                version: (w.version != woothee::woothee::VALUE_UNKNOWN && !w.version.is_empty())
                    .then(|| w.version.to_string()),
                bot: bot || w.category == "crawler",
            })
        }
        _ if bot => Some(Client {
            family: "bot".to_string(),
            version: None,
            bot: true,
        }),
        _ => None,
    }
}

/// Whether a user agent is a bot or crawler (`false` for none at all).
pub fn is_bot(ua: &str) -> bool {
    client(ua).is_some_and(|c| c.bot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(ua: &str) -> Option<(String, Option<String>)> {
        client(ua).map(|c| (c.family, c.version))
    }

    #[test]
    fn aws_clients_with_their_versions() {
        for (ua, fam, ver) in [
            (
                "aws-cli/2.15.17 Python/3.11.6 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
                "aws-cli",
                Some("2.15.17"),
            ),
            (
                "aws-cli/1.29.0 Python/3.9.16 Linux/5.10 botocore/1.31.0",
                "aws-cli",
                Some("1.29.0"),
            ),
            (
                "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.15.0 lang/python#3.11.6",
                "Boto3",
                Some("1.34.34"),
            ),
            ("Botocore/1.31.0 Python/3.9", "Botocore", Some("1.31.0")),
            (
                "aws-sdk-java/1.12.261 Linux/5.10.184 OpenJDK_64-Bit_Server_VM/25.372-b07 java/1.8.0_372",
                "aws-sdk-java",
                Some("1.12.261"),
            ),
            (
                "aws-sdk-go/1.44.0 (go1.20; linux; amd64)",
                "aws-sdk-go",
                Some("1.44.0"),
            ),
            (
                "aws-sdk-go-v2/1.17.0 os/linux lang/go#1.20",
                "aws-sdk-go-v2",
                Some("1.17.0"),
            ),
            (
                "aws-sdk-nodejs/2.1490.0 linux/v18.17.1",
                "aws-sdk-js",
                Some("2.1490.0"),
            ),
            ("S3Console/0.4", "S3Console", Some("0.4")),
            (
                "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]",
                "S3Console",
                Some("0.4"),
            ),
            (
                "Hadoop 3.3.4, aws-sdk-java/1.12.262 Linux/5.10",
                "Hadoop",
                None,
            ),
            ("rclone/v1.65.0", "rclone", Some("1.65.0")),
            ("curl/8.5.0", "curl", Some("8.5.0")),
            ("Amazon CloudFront", "CloudFront", None),
        ] {
            assert_eq!(
                family(ua),
                Some((fam.to_string(), ver.map(str::to_string))),
                "{ua}"
            );
            assert!(!is_bot(ua) || fam == "curl", "{ua}");
        }
    }

    #[test]
    fn browsers_bots_and_unknowns() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36";
        assert_eq!(family(chrome).map(|f| f.0), Some("Chrome".to_string()));
        assert!(!is_bot(chrome));
        let google = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert!(is_bot(google));
        assert!(client(google).is_some());
        assert!(is_bot(
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
        ));
        assert_eq!(client(""), None);
        assert_eq!(client("-"), None);
        assert_eq!(client("my-internal-uploader"), None);
        assert!(!is_bot("aws-cli/2.15.17 Python/3.11.6"));
        // A token must stand alone: "xcurl" is not curl.
        assert_eq!(family("xcurl/1.0"), None);
    }
}
