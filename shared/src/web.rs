//! What every function answers over HTTP: RFC 9457 problems, the signed-in caller, the API
//! error type, the Stripe signature check, the access log and JSON telemetry.

pub mod access_log;
pub mod api_error;
pub mod auth;
pub mod body_limit;
pub mod html;
pub mod origin;
pub mod problem;
pub mod rate_limit;
pub mod stripe_signature;
pub mod telemetry;

pub use api_error::ApiError;
pub use problem::Problem;
