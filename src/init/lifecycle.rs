//! The scenarios of one service on its own, written by [`super::write`]:
//! a restart, and, for a service with a HEALTHCHECK, a redeploy of its
//! own image rolled back after (the drill of every release). Each claims
//! its checklist item only where something can prove it, and a datastore's
//! ledgers check that no acknowledged write was lost. Pure.

use std::time::Duration;

use super::Stack;
use super::checklist::{DEPLOYS_AND_ROLLBACKS_TESTED, RESTARTS_CLEANLY};
use super::ledger::Lost;
use super::write::{ScenarioText, observer, probes_of, scalar};
use crate::gameday::units::HumanDuration;

/// The longest HEALTHCHECK interval a redeploy waits for `healthy` on:
/// Docker first runs a HEALTHCHECK one interval after the container
/// starts, so with a longer one each replica would keep the deploy
/// waiting that long.
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

/// What shows that `service` is back: its clients' probe, else its own
/// HEALTHCHECK run as a probe.
fn back(stack: &Stack, service: &str) -> Option<String> {
    observer(service, stack)
        .map(|o| o.probe)
        .or_else(|| probes_of(service, stack).healthcheck)
}

fn recovers(probe: &str, settle: HumanDuration) -> String {
    format!(
        "{{ probe: {}, recovers_within: {settle} }}   # adjust",
        scalar(probe)
    )
}

/// A restart of one service: it comes back on its own.
pub(super) fn restarted(stack: &Stack, service: &str, settle: HumanDuration) -> ScenarioText {
    let mut expect = vec![format!(
        "{{ probe: {}, during: after, state: running }}",
        scalar(&probes_of(service, stack).state)
    )];
    let back = back(stack, service);
    if let Some(probe) = &back {
        expect.push(recovers(probe, settle));
    }
    expect.extend(Lost::of(stack, service).checks(false));
    ScenarioText {
        name: format!("{service} restarted"),
        expected: format!(
            "A restart of {service} costs a few seconds at most, and it comes back without help."
        ),
        // Running again is not "back": a client must see it answer.
        checklist: if back.is_some() {
            vec![RESTARTS_CLEANLY]
        } else {
            Vec::new()
        },
        faults: vec![format!(
            "{{ restart: {{ service: {}, timeout: 2s }} }}",
            scalar(service)
        )],
        expect,
        comment: None,
    }
}

/// A redeploy of a service with a HEALTHCHECK: its own image recreated,
/// one replica at a time, each healthy before the next, then rolled back
/// to the containers it ran; both timed. Its container probe watches the
/// replica set aside, so only what its clients see is checked after.
pub(super) fn redeployed(
    stack: &Stack,
    service: &super::Service,
    settle: HumanDuration,
) -> Option<ScenarioText> {
    let name = service.name.as_str();
    let interval = service.healthcheck.as_ref()?.interval;
    let healthy = interval.as_std() <= HEALTHY_WITHIN;
    let wait = if healthy { "healthy" } else { "running" };
    let mut comment = format!(
        "No `image`: each replica of {name} is recreated from its own image (set `image:` to\n\
         rehearse a release). Unless a balancer spreads its clients over more than one\n\
         replica, they see it down while one is replaced: only its return is checked."
    );
    if !healthy {
        comment.push_str(&format!(
            "\nIts HEALTHCHECK runs every {interval}: a new replica is not healthy before then, so\n\
             each counts as ready once it runs (`wait: running`)."
        ));
    }
    let back = back(stack, name);
    Some(ScenarioText {
        name: format!("Redeploy of {name}"),
        expected: format!(
            "Redeploying {name} one replica at a time, each {wait} before the next, takes under 2m, and so does rolling it back; {name} is back without help."
        ),
        // Ready by its own HEALTHCHECK, or seen answering by a client.
        checklist: if healthy || back.is_some() {
            vec![DEPLOYS_AND_ROLLBACKS_TESTED]
        } else {
            Vec::new()
        },
        faults: vec![format!(
            "{{ deploy: {{ service: {}, strategy: rolling, wait: {wait}, deploy_time: \"< 2m\", rollback_time: \"< 2m\" }} }}   # adjust",
            scalar(name)
        )],
        expect: back
            .iter()
            .map(|p| recovers(p, settle))
            .chain(Lost::of(stack, name).checks(false))
            .collect(),
        comment: Some(comment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gameday::model::{DeployWait, Fault, Gameday, Scenario};
    use crate::init::{Endpoint, Healthcheck, Service};

    /// One service answering HTTP, whose HEALTHCHECK runs every `interval`.
    fn stack(interval: HumanDuration) -> Stack {
        Stack {
            project: "shop".into(),
            compose_files: vec![],
            services: vec![
                Service {
                    name: "web".into(),
                    endpoint: Some(Endpoint::Http {
                        url: "http://127.0.0.1:8000/health".into(),
                        status: 200,
                    }),
                    healthcheck: Some(Healthcheck::read(&["/check".into()], &[], interval)),
                    datastore: None,
                },
                Service {
                    name: "worker".into(),
                    endpoint: None,
                    healthcheck: None,
                    datastore: None,
                },
            ],
            edges: vec![],
            notes: vec![],
            probed_at: crate::init::reach::ProbeHost::local(),
        }
    }

    fn written(stack: &Stack) -> (String, Gameday) {
        let options = crate::init::write::WriteOptions {
            duration: HumanDuration::from_secs(2),
            date: "2026-12-03".into(),
            command: "gameday init --project shop".into(),
            load: None,
        };
        let text = crate::init::write::gameday_text(stack, &options);
        let env = |_: &str| None;
        let g = crate::gameday::load_bytes("init.yaml", text.as_bytes(), &env)
            .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        (text, g)
    }

    fn redeploy_of_web(g: &Gameday) -> &Scenario {
        g.scenarios
            .iter()
            .find(|s| s.name == "Redeploy of web")
            .expect("a redeploy of web")
    }

    /// What the redeploy of web waits for; its own image, both times checked.
    fn deploy_wait(g: &Gameday) -> DeployWait {
        match redeploy_of_web(g).faults.as_slice() {
            [Fault::Deploy(d)] => {
                assert_eq!(d.image, None, "its own image, recreated");
                assert!(d.deploy_time.is_some() && d.rollback_time.is_some());
                d.wait.clone()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_service_with_a_healthcheck_is_redeployed_and_waited_healthy() {
        let (text, g) = written(&stack(HumanDuration::from_secs(2)));
        assert_eq!(deploy_wait(&g), DeployWait::Healthy);
        let s = redeploy_of_web(&g);
        assert_eq!(s.checklist, vec![DEPLOYS_AND_ROLLBACKS_TESTED.to_string()]);
        assert_eq!(s.expect.len(), 1, "{text}");
        // Without a HEALTHCHECK, no redeploy: nothing could say it is ready.
        assert!(!g.scenarios.iter().any(|s| s.name == "Redeploy of worker"));
    }

    #[test]
    fn a_healthcheck_too_slow_to_wait_for_makes_it_wait_running_and_says_why() {
        let (text, g) = written(&stack(HumanDuration::from_secs(3600)));
        assert_eq!(deploy_wait(&g), DeployWait::Running);
        assert!(
            text.contains(
                "Its HEALTHCHECK runs every 1h: a new replica is not healthy before then"
            ),
            "{text}"
        );
        // Still claimed: a client's probe sees it back.
        let s = redeploy_of_web(&g);
        assert_eq!(s.checklist, vec![DEPLOYS_AND_ROLLBACKS_TESTED.to_string()]);
        let mut unseen = stack(HumanDuration::from_secs(3600));
        unseen.services[0].endpoint = None;
        // Its HEALTHCHECK cannot run as a probe (a secret no variable holds).
        if let Some(h) = unseen.services[0].healthcheck.as_mut() {
            h.runs = false;
        }
        let (text, g) = written(&unseen);
        let s = redeploy_of_web(&g);
        assert!(s.checklist.is_empty(), "nothing proves it: {text}");
        assert!(s.expect.is_empty(), "{text}");
    }
}
