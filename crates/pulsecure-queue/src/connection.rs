//! One connection to the queue database, its driver task, and the notifications it receives.

use std::future::poll_fn;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client};

use crate::address::QueueAddress;
use crate::error::QueueError;

/// A connected client; `notifications` yields the channel name of every NOTIFY received
/// for a channel this connection LISTENs on. When the connection drops, `notifications`
/// ends and queries fail with [`QueueError::Unreachable`].
pub(crate) struct Connection {
    pub client: Client,
    pub notifications: mpsc::UnboundedReceiver<String>,
}

/// Connect to `address` (TLS verify-full when the address says so).
pub(crate) async fn connect(address: &QueueAddress) -> Result<Connection, QueueError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = match address.rustls()? {
        None => {
            let (client, mut connection) = address
                .config()
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(unreachable)?;
            tokio::spawn(async move {
                while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                    if !forward(message, &tx) {
                        break;
                    }
                }
            });
            client
        }
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let (client, mut connection) =
                address.config().connect(tls).await.map_err(unreachable)?;
            tokio::spawn(async move {
                while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                    if !forward(message, &tx) {
                        break;
                    }
                }
            });
            client
        }
    };
    Ok(Connection {
        client,
        notifications: rx,
    })
}

/// Any failure to connect is the database being unreachable (refused, timed out, TLS
/// verification failed, server starting up): worth retrying, not a statement's error.
fn unreachable(e: tokio_postgres::Error) -> QueueError {
    QueueError::Unreachable {
        action: "connecting",
        reason: match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        },
    }
}

/// Pass a notification on; false when the connection failed.
fn forward(
    message: Result<AsyncMessage, tokio_postgres::Error>,
    tx: &mpsc::UnboundedSender<String>,
) -> bool {
    match message {
        Ok(AsyncMessage::Notification(n)) => {
            let _ = tx.send(n.channel().to_string());
            true
        }
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("queue connection lost: {e}");
            false
        }
    }
}
