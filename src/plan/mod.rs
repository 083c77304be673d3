//! The resolved plan: the gameday's targets matched to real containers in
//! scope, and the schedule laid out in time. `gameday plan` prints it
//! ([`render`]); `gameday run` walks the same [`Step`]s. Built in two
//! passes: [`discover`] asks the engines what exists (containers in and out
//! of scope, engine versions, how namespaces are reached; async, read
//! only, never prints; `helper_needs`: the helper images a run installs
//! first), then [`resolve`] matches the gameday against that
//! [`Inventory`] (pure, unit-tested without Docker), making each target's
//! `pick:` from the plan's [`Seed`] with [`pick::choose`]. A `Plan` is not
//! changed once built.

mod discover;
mod helper_needs;
pub(crate) mod pick;
mod reach;
mod render;
mod resolve;
mod user_facing;

pub(crate) use discover::{DiscoverError, discover};
pub(crate) use helper_needs::HelperInstall;
pub(crate) use pick::Seed;
pub(crate) use reach::{ReachFacts, Reached};
pub(crate) use resolve::resolve;
/// A plan resolved against made-up containers, for unit tests elsewhere.
#[cfg(test)]
pub(crate) use resolve::tests::resolve_against;
pub(crate) use user_facing::UserFacing;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::docker::ContainerInfo;
use crate::gameday::model::{Fault, Gameday, Probe, Step as ScenarioStep, Target};

/// An engine of `hosts:`, as the plan shows it (and `result.json` records it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineInfo {
    /// Its name in the gameday file.
    pub name: String,
    pub host: String,
    pub version: String,
    /// How it is reached (TLS, insecure, SSH).
    pub connection: String,
}

/// What the engines hold, as [`discover`] found it: the input of [`resolve`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Inventory {
    /// The address of the `docker:` engine.
    pub docker_host: String,
    pub docker_version: String,
    /// How it is reached (local socket, TLS, insecure).
    pub docker_connection: String,
    /// The engines of `hosts:`.
    pub other_engines: Vec<EngineInfo>,
    /// Containers of the compose project in scope, on every engine.
    pub in_scope: Vec<ContainerInfo>,
    /// Containers outside the scope (only to say so when a target names one).
    pub outside_scope: Vec<ContainerInfo>,
    /// How network faults reach a container's namespace.
    pub namespace: NamespaceRoute,
    /// What stress and process faults' targets own (memory limits, PID
    /// namespaces, mounts) and what their engines' hosts have.
    pub reach: ReachFacts,
    /// Things that will make the run fail, found while discovering.
    pub warnings: Vec<String>,
    /// The images `deploy` faults roll out that an engine lacks: (engine, image).
    pub missing_images: Vec<(String, String)>,
    /// The helper images the run installs before anything is applied.
    pub helper_installs: Vec<HelperInstall>,
}

/// How faults reach the namespaces and cgroups of each engine's
/// containers (network faults, stress workers, a script's processes):
/// from this host, or through helper containers on the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NamespaceRoute {
    /// Whether this kernel has sch_netem: decides the engine of packet faults.
    pub netem_available: bool,
    /// Per engine (its name in the gameday), the image of the helper
    /// containers its faults go through; an engine not listed is reached
    /// from this host.
    pub helpers: BTreeMap<String, String>,
    /// Why the default engine is reached as it is, for the plan (empty
    /// when no fault needs a namespace).
    pub reason: String,
    /// This process does not see the default engine's containers'
    /// processes though it talks to it through a local socket (gameday runs
    /// in a container, or the socket leads to another machine): a watchdog
    /// started here would share its fate, so it runs as a container on the
    /// engine.
    pub runner_outside: bool,
}

impl NamespaceRoute {
    /// The helper image faults on `engine` go through; `None`: from this host.
    pub(crate) fn helper_image(&self, engine: &str) -> Option<&str> {
        self.helpers.get(engine).map(String::as_str)
    }
}

/// A target matched to the containers it stands for right now.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedTarget {
    pub target: Target,
    pub containers: Vec<ContainerInfo>,
    /// Containers of the target that a fault leaves alone because they
    /// are not running (an exited replica, a `compose run` leftover).
    pub skipped: Vec<ContainerInfo>,
    /// How `containers` were chosen when the target picks some of them:
    /// `None` with `pick: all`.
    pub choice: Option<Choice>,
}

/// A pick made when the plan was made ([`pick::choose`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    /// The containers it chose among (sorted by name).
    pub among: Vec<ContainerInfo>,
    /// The seed of this target's stream.
    pub seed: u64,
    /// The seed to give to make this choice again: the target's own, or
    /// the plan's (from which `seed` is derived).
    pub named: u64,
    /// Whether that is the target's own `seed:`.
    pub own_seed: bool,
}

/// A probe and the containers it watches.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedProbe {
    pub probe: Probe,
    /// `None` for a probe without a container target.
    pub targets: Option<ResolvedTarget>,
    /// Whether its failures are users being hurt, and why.
    pub user_facing: UserFacing,
}

impl ResolvedProbe {
    /// The containers it watches: none for a probe without a container target.
    pub(crate) fn containers(&self) -> &[ContainerInfo] {
        self.targets.as_ref().map_or(&[], |t| &t.containers)
    }
}

/// A scenario's faults, each with the containers it acts on.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedScenario {
    /// In file order (the order of `faults`, or of the fault steps).
    pub faults: Vec<ResolvedFault>,
}

/// One fault of a scenario and what it reaches.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedFault {
    pub fault: Fault,
    /// The containers it is applied to (all of them, or those its pick
    /// chose when the plan was made).
    pub targets: ResolvedTarget,
    /// The containers of the services in `to:` / `from:`.
    pub peers: Vec<ContainerInfo>,
    /// Stress faults: how far each reaches on each container (the
    /// filesystem it writes to, the memory it takes); empty for the
    /// other kinds.
    pub reach: Vec<Reached>,
    /// Network, HTTP and DNS faults: the containers that share a target's
    /// network namespace, which the fault reaches too.
    pub sharers: Vec<Sharer>,
}

impl ResolvedFault {
    /// The filesystem the plan found for the fault's path in a container
    /// (what its worker checks and keeps to).
    pub(crate) fn room(&self, container_id: &str) -> Option<crate::fault::stress::Room> {
        self.reach
            .iter()
            .find(|r| r.container_id == container_id)
            .and_then(|r| r.filesystem.as_ref())
            .map(|f| f.room.clone())
    }
}

/// A container that shares the network namespace of a fault's target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sharer {
    pub container: ContainerInfo,
    /// The name of the target whose namespace it shares.
    pub with: String,
    /// In the scope (allowed), or outside it (allowed only with
    /// `include_shared_namespace: true`).
    pub in_scope: bool,
}

/// One step of the schedule, at an offset from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub at: Duration,
    pub scenario: Option<usize>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Baseline(Duration),
    StartScenario,
    Apply {
        fault: usize,
    },
    /// A `wait:` step.
    Wait(Duration),
    /// A `note:` step.
    Note(String),
    /// A `manual:` step: waits for an answer, at most this long.
    Manual {
        text: String,
        timeout: Duration,
    },
    Hold(Duration),
    Revert {
        fault: usize,
    },
    Cooldown(Duration),
    End,
}

/// A gameday resolved against what exists: printed by `gameday plan`,
/// walked by `gameday run`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub gameday: Gameday,
    pub inventory: Inventory,
    /// Per scenario, in file order.
    pub scenarios: Vec<ResolvedScenario>,
    /// Per probe, in file order.
    pub probes: Vec<ResolvedProbe>,
    pub steps: Vec<Step>,
    pub total: Duration,
    /// The seed every pick of the plan was made from.
    pub seed: Seed,
}

impl Plan {
    /// The steps of one scenario, from its start to its cooldown.
    pub(crate) fn steps_of(&self, scenario: usize) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(move |s| s.scenario == Some(scenario))
    }

    /// The longest scenario `scenario` may take once it has started: its
    /// waits, its manual steps at their timeout, its hold and its
    /// cooldown, and a margin. What a worker started in it (a packet
    /// engine, a stress worker, a proxy) may live at most if nobody stops
    /// it.
    pub(crate) fn remaining(&self, scenario: usize) -> Duration {
        let scenario = &self.gameday.scenarios[scenario];
        let steps: Duration = scenario
            .steps
            .iter()
            .map(|step| match step {
                ScenarioStep::Wait(d) => d.as_std(),
                ScenarioStep::Manual(m) => m.timeout.as_std(),
                ScenarioStep::Fault(_) | ScenarioStep::Note(_) => Duration::ZERO,
            })
            .sum();
        steps + scenario.duration.as_std() + scenario.cooldown.as_std() + REMAINING_MARGIN
    }
}

/// What [`Plan::remaining`] adds to a scenario's own times.
const REMAINING_MARGIN: Duration = Duration::from_secs(120);

/// Lay the gameday out in time: baseline, then per scenario apply, hold,
/// revert, cooldown.
pub(crate) fn schedule(gameday: &Gameday) -> (Vec<Step>, Duration) {
    let mut steps = Vec::new();
    let mut at = Duration::ZERO;
    let baseline = gameday.defaults.baseline.as_std();
    steps.push(Step {
        at,
        scenario: None,
        action: Action::Baseline(baseline),
    });
    at += baseline;
    for (i, scenario) in gameday.scenarios.iter().enumerate() {
        let s = Some(i);
        let start = at;
        steps.push(Step {
            at,
            scenario: s,
            action: Action::StartScenario,
        });
        for step in &scenario.walk() {
            let action = match step {
                ScenarioStep::Fault(fault) => Action::Apply { fault: *fault },
                ScenarioStep::Wait(d) => Action::Wait(d.as_std()),
                ScenarioStep::Note(text) => Action::Note(text.clone()),
                ScenarioStep::Manual(m) => Action::Manual {
                    text: m.manual.clone(),
                    timeout: m.timeout.as_std(),
                },
            };
            steps.push(Step {
                at,
                scenario: s,
                action,
            });
            // Manual steps take as long as the team needs: the schedule
            // counts them as instant (the plan says so).
            if let ScenarioStep::Wait(d) = step {
                at += d.as_std();
            }
        }
        steps.push(Step {
            at,
            scenario: s,
            action: Action::Hold(scenario.duration.as_std()),
        });
        at += scenario.duration.as_std();
        for fault in (0..scenario.faults.len()).rev() {
            steps.push(Step {
                at,
                scenario: s,
                action: Action::Revert { fault },
            });
        }
        steps.push(Step {
            at,
            scenario: s,
            action: Action::Cooldown(scenario.cooldown.as_std()),
        });
        at += scenario.cooldown.as_std();
        // Trials walk the same steps again, each after a baseline-long
        // steady-state window: the schedule lays out the first.
        let more = u32::try_from(scenario.most_trials().saturating_sub(1)).unwrap_or(u32::MAX);
        at += (at - start + baseline) * more;
    }
    steps.push(Step {
        at,
        scenario: None,
        action: Action::End,
    });
    (steps, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gameday::load_bytes;

    fn gameday(text: &str) -> Gameday {
        let env = |_: &str| None;
        match load_bytes("test.yaml", text.as_bytes(), &env) {
            Ok(g) => g,
            Err(d) => panic!("{}", d.render()),
        }
    }

    const TWO_SCENARIOS: &str = r#"
gameday: Schedule
scope: { compose_project: demo }
defaults: { baseline: 2s, cooldown: 3s }
scenarios:
  - name: Two faults
    faults:
      - pause: { service: db }
      - delay: { service: api, latency: 100ms }
    duration: 10s
  - name: Drill
    steps:
      - note: "starts"
      - fault: { pause: { service: db } }
      - wait: 4s
      - manual: "look at the dashboard"
        timeout: 1m
      - fault: { kill: { service: api } }
    duration: 1s
    cooldown: 5s
"#;

    const TRIALS: &str = r#"
gameday: Trials
scope: { compose_project: demo }
defaults: { baseline: 2s, cooldown: 1s }
probes:
  login: { http: { url: "http://127.0.0.1:1/login" } }
  load: { load: { http: { url: "http://127.0.0.1:1/login" }, rate: 20/s } }
scenarios:
  - name: Search
    fault: { delay: { service: store, latency: "{{x}}" } }
    duration: 3s
    search:
      vary: x
      from: 100ms
      to: 1600ms
      resolution: 100ms
      until: { probe: login, during: fault, success_rate: "< 50%" }
      confirm: 2
  - name: Capacity
    duration: 3s
    search:
      load: load
      from: 20/s
      to: 300/s
      resolution: 10/s
      until: { probe: load, during: fault, success_rate: "< 95%" }
  - name: Repeat
    fault: { pause: { service: store } }
    duration: 1s
    repeat: 3
    pass: 2 of 3
    expect:
      - { probe: login, during: fault, success_rate: "< 50%" }
"#;

    /// Trials walk the steps laid out once; the schedule makes room for
    /// the most each scenario can take, each after a steady-state window.
    #[test]
    fn trials_are_laid_out_once_and_timed_at_their_most() {
        let g = gameday(TRIALS);
        let search = g.scenarios[0].search.as_ref().unwrap();
        assert_eq!(search.points.len(), 16);
        assert_eq!(search.points[3].said, "400ms");
        assert_eq!(g.scenarios[0].most_trials(), 12);
        // The plan checks the faults at the top of the range.
        match &g.scenarios[0].faults[0] {
            Fault::Delay(d) => assert_eq!(d.latency.as_std().as_millis(), 1600),
            other => panic!("{other:?}"),
        }
        assert!(g.scenarios[1].faults.is_empty());
        assert_eq!(g.scenarios[1].most_trials(), 7);
        assert_eq!(
            (g.scenarios[2].repeat, g.scenarios[2].pass),
            (Some(3), Some(2))
        );
        let plan = crate::plan::resolve_against(&g, &["store"]);
        // 2s baseline; each trial 4s and a 2s window: 12, 7 and 3 trials,
        // the first of each without its window.
        let each = |trials: u64, walk: u64| walk + (trials - 1) * (walk + 2);
        assert_eq!(
            plan.total.as_secs(),
            2 + each(12, 4) + each(7, 4) + each(3, 2)
        );
        let text = plan.render("trials.yaml");
        let schedule: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("Schedule:"))
            .take_while(|l| !l.is_empty())
            .collect();
        insta::assert_snapshot!(schedule.join("\n"));
    }

    fn actions(steps: &[Step], scenario: usize) -> Vec<(u64, Action)> {
        steps
            .iter()
            .filter(|s| s.scenario == Some(scenario))
            .map(|s| (s.at.as_secs(), s.action.clone()))
            .collect()
    }

    #[test]
    fn the_schedule_applies_in_order_and_reverts_in_reverse() {
        let g = gameday(TWO_SCENARIOS);
        let (steps, total) = schedule(&g);
        assert_eq!(steps[0].action, Action::Baseline(Duration::from_secs(2)));
        assert_eq!(
            actions(&steps, 0),
            vec![
                (2, Action::StartScenario),
                (2, Action::Apply { fault: 0 }),
                (2, Action::Apply { fault: 1 }),
                (2, Action::Hold(Duration::from_secs(10))),
                (12, Action::Revert { fault: 1 }),
                (12, Action::Revert { fault: 0 }),
                (12, Action::Cooldown(Duration::from_secs(3))),
            ]
        );
        // 2 baseline + 10 hold + 3 cooldown, then 4 wait + 1 hold + 5 cooldown;
        // the manual step is counted as instant.
        assert_eq!(total, Duration::from_secs(25));
        assert_eq!(steps.last().map(|s| &s.action), Some(&Action::End));
    }

    #[test]
    fn the_schedule_walks_the_steps_of_an_exercise() {
        let g = gameday(TWO_SCENARIOS);
        let (steps, _) = schedule(&g);
        assert_eq!(
            actions(&steps, 1),
            vec![
                (15, Action::StartScenario),
                (15, Action::Note("starts".into())),
                (15, Action::Apply { fault: 0 }),
                (15, Action::Wait(Duration::from_secs(4))),
                (
                    19,
                    Action::Manual {
                        text: "look at the dashboard".into(),
                        timeout: Duration::from_secs(60)
                    }
                ),
                (19, Action::Apply { fault: 1 }),
                (19, Action::Hold(Duration::from_secs(1))),
                (20, Action::Revert { fault: 1 }),
                (20, Action::Revert { fault: 0 }),
                (20, Action::Cooldown(Duration::from_secs(5))),
            ]
        );
    }

    #[test]
    fn a_scenario_may_take_its_waits_manual_timeouts_hold_cooldown_and_a_margin() {
        let plan = resolve::tests::resolve_against(&gameday(TWO_SCENARIOS), &["db", "api"]);
        // 10s hold + 3s cooldown; then 4s wait + 1m manual + 1s hold + 5s cooldown.
        assert_eq!(
            plan.remaining(0),
            Duration::from_secs(13) + REMAINING_MARGIN
        );
        assert_eq!(
            plan.remaining(1),
            Duration::from_secs(70) + REMAINING_MARGIN
        );
    }

    /// `run` walks `Plan::steps_of`: the walk it sees is the one above.
    #[test]
    fn the_run_walks_the_steps_the_plan_prints() {
        let g = gameday(TWO_SCENARIOS);
        let plan = resolve::tests::resolve_against(&g, &["db", "api"]);
        for scenario in 0..g.scenarios.len() {
            let walked: Vec<&Action> = plan.steps_of(scenario).map(|s| &s.action).collect();
            let scheduled: Vec<(u64, Action)> = actions(&plan.steps, scenario);
            assert_eq!(walked.len(), scheduled.len());
            for (w, (_, s)) in walked.iter().zip(&scheduled) {
                assert_eq!(*w, s);
            }
        }
    }
}
