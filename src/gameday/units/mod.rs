//! The small value languages of the gameday file: durations (`1m30s`),
//! percentages (`99.5%`), comparisons (`">= 99%"`, `"< 1s"`), HTTP status
//! specs (`200`, `[200, 204]`, `2xx`), numbers, signals and container states. Each type
//! parses from the user's text, prints back in canonical form, and explains
//! what was expected when the text is wrong.
//!
//! `duration` (durations and `fmt_ms`), `compare` (percentages, numbers,
//! CPU shares and comparisons), `threshold` (a numeric check's limit:
//! a comparison, or relative to the before window, `"< 2x before"`),
//! `sizes` (rates and byte sizes), `state` (HTTP status specs, signals,
//! container and health states), `requests` (a load probe's rate, `500/s`
//! or `max`, and throughputs).

mod compare;
mod duration;
mod requests;
mod sizes;
mod state;
#[cfg(test)]
mod tests;
mod threshold;

pub use compare::Percent;
pub(crate) use compare::{CmpOp, Comparison, CpuPercent, Number};
pub use duration::HumanDuration;
pub(crate) use duration::fmt_ms;
pub(crate) use requests::{LoadRate, RequestRate};
pub(crate) use sizes::ByteSize;
pub use sizes::Rate;
pub use state::ContainerState;
pub(crate) use state::{HealthState, StatusSpec};
pub(crate) use state::{SIGNALS, parse_signal};
pub(crate) use threshold::{REFERENCE, Relative, Threshold, ThresholdError, mentions_reference};

/// `number * scale` for a decimal `number` like `1.5`, exact, in integers.
fn parse_decimal_scaled(number: &str, scale: u128) -> Option<u128> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.contains('.') || frac_part.len() > 9 {
        return None;
    }
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut value = int.checked_mul(scale)?;
    if !frac_part.is_empty() {
        let frac: u128 = frac_part.parse().ok()?;
        let denom = 10u128.pow(frac_part.len() as u32);
        value = value.checked_add(frac * scale / denom)?;
    }
    Some(value)
}
