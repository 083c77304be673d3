//! A ledger in PostgreSQL (or a pooler speaking its protocol): one row
//! `(run, seq)` per write in the ledger's own table. Only the simple query
//! protocol is used (a transaction-pooling pgbouncer keeps no prepared
//! statement), with nothing in the SQL but the table's checked and quoted
//! name, the ledger's id (hex, a dot, a number) and numbers.
//!
//! The table is the ledger's own: made by a ledger (a `gameday ledger`
//! comment says so, and which run made it), or refused. A ledger makes it
//! if missing and, at the end, deletes its own rows and drops it if its run
//! made it and nothing else is in it.
//!
//! A write the server refused with an error was not committed; one cut off
//! by a fatal or connection error, or left without an answer, may have
//! been (unknown). Each write has a connection of its own while in flight
//! (an idle one again, or a new one), so a pooler's per-client timeout sees
//! each write; at most [`CONNECTIONS`] are open at once, counted until the
//! server closes them (a write given up on keeps its connection until the
//! answer comes), so a frozen database never gets more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::{Found, WriteError};
use crate::gameday::model::PostgresLedger;

/// Idle connections kept for the next writes.
const IDLE: usize = 4;

/// Most connections open at once, idle, busy or given up on.
const CONNECTIONS: usize = 8;

/// The comment that marks a table a ledger made.
const MARK: &str = "gameday ledger, made by run ";

pub(super) struct Pg {
    config: Option<tokio_postgres::Config>,
    /// `"schema"."name"`.
    table: String,
    /// This ledger's rows: `<run id>.<probe>`.
    owner: String,
    /// The run, as the table's comment names it.
    run: String,
    /// Connections no write is using, at most [`IDLE`].
    idle: std::sync::Mutex<Vec<Client>>,
    /// A permit per open connection, held by its task until it closes.
    slots: Arc<Semaphore>,
    /// Whether the table is known to be there (made or found).
    made: tokio::sync::Mutex<bool>,
    /// Whether this run made the table (then it drops it at the end, if no
    /// other run's rows are in it).
    created: AtomicBool,
    /// Whether the ledger ever reached the store (else nothing to remove).
    reached: AtomicBool,
}

/// `'3f9c2a.1'`: a string literal (quotes doubled, though an id has none).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn said(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Whether the server's error says the statement was not committed: an
/// ERROR outside the connection (08), operator (57) and internal (XX)
/// classes. A FATAL may come after a commit (`57P01` while waiting for a
/// standby: committed locally), so it is unknown.
fn refused(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        let code = db.code().code();
        db.severity() == "ERROR" && !["08", "57", "XX"].iter().any(|c| code.starts_with(c))
    })
}

impl Pg {
    pub(super) fn new(spec: &PostgresLedger, run: &str, owner: &str, timeout: Duration) -> Pg {
        let config = spec
            .url
            .parse::<tokio_postgres::Config>()
            .ok()
            .map(|mut c| {
                c.connect_timeout(timeout);
                c.application_name("gameday-ledger");
                c
            });
        let table = spec
            .table
            .split('.')
            .map(|part| format!("\"{part}\""))
            .collect::<Vec<_>>()
            .join(".");
        Pg {
            config,
            table,
            owner: owner.to_string(),
            run: run.to_string(),
            idle: std::sync::Mutex::default(),
            slots: Arc::new(Semaphore::new(CONNECTIONS)),
            made: tokio::sync::Mutex::new(false),
            created: AtomicBool::new(false),
            reached: AtomicBool::new(false),
        }
    }

    /// A connection of the write's own: an idle one, or a new one when
    /// fewer than [`CONNECTIONS`] are open (the table made first, once).
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
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (client, connection) = config.connect(NoTls).await.map_err(|e| said(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
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

    /// The ledger's table: made if missing (with its index and the comment
    /// naming this run), or found with a ledger's comment; any other table
    /// of that name is refused.
    async fn make_table(&self, client: &Client) -> Result<(), String> {
        let mut made = self.made.lock().await;
        if *made {
            return Ok(());
        }
        let t = &self.table;
        let create = format!(
            "CREATE TABLE {t} (run text NOT NULL, seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now()); \
             CREATE INDEX ON {t} (run, seq); \
             COMMENT ON TABLE {t} IS {}",
            literal(&format!("{MARK}{}", self.run))
        );
        match client.simple_query(&create).await {
            Ok(_) => self.created.store(true, Ordering::SeqCst),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_TABLE) => {
                let comment = self
                    .rows(
                        client,
                        &format!(
                            "SELECT coalesce(obj_description({}::regclass, 'pg_class'), '')",
                            literal(t)
                        ),
                    )
                    .await?
                    .first()
                    .and_then(|row| row.first().cloned())
                    .unwrap_or_default();
                let Some(maker) = comment.strip_prefix(MARK) else {
                    return Err(format!(
                        "table {t} is there and is not a ledger's (its comment does not say `{MARK}...`): the ledger writes only to a table of its own; name another"
                    ));
                };
                // Made by this run (an earlier try whose answer was lost).
                self.created.store(maker == self.run, Ordering::SeqCst);
            }
            Err(e) => return Err(said(&e)),
        }
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
            literal(&self.owner)
        );
        sent.store(true, Ordering::SeqCst);
        match client.simple_query(&sql).await {
            Ok(_) => {
                self.give_back(client);
                Ok(())
            }
            Err(e) if refused(&e) => {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                    // Dropped under it (another run's end): made again next.
                    *self.made.lock().await = false;
                }
                Err(WriteError::Refused(said(&e)))
            }
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
                    literal(&self.owner)
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

    /// This ledger's rows deleted; the table dropped if this run made it
    /// and nothing else is in it. In one transaction holding the table,
    /// waiting for it at most 2s.
    pub(super) async fn remove(&self) -> Result<String, String> {
        if !self.reached.load(Ordering::SeqCst) {
            return Ok("it never reached the store: nothing to remove".to_string());
        }
        let client = self.take().await?;
        let table = &self.table;
        client
            .simple_query(&format!(
                "BEGIN; SET LOCAL lock_timeout = '2s'; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; DELETE FROM {table} WHERE run = {}",
                literal(&self.owner)
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
            format!("table {table} dropped (this run made it)")
        } else if others {
            format!("its rows deleted from table {table} (other rows kept)")
        } else {
            format!("its rows deleted from table {table} (another run made it)")
        })
    }
}
