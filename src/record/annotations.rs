//! What the team adds after the exercise: follow-up tickets and notes, kept
//! in `annotations.json` beside `result.json`, which is never rewritten.

use std::path::Path;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Annotations {
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ticket {
    pub id: String,
    pub title: String,
    /// `open`, `done` or `wont-do`.
    pub status: String,
    pub updated_at: DateTime<Utc>,
    /// The scenario or check it is meant to fix (`--for`): later runs of
    /// the gameday say whether it is now met.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub target: Option<super::followup::TicketTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    pub text: String,
    pub at: DateTime<Utc>,
}

pub(crate) const FILE: &str = "annotations.json";

impl Annotations {
    /// Read the annotations of a run directory (a regular file of it, of a
    /// bounded size); none yet is empty.
    pub fn load(run_dir: &Path) -> Result<Annotations, super::RecordError> {
        const LIMIT: u64 = 16 << 20;
        match super::confined::read_bounded(run_dir, FILE, "annotations", LIMIT)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| super::RecordError::Read {
                path: run_dir.join(FILE).display().to_string(),
                source: std::io::Error::other(e),
            }),
            None => Ok(Annotations::default()),
        }
    }

    /// Write them (a new file renamed over the old: a link there is
    /// replaced, never written through).
    pub fn save(&self, run_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        super::confined::write_replacing(run_dir, FILE, &bytes)
    }

    /// Add a ticket, or update the one with the same id (title, status,
    /// and what it is for when given).
    pub fn upsert_ticket(
        &mut self,
        id: &str,
        title: Option<&str>,
        status: &str,
        target: Option<super::followup::TicketTarget>,
    ) -> Result<(), String> {
        let now = Utc::now();
        match self.tickets.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                if let Some(title) = title {
                    t.title = title.to_string();
                }
                t.status = status.to_string();
                t.updated_at = now;
                if target.is_some() {
                    t.target = target;
                }
            }
            None => {
                let title =
                    title.ok_or_else(|| format!("ticket {id} is new: give it a --title"))?;
                self.tickets.push(Ticket {
                    id: id.to_string(),
                    title: title.to_string(),
                    status: status.to_string(),
                    updated_at: now,
                    target,
                });
            }
        }
        Ok(())
    }
}
