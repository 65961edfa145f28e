//! A connection to the queue with its schema checked, and the server keys stored in it.

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use crate::address::QueueAddress;
use crate::connection::connect;
use crate::error::QueueError;
use crate::job::KeyHash;
use crate::limits::{sql_bytes, ReadLimits};
use crate::migrations::migrate;

/// NOTIFY channel: jobs were enqueued or put back (workers listen).
pub const JOBS_CHANNEL: &str = "pulsecure_jobs";
/// NOTIFY channel: jobs finished (waiting clients listen).
pub const DONE_CHANNEL: &str = "pulsecure_done";

/// The queue database, connected and migrated.
pub struct Queue {
    pub(crate) client: Client,
    notifications: mpsc::UnboundedReceiver<String>,
    pub(crate) limits: ReadLimits,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("closed", &self.client.is_closed())
            .finish()
    }
}

impl Queue {
    /// Connect to `address` and bring the schema up to date. Reads are bounded by the
    /// known maxima ([`ReadLimits::default`]).
    pub async fn connect(address: &QueueAddress) -> Result<Self, QueueError> {
        let mut connection = connect(address).await?;
        migrate(&mut connection.client).await?;
        Ok(Queue {
            client: connection.client,
            notifications: connection.notifications,
            limits: ReadLimits::default(),
        })
    }

    /// Bound this connection's reads by `limits` instead.
    pub fn with_limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The bounds of this connection's reads.
    pub fn limits(&self) -> ReadLimits {
        self.limits
    }

    /// Whether the connection is gone (reconnect with [`Queue::connect`]).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Receive NOTIFYs on `channel` from now on.
    pub async fn listen(&self, channel: &str) -> Result<(), QueueError> {
        // Channel names are this crate's constants, never input.
        self.client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .map_err(QueueError::from_pg("subscribing to notifications"))
    }

    /// Commit this session's writes without waiting for the WAL flush (see
    /// [`WorkerConfig::synchronous_commit`](crate::WorkerConfig::synchronous_commit)).
    pub async fn asynchronous_commits(&self) -> Result<(), QueueError> {
        self.client
            .batch_execute("SET synchronous_commit = off")
            .await
            .map_err(QueueError::from_pg("configuring the session"))
    }

    /// Wait for a notification or `timeout`, whichever first; false if the timeout won.
    /// Returns at once, true, when the connection has dropped (the caller's next query
    /// reports it).
    pub async fn wait(&mut self, timeout: std::time::Duration) -> bool {
        match tokio::time::timeout(timeout, self.notifications.recv()).await {
            Ok(Some(_)) => {
                // Several notifications may have piled up: one wake-up is enough.
                while self.notifications.try_recv().is_ok() {}
                true
            }
            Ok(None) => {
                // The driver ended: do not spin on a closed channel.
                tokio::time::sleep(timeout.min(std::time::Duration::from_millis(200))).await;
                true
            }
            Err(_) => false,
        }
    }

    /// Store a server key once; returns its SHA-256. Already stored keys are not sent again.
    pub async fn put_server_key(&self, bytes: &[u8]) -> Result<KeyHash, QueueError> {
        let hash: KeyHash = Sha256::digest(bytes).into();
        if self.has_server_key(&hash).await? {
            return Ok(hash);
        }
        self.client
            .execute(
                "INSERT INTO pulsecure_server_keys (sha256, key_bytes) VALUES ($1, $2)
                 ON CONFLICT (sha256) DO NOTHING",
                &[&hash.as_slice(), &bytes],
            )
            .await
            .map_err(QueueError::from_pg("storing a server key"))?;
        Ok(hash)
    }

    /// Whether the key `hash` is stored.
    pub async fn has_server_key(&self, hash: &KeyHash) -> Result<bool, QueueError> {
        let row = self
            .client
            .query_opt(
                "SELECT 1 FROM pulsecure_server_keys WHERE sha256 = $1",
                &[&hash.as_slice()],
            )
            .await
            .map_err(QueueError::from_pg("looking up a server key"))?;
        Ok(row.is_some())
    }

    /// The bytes of key `hash`, checked against their hash. A key larger than the limit is
    /// not transferred: [`QueueError::TooLarge`].
    pub async fn server_key(&self, hash: &KeyHash) -> Result<Vec<u8>, QueueError> {
        let limit = self.limits.key;
        let row = self
            .client
            .query_opt(
                "SELECT CASE WHEN octet_length(key_bytes) <= $2::bigint THEN key_bytes END,
                        octet_length(key_bytes)
                 FROM pulsecure_server_keys WHERE sha256 = $1",
                &[&hash.as_slice(), &sql_bytes(limit)],
            )
            .await
            .map_err(QueueError::from_pg("reading a server key"))?
            .ok_or_else(|| {
                QueueError::Corrupt("a job names a server key the queue does not hold".into())
            })?;
        let Some(bytes) = row.get::<_, Option<Vec<u8>>>(0) else {
            return Err(QueueError::TooLarge {
                what: "server key",
                bytes: row.get::<_, i32>(1).max(0) as u64,
                limit,
            });
        };
        let found: KeyHash = Sha256::digest(&bytes).into();
        if &found != hash {
            return Err(QueueError::Corrupt(
                "a stored server key does not hash to its address".into(),
            ));
        }
        Ok(bytes)
    }
}
