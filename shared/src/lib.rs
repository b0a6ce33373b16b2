//! `dotm`: every rule of the DOTM business, shared by all Lambda functions.
//!
//! The layers depend inward only: `domain` (pure rules, no I/O: the crate `dotm-domain`, which
//! the compiler keeps free of every adapter; re-exported here as `dotm::domain`) <- `ports`
//! (the traits the use cases need) <- `app` (use cases by business name) <- `adapters` (AWS,
//! Stripe, carrier, mail, chain, Firebase; `adapters::memory` in memory), `web` (what every
//! function answers over HTTP) and `wiring` (per function: only the ports it uses).

pub mod adapters;
pub mod app;
pub mod config;
pub use dotm_domain as domain;
pub mod ports;
pub mod web;
pub mod wiring;
