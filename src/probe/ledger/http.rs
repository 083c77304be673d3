//! A ledger through a service's own API: `write` creates record `{{id}}`
//! (`<run id>-<seq>`), `read` looks it up: its expected status says
//! present, 404 absent, anything else unreadable (never lost). A write
//! answered with another status was refused; a connection never made,
//! refused (it has a connect timeout of half the probe's); one lost after
//! the request was sent, or answered 502 or 504 by a proxy that may have
//! passed it on, unknown. Records are read back a few at a time, each read
//! bounded by the probe's timeout, over kept-alive connections.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;

use super::{Found, WriteError};
use crate::gameday::decode::ID_PLACEHOLDER;
use crate::gameday::model::{HttpLedger, LoadRequest};

/// Reads in flight at once during a read back.
const READS_AT_ONCE: usize = 16;

pub(super) struct Api {
    client: reqwest::Client,
    write: LoadRequest,
    read: LoadRequest,
    run: String,
}

/// How one record's read ended.
enum Read {
    Present,
    Absent,
    Unreadable,
}

fn request(
    http: &reqwest::Client,
    spec: &LoadRequest,
    id: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let method = reqwest::Method::from_bytes(spec.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = http.request(method, spec.url.replace(ID_PLACEHOLDER, id));
    for (name, value) in &spec.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &spec.body {
        builder = builder.body(body.replace(ID_PLACEHOLDER, id));
    }
    Ok(builder)
}

impl Api {
    pub(super) fn new(spec: &HttpLedger, run: &str, timeout: std::time::Duration) -> Api {
        let client = crate::probe::client_from(|| {
            reqwest::Client::builder()
                .connect_timeout(timeout / 2)
                .timeout(timeout)
                .pool_max_idle_per_host(READS_AT_ONCE)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("gameday-ledger/", env!("CARGO_PKG_VERSION")))
        });
        Api {
            client,
            write: spec.write.clone(),
            read: spec.read.clone(),
            run: run.to_string(),
        }
    }

    fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.run)
    }

    pub(super) async fn write(&self, seq: u64, sent: &AtomicBool) -> Result<(), WriteError> {
        let builder =
            request(&self.client, &self.write, &self.id(seq)).map_err(WriteError::Refused)?;
        sent.store(true, Ordering::SeqCst);
        match builder.send().await {
            Ok(answer) if self.write.expect_status.matches(answer.status().as_u16()) => Ok(()),
            // A proxy's: the service may have had it.
            Ok(answer) if matches!(answer.status().as_u16(), 502 | 504) => Err(
                WriteError::Unknown(format!("answered {} (a proxy's)", answer.status().as_u16())),
            ),
            Ok(answer) => Err(WriteError::Refused(format!(
                "answered {}",
                answer.status().as_u16()
            ))),
            Err(e) if e.is_connect() => Err(WriteError::Refused(format!("connect: {e}"))),
            Err(e) => Err(WriteError::Unknown(e.to_string())),
        }
    }

    async fn read_one(&self, seq: u64) -> Read {
        let Ok(builder) = request(&self.client, &self.read, &self.id(seq)) else {
            return Read::Unreadable;
        };
        match builder.send().await {
            Ok(answer) if self.read.expect_status.matches(answer.status().as_u16()) => {
                Read::Present
            }
            Ok(answer) if answer.status().as_u16() == 404 => Read::Absent,
            Ok(_) | Err(_) => Read::Unreadable,
        }
    }

    /// Every record in `seqs`; an error only when none could be read (the
    /// service is not there yet), so the read back is tried again.
    pub(super) async fn read_back(&self, seqs: &[u64]) -> Result<Found, String> {
        let reads: Vec<(u64, Read)> = futures_util::stream::iter(seqs.iter().copied())
            .map(|seq| async move { (seq, self.read_one(seq).await) })
            .buffer_unordered(READS_AT_ONCE)
            .collect()
            .await;
        let mut found = Found::default();
        for (seq, read) in reads {
            match read {
                Read::Present => {
                    found.counts.insert(seq, 1);
                }
                Read::Absent => {}
                Read::Unreadable => {
                    found.unreadable.insert(seq);
                }
            }
        }
        if !seqs.is_empty() && found.unreadable.len() == seqs.len() {
            return Err(format!(
                "none of {} records could be read back (no answer, or neither {} nor 404)",
                seqs.len(),
                self.read.expect_status
            ));
        }
        Ok(found)
    }
}
