//! Pure rules of the business: no I/O, no clock, no ports. Everything here is a value or a
//! function of values, exhaustively unit tested.

pub mod activation;
pub mod beta;
pub mod catalog;
pub mod entitlements;
pub mod handoff;
pub mod html;
pub mod lpa;
pub mod money;
pub mod nanp;
pub mod oauth;
pub mod orders;
pub mod pricing;
pub mod purchases;
pub mod qr;
pub mod rate_limit;
pub mod rewards;
pub mod search;
pub mod subscriptions;
pub mod throttle;
pub mod time;
pub mod usage;
pub mod users;
pub mod wallet;
