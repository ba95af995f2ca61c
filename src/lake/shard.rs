//! Sharded ingest: N workers, on any machines, each taking the log objects
//! of its shard, committing to one lake.
//!
//! An object belongs to shard `FNV-1a-64(file name) mod N + 1`, where the
//! file name is the last segment of its key or path (`2024-05-01-10-15-00-
//! 1A2B3C4D5E6F7A8B`). AWS names every log object uniquely, and the name
//! does not depend on the bucket, the prefix a worker lists or where a
//! folder is mounted, so N workers started anywhere with the same sources
//! and the same N cover every object exactly once. FNV-1a is fixed by its
//! definition (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`),
//! so the assignment never changes between versions of s3logs.
//!
//! Each shard is a writer of its own: its own Delta application id
//! (`s3logs-shard-K-of-N`) and run sequence, its own file names, run
//! manifests, retry list and lock. Shards commit to the same tables at the
//! same time through Delta's optimistic concurrency (appends never conflict;
//! deltalake retries a commit on the next version after checking the
//! winners), and a shard only ever completes its own interrupted runs, so
//! the recovery of one never repeats or rolls back another's commits.

use std::fmt;

use anyhow::{Result, bail};

/// Shard K of N (1 ≤ K ≤ N).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// Which shard, from 1.
    pub k: u32,
    /// How many.
    pub n: u32,
}

impl Shard {
    /// Parses `K/N`.
    ///
    /// # Errors
    ///
    /// It is not two numbers with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard> {
        let parsed = text.split_once('/').and_then(|(k, n)| {
            Some((k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some((k, n)) if (1..=n).contains(&k) => Ok(Shard { k, n }),
            _ => bail!("--shard {text:?}: expected K/N with 1 <= K <= N, such as 2/4"),
        }
    }

    /// Whether the object named `name` (a key, a path or an `s3://` URL)
    /// belongs to this shard.
    pub fn contains(&self, name: &str) -> bool {
        shard_of(name, self.n) == self.k
    }

    /// The Delta application id of the shard's runs.
    pub fn app_id(&self) -> String {
        format!("{}-shard-{}-of-{}", super::APP_ID, self.k, self.n)
    }

    /// What the shard's file names and run ids carry: `s2of4-`.
    pub fn tag(&self) -> String {
        format!("s{}of{}-", self.k, self.n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The shard, from 1 to `n`, of the object named `name`.
pub fn shard_of(name: &str, n: u32) -> u32 {
    let file = name.rsplit('/').next().unwrap_or(name);
    (fnv1a64(file.as_bytes()) % u64::from(n.max(1))) as u32 + 1
}

/// The 64-bit FNV-1a hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The writer identity of a lake's runs: unsharded (the application id
/// `s3logs`, names as they always were) or one shard.
pub trait Writer {
    /// The Delta application id.
    fn app_id(&self) -> String;
    /// The prefix of the run's file names and run ids (empty unsharded).
    fn tag(&self) -> String;
}

impl Writer for Option<Shard> {
    fn app_id(&self) -> String {
        self.map_or_else(|| super::APP_ID.to_string(), |s| s.app_id())
    }

    fn tag(&self) -> String {
        self.map(|s| s.tag()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_object_is_in_exactly_one_shard_whatever_its_prefix() {
        for n in 1..=7 {
            for i in 0..500 {
                let name = format!("2024-05-01-10-15-{i:02}-1A2B3C4D{i:08X}");
                let owners: Vec<u32> = (1..=n)
                    .filter(|&k| Shard { k, n }.contains(&name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} of {n}");
                let elsewhere = format!("s3://bucket/logs/2024/05/01/{name}");
                assert!(Shard { k: owners[0], n }.contains(&elsewhere));
                assert!(Shard { k: owners[0], n }.contains(&format!("/mnt/x/{name}")));
            }
        }
    }

    #[test]
    fn shards_are_balanced() {
        let n = 4;
        let mut counts = [0; 4];
        for i in 0..4000 {
            let name = format!(
                "2024-05-01-{:02}-{:02}-00-{:016X}",
                i % 24,
                i % 60,
                i * 7919
            );
            counts[(shard_of(&name, n) - 1) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..=1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn parse_takes_k_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/4").expect("2/4"), Shard { k: 2, n: 4 });
        assert_eq!(Shard::parse("1/1").expect("1/1").to_string(), "1/1");
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", "-1/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Shard { k: 3, n: 4 }.app_id(), "s3logs-shard-3-of-4");
        assert_eq!(None::<Shard>.app_id(), "s3logs");
        assert_eq!(Some(Shard { k: 3, n: 4 }).tag(), "s3of4-");
    }
}
