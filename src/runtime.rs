//! The one tokio runtime of the process.
//!
//! Every async piece (DataFusion queries, deltalake commits, S3 requests of
//! sources and lakes, the S3 lake's lease renewal) runs here, so the HTTP
//! client's connections live as long as the process and no module builds a
//! runtime of its own. It is started on first use, with one worker per core.
//!
//! Synchronous code (the CLI, reader and worker threads, `spawn_blocking`
//! tasks) calls [`block_on`]; async code that must not run on a caller's
//! executor (a future handed to DataFusion) uses [`spawn`].

use std::future::Future;
use std::io;
use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("s3logs-async")
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
});

/// The runtime, started on first use.
pub fn get() -> &'static tokio::runtime::Runtime {
    &RUNTIME
}

/// Runs a future to completion from synchronous code (a thread that is not
/// driving async tasks: the main thread, a reader thread, a
/// `spawn_blocking` task).
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

/// Runs a future as a task of the runtime and waits for it from async code.
///
/// # Errors
///
/// The task panicked.
pub async fn spawn<F>(f: F) -> io::Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RUNTIME.spawn(f).await.map_err(io::Error::other)
}
