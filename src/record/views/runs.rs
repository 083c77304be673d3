//! The archive's run lines (`gameday history` without a gameday, the
//! index's table of runs) and the runs of one gameday: by the name a person
//! gives it (`history NAME`), or grouped by title (the index's sections).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::record::archive::ArchivedRun;
use crate::record::result::{RunOutcome, RunResult};

/// One run of the archive as its table lists it; `history --format json`
/// prints these fields in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RunLine {
    /// The run directory's name.
    pub(crate) run_dir: String,
    pub(crate) started_at: DateTime<Utc>,
    /// The gameday's title.
    pub(crate) gameday: String,
    pub(crate) environment: String,
    pub(crate) outcome: RunOutcome,
    pub(crate) scenarios_met: usize,
    pub(crate) scenarios: usize,
    pub(crate) duration_ms: f64,
}

impl RunLine {
    pub(crate) fn of(run: &ArchivedRun) -> RunLine {
        let r = &run.result;
        RunLine {
            run_dir: run.dir_name(),
            started_at: r.started_at,
            gameday: r.gameday.title.clone(),
            environment: r.gameday.environment.clone(),
            outcome: r.outcome,
            scenarios_met: r.summary.met,
            scenarios: r.summary.scenarios,
            duration_ms: r.duration_ms,
        }
    }
}

/// Does `wanted` name this run's gameday: its title, its file's path, its
/// file's name, or that name without its extension?
pub(crate) fn names_gameday(run: &RunResult, wanted: &str) -> bool {
    let file = Path::new(&run.gameday.file);
    run.gameday.title == wanted
        || run.gameday.file == wanted
        || file.file_name().is_some_and(|n| n == wanted)
        || file.file_stem().is_some_and(|n| n == wanted)
}

/// The runs of the gameday `wanted` names, in the archive's order (oldest
/// first, as [`crate::record::archive::load_runs`] gives them).
pub(crate) fn runs_of<'a>(runs: &'a [ArchivedRun], wanted: &str) -> Vec<&'a ArchivedRun> {
    runs.iter()
        .filter(|a| names_gameday(&a.result, wanted))
        .collect()
}

/// The archive's runs by gameday title, titles in order, each gameday's
/// runs in the archive's order.
pub(crate) fn by_gameday(runs: &[ArchivedRun]) -> BTreeMap<&str, Vec<&ArchivedRun>> {
    let mut gamedays: BTreeMap<&str, Vec<&ArchivedRun>> = BTreeMap::new();
    for run in runs {
        gamedays
            .entry(run.result.gameday.title.as_str())
            .or_default()
            .push(run);
    }
    gamedays
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{run, scenario};
    use super::*;

    #[test]
    fn a_run_line_says_what_the_archive_table_shows() {
        let a = run(
            "Login",
            3,
            vec![
                scenario("paused", "met", &[]),
                scenario("stopped", "not_met", &[]),
            ],
        );
        let line = RunLine::of(&a);
        assert_eq!(line.run_dir, "run-03");
        assert_eq!(line.gameday, "Login");
        assert_eq!(line.outcome, RunOutcome::NotMet);
        assert_eq!((line.scenarios_met, line.scenarios), (1, 2));
        // The JSON keeps its field names and their order.
        let json = serde_json::to_string(&line).unwrap();
        let at = |key: &str| json.find(&format!("\"{key}\":")).expect(key);
        let keys = [
            "run_dir",
            "started_at",
            "gameday",
            "environment",
            "outcome",
            "scenarios_met",
            "scenarios",
            "duration_ms",
        ];
        assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])), "{json}");
        assert_eq!(json.matches("\":").count(), keys.len(), "{json}");
    }

    #[test]
    fn a_gameday_is_named_by_title_file_name_or_stem() {
        let runs = [run("Login", 1, vec![]), run("Checkout", 2, vec![])];
        for wanted in ["Login", "gamedays/login.yaml", "login.yaml", "login"] {
            let found: Vec<String> = runs_of(&runs, wanted)
                .iter()
                .map(|a| a.dir_name())
                .collect();
            assert_eq!(found, ["run-01"], "{wanted}");
        }
        assert!(runs_of(&runs, "gamedays").is_empty());
        assert!(runs_of(&runs, "log").is_empty());
    }

    #[test]
    fn runs_group_by_title_in_title_order_oldest_first() {
        let runs = [
            run("Login", 1, vec![]),
            run("Checkout", 2, vec![]),
            run("Login", 3, vec![]),
        ];
        let grouped = by_gameday(&runs);
        let titles: Vec<&str> = grouped.keys().copied().collect();
        assert_eq!(titles, ["Checkout", "Login"]);
        let login: Vec<String> = grouped["Login"].iter().map(|a| a.dir_name()).collect();
        assert_eq!(login, ["run-01", "run-03"]);
    }
}
