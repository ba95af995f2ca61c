//! Everything DataFusion: the session, the tables (`logs`, `rejects`,
//! `ingested`, `pricing`), the bundled queries and running them. When
//! DataFusion's APIs change, only this folder changes.

pub mod findings;
pub mod kept;
pub mod pricing;
pub mod queries;
pub mod raw;
pub mod raw_filter;
pub mod tables;
pub mod utc;
pub mod views;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use futures::{StreamExt, TryStreamExt};

use crate::lake::{Lake, Table};

/// Where the tables come from.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The lake, for `logs`, `rejects` and `ingested`.
    pub lake: Option<PathBuf>,
    /// Raw log files and folders, read directly as `logs` and `rejects`
    /// (instead of the lake's).
    pub raw: Vec<PathBuf>,
    /// The pricing plan: a bundled name or a TOML file.
    pub pricing: String,
    /// Which raw objects to read, and how to reach S3.
    pub selection: crate::source::Selection,
    /// The data of the enrichment functions.
    pub enrich: crate::enrich::Options,
}

/// Rows per batch inside a session, unless `DATAFUSION_EXECUTION_BATCH_SIZE`
/// says otherwise. The report's forty aggregations over the 2.1 GB bench
/// lake took about a seventh less CPU at 65,536 rows than at DataFusion's
/// 8,192 (fewer hash-table probes per call, fewer batches between
/// operators); the three benchmark queries were the same within the noise,
/// and 131,072 was no better.
const BATCH_SIZE: usize = 65_536;

/// Builds the session with every table registered.
///
/// # Errors
///
/// The lake or the raw files cannot be read, or the pricing is invalid.
pub async fn context(src: &Sources) -> Result<SessionContext> {
    // DATAFUSION_* variables tune the engine as DataFusion documents them
    // (DATAFUSION_EXECUTION_BATCH_SIZE=…); s3logs' own settings follow.
    let mut config = SessionConfig::from_env()
        .context("reading the DATAFUSION_* settings")?
        .with_information_schema(true)
        .with_target_partitions(rayon::current_num_threads().max(1));
    if std::env::var_os("DATAFUSION_EXECUTION_BATCH_SIZE").is_none() {
        config = config.with_batch_size(BATCH_SIZE);
    }
    let ctx = SessionContext::new_with_config(config);
    utc::register(&ctx);
    crate::enrich::register(&ctx, src.enrich.clone());
    if src.raw.is_empty() {
        lake_tables(&ctx, src).await?;
    } else {
        raw_tables(&ctx, src).await?;
    }
    let pricing = pricing::load(&src.pricing)?;
    ctx.register_table(
        "pricing",
        Arc::new(MemTable::try_new(pricing.schema(), vec![vec![pricing]])?),
    )?;
    Ok(ctx)
}

/// `logs` and `rejects` read from the raw files of `src`.
async fn raw_tables(ctx: &SessionContext, src: &Sources) -> Result<()> {
    let (paths, selection) = (src.raw.clone(), src.selection.clone());
    let found = tokio::task::spawn_blocking(move || crate::source::find(&paths, &selection))
        .await
        .context("listing raw logs")?;
    if let Some(m) = found.errors.first() {
        bail!("{}: {}", m.source, m.error);
    }
    let objects: Arc<[crate::source::Object]> = found.objects.into();
    // The views, computed once per range; the raw tables beside them.
    tables::LakeSchema::install(ctx, None, String::new()).await?;
    for kind in [raw::RawKind::Logs, raw::RawKind::Rejects] {
        let name = match kind {
            raw::RawKind::Logs => "logs",
            raw::RawKind::Rejects => "rejects",
        };
        ctx.register_table(
            name,
            Arc::new(raw::RawTable::new(Arc::clone(&objects), kind)),
        )?;
    }
    Ok(())
}

/// The lake's tables, each opened when a statement first names it.
async fn lake_tables(ctx: &SessionContext, src: &Sources) -> Result<()> {
    let Some(root) = &src.lake else {
        bail!(
            "no lake given: use --lake DIR (or S3LOGS_LAKE), or --raw PATH to read log files directly"
        );
    };
    let lake = Arc::new(Lake::at(root, &src.selection.s3)?);
    let no_lake = || {
        anyhow::anyhow!(
            "no lake at {}: ingest logs first (s3logs ingest LOGS --lake {0}), or use --raw",
            lake.display()
        )
    };
    if !lake.is_remote() && !root.is_dir() {
        return Err(no_lake());
    }
    let found =
        tables::LakeSchema::install(ctx, Some(Arc::clone(&lake)), src.enrich.fingerprint()).await?;
    // On S3 the lake exists when its logs table does.
    if lake.is_remote() && !found.contains(&Table::Logs) {
        return Err(no_lake());
    }
    if lake.has_pending_runs().await? {
        eprintln!(
            "s3logs: warning: a run on {} was interrupted while committing; the next ingest completes it",
            lake.display()
        );
    }
    Ok(())
}

/// Plans and starts a query with its bound parameters; results stream.
///
/// # Errors
///
/// As [`plan`].
pub async fn execute(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<(String, ScalarValue)>,
) -> Result<SendableRecordBatchStream> {
    Ok(plan(ctx, sql, params).await?.execute_stream().await?)
}

/// Plans a query with its bound parameters.
///
/// Queries only read. DataFusion would run `INSERT INTO logs …`, `INSERT
/// OVERWRITE` or `COPY … TO` against the Delta tables and the file system
/// (emptying `logs`, or adding rows the ledger does not know of, behind
/// the writer's lock), so every statement that writes, and DDL, is refused
/// before it runs.
///
/// # Errors
///
/// DataFusion's message for a SQL or planning error; a statement that
/// would write.
pub async fn plan(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<(String, ScalarValue)>,
) -> Result<DataFrame> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(tables::plain)?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .verify_plan(&plan)
        .map_err(|e| {
            anyhow::anyhow!(
                "s3logs query only reads: {} (INSERT, UPDATE, DELETE, COPY and CREATE/DROP are \
                 refused; the lake changes only through `s3logs ingest`, `compact` and `vacuum`)",
                e.strip_backtrace()
            )
        })?;
    let mut df = ctx.execute_logical_plan(plan).await?;
    if !params.is_empty() {
        df = df.with_param_values(params)?;
    }
    Ok(df)
}

/// Runs a bundled or user query with its bound parameters: from its kept
/// days when it is daily and the session reads a lake ([`kept`]), else as
/// written.
///
/// # Errors
///
/// As [`plan`], or the query failed.
pub async fn run(
    ctx: &SessionContext,
    query: &queries::Query,
    params: Vec<(String, ScalarValue)>,
) -> Result<SendableRecordBatchStream> {
    if let Some((schema, rows)) = kept::answer(ctx, query, &params).await? {
        return Ok(Box::pin(MemoryStream::try_new(rows, schema, None)?));
    }
    execute(ctx, &query.sql, params).await
}

/// The command that reruns a bundled query with the parameters `given`.
pub fn command(query: &str, given: &BTreeMap<String, String>) -> String {
    let mut command = format!("s3logs query {query}");
    for (k, v) in given {
        command.push_str(&format!(" --param {k}={v}"));
    }
    command
}

/// A query's whole result.
#[derive(Debug)]
pub struct Answer {
    /// Its column names.
    pub columns: Vec<String>,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
}

/// The results of the bundled queries a process has run, by the
/// [`command`] that reruns each, so that a report's findings and panels
/// run each query once, and independent queries run side by side.
#[derive(Debug, Default)]
pub struct Answers {
    by_command: HashMap<String, Arc<Answer>>,
}

/// How many queries [`Answers::run_all`] runs at a time: a query's last
/// stages (a sort, a window, a final aggregate) often keep one core busy,
/// so two at a time keep both of this machine's kind busy without holding
/// many queries' hash tables at once.
const SIDE_BY_SIDE: usize = 2;

impl Answers {
    /// The result of `query` with the parameters `given`, run now unless
    /// it ran before.
    ///
    /// # Errors
    ///
    /// A parameter is invalid or the query failed.
    pub async fn run(
        &mut self,
        ctx: &SessionContext,
        query: &queries::Query,
        given: &BTreeMap<String, String>,
    ) -> Result<Arc<Answer>> {
        let key = command(&query.name, given);
        if let Some(a) = self.by_command.get(&key) {
            return Ok(Arc::clone(a));
        }
        let answer = Arc::new(answer(ctx, query, given).await?);
        self.by_command.insert(key, Arc::clone(&answer));
        Ok(answer)
    }

    /// Runs every query of `wanted` that has not run yet, a few at a time.
    ///
    /// # Errors
    ///
    /// The first query that failed.
    pub async fn run_all(
        &mut self,
        ctx: &SessionContext,
        wanted: Vec<(queries::Query, BTreeMap<String, String>)>,
    ) -> Result<()> {
        let mut todo = Vec::new();
        for (query, given) in wanted {
            let key = command(&query.name, &given);
            if !self.by_command.contains_key(&key) && !todo.iter().any(|(k, _, _)| *k == key) {
                todo.push((key, query, given));
            }
        }
        let mut running =
            futures::stream::iter(todo.into_iter().map(|(key, query, given)| async move {
                let answer = answer(ctx, &query, &given).await?;
                anyhow::Ok((key, answer))
            }))
            .buffered(SIDE_BY_SIDE);
        while let Some(done) = running.next().await {
            let (key, answer) = done?;
            self.by_command.insert(key, Arc::new(answer));
        }
        Ok(())
    }
}

async fn answer(
    ctx: &SessionContext,
    query: &queries::Query,
    given: &BTreeMap<String, String>,
) -> Result<Answer> {
    let start = std::time::Instant::now();
    let params = query
        .bind(given)
        .with_context(|| format!("the parameters of {}", query.name))?;
    let stream = run(ctx, query, params)
        .await
        .with_context(|| format!("running {}", query.name))?;
    let columns = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let batches = stream
        .try_collect()
        .await
        .with_context(|| format!("running {}", query.name))?;
    say_time("query", &query.name, start);
    Ok(Answer { columns, batches })
}

/// With `S3LOGS_TIMINGS=1`, says on stderr how long a bundled query or a
/// view took, from planning to its last row (a query's time includes the
/// days of the views it computed): what to look at when a report is slow.
pub(crate) fn say_time(what: &str, name: &str, start: std::time::Instant) {
    static ON: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| crate::env_u64("S3LOGS_TIMINGS").is_some_and(|n| n > 0));
    if *ON {
        let secs = start.elapsed().as_secs_f64();
        eprintln!("s3logs: {what} {name}: {secs:.3} s");
    }
}

/// The objects that `ctx`'s `logs` table reads when it reads raw files
/// (`None` over a lake).
///
/// # Errors
///
/// The table cannot be opened.
pub async fn raw_objects(ctx: &SessionContext) -> Result<Option<Arc<[crate::source::Object]>>> {
    if !ctx.table_exist("logs")? {
        return Ok(None);
    }
    let provider = ctx.table_provider("logs").await.map_err(tables::plain)?;
    let any: &dyn std::any::Any = provider.as_ref();
    Ok(any
        .downcast_ref::<raw::RawTable>()
        .map(raw::RawTable::objects))
}

/// Reads the `logs` and `rejects` tables once into memory and puts them in
/// place of the originals, so that many queries over raw files parse them
/// once (`s3logs report --raw`). `logs` keeps only the days `since` to
/// `until` (`YYYY-MM-DD`, inclusive) when given.
///
/// # Errors
///
/// The tables cannot be read, or raw files hold more than `budget` bytes
/// of text (see [`is_over_budget`]).
pub async fn in_memory(
    ctx: &SessionContext,
    since: Option<&str>,
    until: Option<&str>,
    budget: Option<u64>,
) -> Result<()> {
    let partitions = ctx.copied_config().target_partitions();
    if let Some(objects) = raw_objects(ctx).await? {
        // Raw files: both tables from one read, then the range.
        let start = std::time::Instant::now();
        let read =
            tokio::task::spawn_blocking(move || raw::read_both(&objects, partitions, budget))
                .await
                .context("reading the logs table")?;
        let (logs, rejects) = read.context("reading the logs table")?;
        say_time("table", "logs and rejects", start);
        for (name, schema, parts) in [
            ("logs", crate::schema::logs(), logs),
            ("rejects", crate::schema::rejects(), rejects),
        ] {
            ctx.deregister_table(name)?;
            ctx.register_table(name, Arc::new(MemTable::try_new(schema, parts)?))?;
        }
        if since.is_none() && until.is_none() {
            return Ok(());
        }
    }
    for name in ["logs", "rejects"] {
        if !ctx.table_exist(name)? {
            continue;
        }
        let mut df = ctx.table(name).await.map_err(tables::plain)?;
        if name == "logs" {
            use datafusion::prelude::{col, lit};
            if let Some(s) = since.and_then(crate::civil::parse_date) {
                df = df.filter(col("date").gt_eq(lit(ScalarValue::Date32(Some(s)))))?;
            }
            if let Some(u) = until.and_then(crate::civil::parse_date) {
                df = df.filter(col("date").lt_eq(lit(ScalarValue::Date32(Some(u)))))?;
            }
        }
        let schema = Arc::new(df.schema().as_arrow().clone());
        let start = std::time::Instant::now();
        let batches = df
            .collect()
            .await
            .with_context(|| format!("reading the {name} table"))?;
        say_time("table", name, start);
        let parts = round_robin(batches, partitions);
        ctx.deregister_table(name)?;
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, parts)?))?;
    }
    Ok(())
}

/// Whether [`in_memory`] stopped because the raw files held more text than
/// its budget (the caller can read them another way).
pub fn is_over_budget(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        matches!(
            c.downcast_ref::<DataFusionError>(),
            Some(DataFusionError::ResourcesExhausted(_))
        )
    })
}

/// In-memory batches dealt over `partitions` (at least one), so that the
/// queries over them use every core.
pub(crate) fn round_robin(batches: Vec<RecordBatch>, partitions: usize) -> Vec<Vec<RecordBatch>> {
    let mut parts = vec![Vec::new(); partitions.max(1)];
    let n = parts.len();
    for (i, b) in batches.into_iter().enumerate() {
        parts[i % n].push(b);
    }
    parts
}
