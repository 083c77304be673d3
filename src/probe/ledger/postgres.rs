//! A ledger in PostgreSQL (or a pooler speaking its protocol): one row
//! `(run, seq)` per write in the ledger's own table, created if missing.
//! Only the simple query protocol is used (a transaction-pooling pgbouncer
//! keeps no prepared statement), with nothing in the SQL but the table's
//! checked name, the run id (hex) and numbers. A write the server answered
//! with an error was not committed (refused); one whose connection was
//! lost after it was sent may have been (unknown). Each write has a
//! connection of its own while it is in flight (an idle one again, or a new
//! one), so a pooler's per-client query timeout sees each write, and a
//! write given up on takes its connection with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::{Found, WriteError};
use crate::gameday::model::PostgresLedger;

pub(super) struct Pg {
    config: Option<tokio_postgres::Config>,
    table: String,
    run: String,
    /// Connections no write is using, at most [`IDLE`].
    idle: std::sync::Mutex<Vec<Client>>,
    /// Whether the table was made (once, by the first connection).
    made: tokio::sync::Mutex<bool>,
    /// Whether this run created the table (then it drops it at the end,
    /// if no other run's rows are in it).
    created: AtomicBool,
    /// Whether the ledger ever reached the store (else nothing to remove).
    reached: AtomicBool,
}

/// Idle connections kept for the next writes.
const IDLE: usize = 4;

/// `'3f9c2a'`: a string literal (quotes doubled, though a run id has none).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn said(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl Pg {
    pub(super) fn new(spec: &PostgresLedger, run: &str, timeout: Duration) -> Pg {
        let config = spec
            .url
            .parse::<tokio_postgres::Config>()
            .ok()
            .map(|mut c| {
                c.connect_timeout(timeout);
                c.application_name("gameday-ledger");
                c
            });
        Pg {
            config,
            table: spec.table.clone(),
            run: run.to_string(),
            idle: std::sync::Mutex::default(),
            made: tokio::sync::Mutex::new(false),
            created: AtomicBool::new(false),
            reached: AtomicBool::new(false),
        }
    }

    /// A connection of the write's own: an idle one, or a new one (the
    /// table made first, once).
    async fn take(&self) -> Result<Client, String> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            match idle {
                Some(c) if !c.is_closed() => return Ok(c),
                Some(_) => continue,
                None => break,
            }
        }
        let config = self
            .config
            .as_ref()
            .ok_or_else(|| "the URL is not a PostgreSQL URL".to_string())?;
        let (client, connection) = config.connect(NoTls).await.map_err(|e| said(&e))?;
        tokio::spawn(connection);
        self.make_table(&client).await?;
        Ok(client)
    }

    /// A connection back once its write is done, unless it broke.
    fn give_back(&self, client: Client) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !client.is_closed() && idle.len() < IDLE {
            idle.push(client);
        }
    }

    /// The ledger's table, created if missing (noting whether this run
    /// made it), once.
    async fn make_table(&self, client: &Client) -> Result<(), String> {
        let mut made = self.made.lock().await;
        if *made {
            return Ok(());
        }
        let existed = self
            .rows(
                client,
                &format!("SELECT to_regclass({}) IS NOT NULL", literal(&self.table)),
            )
            .await?
            .first()
            .is_some_and(|row| row.first().is_some_and(|v| v == "t"));
        client
            .simple_query(&format!(
                "CREATE TABLE IF NOT EXISTS {} (run text NOT NULL, seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now())",
                self.table
            ))
            .await
            .map_err(|e| said(&e))?;
        self.created.store(!existed, Ordering::SeqCst);
        self.reached.store(true, Ordering::SeqCst);
        *made = true;
        Ok(())
    }

    /// A query's rows, each as its columns' texts.
    async fn rows(&self, client: &Client, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let messages = client.simple_query(sql).await.map_err(|e| said(&e))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or_default().to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    pub(super) async fn write(&self, seq: u64, sent: &AtomicBool) -> Result<(), WriteError> {
        let client = self.take().await.map_err(WriteError::Refused)?;
        let sql = format!(
            "INSERT INTO {} (run, seq) VALUES ({}, {seq})",
            self.table,
            literal(&self.run)
        );
        sent.store(true, Ordering::SeqCst);
        match client.simple_query(&sql).await {
            Ok(_) => {
                self.give_back(client);
                Ok(())
            }
            // The server answered: not committed.
            Err(e) if e.as_db_error().is_some() => Err(WriteError::Refused(said(&e))),
            Err(e) => Err(WriteError::Unknown(said(&e))),
        }
    }

    pub(super) async fn read_back(&self) -> Result<Found, String> {
        let client = self.take().await?;
        let rows = self
            .rows(
                &client,
                &format!(
                    "SELECT seq, count(*) FROM {} WHERE run = {} GROUP BY seq",
                    self.table,
                    literal(&self.run)
                ),
            )
            .await?;
        let mut found = Found::default();
        for row in rows {
            if let [seq, count] = row.as_slice()
                && let (Ok(seq), Ok(count)) = (seq.parse::<u64>(), count.parse::<u32>())
            {
                found.counts.insert(seq, count);
            }
        }
        self.give_back(client);
        Ok(found)
    }

    /// This run's rows deleted; the table dropped if this run made it and
    /// nothing else is in it. In one transaction holding the table.
    pub(super) async fn remove(&self) -> Result<String, String> {
        if !self.reached.load(Ordering::SeqCst) {
            return Ok("it never reached the store: nothing to remove".to_string());
        }
        let client = self.take().await?;
        let table = &self.table;
        client
            .simple_query(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; DELETE FROM {table} WHERE run = {}",
                literal(&self.run)
            ))
            .await
            .map_err(|e| said(&e))?;
        let others = self
            .rows(&client, &format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .await?
            .first()
            .is_some_and(|row| row.first().is_some_and(|v| v == "t"));
        let drop = self.created.load(Ordering::SeqCst) && !others;
        let end = if drop {
            format!("DROP TABLE {table}; COMMIT")
        } else {
            "COMMIT".to_string()
        };
        client.simple_query(&end).await.map_err(|e| said(&e))?;
        Ok(if drop {
            format!("table {table} dropped (this run created it)")
        } else if others {
            format!("this run's rows deleted from table {table} (other rows kept)")
        } else {
            format!("this run's rows deleted from table {table} (it was there before)")
        })
    }
}
