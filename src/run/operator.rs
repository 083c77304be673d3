//! The people watching: lines typed at the terminal while the run goes on,
//! and what the live room's page posts ([`Said`]), are timestamped
//! observations, credited to the participant they name, of the kind they
//! say (`detected:`, `mitigated:`, else a note); a `manual:` step waits for
//! one. Reading stdin blocks, so it happens on a plain thread that only
//! sends lines to the dispatcher.

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::dispatcher::{Dispatcher, Interrupt, Waited, offset};
use crate::gameday::model::{HaltCondition, ManualStep};
use crate::record::journal::JournalEntry;
use crate::record::result::{Observation, ObservationKind};

/// Something said to the run while it goes: a line typed at the terminal
/// (`by` and `kind` read from it), or an observation posted from the live
/// room's page (its writer's name and kind given).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Said {
    pub by: Option<String>,
    pub kind: Option<ObservationKind>,
    pub text: String,
}

impl Said {
    /// A line typed at the terminal.
    pub(crate) fn typed(line: &str) -> Said {
        Said {
            by: None,
            kind: None,
            text: line.trim().to_string(),
        }
    }
}

/// How many things said may wait for the dispatcher (a burst of posts
/// from the page beyond it is refused, never waited for).
pub(crate) const SAID_BACKLOG: usize = 64;

/// The person at the terminal: who a typed line is attributed to unless it
/// starts with a participant's name (`Sam: error rate at 4%`).
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    pub name: String,
}

/// How a manual step ended.
pub(super) enum Answer {
    Typed,
    TimedOut,
    Skipped,
    Interrupted(Interrupt),
}

/// Reads lines typed at the terminal into `tx`, for manual steps and
/// observations, until the terminal closes.
pub(crate) fn read_terminal(tx: mpsc::Sender<Said>) {
    // A plain thread: stdin reads block, and must not hold a runtime worker.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        while let Ok(n) = std::io::BufRead::read_line(&mut stdin.lock(), &mut line) {
            if n == 0 || tx.blocking_send(Said::typed(&line)).is_err() {
                break;
            }
            line.clear();
        }
    });
}

/// The next thing said, or never when nobody can say anything.
pub(super) async fn next_line(input: &mut Option<mpsc::Receiver<Said>>) -> Option<Said> {
    match input {
        Some(rx) => match rx.recv().await {
            Some(line) => Some(line),
            None => {
                // The terminal closed: stop listening.
                *input = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Who wrote `line`: a participant named at its start (`Sam: ...` or
/// `Sam (observer): ...`), else the operator.
fn attribute(line: &str, participants: &[String], operator: &str) -> (String, String) {
    if let Some((who, text)) = line.split_once(':') {
        let who = who.trim();
        if let Some(p) = participants.iter().find(|p| {
            let name = p.split(" (").next().unwrap_or(p).trim();
            !name.is_empty() && (p.trim() == who || name.eq_ignore_ascii_case(who))
        }) {
            return (p.clone(), text.trim().to_string());
        }
    }
    (operator.to_string(), line.trim().to_string())
}

/// The kind a text says at its start (`detected: alert fired`), and the
/// rest; a note otherwise.
fn kind_of(text: &str) -> (ObservationKind, String) {
    if let Some((word, rest)) = text.split_once(':')
        && let Some(kind) = ObservationKind::parse(word)
    {
        return (kind, rest.trim().to_string());
    }
    (ObservationKind::Note, text.trim().to_string())
}

impl Dispatcher {
    /// A line typed while the run goes: a timestamped observation,
    /// credited to the participant it names or to the operator; `answer_to`
    /// is the manual step it answers.
    pub(super) fn observe(&mut self, said: &Said, answer_to: Option<&str>) {
        let operator = self
            .operator
            .as_ref()
            .map_or("operator", |o| o.name.as_str());
        let (by, text) = match &said.by {
            Some(by) => (by.clone(), said.text.clone()),
            None => attribute(&said.text, &self.plan.gameday.participants, operator),
        };
        let (kind, text) = match said.kind {
            Some(kind) => (kind, text),
            None => kind_of(&text),
        };
        let text = match answer_to {
            Some(step) => format!("{step} → {text}"),
            None => text,
        };
        let at = Utc::now();
        let _ = self.journal.append(&JournalEntry::Observation {
            scenario: self.current_scenario.clone(),
            by: by.clone(),
            kind,
            text: text.clone(),
            at,
        });
        let said = match kind {
            ObservationKind::Note => String::new(),
            kind => format!(" ({})", kind.as_str()),
        };
        self.note(format!("observation by {by}{said}: {text}"));
        self.observations.push(Observation {
            at,
            offset: offset(self.now_ms()),
            scenario: self.current_scenario.clone(),
            by,
            kind,
            text,
        });
    }

    /// A manual step: show the instruction, wait for someone to type what
    /// they saw (or for the timeout), still taking samples and checking
    /// `halt_if` and signals.
    pub(super) async fn manual(
        &mut self,
        scenario: &str,
        step: &ManualStep,
        halt: &[HaltCondition],
    ) -> Answer {
        if self.input.is_none() {
            self.note(format!(
                "manual step skipped (no one at a terminal): {}",
                step.manual
            ));
            return Answer::Skipped;
        }
        let until = Instant::now() + step.timeout.as_std();
        self.note(format!("OPERATOR: {}", step.manual));
        self.phase(
            Some(scenario),
            format!(
                "waiting for the operator (type what you see, then Enter; at most {})",
                step.timeout
            ),
            Some(until),
        );
        match self.wait(until, halt, true).await {
            Waited::Deadline => {
                self.note(format!(
                    "manual step timed out after {}: {}",
                    step.timeout, step.manual
                ));
                Answer::TimedOut
            }
            Waited::Interrupted(i) => Answer::Interrupted(i),
            Waited::Line(said) => {
                self.observe(&said, Some(&step.manual));
                Answer::Typed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ObservationKind, attribute, kind_of};

    #[test]
    fn a_typed_line_says_its_kind_at_its_start() {
        assert_eq!(
            kind_of("Detected: the pager went off"),
            (ObservationKind::Detected, "the pager went off".into())
        );
        assert_eq!(
            kind_of("mitigated: failed over").0,
            ObservationKind::Mitigated
        );
        assert_eq!(
            kind_of("error rate: 4%"),
            (ObservationKind::Note, "error rate: 4%".into())
        );
    }

    #[test]
    fn a_typed_line_is_credited_to_the_participant_it_names() {
        let people = vec![
            "Dana (coordinator)".to_string(),
            "Sam (observer)".to_string(),
        ];
        assert_eq!(
            attribute("Sam: p99 climbing", &people, "tess"),
            ("Sam (observer)".into(), "p99 climbing".into())
        );
        assert_eq!(
            attribute("dana (coordinator): go", &people, "tess").0,
            "tess",
            "the full form must match exactly"
        );
        assert_eq!(
            attribute("Dana (coordinator): go", &people, "tess"),
            ("Dana (coordinator)".into(), "go".into())
        );
        // A colon that names nobody stays in the text.
        assert_eq!(
            attribute("error rate: 4%", &people, "tess"),
            ("tess".into(), "error rate: 4%".into())
        );
    }
}
