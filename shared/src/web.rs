//! HTTP pieces every function answers with: RFC 9457 problems and JSON telemetry.

pub mod access_log;
pub mod auth;
pub mod problem;
pub mod telemetry;

pub use problem::Problem;
