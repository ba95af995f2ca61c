//! What registers the lake's three tables in another engine (`s3logs
//! ddl`): the tables are plain Delta tables (reader 1, writer 2, no table
//! features), so every engine with a Delta reader can query them where
//! they are, with nothing copied. For Spark and DuckDB it also creates the
//! daily views whose SQL they run as written ([`portable_views`]), so the
//! bundled queries that read those views run there too.

use std::fmt::Write;

use anyhow::{Result, bail};

use super::Table;

/// An engine that reads Delta tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Amazon Athena (engine version 3), through the Glue catalog.
    Athena,
    /// Trino's Delta Lake connector.
    Trino,
    /// Apache Spark with Delta Lake (also Sail, Databricks, EMR).
    Spark,
    /// DuckDB with its `delta` extension.
    Duckdb,
}

/// Where the lake is, as engines name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An absolute local folder.
    Local(String),
    /// `s3://bucket/prefix` (no trailing `/`).
    S3(String),
}

impl Location {
    fn table(&self, table: Table, engine: Engine) -> String {
        match self {
            Location::S3(url) => format!("{url}/{}", table.name()),
            Location::Local(path) => {
                let path = format!("{}/{}", path.trim_end_matches('/'), table.name());
                match engine {
                    // Spark and Trino take URIs; DuckDB takes paths.
                    Engine::Spark | Engine::Trino => format!("file://{path}"),
                    _ => path,
                }
            }
        }
    }
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Checks that `name` is a plain identifier every engine takes unquoted.
///
/// # Errors
///
/// It is empty or holds anything but ASCII letters, digits and `_`, or
/// starts with a digit.
pub fn identifier(name: &str) -> Result<&str> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        bail!(
            "{name:?} is not a plain identifier (letters, digits and _, not starting with a digit)"
        );
    }
    Ok(name)
}

/// The statements that register the lake's tables in `engine`, in the
/// database (schema) `database`; for Trino, in the catalog `catalog`.
///
/// # Errors
///
/// Athena reads only tables on S3, and the names must be plain
/// identifiers.
pub fn ddl(engine: Engine, lake: &Location, database: &str, catalog: &str) -> Result<String> {
    let db = identifier(database)?;
    let catalog = identifier(catalog)?;
    let mut out = String::new();
    let shown = match lake {
        Location::Local(p) => p.as_str(),
        Location::S3(u) => u.as_str(),
    };
    // A comment: a line break in a path must not end it.
    let shown = shown.replace(['\n', '\r'], " ");
    let _ = writeln!(out, "-- The s3logs lake at {shown}, for {engine:?}.");
    match engine {
        Engine::Athena => {
            if matches!(lake, Location::Local(_)) {
                bail!("Athena reads tables on S3 only: give --lake s3://bucket/prefix");
            }
            let _ = writeln!(
                out,
                "-- Athena engine version 3 reads the schema and partitions from each \
                 table's Delta log; nothing to repair after a run."
            );
            let _ = writeln!(out, "CREATE DATABASE IF NOT EXISTS {db};");
            for t in Table::ALL_BY_NAME {
                let _ = writeln!(
                    out,
                    "CREATE EXTERNAL TABLE IF NOT EXISTS {db}.{} LOCATION {} TBLPROPERTIES ('table_type' = 'DELTA');",
                    t.name(),
                    literal(&lake.table(t, engine))
                );
            }
        }
        Engine::Trino => {
            let _ = writeln!(
                out,
                "-- Needs delta.register-table-procedure.enabled=true in the catalog's properties."
            );
            let _ = writeln!(out, "CREATE SCHEMA IF NOT EXISTS {catalog}.{db};");
            for t in Table::ALL_BY_NAME {
                let _ = writeln!(
                    out,
                    "CALL {catalog}.system.register_table(schema_name => {}, table_name => {}, table_location => {});",
                    literal(db),
                    literal(t.name()),
                    literal(&lake.table(t, engine))
                );
            }
        }
        Engine::Spark => {
            if matches!(lake, Location::S3(_)) {
                let _ = writeln!(
                    out,
                    "-- Open-source Spark with hadoop-aws reads s3a:// URLs: write s3a:// for s3:// there."
                );
            }
            let _ = writeln!(out, "CREATE DATABASE IF NOT EXISTS {db};");
            for t in Table::ALL_BY_NAME {
                let _ = writeln!(
                    out,
                    "CREATE TABLE IF NOT EXISTS {db}.{} USING delta LOCATION {};",
                    t.name(),
                    literal(&lake.table(t, engine))
                );
            }
            write_views(&mut out, db);
        }
        Engine::Duckdb => {
            let _ = writeln!(out, "INSTALL delta;");
            let _ = writeln!(out, "LOAD delta;");
            if matches!(lake, Location::S3(_)) {
                let _ = writeln!(
                    out,
                    "CREATE SECRET IF NOT EXISTS s3logs_lake (TYPE s3, PROVIDER credential_chain);"
                );
            }
            let _ = writeln!(out, "CREATE SCHEMA IF NOT EXISTS {db};");
            for t in Table::ALL_BY_NAME {
                let _ = writeln!(
                    out,
                    "CREATE OR REPLACE VIEW {db}.{} AS SELECT * FROM delta_scan({});",
                    t.name(),
                    literal(&lake.table(t, engine))
                );
            }
            write_views(&mut out, db);
        }
    }
    Ok(out)
}

/// The daily views (`queries/views`) in SQL that Spark and DuckDB run as
/// written: those that call none of s3logs' own functions (the enrichment
/// functions, `regexp_match`). Each is its SQL over `logs`.
pub fn portable_views() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::sql::views::VIEWS
        .iter()
        .copied()
        .filter(|(_, sql)| !calls_own_functions(sql))
}

/// Whether `sql` calls a function only s3logs has.
fn calls_own_functions(sql: &str) -> bool {
    let own = crate::enrich::FUNCTIONS
        .iter()
        .filter_map(|(signature, _)| signature.split_once('(').map(|(name, _)| name))
        .chain(["regexp_match"]);
    let code = without_comments(sql);
    own.into_iter().any(|f| code.contains(&format!("{f}(")))
}

/// `sql` without its comment lines (a view's header, and notes).
fn without_comments(sql: &str) -> String {
    let lines: Vec<&str> = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    lines.join("\n")
}

/// `CREATE OR REPLACE VIEW` of each [`portable_views`] in database `db`.
fn write_views(out: &mut String, db: &str) {
    let _ = writeln!(
        out,
        "-- The daily views that the bundled queries read (queries/views), over {db}.logs."
    );
    for (name, sql) in portable_views() {
        let body = without_comments(sql).replace("FROM logs", &format!("FROM {db}.logs"));
        let _ = writeln!(
            out,
            "CREATE OR REPLACE VIEW {db}.{name} AS\n{};",
            body.trim_end()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_names_the_three_tables_at_their_locations() {
        let s3 = Location::S3("s3://acme-logs/lake".into());
        for engine in [Engine::Athena, Engine::Trino, Engine::Spark, Engine::Duckdb] {
            let text = ddl(engine, &s3, "s3logs", "delta").expect("ddl");
            for t in ["logs", "rejects", "ingested"] {
                assert!(
                    text.contains(&format!("'s3://acme-logs/lake/{t}'")),
                    "{engine:?}: {text}"
                );
            }
        }
        let athena = ddl(Engine::Athena, &s3, "audit", "delta").expect("ddl");
        assert!(athena.contains(
            "CREATE EXTERNAL TABLE IF NOT EXISTS audit.logs LOCATION 's3://acme-logs/lake/logs' TBLPROPERTIES ('table_type' = 'DELTA');"
        ));
        let trino = ddl(Engine::Trino, &s3, "s3logs", "lake").expect("ddl");
        assert!(trino.contains("CALL lake.system.register_table(schema_name => 's3logs', table_name => 'logs', table_location => 's3://acme-logs/lake/logs');"));
    }

    #[test]
    fn local_lakes_quote_their_paths_and_athena_refuses_them() {
        let local = Location::Local("/srv/it's here".into());
        let spark = ddl(Engine::Spark, &local, "s3logs", "delta").expect("ddl");
        assert!(
            spark.contains("LOCATION 'file:///srv/it''s here/logs';"),
            "{spark}"
        );
        let duck = ddl(Engine::Duckdb, &local, "s3logs", "delta").expect("ddl");
        assert!(
            duck.contains("delta_scan('/srv/it''s here/rejects')"),
            "{duck}"
        );
        assert!(ddl(Engine::Athena, &local, "s3logs", "delta").is_err());
        for text in [&spark, &duck] {
            assert!(
                text.contains("CREATE OR REPLACE VIEW s3logs.daily_keys AS\nSELECT date, key,"),
                "{text}"
            );
            assert!(text.contains("FROM s3logs.logs\nGROUP BY 1, 2;"), "{text}");
            // Views that call s3logs' own functions are left out.
            assert!(!text.contains("VIEW s3logs.daily_origins"), "{text}");
            assert!(!text.contains("VIEW s3logs.daily_presigned"), "{text}");
        }
        assert!(ddl(Engine::Spark, &local, "bad name; DROP", "delta").is_err());
        assert!(ddl(Engine::Spark, &local, "1db", "delta").is_err());
    }
}
