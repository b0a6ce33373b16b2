//! `dotm`: every rule of the DOTM business, shared by all Lambda functions.
//!
//! Pure domain modules (no I/O): `catalog`, `money`, `pricing`, `rewards`, `search`, `users`,
//! `purchases`. Use cases over the ports: `activation`, `payments`. Ports (the traits the
//! rules need) in `ports`; their AWS/HTTP implementations in `adapters`; in-memory fakes for
//! unit tests in `fakes` (feature `fakes`). `web` holds the HTTP pieces every function
//! answers with (problem details, telemetry, access log).

pub mod activation;
pub mod activations;
pub mod adapters;
pub mod catalog;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod money;
pub mod payments;
pub mod ports;
pub mod pricing;
pub mod purchases;
pub mod qr;
pub mod rewards;
pub mod search;
pub mod throttle;
pub mod token;
pub mod users;
pub mod wallet;
pub mod web;
pub mod worker;
