//! The `deploy` fault's own checks (`deploy_time`, `rollback_time`),
//! judged from its replicas' results when the scenario's result is
//! assembled: a deploy's time runs from its first replica stopped to its
//! last one ready, a rollback's the same way; one that did not complete on
//! every replica has no time and does not meet its check.

use chrono::{DateTime, Utc};

use crate::expect::CheckVerdict;
use crate::gameday::model::{DeployFault, Fault, FaultKind, Unit};
use crate::gameday::units::{Comparison, HumanDuration};
use crate::plan::{ResolvedFault, ResolvedScenario};
use crate::record::result::{ExpectationResult, FaultResult};

/// A deploy's and its rollback's times, in milliseconds, over `replicas`.
pub(crate) fn times(replicas: &[&FaultResult]) -> (Option<f64>, Option<f64>) {
    let span = |starts: Vec<Option<DateTime<Utc>>>, ends: Vec<Option<DateTime<Utc>>>| {
        let first = starts
            .into_iter()
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min()?;
        let last = ends
            .into_iter()
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()?;
        Some((last - first).num_microseconds()? as f64 / 1000.0)
    };
    (
        span(
            replicas.iter().map(|r| r.applied_at).collect(),
            replicas.iter().map(|r| r.applied_confirmed_at).collect(),
        ),
        span(
            replicas.iter().map(|r| r.reverted_at).collect(),
            replicas.iter().map(|r| r.revert_confirmed_at).collect(),
        ),
    )
}

/// The results of a deploy fault's replicas among a scenario's faults.
pub(crate) fn replicas_of<'a>(
    r: &ResolvedFault,
    faults: &'a [FaultResult],
) -> Vec<&'a FaultResult> {
    let ids: Vec<&str> = r.targets.containers.iter().map(|c| c.id.as_str()).collect();
    faults
        .iter()
        .filter(|f| f.kind == FaultKind::Deploy.key() && ids.contains(&f.container_id.as_str()))
        .collect()
}

/// The timeline's line once a deploy (`rollback` false) or its rollback
/// has ended on every replica it reached.
pub(crate) fn timed_line(
    r: &ResolvedFault,
    faults: &[FaultResult],
    rollback: bool,
) -> Option<String> {
    let Fault::Deploy(_) = &r.fault else {
        return None;
    };
    let replicas = replicas_of(r, faults);
    let (deploy_ms, rollback_ms) = times(&replicas);
    let (what, ms) = if rollback {
        ("rolled back", rollback_ms?)
    } else {
        ("deployed", deploy_ms?)
    };
    Some(format!(
        "{what}: {} in {} ({} replica{}, first stopped to last ready)",
        r.fault.target(),
        crate::expect::fmt_ms(ms),
        replicas.len(),
        if replicas.len() == 1 { "" } else { "s" }
    ))
}

/// The results of the scenario's deploy checks, in fault order.
pub(crate) fn judge(resolved: &ResolvedScenario, faults: &[FaultResult]) -> Vec<ExpectationResult> {
    let mut results = Vec::new();
    for r in &resolved.faults {
        let Fault::Deploy(deploy) = &r.fault else {
            continue;
        };
        let replicas = replicas_of(r, faults);
        let (deploy_ms, rollback_ms) = times(&replicas);
        let on = format!("deploy {}", r.fault.target());
        if let Some(limit) = &deploy.deploy_time {
            results.push(check(
                &on,
                "deploy_time",
                limit,
                deploy_ms,
                deploy,
                &replicas,
            ));
        }
        if let Some(limit) = &deploy.rollback_time {
            results.push(check(
                &on,
                "rollback_time",
                limit,
                rollback_ms,
                deploy,
                &replicas,
            ));
        }
    }
    results
}

fn check(
    on: &str,
    key: &str,
    limit: &Comparison<HumanDuration>,
    measured: Option<f64>,
    deploy: &DeployFault,
    replicas: &[&FaultResult],
) -> ExpectationResult {
    let wanted = limit.value.as_std().as_secs_f64() * 1000.0;
    let (verdict, actual) = match measured {
        Some(ms) => (
            if limit.op.holds(&ms, &wanted) {
                CheckVerdict::Met
            } else {
                CheckVerdict::NotMet
            },
            format!(
                "measured {} over {} replica{} ({})",
                crate::expect::fmt_ms(ms),
                replicas.len(),
                if replicas.len() == 1 { "" } else { "s" },
                deploy.strategy.key()
            ),
        ),
        None => (
            CheckVerdict::NotMet,
            format!(
                "no time: the {} did not complete on every replica",
                key.trim_end_matches("_time")
            ),
        ),
    };
    ExpectationResult {
        text: format!("{on}: {key} {limit}"),
        probe: on.to_string(),
        verdict,
        actual,
        value: measured,
        check: Some(key.to_string()),
        unit: Some(Unit::Ms),
        relative: None,
    }
}
