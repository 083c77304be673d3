//! Pure: which value of a search's grid to try next, from what the trials
//! so far said (held or broke), and what the search found.
//!
//! The top of the range first (a system that holds there has no breaking
//! point in range), then the bottom (one that already breaks there has none
//! either), then halving the bracket between the last value that held and
//! the first that broke until they are neighbours on the grid (one
//! `resolution` apart). With `confirm: n` a value holds only once it held
//! in n trials; one break is a break.

/// What the search does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try this point of the grid.
    Try(usize),
    /// Done: what was found.
    Done(Found),
}

/// The outcome of a search, by grid points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Held at this point, broke at the next one up.
    Bracket { holds: usize, breaks: usize },
    /// Held even at the top of the range.
    HoldsThroughout,
    /// Broke already at the bottom of the range.
    BreaksAtOnce,
}

/// A bisection over `points` grid values (at least 2).
#[derive(Debug, Clone)]
pub(crate) struct Bisection {
    points: usize,
    confirm: u32,
    /// The highest point known to hold, and the lowest known to break.
    holds: Option<usize>,
    breaks: Option<usize>,
    /// The point under trial and how many times it held so far.
    trying: Option<(usize, u32)>,
}

impl Bisection {
    pub(crate) fn new(points: usize, confirm: u32) -> Bisection {
        Bisection {
            points: points.max(2),
            confirm: confirm.max(1),
            holds: None,
            breaks: None,
            trying: None,
        }
    }

    /// The next trial, or what was found.
    pub(crate) fn next(&self) -> Next {
        if let Some((point, _)) = self.trying {
            return Next::Try(point);
        }
        let top = self.points - 1;
        match (self.holds, self.breaks) {
            (None, None) => Next::Try(top),
            (Some(_), None) => Next::Done(Found::HoldsThroughout),
            (None, Some(0)) => Next::Done(Found::BreaksAtOnce),
            (None, Some(_)) => Next::Try(0),
            (Some(holds), Some(breaks)) if breaks <= holds + 1 => {
                Next::Done(Found::Bracket { holds, breaks })
            }
            (Some(holds), Some(breaks)) => Next::Try(holds + (breaks - holds) / 2),
        }
    }

    /// What the trial at `point` said: `broke` when the `until` condition held.
    pub(crate) fn record(&mut self, point: usize, broke: bool) {
        if broke {
            self.breaks = Some(self.breaks.map_or(point, |b| b.min(point)));
            self.trying = None;
            return;
        }
        let held = match self.trying {
            Some((p, n)) if p == point => n + 1,
            _ => 1,
        };
        if held >= self.confirm {
            self.holds = Some(self.holds.map_or(point, |h| h.max(point)));
            self.trying = None;
        } else {
            self.trying = Some((point, held));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a bisection against a system that breaks from `threshold` on;
    /// returns what it found and the points tried.
    fn search(points: usize, confirm: u32, breaks: impl Fn(usize) -> bool) -> (Found, Vec<usize>) {
        let mut b = Bisection::new(points, confirm);
        let mut tried = Vec::new();
        loop {
            match b.next() {
                Next::Try(p) => {
                    tried.push(p);
                    b.record(p, breaks(p));
                    assert!(tried.len() <= 64, "runaway: {tried:?}");
                }
                Next::Done(found) => return (found, tried),
            }
        }
    }

    #[test]
    fn it_brackets_the_threshold_within_both_ends_and_one_trial_per_halving() {
        for points in [2, 3, 17, 81, 1001] {
            let most = crate::gameday::model::most_trials(points, 1);
            for threshold in 1..points {
                let (found, tried) = search(points, 1, |p| p >= threshold);
                assert_eq!(
                    found,
                    Found::Bracket {
                        holds: threshold - 1,
                        breaks: threshold
                    },
                    "{points} points, threshold {threshold}"
                );
                assert!(tried.len() <= most, "{points}/{threshold}: {tried:?}");
                assert_eq!(
                    &tried[..2.min(tried.len())],
                    &[points - 1, 0][..2.min(tried.len())]
                );
            }
        }
    }

    #[test]
    fn no_breaking_point_in_range_is_said_either_way() {
        assert_eq!(search(17, 1, |_| false), (Found::HoldsThroughout, vec![16]));
        assert_eq!(search(17, 1, |_| true), (Found::BreaksAtOnce, vec![16, 0]));
    }

    #[test]
    fn with_confirm_a_value_holds_only_after_holding_every_time_and_one_break_is_a_break() {
        let (found, tried) = search(9, 2, |p| p >= 5);
        assert_eq!(
            found,
            Found::Bracket {
                holds: 4,
                breaks: 5
            }
        );
        // The top breaks once; the bottom holds twice; 4 holds twice, 6
        // breaks once, 5 breaks once.
        assert_eq!(tried, vec![8, 0, 0, 4, 4, 6, 5]);
        assert!(tried.len() <= crate::gameday::model::most_trials(9, 2));
        // A flaky value: held once, then broke: it counts as broken.
        let flaky = std::cell::Cell::new(0);
        let (found, _) = search(3, 2, |p| {
            if p == 1 {
                flaky.set(flaky.get() + 1);
                flaky.get() == 2
            } else {
                p == 2
            }
        });
        assert_eq!(
            found,
            Found::Bracket {
                holds: 0,
                breaks: 1
            }
        );
    }
}
