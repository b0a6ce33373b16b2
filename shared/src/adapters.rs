//! The ports, implemented against the real services (or their local stand-ins: the AWS
//! emulator and the provider sandbox, reached through the same configurable base URLs), and
//! in memory (`memory`), held to the same contract tests.

pub mod access_tokens;
pub mod carrier;
pub mod chain;
pub mod client_metadata;
pub mod clock;
pub mod dynamo;
pub mod firebase;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod random;
pub mod resend;
pub mod secrets;
pub mod sqs;
pub mod stripe;
#[cfg(test)]
mod test_keys;
