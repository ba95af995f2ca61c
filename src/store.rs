//! The S3 store both ends of s3logs talk to: sources (`s3://` log
//! prefixes, in [`crate::source`]) and lakes (`s3://` lakes, in
//! [`crate::lake`]).
//!
//! * An [`S3Url`] names a bucket and key prefix; [`S3Options`] say how to
//!   reach the store (endpoint, region).
//! * Credentials come from the standard chain: the `AWS_*` environment
//!   (keys, session token, web identity, container credentials), then the
//!   shared profile (`AWS_PROFILE` in `~/.aws/credentials` and
//!   `~/.aws/config`, static keys only), then instance metadata. They are
//!   never printed.
//! * Failed requests are retried with backoff (by `object_store`: 5xx,
//!   `SlowDown`, connection errors), tuned by `S3LOGS_S3_RETRIES` and
//!   `S3LOGS_S3_RETRY_SECS`.
//! * Requests run on the process's one runtime ([`crate::runtime`]).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

/// How to reach the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store (`--endpoint-url`, else
    /// `AWS_ENDPOINT_URL`); path-style requests are used with it.
    pub endpoint: Option<String>,
    /// Region (`--region`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's, else `us-east-1`).
    pub region: Option<String>,
}

/// An `s3://bucket/prefix` source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without a leading `/` (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`; `None` when `s` is not an S3 URL.
    pub fn parse(s: &str) -> Option<S3Url> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The URL of an object of this bucket.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Retry settings: `S3LOGS_S3_RETRIES` (default 10) attempts within
/// `S3LOGS_S3_RETRY_SECS` (default 180) seconds.
fn retry_config() -> RetryConfig {
    let env = |k: &str, d: u64| crate::env_u64(k).unwrap_or(d);
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: env("S3LOGS_S3_RETRIES", 10) as usize,
        retry_timeout: Duration::from_secs(env("S3LOGS_S3_RETRY_SECS", 180)),
    }
}

/// The store of a bucket, built once per bucket and options and shared by
/// every read of log objects (on the S3 runtime).
///
/// # Errors
///
/// The configuration is invalid (for example a malformed endpoint).
pub fn store(bucket: &str, opts: &S3Options) -> io::Result<Arc<dyn ObjectStore>> {
    type Stores = Mutex<HashMap<(String, S3Options), Arc<dyn ObjectStore>>>;
    static STORES: LazyLock<Stores> = LazyLock::new(Default::default);
    let key = (bucket.to_string(), opts.clone());
    let mut stores = STORES
        .lock()
        .map_err(|_| io::Error::other("S3 store cache poisoned"))?;
    if let Some(s) = stores.get(&key) {
        return Ok(Arc::clone(s));
    }
    let s = build_store(bucket, opts)?;
    stores.insert(key, Arc::clone(&s));
    Ok(s)
}

/// A new store of a bucket, with the credential chain, region, endpoint and
/// retries described in the module docs.
///
/// # Errors
///
/// The configuration is invalid (for example a malformed endpoint).
pub fn build_store(bucket: &str, opts: &S3Options) -> io::Result<Arc<dyn ObjectStore>> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry_config());
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let profile =
        if env("AWS_ACCESS_KEY_ID").is_none() && env("AWS_WEB_IDENTITY_TOKEN_FILE").is_none() {
            Profile::load()
        } else {
            Profile::default()
        };
    if let (Some(id), Some(secret)) = (&profile.access_key_id, &profile.secret_access_key) {
        b = b.with_access_key_id(id).with_secret_access_key(secret);
        if let Some(token) = &profile.session_token {
            b = b.with_token(token);
        }
    }
    let region = opts
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or(profile.region)
        .unwrap_or_else(|| "us-east-1".to_string());
    b = b.with_region(region);
    if let Some(endpoint) = opts.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")) {
        b = b
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .with_endpoint(endpoint);
    }
    Ok(Arc::new(b.build().map_err(io::Error::other)?))
}

/// Static keys and region of the shared profile.
#[derive(Debug, Default)]
struct Profile {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
}

impl Profile {
    /// Reads `AWS_PROFILE` (else `default`) from `AWS_SHARED_CREDENTIALS_FILE`
    /// (else `~/.aws/credentials`) and `AWS_CONFIG_FILE` (else
    /// `~/.aws/config`). Missing files give an empty profile.
    fn load() -> Profile {
        let name = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let file = |var: &str, rel: &str| {
            std::env::var_os(var)
                .map(std::path::PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(rel)))
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default()
        };
        let creds = ini_section(
            &file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
            &name,
        );
        let config_section = if name == "default" {
            name.clone()
        } else {
            format!("profile {name}")
        };
        let config = ini_section(&file("AWS_CONFIG_FILE", ".aws/config"), &config_section);
        let get = |k: &str| creds.get(k).or_else(|| config.get(k)).cloned();
        Profile {
            access_key_id: get("aws_access_key_id"),
            secret_access_key: get("aws_secret_access_key"),
            session_token: get("aws_session_token"),
            region: config.get("region").cloned(),
        }
    }
}

/// The `key = value` pairs of one `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_profiles() {
        let u = S3Url::parse("s3://logs-bucket/access/2024-").expect("url");
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_str()),
            ("logs-bucket", "access/2024-")
        );
        assert_eq!(S3Url::parse("s3://b").expect("url").prefix, "");
        assert_eq!(S3Url::parse("/tmp/s3://x"), None);
        assert_eq!(S3Url::parse("s3:///key"), None);

        let ini = "[default]\nregion = eu-west-1\n[profile ci]\naws_access_key_id = AK\nregion=us-west-2\n";
        assert_eq!(
            ini_section(ini, "profile ci")
                .get("region")
                .map(String::as_str),
            Some("us-west-2")
        );
        assert_eq!(ini_section(ini, "default").get("aws_access_key_id"), None);
    }
}
