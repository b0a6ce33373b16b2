//! `dotm`: every rule of the DOTM business, shared by all Lambda functions.
//!
//! Pure domain modules (no I/O) sit at the top; `web` holds the HTTP pieces that every
//! function answers with (problem details, telemetry) so no function re-invents them.

pub mod catalog;
pub mod money;
pub mod pricing;
pub mod rewards;
pub mod search;
pub mod web;
