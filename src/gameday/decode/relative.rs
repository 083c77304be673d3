//! Thresholds of the numeric checks, absolute or relative to the before
//! window (`"< 2x before"`), and what makes a relative one unusable: a
//! check that measures no single figure (`status`), a window compared
//! with itself (`during: before`), no before window at all (a `0s`
//! baseline).

use super::*;
use crate::gameday::units::{REFERENCE, Threshold, ThresholdError, mentions_reference};

/// The forms a relative threshold takes, for hints.
const RELATIVE_FORMS: &str =
    "`< 2x before`, `>= 90% of before`, `<= before + 50ms`, `>= before - 1%`";

impl Decoder<'_> {
    /// A numeric check's threshold: `example` shows an absolute one,
    /// `relative` a relative one for the same check.
    pub(super) fn threshold<T: FromStr<Err = String>>(
        &mut self,
        node: &Node,
        what: &str,
        example: &str,
        relative: &str,
    ) -> Option<Threshold<T>> {
        let Value::Str(text) = &node.value else {
            self.error_hint(
                node.pos,
                format!(
                    "expected {what} as a comparison string, found {}",
                    node.value.kind()
                ),
                format!(
                    "write it quoted with an operator, e.g. `\"{example}\"` or `\"{relative}\"`"
                ),
            );
            return None;
        };
        match Threshold::<T>::parse(text) {
            Ok(t) => Some(t),
            Err(ThresholdError {
                message,
                relative: false,
            }) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {message}"),
                    format!("write an operator and a value, e.g. `\"{example}\"`, or a limit relative to the before window, e.g. `\"{relative}\"`"),
                );
                None
            }
            Err(ThresholdError {
                message,
                relative: true,
            }) => {
                self.error_hint(
                    node.pos,
                    format!("invalid relative {what}: {message}"),
                    format!("a relative limit compares with the same probe's before window: write e.g. `\"{relative}\"` ({RELATIVE_FORMS})"),
                );
                None
            }
        }
    }

    /// A check that measures no single figure written as a relative one
    /// (`status: "< 2x before"`): said plainly, instead of the value's own
    /// parse error. True when it was.
    pub(super) fn relative_where_not_taken(
        &mut self,
        key: &Key,
        kind: CheckKind,
        value: &Node,
    ) -> bool {
        let Value::Str(text) = &value.value else {
            return false;
        };
        if kind.takes_relative() || !mentions_reference(text) {
            return false;
        }
        let takes: Vec<&str> = CheckKind::ALL
            .iter()
            .filter(|k| k.takes_relative())
            .map(|k| k.key())
            .collect();
        self.error_hint(
            value.pos,
            format!(
                "`{}` cannot be relative to the before window: it does not measure one figure per window",
                key.name
            ),
            format!(
                "write an absolute value here; relative limits ({RELATIVE_FORMS}) apply to {}",
                list_keys(&takes)
            ),
        );
        true
    }

    /// A relative check needs a before window other than its own: not
    /// `during: before`, and a baseline longer than 0s. True when usable.
    pub(super) fn relative_has_before(
        &mut self,
        key: &Key,
        value: &Node,
        during: Window,
        baseline: HumanDuration,
    ) -> bool {
        if during == Window::Before {
            self.error_hint(
                value.pos,
                format!(
                    "`{}` is relative to `{REFERENCE}` but measured during `before`: it compares the before window with itself",
                    key.name
                ),
                "measure it `during: fault` or `during: after`, or write an absolute limit",
            );
            return false;
        }
        if baseline.0.is_zero() {
            self.error_hint(
                value.pos,
                format!(
                    "`{}` is relative to `{REFERENCE}`, but there is no before window: `defaults.baseline` is 0s",
                    key.name
                ),
                "give `defaults.baseline` a duration (e.g. `5s`): each probe's samples during the baseline, the gameday's steady state, are every scenario's before window; or write an absolute limit",
            );
            return false;
        }
        true
    }
}
