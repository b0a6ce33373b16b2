//! The preflight table.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The provider has no read-only way to check it: said so, not failed.
    Unchecked,
    /// Works, but will not for long or not everywhere (e.g. a minter low on ETH).
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unchecked => "unchecked",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub provider: &'static str,
    pub check: &'static str,
    pub status: Status,
    /// What was found; on a failure, the setting to fix.
    pub detail: String,
}

impl Row {
    pub fn new(
        provider: &'static str,
        check: &'static str,
        status: Status,
        detail: impl Into<String>,
    ) -> Row {
        Row {
            provider,
            check,
            status,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    pub fn of(rows: impl IntoIterator<Item = Row>) -> Report {
        Report {
            rows: rows.into_iter().collect(),
        }
    }

    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.status == Status::Fail)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|r| r.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<9} {:<width$} {:<9} detail",
            "provider", "check", "result"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<9} {:<width$} {:<9} {}",
                r.provider,
                r.check,
                r.status.label(),
                r.detail
            )?;
        }
        let failed = self
            .rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .count();
        if failed == 0 {
            write!(f, "preflight passed ({} checks)", self.rows.len())
        } else {
            write!(
                f,
                "preflight FAILED: {failed} of {} checks",
                self.rows.len()
            )
        }
    }
}
