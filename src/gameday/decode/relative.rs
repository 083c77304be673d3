//! Thresholds of the numeric checks, absolute or relative to the before
//! window (`"< 2x before"`), and what makes a relative one unusable: a
//! check that measures no single figure (`status`), a window compared
//! with itself (`during: before`), a probe the before window (the
//! baseline) cannot hold two runs of.

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
        let text = self.comparison_text(
            node,
            what,
            format!("write it quoted with an operator, e.g. `\"{example}\"` or `\"{relative}\"`"),
        )?;
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

    /// A relative check needs a before window other than its own (not
    /// `during: before`) with samples of its probe to compare with: every
    /// scenario's before window is the gameday's baseline (the steady
    /// state, never 0s), which must hold at least two of the probe's runs.
    /// True when usable.
    pub(super) fn relative_has_before(
        &mut self,
        key: &Key,
        value: &Node,
        during: Window,
        probe: &Probe,
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
        if probe.every.0 * 2 > baseline.0 {
            let most = HumanDuration(baseline.0 / 2);
            self.error_hint(
                value.pos,
                format!(
                    "`{}` is relative to `{REFERENCE}`, but probe `{}` runs every {}: the {baseline} baseline, every scenario's before window, holds at most one of its samples",
                    key.name, probe.name, probe.every
                ),
                format!(
                    "run the probe at least twice in the baseline (`every: {most}` or less), lengthen `defaults.baseline`, or write an absolute limit"
                ),
            );
            return false;
        }
        true
    }
}
