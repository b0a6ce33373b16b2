//! The one error type of the HTTP handlers: built from the use cases' errors with `?`,
//! rendered as RFC 9457 problem details. The cause chain goes to the logs, never into a
//! response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::accounts::AccountError;
use crate::app::beta::BetaError;
use crate::app::esim::EsimError;
use crate::app::orders::OrderFailure;
use crate::app::payments::EventError;
use crate::app::subscriptions::SubscriptionError;
use crate::ports::{AuthError, Unavailable};
use crate::web::Problem;

#[derive(Debug)]
pub enum ApiError {
    /// The caller's mistake or a refusal they can act on: the problem says which.
    Problem(Problem),
    /// No token, or a refused one: 401 with a `WWW-Authenticate` challenge (RFC 6750).
    Unauthorized(AuthError),
    /// A dependency failed: 503 for the caller, the cause for the operators.
    Unavailable(Unavailable),
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError::Problem(p)
    }
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> Self {
        ApiError::Unavailable(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unavailable(u) => ApiError::Unavailable(u),
            other => ApiError::Unauthorized(other),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::EmailTaken => ApiError::Problem(Problem::new(
                StatusCode::CONFLICT,
                "email-taken",
                "Email already in use",
                e.to_string(),
            )),
            AccountError::Anonymous => ApiError::Problem(Problem::new(
                StatusCode::FORBIDDEN,
                "anonymous",
                "Sign-in with an email needed",
                e.to_string(),
            )),
            AccountError::Unavailable(u) => ApiError::Unavailable(u),
        }
    }
}

impl From<EsimError> for ApiError {
    fn from(e: EsimError) -> Self {
        match e {
            EsimError::NoEmail => ApiError::Problem(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no-email",
                "No email address",
                e.to_string(),
            )),
            EsimError::Account(a) => a.into(),
            EsimError::Unavailable(u) => ApiError::Unavailable(u),
        }
    }
}

impl From<OrderFailure> for ApiError {
    fn from(e: OrderFailure) -> Self {
        let (status, kind, title) = match &e {
            OrderFailure::Account(_) | OrderFailure::Unavailable(_) => {
                return match e {
                    OrderFailure::Account(a) => a.into(),
                    OrderFailure::Unavailable(u) => ApiError::Unavailable(u),
                    other => {
                        ApiError::Problem(Problem::bad_request("invalid-order", other.to_string()))
                    }
                };
            }
            OrderFailure::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid-order", "Invalid order"),
            OrderFailure::KeyReused => (
                StatusCode::CONFLICT,
                "idempotency-conflict",
                "Idempotency-Key reused",
            ),
            OrderFailure::NotFound(_) => (StatusCode::NOT_FOUND, "no-such-order", "No such order"),
            OrderFailure::NoEmail => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "no-email",
                "No email address",
            ),
        };
        ApiError::Problem(Problem::new(status, kind, title, e.to_string()))
    }
}

impl From<BetaError> for ApiError {
    fn from(e: BetaError) -> Self {
        match e {
            BetaError::NoEmail => ApiError::Problem(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no-email",
                "No email address",
                e.to_string(),
            )),
            BetaError::NotFound(_) => ApiError::Problem(Problem::new(
                StatusCode::NOT_FOUND,
                "no-such-beta-request",
                "No such beta request",
                e.to_string(),
            )),
            BetaError::Account(a) => a.into(),
            BetaError::Unavailable(u) => ApiError::Unavailable(u),
        }
    }
}

impl From<SubscriptionError> for ApiError {
    fn from(e: SubscriptionError) -> Self {
        match e {
            SubscriptionError::NotFound(_) => ApiError::Problem(Problem::new(
                StatusCode::NOT_FOUND,
                "no-such-subscription",
                "No such subscription",
                e.to_string(),
            )),
            SubscriptionError::NotCancellable(_) => ApiError::Problem(Problem::new(
                StatusCode::CONFLICT,
                "not-cancellable",
                "Subscription not cancellable",
                e.to_string(),
            )),
            SubscriptionError::Unavailable(u) => ApiError::Unavailable(u),
        }
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        match e {
            EventError::Malformed(why) => {
                ApiError::Problem(Problem::bad_request("malformed-event", why))
            }
            // Stripe retries non-2xx answers, which is what we want while a dependency is down.
            EventError::Unavailable(u) => ApiError::Unavailable(u),
        }
    }
}

/// The 503 every function answers when a dependency is down; the cause goes to the logs.
pub fn unavailable(e: &Unavailable) -> Problem {
    tracing::error!(what = e.what, cause = %e.chain(), "dependency unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
        "a service we depend on did not answer; try again in a moment",
    )
}

fn unauthorized(e: &AuthError) -> Response {
    let (slug, error) = match e {
        AuthError::Invalid(_) => ("invalid-token", Some("invalid_token")),
        _ => ("unauthorized", None),
    };
    let problem = Problem::new(
        StatusCode::UNAUTHORIZED,
        slug,
        "Unauthorized",
        e.to_string(),
    );
    let challenge = match error {
        Some(code) => format!(r#"Bearer realm="dotm", error="{code}""#),
        None => r#"Bearer realm="dotm""#.to_owned(),
    };
    let mut response = problem.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Problem(p) => p.into_response(),
            ApiError::Unauthorized(e) => unauthorized(&e),
            ApiError::Unavailable(e) => unavailable(&e).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_is_a_401_with_a_challenge() {
        let r = ApiError::from(AuthError::Invalid("expired".into())).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }

    #[test]
    fn a_dependency_failure_is_a_503_that_says_nothing_of_the_cause() {
        let cause = std::io::Error::other("dynamodb at 10.0.0.7 refused the connection");
        let r = ApiError::from(Unavailable::new("dynamodb get", cause)).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let e = Unavailable::new(
            "dynamodb get",
            std::io::Error::other(Unavailable::new("inner", "tls handshake failed")),
        );
        assert!(e.chain().contains("tls handshake failed"), "{}", e.chain());
    }

    #[test]
    fn a_taken_email_is_a_409_and_no_email_a_422() {
        let r = ApiError::from(EsimError::Account(AccountError::EmailTaken)).into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(
            ApiError::from(EsimError::NoEmail).into_response().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
