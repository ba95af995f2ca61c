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
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use tokio::sync::OnceCell;

use crate::lake::{Lake, Table};

/// The default schema of a session over a lake.
#[derive(Debug, Default)]
pub struct LakeSchema {
    memory: MemorySchemaProvider,
    lake: RwLock<BTreeMap<String, Arc<LakeTable>>>,
}

/// A table of the lake, opened on first use.
struct LakeTable {
    which: Table,
    /// Built, with its object store known to the session, but not loaded.
    unloaded: DeltaTable,
    opened: OnceCell<Arc<dyn TableProvider>>,
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
    pub async fn install(ctx: &SessionContext, lake: &Lake) -> anyhow::Result<Vec<Table>> {
        let schema = Arc::new(Self::default());
        let state = ctx.state();
        let mut found = Vec::new();
        for which in [Table::Logs, Table::Rejects, Table::Ingested] {
            let Some(url) = lake.existing_url(which).await? else {
                continue;
            };
            found.push(which);
            // As `deltalake::open_table` builds it, without loading it.
            let unloaded = deltalake::table::builder::parse_table_uri(url.as_str())
                .and_then(deltalake::DeltaTableBuilder::from_url)
                .and_then(|b| b.build())
                .map_err(|e| anyhow::anyhow!("opening the {} table at {url}: {e}", which.name()))?;
            unloaded
                .update_datafusion_session(&state)
                .map_err(|e| anyhow::anyhow!("preparing the {} table: {e}", which.name()))?;
            schema.lake_tables_mut().insert(
                which.name().to_owned(),
                Arc::new(LakeTable {
                    which,
                    unloaded,
                    opened: OnceCell::new(),
                }),
            );
        }
        let options = state.config_options();
        let catalog = ctx
            .catalog(&options.catalog.default_catalog)
            .ok_or_else(|| anyhow::anyhow!("the session has no default catalog"))?;
        catalog.register_schema(&options.catalog.default_schema, schema)?;
        Ok(found)
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
        let opened = self.opened.get_or_try_init(|| async {
            let name = self.which.name();
            let mut table = self.unloaded.clone();
            let url = table.table_url().clone();
            table
                .load()
                .await
                .map_err(|e| OpenError(format!("opening the {name} table at {url}: {e}")))?;
            table
                .table_provider()
                .await
                .map_err(|e| OpenError(format!("reading the {name} table: {e}")))
        });
        opened
            .await
            .cloned()
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.memory.table_names();
        names.extend(
            self.lake_tables()
                .keys()
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
            None => Ok(None),
        }
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if let Some(t) = self.memory.table(name).await? {
            return Ok(Some(t.table_type()));
        }
        // Listing the tables opens none of them.
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
            .and_then(|t| t.opened.get().cloned()))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.memory.table_exist(name) || self.lake_tables().contains_key(name)
    }
}
