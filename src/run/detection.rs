//! Pure: who noticed what, when. Folded in `run::outcome`'s one pass over
//! the samples (a small state per scenario run: the first user-facing
//! failure, the first alert firing, and per probe whether it failed and
//! since when it is ok again), then joined with the observations typed or
//! posted: per scenario run a [`ScenarioDetection`] for `result.json` and
//! the [`Noticed`] its `detected_by` checks judge. t0 is when the first
//! fault was applied (`Windows::apply_start`, as `fails_within` and
//! `fires_within` count); a scenario's moments are looked for from t0 to
//! the end of its cooldown.

use chrono::{DateTime, Utc};

use crate::expect::{Noticed, Windows};
use crate::plan::Plan;
use crate::probe::ProbeSample;
use crate::record::detection::{DetectionClass, Moment, ScenarioDetection};
use crate::record::result::{Observation, ObservationKind};

/// What a probe's samples can say about detection.
#[derive(Debug, Clone, Copy)]
struct Role {
    user_facing: bool,
    alert: bool,
}

/// A probe across one scenario run: never failed, failing, or ok again
/// since a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Health {
    Untouched,
    Failing,
    OkSince(f64),
}

/// One scenario run's state while the samples pass.
#[derive(Debug, Clone)]
struct RunFold {
    /// Its place in the run list.
    run: usize,
    t0: f64,
    end: f64,
    /// The first failure of a user-facing probe: (when, probe).
    hurt: Option<(f64, usize)>,
    /// The first firing of an alert probe: (when, probe).
    alert: Option<(f64, usize)>,
    /// Per probe.
    health: Vec<Health>,
}

impl RunFold {
    fn push(&mut self, i: usize, s: &ProbeSample, role: Role) {
        if role.user_facing
            && let Some(at) = s.first_failure_end()
            && self.hurt.is_none_or(|(t, _)| at < t)
        {
            self.hurt = Some((at, i));
        }
        if role.alert && s.value.is_some_and(|v| v >= 1.0) {
            let at = s.end_ms();
            if self.alert.is_none_or(|(t, _)| at < t) {
                self.alert = Some((at, i));
            }
        }
        let health = &mut self.health[i];
        if !s.ok {
            *health = Health::Failing;
        } else if *health == Health::Failing {
            *health = Health::OkSince(s.first_ok_end().unwrap_or_else(|| s.end_ms()));
        }
    }

    /// When every probe that failed was ok again; `None` when one still
    /// fails, or none failed.
    fn recovered(&self) -> Option<(f64, usize)> {
        let mut last: Option<(f64, usize)> = None;
        for (i, h) in self.health.iter().enumerate() {
            match h {
                Health::Untouched => {}
                Health::Failing => return None,
                Health::OkSince(t) => {
                    if last.is_none_or(|(l, _)| *t > l) {
                        last = Some((*t, i));
                    }
                }
            }
        }
        last
    }
}

/// Every scenario run's detection, folded from the samples in start order.
#[derive(Debug, Clone)]
pub(super) struct Detections {
    roles: Vec<Role>,
    /// The runs with windows, in time order (they do not overlap).
    folds: Vec<RunFold>,
}

impl Detections {
    /// A fold per scenario run that has windows (`windows[k]` of run `k`).
    pub(super) fn new(plan: &Plan, windows: &[Option<Windows>]) -> Self {
        let roles = plan
            .probes
            .iter()
            .map(|p| Role {
                user_facing: p.user_facing.yes,
                alert: p.probe.kind.is_alert_signal(),
            })
            .collect::<Vec<_>>();
        let mut folds: Vec<RunFold> = windows
            .iter()
            .enumerate()
            .filter_map(|(run, w)| {
                let w = w.as_ref()?;
                Some(RunFold {
                    run,
                    t0: w.apply_start,
                    end: w.end,
                    hurt: None,
                    alert: None,
                    health: vec![Health::Untouched; roles.len()],
                })
            })
            .collect();
        folds.sort_by(|a, b| a.t0.total_cmp(&b.t0));
        Detections { roles, folds }
    }

    /// A sample of probe `i`, in its probe's start order.
    pub(super) fn push(&mut self, i: usize, s: &ProbeSample) {
        let Some(&role) = self.roles.get(i) else {
            return;
        };
        // The last run starting at or before the sample.
        let after = self.folds.partition_point(|f| f.t0 <= s.t_ms);
        if let Some(fold) = after.checked_sub(1).map(|k| &mut self.folds[k])
            && s.t_ms < fold.end
        {
            fold.push(i, s, role);
        }
    }

    /// Per run (its place in the run list), its detection and what its
    /// `detected_by` checks judge; `None` for a run without windows.
    pub(super) fn finish(
        self,
        plan: &Plan,
        runs: usize,
        observations: &[Observation],
        started_at: DateTime<Utc>,
    ) -> Vec<Option<(ScenarioDetection, Noticed)>> {
        let mut out = vec![None; runs];
        let probe_name = |i: usize| plan.probes[i].probe.name.clone();
        let typed: Vec<(f64, &Observation)> = observations
            .iter()
            .filter(|o| !o.kind.is_note())
            .map(|o| (ms_between(started_at, o.at), o))
            .collect();
        for fold in self.folds {
            let first = |kind: ObservationKind| {
                typed
                    .iter()
                    .filter(|(t, o)| o.kind == kind && *t >= fold.t0 && *t < fold.end)
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(t, o)| (*t, o.by.clone()))
            };
            let hurt = fold.hurt.map(|(t, i)| (t, probe_name(i)));
            let alert = fold.alert.map(|(t, i)| (t, probe_name(i)));
            let person = first(ObservationKind::Detected);
            let mitigated = first(ObservationKind::Mitigated);
            let recovered = fold.recovered().map(|(t, i)| (t, probe_name(i)));
            let at = Moments {
                t0: fold.t0,
                hurt: hurt.as_ref().map(|h| h.0),
            };
            let noticed = Noticed {
                hurt_ms: hurt.as_ref().map(|(t, _)| t - fold.t0),
                alert_ms: alert.as_ref().map(|(t, _)| t - fold.t0),
                alert_by: alert.as_ref().map(|(_, by)| by.clone()),
                person_ms: person.as_ref().map(|(t, _)| t - fold.t0),
                person_by: person.as_ref().map(|(_, by)| by.clone()),
            };
            let time_to_detect_ms = [noticed.alert_ms, noticed.person_ms]
                .into_iter()
                .flatten()
                .min_by(f64::total_cmp);
            let detection = ScenarioDetection {
                fault_at_ms: fold.t0,
                class: DetectionClass::of(hurt.is_some(), alert.is_some()),
                people_noticed: person.is_some(),
                users_hurt: hurt.map(|m| at.moment(m)),
                first_alert: alert.map(|m| at.moment(m)),
                first_person: person.map(|m| at.moment(m)),
                mitigated: mitigated.map(|m| at.moment(m)),
                recovered: recovered.map(|m| at.moment(m)),
                time_to_detect_ms,
            };
            out[fold.run] = Some((detection, noticed));
        }
        out
    }
}

/// A scenario run's t0 and when its users were first hurt.
struct Moments {
    t0: f64,
    hurt: Option<f64>,
}

impl Moments {
    fn moment(&self, (t_ms, by): (f64, String)) -> Moment {
        Moment {
            t_ms,
            after_fault_ms: t_ms - self.t0,
            after_hurt_ms: self.hurt.map(|h| t_ms - h),
            by: Some(by),
        }
    }
}

/// Milliseconds from `from` to `to`.
fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .num_microseconds()
        .map_or(f64::MAX, |us| us as f64 / 1000.0)
}
