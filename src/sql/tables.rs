//! The lake's tables in a session, each opened when a statement first
//! names it.
//!
//! Opening a Delta table reads its log, and that was most of what a short
//! query cost as a whole process: `SELECT … FROM logs` read the logs of
//! `rejects` and `ingested` too. [`LakeSchema`] is the session's default
//! schema: it knows which tables exist (their `_delta_log` folders) from
//! the start, and opens one on its first use, once, for every statement
//! after it. Tables registered by name (`pricing`, the in-memory copies of
//! a report) are kept as DataFusion's memory schema keeps them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use tokio::sync::OnceCell;

use super::views;
use crate::lake::{Lake, Table};

/// The default schema of a session over a lake.
#[derive(Debug, Default)]
pub struct LakeSchema {
    memory: MemorySchemaProvider,
    lake: RwLock<BTreeMap<String, Arc<LakeTable>>>,
    views: BTreeMap<String, Arc<ViewSlot>>,
    /// Where the views and the bundled queries keep their days, over a
    /// lake with logs.
    store: Option<Arc<views::Store>>,
}

/// A table of the lake, opened on first use.
pub struct LakeTable {
    which: Table,
    /// The lake it is a table of.
    lake: Arc<Lake>,
    /// Built, with its object store known to the session, but not loaded.
    unloaded: DeltaTable,
    /// The session's settings, for the scans deltalake plans (see
    /// [`LakeTable::loaded`]).
    settings: Arc<SessionState>,
    opened: OnceCell<(DeltaTable, Arc<dyn TableProvider>)>,
    /// Its files by day ([`LakeTable::files_by_day`]), listed once.
    days: OnceCell<Option<BTreeMap<i32, String>>>,
}

/// A daily view ([`views`]), planned when first named.
#[derive(Debug)]
struct ViewSlot {
    view: super::queries::Query,
    store: Option<Arc<views::Store>>,
    built: OnceCell<Arc<dyn TableProvider>>,
}

impl fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeTable")
            .field("table", &self.which.name())
            .field("opened", &self.opened.initialized())
            .finish()
    }
}

/// Why a table of the lake could not be opened, with its causes: shown
/// as it is, not as one of DataFusion's errors.
#[derive(Debug)]
pub struct OpenError(String);

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

/// An error of DataFusion as the CLI shows it: the message of a table
/// that would not open without DataFusion's "External error" around it.
pub fn plain(e: DataFusionError) -> anyhow::Error {
    match e {
        DataFusionError::External(inner) if inner.is::<OpenError>() => {
            anyhow::anyhow!(inner.to_string())
        }
        e => e.into(),
    }
}

impl LakeSchema {
    /// Makes `ctx`'s default schema the lake's: its `logs`, `rejects` and
    /// `ingested` tables, those that exist, opened when first named. Says
    /// which exist.
    ///
    /// # Errors
    ///
    /// The lake cannot be listed, or a table's location is invalid.
    pub async fn install(
        ctx: &SessionContext,
        lake: Option<Arc<Lake>>,
        enrichment: String,
    ) -> anyhow::Result<Vec<Table>> {
        let mut schema = Self::default();
        let state = ctx.state();
        let mut found = Vec::new();
        // Only the settings: the whole state would hold the catalog this
        // schema joins, a cycle.
        let settings = Arc::new(
            SessionStateBuilder::new()
                .with_config(state.config().clone())
                .build(),
        );
        let tables = if lake.is_some() {
            &[Table::Logs, Table::Rejects, Table::Ingested][..]
        } else {
            &[]
        };
        for &which in tables {
            let Some(lake) = &lake else { break };
            let Some(url) = lake.existing_url(which).await? else {
                continue;
            };
            found.push(which);
            // As `deltalake::open_table` builds it, without loading it.
            let unloaded = deltalake::table::builder::parse_table_uri(url.as_str())
                .and_then(deltalake::DeltaTableBuilder::from_url)
                .and_then(|b| b.build())
                .map_err(|e| {
                    anyhow::anyhow!("{}: {e}", crate::lake::opening(which.name(), &url))
                })?;
            unloaded
                .update_datafusion_session(&state)
                .map_err(|e| anyhow::anyhow!("preparing the {} table: {e}", which.name()))?;
            schema.lake_tables_mut().insert(
                which.name().to_owned(),
                Arc::new(LakeTable {
                    which,
                    lake: Arc::clone(lake),
                    unloaded,
                    settings: Arc::clone(&settings),
                    opened: OnceCell::new(),
                    days: OnceCell::new(),
                }),
            );
        }
        // The views keep their days in the lake when its logs exist.
        let store = match (&lake, schema.lake_tables().get(Table::Logs.name())) {
            (Some(lake), Some(logs)) => Some(Arc::new(views::Store {
                lake: Arc::clone(lake),
                logs: Arc::clone(logs),
                enrichment,
            })),
            _ => None,
        };
        schema.store = store.clone();
        for view in views::all()? {
            schema.views.insert(
                view.name.clone(),
                Arc::new(ViewSlot {
                    view,
                    store: store.clone(),
                    built: OnceCell::new(),
                }),
            );
        }
        let schema = Arc::new(schema);
        let options = state.config_options();
        let catalog = ctx
            .catalog(&options.catalog.default_catalog)
            .ok_or_else(|| anyhow::anyhow!("the session has no default catalog"))?;
        catalog.register_schema(&options.catalog.default_schema, schema)?;
        Ok(found)
    }

    /// Where `ctx`'s lake keeps the days of views and queries: `None` over
    /// raw files, or a lake without logs.
    pub fn store(ctx: &SessionContext) -> Option<Arc<views::Store>> {
        let state = ctx.state();
        let options = state.config_options();
        let schema = ctx
            .catalog(&options.catalog.default_catalog)?
            .schema(&options.catalog.default_schema)?;
        schema.downcast_ref::<LakeSchema>()?.store.clone()
    }

    fn lake_tables(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<LakeTable>>> {
        self.lake.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lake_tables_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<LakeTable>>> {
        self.lake.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl LakeTable {
    async fn open(&self) -> Result<Arc<dyn TableProvider>> {
        self.loaded()
            .await
            .map(|(_, provider)| Arc::clone(provider))
    }

    /// The table as the session reads it, loaded once.
    async fn loaded(&self) -> Result<&(DeltaTable, Arc<dyn TableProvider>)> {
        let opened = self.opened.get_or_try_init(|| async {
            let name = self.which.name();
            let mut table = self.unloaded.clone();
            let url = table.table_url().clone();
            if let Err(e) = table.load().await {
                let opening = self.lake.opening(self.which, &url).await;
                return Err(OpenError(format!("{opening}: {e}")));
            }
            // With the session's settings, deltalake's scans filter rows
            // in the Parquet reader only when `pushdown_filters` is on, as
            // DataFusion's own do (it is off by default). Without them it
            // always did: on the lake that cost q2 (a filter keeping 4% of
            // the rows) about a seventh of its scan, and it still prunes
            // row groups by their statistics either way.
            let provider = table
                .table_provider()
                .with_session(Arc::clone(&self.settings))
                .await
                .map_err(|e| OpenError(format!("reading the {name} table: {e}")))?;
            Ok::<_, OpenError>((table, provider))
        });
        opened
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// The files of each day of the loaded table, one line per file (path,
    /// size, deletion vector) in path order: what keys a day of a view.
    /// `None` when a file has no date to place it by.
    pub async fn files_by_day(&self) -> Result<Option<&BTreeMap<i32, String>>> {
        let days = self.days.get_or_try_init(|| self.list_days()).await?;
        Ok(days.as_ref())
    }

    async fn list_days(&self) -> Result<Option<BTreeMap<i32, String>>> {
        use futures::TryStreamExt;
        let (table, _) = self.loaded().await?;
        let files: Vec<_> = table
            .get_active_add_actions_by_partitions(&[])
            .try_collect()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut lines: Vec<(i32, String)> = Vec::with_capacity(files.len());
        for f in &files {
            let day = f
                .partition_values_map()
                .get(crate::schema::DATE)
                .and_then(|d| d.as_deref().and_then(crate::civil::parse_date));
            let Some(day) = day else { return Ok(None) };
            let dv = f
                .deletion_vector_descriptor()
                .map(|d| {
                    format!(
                        "{:?}:{}@{:?}+{}#{}",
                        d.storage_type,
                        d.path_or_inline_dv,
                        d.offset,
                        d.size_in_bytes,
                        d.cardinality
                    )
                })
                .unwrap_or_default();
            lines.push((day, format!("{} {} {dv}\n", f.path(), f.size())));
        }
        lines.sort();
        let mut days: BTreeMap<i32, String> = BTreeMap::new();
        for (day, line) in lines {
            days.entry(day).or_default().push_str(&line);
        }
        Ok(Some(days))
    }
}

impl ViewSlot {
    async fn table(&self) -> Result<Arc<dyn TableProvider>> {
        self.built
            .get_or_try_init(|| async {
                let view = views::DailyView::new(self.view.clone(), self.store.clone()).await?;
                Ok::<_, DataFusionError>(Arc::new(view) as Arc<dyn TableProvider>)
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.memory.table_names();
        names.extend(
            self.lake_tables()
                .keys()
                .chain(self.views.keys())
                .filter(|n| !self.memory.table_exist(n))
                .cloned(),
        );
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.memory.table(name).await? {
            return Ok(Some(t));
        }
        let lake = self.lake_tables().get(name).cloned();
        match lake {
            Some(t) => t.open().await.map(Some),
            None => match self.views.get(name) {
                Some(v) => v.table().await.map(Some),
                None => Ok(None),
            },
        }
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if let Some(t) = self.memory.table(name).await? {
            return Ok(Some(t.table_type()));
        }
        // Listing the tables opens none of them.
        if self.views.contains_key(name) && !self.lake_tables().contains_key(name) {
            return Ok(Some(TableType::View));
        }
        Ok(self
            .lake_tables()
            .contains_key(name)
            .then_some(TableType::Base))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.memory.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.memory.deregister_table(name)? {
            return Ok(Some(t));
        }
        Ok(self
            .lake_tables_mut()
            .remove(name)
            .and_then(|t| t.opened.get().map(|(_, p)| Arc::clone(p))))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.memory.table_exist(name)
            || self.lake_tables().contains_key(name)
            || self.views.contains_key(name)
    }
}
