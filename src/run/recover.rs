//! `gameday recover`: find run journals with faults that were applied and
//! never reverted (the runner was SIGKILLed, the machine rebooted), revert
//! them idempotently, and record that in the same journal.

use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::docker::Engine;
use crate::gameday::model::EngineSpec;
use crate::record::journal::{self, Journal, JournalEntry};

/// Journals under `out` (one level of run directories) that have unreverted faults.
pub(crate) fn find_unfinished(out: &Path) -> Vec<(PathBuf, journal::Unfinished)> {
    let Ok(dirs) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, journal::Unfinished)> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path().join(crate::record::JOURNAL_FILE))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let entries = journal::read(&p).ok()?;
            let u = journal::unfinished(&entries);
            (!u.faults.is_empty()).then_some((p, u))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// What recovery did for one fault.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub journal: PathBuf,
    pub fault_id: String,
    pub container: String,
    pub outcome: Result<&'static str, String>,
}

/// Revert every unfinished fault of every journal under `out` (only those of
/// `scope` when given), each on the engine its journal names (reached the
/// same way, TLS included), else on `fallback`.
pub(crate) async fn recover(fallback: &Engine, out: &Path, scope: Option<&str>) -> Vec<Recovered> {
    let mut report = Vec::new();
    let mut engines: Vec<(EngineSpec, Result<Engine, String>)> = Vec::new();
    for (path, unfinished) in find_unfinished(out) {
        if scope.is_some_and(|s| s != unfinished.scope) {
            continue;
        }
        let mut journal = Journal::create(&path).ok();
        for (fault_id, recipe) in unfinished.faults {
            let spec = unfinished
                .fault_engines
                .get(&fault_id)
                .or(unfinished.engine.as_ref());
            let engine = match spec {
                None => Ok(fallback),
                Some(spec) if spec == fallback.spec() => Ok(fallback),
                Some(spec) => {
                    if !engines.iter().any(|(s, _)| s == spec) {
                        let connected = Engine::connect_spec(spec).await.map_err(|e| e.to_string());
                        engines.push((spec.clone(), connected));
                    }
                    let (_, connected) =
                        engines.iter().find(|(s, _)| s == spec).expect("just added");
                    connected.as_ref().map_err(Clone::clone)
                }
            };
            let requested_at = Utc::now();
            let executed = match engine {
                Ok(engine) => recipe.execute(engine).await.map_err(|e| e.to_string()),
                Err(ref e) => Err(format!("cannot reach the engine the journal names: {e}")),
            };
            let outcome = match executed {
                Ok(confirmed) => {
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultReverted {
                            fault_id: fault_id.clone(),
                            by: "recover".into(),
                            requested_at,
                            confirmed_at: confirmed,
                        });
                    }
                    Ok(if confirmed.is_some() {
                        "reverted"
                    } else {
                        "was already reverted"
                    })
                }
                Err(e) => {
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultRevertFailed {
                            fault_id: fault_id.clone(),
                            error: e.clone(),
                            by_hand: recipe.by_hand(),
                        });
                    }
                    Err(format!("{e}; by hand: {}", recipe.by_hand()))
                }
            };
            report.push(Recovered {
                journal: path.clone(),
                fault_id,
                container: recipe.container_name().to_string(),
                outcome,
            });
        }
    }
    report
}

/// Recover without a journal: remove every rule and qdisc gameday adds
/// (comment `gameday:`, handle `6764:`) from the running containers of a
/// compose project, and stop the helper containers serving them.
pub(crate) async fn sweep(
    engine: &Engine,
    project: &str,
    helper_image: Option<&str>,
) -> Vec<Recovered> {
    use crate::gameday::units::ContainerState;
    let mut report = Vec::new();
    let containers = match engine.list_project(project).await {
        Ok(c) => c,
        Err(e) => {
            report.push(Recovered {
                journal: PathBuf::new(),
                fault_id: "sweep".into(),
                container: project.to_string(),
                outcome: Err(e.to_string()),
            });
            return report;
        }
    };
    for helper in engine
        .containers_labelled("gameday.helper", "1")
        .await
        .unwrap_or_default()
    {
        let mode = engine
            .network_mode(&helper)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let target = mode.strip_prefix("container:").unwrap_or_default();
        if let Some(c) = containers
            .iter()
            .find(|c| !target.is_empty() && c.id.starts_with(target))
        {
            let _ = engine.finish(&helper, true).await;
            report.push(Recovered {
                journal: PathBuf::new(),
                fault_id: "sweep".into(),
                container: c.name.clone(),
                outcome: Ok("stopped a helper packet engine"),
            });
        }
    }
    for c in containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Paused))
    {
        let exec = crate::fault::net_exec(engine, &c.id, helper_image, "gameday:sweep").await;
        let outcome = match exec {
            Ok(mut exec) => tokio::task::spawn_blocking(move || {
                crate::fault::net::remove_tagged(exec.as_mut(), "gameday:")
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map(|removed| {
                if removed {
                    "removed gameday's rules and qdiscs"
                } else {
                    "nothing to remove"
                }
            }),
            Err(e) => Err(e),
        };
        report.push(Recovered {
            journal: PathBuf::new(),
            fault_id: "sweep".into(),
            container: c.name.clone(),
            outcome,
        });
    }
    report
}
