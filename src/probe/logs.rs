//! Log probes: each run reads what a container logged (stdout and stderr)
//! since the previous run and counts the lines matching a regex. Docker's
//! own timestamps decide what is new, so no line is counted twice and none
//! is missed between runs; the count lands on the run that read it (at most
//! one probe interval after the line was written), and `matches:` sums the
//! counts of the runs in a window.

use chrono::{DateTime, Utc};
use regex::Regex;

use super::ProbeOutcome;
use super::command::bounded;
use crate::docker::Engine;

pub(super) async fn count_once(
    engine: &Engine,
    id: &str,
    pattern: &Regex,
    cursor: &tokio::sync::Mutex<Option<DateTime<Utc>>>,
) -> ProbeOutcome {
    // Runs of one probe may overlap; the cursor makes them take turns.
    let mut cursor = cursor.lock().await;
    let now = Utc::now();
    // The first run starts the count: lines logged before the run began are history.
    let from = cursor.unwrap_or(now);
    let lines = match engine.log_lines_since(id, from.timestamp()).await {
        Ok(lines) => lines,
        Err(e) => return ProbeOutcome::failed(format!("reading the logs: {e}")),
    };
    let (count, first, newest) = count_new(&lines, from, pattern, cursor.is_none());
    *cursor = Some(newest.unwrap_or(from).max(from));
    ProbeOutcome {
        ok: true,
        value: Some(count as f64),
        output: first.map(|l| bounded(l.trim())),
        ..Default::default()
    }
}

/// Lines strictly after `from` (or all of them on the first read, which
/// only sees the current second) matching `pattern`: their count, the first
/// one, and the newest timestamp read.
fn count_new<'l>(
    lines: &'l [(DateTime<Utc>, String)],
    from: DateTime<Utc>,
    pattern: &Regex,
    first_read: bool,
) -> (usize, Option<&'l str>, Option<DateTime<Utc>>) {
    let mut count = 0;
    let mut first = None;
    let mut newest: Option<DateTime<Utc>> = None;
    for (at, line) in lines {
        newest = Some(newest.map_or(*at, |n| n.max(*at)));
        let new = if first_read { *at >= from } else { *at > from };
        if new && pattern.is_match(line) {
            count += 1;
            first.get_or_insert(line.as_str());
        }
    }
    (count, first, newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn only_new_matching_lines_count() {
        let lines = vec![
            (at(0), "ERROR old".to_string()),
            (at(10), "info fine".to_string()),
            (at(20), "ERROR store unavailable".to_string()),
            (at(30), "ERROR again".to_string()),
        ];
        let re = Regex::new("ERROR").unwrap();
        let (count, first, newest) = count_new(&lines, at(0), &re, false);
        assert_eq!(
            count, 2,
            "the line at the cursor was counted by the previous run"
        );
        assert_eq!(first, Some("ERROR store unavailable"));
        assert_eq!(newest, Some(at(30)));
        let (count, _, _) = count_new(&lines, at(0), &re, true);
        assert_eq!(count, 3, "the first read counts from the run's start");
        let (none, first, _) = count_new(&lines, at(30), &re, false);
        assert_eq!((none, first), (0, None));
    }
}
