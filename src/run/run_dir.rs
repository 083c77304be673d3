//! The run directory: `OUT/<date>-<slug>-<id>/`, created with its journal
//! before anything else happens.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::RunError;
use crate::record::{self, journal::Journal};

/// A short random id for a run: `3f9c2a`.
pub(super) fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ ((nanos >> 64) as u64);
    let mixed = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:06x}", mixed >> 40)
}

/// `2026-11-23-login-api-resilience-3f9c2a`
pub(super) fn name(title: &str, run_id: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(40).collect();
    let slug = if slug.is_empty() {
        "gameday".to_string()
    } else {
        slug
    };
    format!(
        "{}-{}-{run_id}",
        Utc::now().format("%Y-%m-%d"),
        slug.trim_end_matches('-')
    )
}

/// Create the run directory under `out` and open its journal.
pub(super) fn create(
    out: &Path,
    title: &str,
    run_id: &str,
) -> Result<(PathBuf, Journal), RunError> {
    let run_dir = out.join(name(title, run_id));
    std::fs::create_dir_all(&run_dir).map_err(|source| RunError::RunDir {
        path: run_dir.display().to_string(),
        source,
    })?;
    let path = run_dir.join(record::JOURNAL_FILE);
    let journal = Journal::create(&path).map_err(|source| record::RecordError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok((run_dir, journal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dated_slugs_with_the_run_id() {
        let n = name("Login API: resilience (v2)!", "3f9c2a");
        let date = Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(n, format!("{date}-login-api-resilience-v2-3f9c2a"));
        assert_eq!(name("???", "abc"), format!("{date}-gameday-abc"));
        assert_eq!(new_run_id().len(), 6);
    }
}
