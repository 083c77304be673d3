//! A ledger in Redis: one list, `<key>:<run id>`, one entry (the write's
//! sequence number) pushed per write, read back in pages; the list is
//! deleted at the end (and expires a week after the last write unless
//! `keep`, should the end never come). A write the server answered with an error was not
//! applied (refused); one whose connection dropped after it was sent may
//! have been (unknown). A multiplexed connection, opened again after a
//! loss.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use super::{Found, WriteError};
use crate::gameday::model::RedisLedger;

/// A list left behind (a runner killed before its end) expires a week
/// after its last write.
const EXPIRE_S: i64 = 7 * 24 * 3600;

/// Entries read per LRANGE.
const PAGE: isize = 10_000;

pub(super) struct Rds {
    client: Option<redis::Client>,
    key: String,
    keep: bool,
    timeout: Duration,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    reached: AtomicBool,
}

fn said(e: &redis::RedisError) -> String {
    e.to_string()
}

impl Rds {
    pub(super) fn new(spec: &RedisLedger, owner: &str, keep: bool, timeout: Duration) -> Rds {
        Rds {
            client: redis::Client::open(spec.url.as_str()).ok(),
            key: format!("{}:{owner}", spec.key),
            keep,
            timeout,
            connection: tokio::sync::Mutex::new(None),
            reached: AtomicBool::new(false),
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut held = self.connection.lock().await;
        if let Some(c) = held.as_ref() {
            return Ok(c.clone());
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| "the URL is not a Redis URL".to_string())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let c = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| said(&e))?;
        self.reached.store(true, Ordering::SeqCst);
        *held = Some(c.clone());
        Ok(c)
    }

    /// After an error that leaves the connection unusable, the next write
    /// opens another.
    async fn forget_if_broken(&self, e: &redis::RedisError) {
        if e.is_unrecoverable_error() || e.is_io_error() || e.is_connection_dropped() {
            *self.connection.lock().await = None;
        }
    }

    pub(super) async fn write(&self, seq: u64, sent: &AtomicBool) -> Result<(), WriteError> {
        let mut c = self.connection().await.map_err(WriteError::Refused)?;
        sent.store(true, Ordering::SeqCst);
        let mut push = redis::pipe();
        push.atomic().rpush(&self.key, seq);
        if !self.keep {
            push.expire(&self.key, EXPIRE_S).ignore();
        }
        let pushed: redis::RedisResult<(i64,)> = push.query_async(&mut c).await;
        match pushed {
            Ok(_) => Ok(()),
            Err(e) => {
                self.forget_if_broken(&e).await;
                if matches!(e.kind(), redis::ErrorKind::Server(_)) {
                    Err(WriteError::Refused(said(&e)))
                } else {
                    Err(WriteError::Unknown(said(&e)))
                }
            }
        }
    }

    pub(super) async fn read_back(&self) -> Result<Found, String> {
        let mut c = self.connection().await?;
        let mut found = Found::default();
        let mut start: isize = 0;
        loop {
            let page: redis::RedisResult<Vec<u64>> =
                c.lrange(&self.key, start, start + PAGE - 1).await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    self.forget_if_broken(&e).await;
                    return Err(said(&e));
                }
            };
            for seq in &page {
                *found.counts.entry(*seq).or_default() += 1;
            }
            if (page.len() as isize) < PAGE {
                return Ok(found);
            }
            start += PAGE;
        }
    }

    pub(super) async fn remove(&self) -> Result<String, String> {
        if !self.reached.load(Ordering::SeqCst) {
            return Ok("it never reached the store: nothing to remove".to_string());
        }
        let mut c = self.connection().await?;
        let removed: i64 = c.del(&self.key).await.map_err(|e| said(&e))?;
        Ok(if removed > 0 {
            format!("list {} deleted", self.key)
        } else {
            format!("list {} was already gone", self.key)
        })
    }
}
