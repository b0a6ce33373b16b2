//! The ports, implemented against the real services (or their local stand-ins: the AWS
//! emulator and the provider sandbox, reached through the same configurable base URLs).

pub mod carrier;
pub mod chain;
pub mod dynamo;
pub mod firebase;
pub mod resend;
pub mod secrets;
pub mod sqs;
pub mod stripe;
pub mod wiring;
