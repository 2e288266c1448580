//! Runs the shared backend conformance suite against a real SQLite file.

use std::sync::Arc;

use ferrohub_store::conformance;
use ferrohub_store_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store =
        SqliteStore::open(&dir.path().join("ferrohub.db")).unwrap_or_else(|e| panic!("open: {e}"));
    conformance::run_all(Arc::new(store)).await;
}
