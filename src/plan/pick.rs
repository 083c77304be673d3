//! Which containers a target stands for: [`selects`] says whether a
//! container matches a target's selector (a service, a name, labels), and
//! [`choose`] makes a `pick:` among those that match, from a seed, so the
//! same seed always makes the same choice (`gameday plan --seed N` shows
//! what `gameday run --seed N` acts on).
//!
//! Pure but for [`Seed::settle`], which draws a seed from the system's
//! random source when neither `--seed` nor the file gives one. The choice
//! sorts the containers by name (then engine, then ID) first, so it does
//! not depend on the order the engines listed them, and draws from a
//! splitmix64 stream of its own: the same seed gives the same choice on
//! every platform and in every version that keeps this module's numbers.
//!
//! One gameday seed serves every target: each target draws from its own
//! stream, [`derive`]d from the seed and its place ([`Place`]: a fault's
//! scenario and index, a probe's index), so two faults of one seed do not
//! all pick the same replicas. A target's own `seed:` is used as it is,
//! not derived, so its choice stays put when the file around it changes.
//! Repeated trials of one target draw again with `derive(seed, &[trial])`.

use std::collections::BTreeMap;

use super::{Choice, ResolvedTarget};
use crate::docker::ContainerInfo;
use crate::gameday::diag::Diagnostic;
use crate::gameday::model::{Pick, Selector, Target};

/// The seed of a plan's choices, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seed {
    pub value: u64,
    pub from: SeedFrom,
}

/// Who gave the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedFrom {
    /// `--seed N` on the command line.
    Flag,
    /// `seed:` at the top of the gameday file.
    File,
    /// Neither: drawn from the system's random source.
    Drawn,
}

impl Seed {
    /// `--seed` over the file's `seed:`; without either, a seed drawn from
    /// the system's random source (below 2^32, short enough to type).
    pub(crate) fn settle(flag: Option<u64>, file: Option<u64>) -> Seed {
        match (flag, file) {
            (Some(value), _) => Seed {
                value,
                from: SeedFrom::Flag,
            },
            (None, Some(value)) => Seed {
                value,
                from: SeedFrom::File,
            },
            (None, None) => Seed {
                value: draw(),
                from: SeedFrom::Drawn,
            },
        }
    }

    /// A seed given, for tests.
    #[cfg(test)]
    pub(crate) fn given(value: u64) -> Seed {
        Seed {
            value,
            from: SeedFrom::Flag,
        }
    }

    /// How the run says it: `seed 7 (repeat this choice with --seed 7)`.
    pub(crate) fn text(&self) -> String {
        format!("seed {}", self.value_text())
    }

    /// `7 (from --seed; repeat this choice with --seed 7)`, as the plan shows it.
    pub(crate) fn value_text(&self) -> String {
        let from = match self.from {
            SeedFrom::Flag => "from --seed; ",
            SeedFrom::File => "from the file; ",
            SeedFrom::Drawn => "",
        };
        format!(
            "{v} ({from}repeat this choice with --seed {v})",
            v = self.value
        )
    }
}

/// A fresh seed from the system's random source; the clock's nanoseconds
/// only if that fails (it does not on any supported system).
fn draw() -> u64 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 4];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from(u32::from_le_bytes(bytes)),
        Err(_) => u64::from(chrono::Utc::now().timestamp_subsec_nanos()),
    }
}

/// Where a target sits in the gameday: what its stream is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Fault `fault` of scenario `scenario` (both from 0, in file order).
    Fault { scenario: usize, fault: usize },
    /// Probe `index` (from 0, in file order).
    Probe { index: usize },
}

impl Place {
    /// The seed of the target at this place: its own `seed:` as written,
    /// else one derived from the gameday's seed and the place.
    pub(crate) fn seed_of(self, target: &Target, gameday: u64) -> u64 {
        if let Some(own) = target.seed {
            return own;
        }
        match self {
            Place::Fault { scenario, fault } => {
                derive(gameday, &[0, scenario as u64, fault as u64])
            }
            Place::Probe { index } => derive(gameday, &[1, index as u64]),
        }
    }
}

/// A seed of its own for each of `parts` (a place, a trial number):
/// each part is mixed into the stream in turn, so `[0, 1, 2]` and
/// `[0, 2, 1]` give unrelated seeds.
pub(crate) fn derive(seed: u64, parts: &[u64]) -> u64 {
    let mut stream = SplitMix64(seed);
    for part in parts {
        stream = SplitMix64(stream.next() ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
    stream.next()
}

/// splitmix64 (Steele, Lea and Flood; the seeder of xoshiro): one 64-bit
/// state, well mixed from any seed, 0 included.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0), without modulo bias: draws in the
    /// biased tail are thrown away.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let x = self.next();
            if x <= zone {
                return x % n;
            }
        }
    }
}

/// Why a pick cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PickError {
    #[error("nothing to pick from")]
    Empty,
    #[error("pick {wanted} of {have}")]
    TooMany { wanted: u32, have: usize },
}

/// How many of `n` containers `pick` takes (at least one, at most `n`);
/// `Random` draws it from `stream`.
fn how_many(pick: &Pick, n: usize, stream: &mut SplitMix64) -> Result<usize, PickError> {
    match *pick {
        Pick::All => Ok(n),
        Pick::One => Ok(1),
        Pick::Random => Ok(1 + stream.below(n as u64) as usize),
        Pick::Count(wanted) if wanted as usize > n => Err(PickError::TooMany { wanted, have: n }),
        Pick::Count(wanted) => Ok(wanted as usize),
        Pick::Percent(p) => {
            // Rounded up; the small allowance keeps 40% of 5 at 2 whatever
            // the float's last bit.
            let share = (n as f64 * p.0 / 100.0 - 1e-9).ceil();
            Ok((share as usize).clamp(1, n))
        }
    }
}

/// How many of `n` containers `pick` takes, when that does not depend on
/// a draw (`random` counts as one).
pub(crate) fn how_many_of(pick: &Pick, n: usize) -> usize {
    let mut none = SplitMix64(0);
    match pick {
        Pick::Random => 1,
        other => how_many(other, n, &mut none).unwrap_or(n),
    }
}

/// The containers `pick` chooses among `containers`, by `seed`: always the
/// same ones for the same seed and the same containers, whatever their
/// order. `all` takes every one; `one`, `random`, `count` and `percent`
/// draw which (and for `random` how many) from the seed. The choice comes
/// back sorted by name. Fails when there is nothing to pick from, or
/// `count` is more than there are.
pub(crate) fn choose(
    containers: &[ContainerInfo],
    pick: &Pick,
    seed: u64,
) -> Result<Vec<ContainerInfo>, PickError> {
    if containers.is_empty() {
        return Err(PickError::Empty);
    }
    let mut sorted: Vec<&ContainerInfo> = containers.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.engine, &a.id).cmp(&(&b.name, &b.engine, &b.id)));
    let mut stream = SplitMix64(seed);
    let k = how_many(pick, sorted.len(), &mut stream)?;
    if k < sorted.len() {
        // The first k places of a Fisher-Yates shuffle.
        for i in 0..k {
            let j = i + stream.below((sorted.len() - i) as u64) as usize;
            sorted.swap(i, j);
        }
        sorted.truncate(k);
        sorted.sort_by(|a, b| (&a.name, &a.engine, &a.id).cmp(&(&b.name, &b.engine, &b.id)));
    }
    Ok(sorted.into_iter().cloned().collect())
}

/// Whether container `c` is one that `selector` names: of the service, of
/// the name, or carrying every label (with its value).
pub(crate) fn selects(selector: &Selector, c: &ContainerInfo) -> bool {
    match selector {
        Selector::Service(s) => c.service.as_deref() == Some(s.as_str()),
        Selector::Container(n) => c.name == *n,
        Selector::Labels(labels) => labels.iter().all(|(k, v)| c.labels.get(k) == Some(v)),
    }
}

/// `resolved`'s containers narrowed to its pick's choice, made from the
/// seed of its `place` (`gameday` is the plan's seed). A `count` larger
/// than the containers there are is a located error.
pub(super) fn narrow(
    mut resolved: ResolvedTarget,
    place: Place,
    gameday: u64,
) -> Result<ResolvedTarget, Diagnostic> {
    let target = &resolved.target;
    if !target.pick.is_random() {
        return Ok(resolved);
    }
    let seed = place.seed_of(target, gameday);
    let among = std::mem::take(&mut resolved.containers);
    match choose(&among, &target.pick, seed) {
        Ok(chosen) => {
            resolved.containers = chosen;
            resolved.choice = Some(Choice {
                among: choose(&among, &Pick::All, seed).unwrap_or(among),
                seed,
                named: target.seed.unwrap_or(gameday),
                own_seed: target.seed.is_some(),
            });
            Ok(resolved)
        }
        Err(e) => Err(too_few(target, place, &among, &e)),
    }
}

/// A pick that cannot be made: `count` above the containers there are
/// (running ones, for a fault).
fn too_few(
    target: &Target,
    place: Place,
    among: &[ContainerInfo],
    error: &PickError,
) -> Diagnostic {
    let PickError::TooMany { wanted, have } = *error else {
        return Diagnostic::new(
            target.pick_pos,
            format!("{} has no container to pick from", target.selector),
        );
    };
    let running = match place {
        Place::Fault { .. } => " running",
        Place::Probe { .. } => "",
    };
    let names: Vec<&str> = among.iter().map(|c| c.name.as_str()).collect();
    Diagnostic::new(
        target.pick_pos,
        format!(
            "`pick` wants {wanted} containers, but {} has {have}{running}: {}",
            target.selector,
            names.join(", ")
        ),
    )
    .with_hint(format!(
        "pick at most {have} (`count: {have}`, or `all`), or a share with `percent:`"
    ))
}

/// The containers carrying every one of `labels`, how the error names
/// them, and the labels the scope's containers carry (compose's own
/// left out) to suggest.
pub(super) fn labelled(
    in_scope: &[ContainerInfo],
    labels: &BTreeMap<String, String>,
) -> (Vec<ContainerInfo>, String, Vec<String>) {
    let selector = Selector::Labels(labels.clone());
    let found = in_scope
        .iter()
        .filter(|c| selects(&selector, c))
        .cloned()
        .collect();
    let mut carried: Vec<String> = in_scope
        .iter()
        .flat_map(|c| &c.labels)
        .filter(|(k, _)| !k.starts_with("com.docker.") && !k.starts_with("org.opencontainers."))
        // Keys only: a label's value may be a secret (a basic-auth hash).
        .map(|(k, _)| k.clone())
        .collect();
    carried.sort();
    carried.dedup();
    (found, selector.to_string(), carried)
}

/// The located error of a label selector no container in scope matches.
pub(super) fn none_labelled(
    target: &Target,
    labels: &BTreeMap<String, String>,
    outside_scope: &[ContainerInfo],
    carried: &[String],
    project: &str,
) -> Diagnostic {
    let outside = outside_scope.iter().any(|c| selects(&target.selector, c));
    let hint = if outside {
        format!(
            "containers labelled like that exist outside scope `{project}`; gameday never touches anything outside its scope"
        )
    } else if carried.is_empty() {
        "no container in scope carries a label of its own; add them (`labels:` in the compose file) or target a `service:`".to_string()
    } else {
        format!("the label keys in scope: {}", carried.join(", "))
    };
    let place = match &target.host {
        Some(h) => format!(" on host `{h}`"),
        None => String::new(),
    };
    Diagnostic::new(
        target.pos,
        format!(
            "no container in compose project `{project}`{place} carries the labels {}",
            Selector::labels_text(labels)
        ),
    )
    .with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gameday::units::Percent;
    use crate::plan::resolve::tests::container;

    fn replicas(n: u32) -> Vec<ContainerInfo> {
        (1..=n).map(|i| container("demo", "api", i)).collect()
    }

    fn names(chosen: &[ContainerInfo]) -> Vec<String> {
        chosen.iter().map(|c| c.name.clone()).collect()
    }

    #[test]
    fn count_and_one_take_that_many_distinct_containers() {
        let five = replicas(5);
        for seed in 0..50 {
            let two = choose(&five, &Pick::Count(2), seed).unwrap();
            assert_eq!(two.len(), 2);
            assert_ne!(two[0].name, two[1].name);
            assert!(two[0].name < two[1].name, "sorted by name");
            assert_eq!(choose(&five, &Pick::One, seed).unwrap().len(), 1);
        }
        assert_eq!(choose(&five, &Pick::Count(5), 3).unwrap(), five);
        assert_eq!(choose(&five, &Pick::All, 3).unwrap(), five);
        assert_eq!(
            choose(&five, &Pick::Count(6), 3),
            Err(PickError::TooMany { wanted: 6, have: 5 })
        );
        assert_eq!(choose(&[], &Pick::One, 3), Err(PickError::Empty));
    }

    #[test]
    fn percent_rounds_up_and_takes_at_least_one() {
        let cases = [
            (5, 40.0, 2),
            (5, 41.0, 3),
            (5, 1.0, 1),
            (3, 100.0, 3),
            (10, 30.0, 3),
            (7, 50.0, 4),
        ];
        for (n, p, want) in cases {
            let chosen = choose(&replicas(n), &Pick::Percent(Percent(p)), 9).unwrap();
            assert_eq!(chosen.len(), want, "{p}% of {n}");
        }
    }

    #[test]
    fn random_takes_between_one_and_all_and_reaches_both_ends() {
        let five = replicas(5);
        let sizes: Vec<usize> = (0..200)
            .map(|seed| choose(&five, &Pick::Random, seed).unwrap().len())
            .collect();
        assert!(sizes.iter().all(|k| (1..=5).contains(k)));
        for k in 1..=5 {
            assert!(sizes.contains(&k), "no seed of 200 took {k}");
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_choice_whatever_the_order() {
        let five = replicas(5);
        let mut reversed = five.clone();
        reversed.reverse();
        reversed.swap(0, 2);
        for pick in [
            Pick::One,
            Pick::Random,
            Pick::Count(3),
            Pick::Percent(Percent(40.0)),
        ] {
            for seed in [0, 1, 7, u64::MAX] {
                let a = choose(&five, &pick, seed).unwrap();
                assert_eq!(a, choose(&five, &pick, seed).unwrap());
                assert_eq!(
                    a,
                    choose(&reversed, &pick, seed).unwrap(),
                    "{pick:?} {seed}"
                );
            }
        }
    }

    #[test]
    fn different_seeds_vary_the_choice() {
        let five = replicas(5);
        let mut seen = std::collections::BTreeMap::new();
        for seed in 0..100 {
            *seen
                .entry(names(&choose(&five, &Pick::Count(2), seed).unwrap()))
                .or_insert(0) += 1;
        }
        // Ten pairs of five: every one drawn, none much more than its share.
        assert_eq!(seen.len(), 10, "{seen:?}");
        assert!(seen.values().all(|&n| n < 25), "{seen:?}");
    }

    #[test]
    fn places_get_streams_of_their_own_and_a_target_seed_is_its_own() {
        let a = Place::Fault {
            scenario: 0,
            fault: 0,
        };
        let b = Place::Fault {
            scenario: 0,
            fault: 1,
        };
        let p = Place::Probe { index: 0 };
        let mut t = crate::gameday::model::Target::every_replica("api", None, Default::default());
        let seeds = [a.seed_of(&t, 7), b.seed_of(&t, 7), p.seed_of(&t, 7)];
        assert_ne!(seeds[0], seeds[1]);
        assert_ne!(seeds[0], seeds[2]);
        assert_eq!(seeds[0], a.seed_of(&t, 7), "derived deterministically");
        assert_ne!(a.seed_of(&t, 7), a.seed_of(&t, 8));
        t.seed = Some(5);
        assert_eq!(a.seed_of(&t, 7), 5);
        assert_ne!(derive(7, &[1, 2]), derive(7, &[2, 1]));
    }

    #[test]
    fn labels_select_containers_carrying_all_of_them() {
        let mut c = container("demo", "db", 1);
        c.labels.insert("tier".into(), "db".into());
        c.labels.insert("zone".into(), "a".into());
        let want = |pairs: &[(&str, &str)]| {
            Selector::Labels(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert!(selects(&want(&[("tier", "db")]), &c));
        assert!(selects(&want(&[("tier", "db"), ("zone", "a")]), &c));
        assert!(!selects(&want(&[("tier", "db"), ("zone", "b")]), &c));
        assert!(!selects(&want(&[("tier", "web")]), &c));
    }
}
