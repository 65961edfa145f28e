//! The queue's schema, applied in order under an
//! advisory lock so that workers and clients starting together apply each one once; all
//! pending migrations run in one transaction, so a failure leaves the schema as it was.
//! `pulsecure_schema` records what was applied; a database newer than this build is refused.

use tokio_postgres::Client;

use crate::error::QueueError;

/// The migrations, oldest first: (version, SQL).
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../migrations/0001_jobs.sql"))];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Arbitrary key of the advisory lock that serialises migrations ("PSQMIGR1").
const LOCK_KEY: i64 = 0x5053_514d_4947_5231;

/// Bring the schema to [`SCHEMA_VERSION`]; returns the migrations applied now.
pub(crate) async fn migrate(client: &mut Client) -> Result<Vec<i32>, QueueError> {
    let tx = client
        .transaction()
        .await
        .map_err(QueueError::from_pg("migrating the queue schema"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(QueueError::from_pg("migrating the queue schema"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS pulsecure_schema (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(QueueError::from_pg("migrating the queue schema"))?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM pulsecure_schema",
            &[],
        )
        .await
        .map_err(QueueError::from_pg("migrating the queue schema"))?;
    let current: i32 = row.get(0);
    if current > SCHEMA_VERSION {
        return Err(QueueError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .map_err(QueueError::from_pg("applying a queue migration"))?;
        tx.execute(
            "INSERT INTO pulsecure_schema (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(QueueError::from_pg("applying a queue migration"))?;
        applied.push(*version);
    }
    tx.commit()
        .await
        .map_err(QueueError::from_pg("migrating the queue schema"))?;
    if !applied.is_empty() {
        tracing::info!(?applied, "queue schema migrated");
    }
    Ok(applied)
}
