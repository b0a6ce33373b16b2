//! The authorization server's use cases (MCP authorization, OAuth 2.1): check an authorization
//! request, carry it sealed through Firebase sign-in and the consent page, issue a single-use
//! code, exchange it (PKCE S256) for a short-lived access token bound to the MCP resource and
//! a rotating refresh token, register clients (RFC 7591), revoke (RFC 7009).
//! Nothing is written for a refused request.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::oauth::{
    ACCESS_TOKEN_SECONDS, AccessClaims, AuthorizationRequest, CODE_SECONDS, CodeGrant, OAuthClient,
    OAuthError, PAGE_SECONDS, REFRESH_TOKEN_SECONDS, RefreshGrant, SealError, Sealer,
    metadata_client_id, parse_scopes, pkce_matches, redirect_matches, token_hash, valid_challenge,
    valid_redirect_uri,
};
use crate::domain::users::Identity;
use crate::ports::{
    AuthError, ClientMetadataFetcher, Clock, IdentityVerifier, OAuthStore, RandomSource,
    TokenSigner, Unavailable,
};

/// What the authorization server holds, built once per cold start (the API function).
#[derive(Clone)]
pub struct AuthServer {
    pub store: Arc<dyn OAuthStore>,
    pub signer: Arc<dyn TokenSigner>,
    /// Firebase: the sign-in step.
    pub identities: Arc<dyn IdentityVerifier>,
    pub sealer: Sealer,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    /// Client ID Metadata Documents (clients whose `client_id` is a URL).
    pub documents: Arc<dyn ClientMetadataFetcher>,
    /// Local stacks only: metadata documents on loopback HTTP.
    pub allow_loopback_documents: bool,
}

/// Where the server lives, per request: the issuer and the MCP resource it issues tokens for.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: String,
    /// The canonical MCP URL (RFC 8707 `resource`, the tokens' audience).
    pub resource: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub resource: Option<String>,
}

/// A refused authorization request: shown on a page when the client or its redirect cannot
/// be trusted (RFC 6749 §4.1.2.1 forbids redirecting then), else sent back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    Page(OAuthError),
    Redirect { to: String },
    Unavailable(String),
}

impl From<Unavailable> for AuthorizeError {
    fn from(e: Unavailable) -> Self {
        tracing::error!(what = e.what, cause = %e.chain(), "authorization server dependency failed");
        AuthorizeError::Unavailable("a service we depend on did not answer; try again".into())
    }
}

impl From<Unavailable> for OAuthError {
    fn from(e: Unavailable) -> Self {
        tracing::error!(what = e.what, cause = %e.chain(), "authorization server dependency failed");
        OAuthError {
            error: "temporarily_unavailable",
            error_description: "a service we depend on did not answer; try again".into(),
        }
    }
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return base.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

fn refused_redirect(req: &AuthorizeParams, redirect_uri: &str, e: OAuthError) -> AuthorizeError {
    let mut pairs = vec![
        ("error", e.error),
        ("error_description", e.error_description.as_str()),
    ];
    if let Some(state) = &req.state {
        pairs.push(("state", state));
    }
    AuthorizeError::Redirect {
        to: with_query(redirect_uri, &pairs),
    }
}

/// What the consent page shows and carries (sealed) to the decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consent {
    pub request: AuthorizationRequest,
    pub uid: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
}

const REQUEST: &str = "authorization-request";
const CONSENT: &str = "consent";

impl AuthServer {
    fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// Checks `/oauth/authorize`; the answer is what the sign-in page carries on (sealed).
    pub async fn authorize(
        &self,
        req: &AuthorizeParams,
        at: &Endpoints,
    ) -> Result<String, AuthorizeError> {
        let page = |e: OAuthError| AuthorizeError::Page(e);
        let client_id = req
            .client_id
            .as_deref()
            .ok_or_else(|| page(OAuthError::invalid_request("client_id is required")))?;
        let client = self.find_client(client_id).await?.map_err(page)?;
        let redirect_uri = match (&req.redirect_uri, client.redirect_uris.as_slice()) {
            (Some(asked), registered) if registered.iter().any(|r| redirect_matches(r, asked)) => {
                asked.clone()
            }
            (None, [only]) => only.clone(),
            (Some(asked), _) => {
                return Err(page(OAuthError::invalid_request(format!(
                    "redirect_uri {asked:?} is not one this client registered"
                ))));
            }
            (None, _) => {
                return Err(page(OAuthError::invalid_request(
                    "redirect_uri is required",
                )));
            }
        };
        let back = |e| refused_redirect(req, &redirect_uri, e);
        if req.response_type.as_deref() != Some("code") {
            return Err(back(OAuthError::unsupported_response_type(
                "only response_type=code is supported",
            )));
        }
        let challenge = req.code_challenge.as_deref().unwrap_or("");
        if challenge.is_empty() {
            return Err(back(OAuthError::invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            )));
        }
        if req.code_challenge_method.as_deref() != Some("S256") {
            return Err(back(OAuthError::invalid_request(
                "only code_challenge_method=S256 is accepted (not plain)",
            )));
        }
        if !valid_challenge(challenge) {
            return Err(back(OAuthError::invalid_request(
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            )));
        }
        check_resource(req.resource.as_deref(), at).map_err(back)?;
        let scopes = parse_scopes(req.scope.as_deref()).map_err(back)?;
        let request = AuthorizationRequest {
            client_id: client.client_id,
            client_name: client.client_name,
            redirect_uri,
            state: req.state.clone(),
            code_challenge: challenge.to_owned(),
            scopes,
            resource: at.resource.clone(),
        };
        Ok(self
            .sealer
            .seal(REQUEST, &request, self.now() + PAGE_SECONDS))
    }

    /// A registered client, or one described by the metadata document its `client_id` names.
    async fn find_client(
        &self,
        client_id: &str,
    ) -> Result<Result<OAuthClient, OAuthError>, Unavailable> {
        if metadata_client_id(client_id, self.allow_loopback_documents).is_some() {
            return Ok(match self.documents.fetch(client_id).await {
                Ok(doc) => doc.client(client_id, self.now()),
                Err(why) => Err(OAuthError::invalid_client(why)),
            });
        }
        Ok(self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client(format!("unknown client {client_id:?}"))))
    }

    pub fn open_request(&self, sealed: &str) -> Result<AuthorizationRequest, OAuthError> {
        self.sealer
            .open(REQUEST, sealed, self.now())
            .map_err(|e| OAuthError::invalid_request(page_seal_error(e)))
    }

    /// The person signed in with Firebase: their ID token and the sealed request become the
    /// consent page (the decision carries both, sealed together).
    pub async fn signed_in(
        &self,
        sealed_request: &str,
        id_token: &str,
    ) -> Result<(Consent, String), OAuthError> {
        let request = self.open_request(sealed_request)?;
        let identity: Identity = self
            .identities
            .verify(id_token)
            .await
            .map_err(|e| match e {
                AuthError::Unavailable(u) => OAuthError::from(u),
                other => OAuthError::access_denied(format!("the sign-in was refused: {other}")),
            })?;
        if identity.anonymous {
            return Err(OAuthError::access_denied(
                "an anonymous sign-in cannot connect an assistant: sign in with an email",
            ));
        }
        let consent = Consent {
            request,
            uid: identity.uid.to_string(),
            email: identity.email.map(|e| e.as_str().to_owned()),
        };
        let ticket = self
            .sealer
            .seal(CONSENT, &consent, self.now() + PAGE_SECONDS);
        Ok((consent, ticket))
    }

    /// The consent page's decision: the client's redirect with a code, or `access_denied`.
    pub async fn decide(&self, ticket: &str, approve: bool) -> Result<String, OAuthError> {
        let consent: Consent = self
            .sealer
            .open(CONSENT, ticket, self.now())
            .map_err(|e| OAuthError::invalid_request(page_seal_error(e)))?;
        let r = &consent.request;
        let state = r.state.as_deref();
        if !approve {
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", "the person declined"),
            ];
            if let Some(s) = state {
                pairs.push(("state", s));
            }
            return Ok(with_query(&r.redirect_uri, &pairs));
        }
        let code = self.random.token()?;
        let grant = CodeGrant {
            client_id: r.client_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            code_challenge: r.code_challenge.clone(),
            scopes: r.scopes.clone(),
            resource: r.resource.clone(),
            uid: consent.uid.clone(),
            email: consent.email.clone(),
            expires_at: self.now() + CODE_SECONDS,
        };
        self.store.save_code(&token_hash(&code), &grant).await?;
        tracing::info!(client = %r.client_id, "authorization code issued");
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        Ok(with_query(&r.redirect_uri, &pairs))
    }

    /// `/oauth/token`: the code (PKCE S256, single use) or a refresh token (rotated; a replay
    /// revokes its family).
    pub async fn token(
        &self,
        form: &TokenForm,
        at: &Endpoints,
    ) -> Result<TokenResponse, OAuthError> {
        match form.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(form, at).await,
            Some("refresh_token") => self.refresh(form, at).await,
            Some(other) => Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported (authorization_code, refresh_token)"
            ))),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }

    async fn exchange_code(
        &self,
        form: &TokenForm,
        at: &Endpoints,
    ) -> Result<TokenResponse, OAuthError> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
        };
        let code = need(&form.code, "code")?;
        let client_id = need(&form.client_id, "client_id")?;
        let verifier = need(&form.code_verifier, "code_verifier (PKCE)")?;
        let hash = token_hash(&code);
        let grant =
            self.store.code(&hash).await?.ok_or_else(|| {
                OAuthError::invalid_grant("the code is unknown or was already used")
            })?;
        if grant.expires_at < self.now() {
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        if grant.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if form
            .redirect_uri
            .as_deref()
            .is_some_and(|r| r != grant.redirect_uri)
        {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if !pkce_matches(&verifier, &grant.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        if let Some(resource) = form.resource.as_deref()
            && resource != grant.resource
        {
            return Err(OAuthError::invalid_target(format!(
                "resource {resource:?} is not the one the code was issued for"
            )));
        }
        // Every check passed: now take it, once (a racing twin finds it gone).
        if !self.store.take_code(&hash).await? {
            return Err(OAuthError::invalid_grant(
                "the code is unknown or was already used",
            ));
        }
        let family = self.random.token()?;
        self.issue(
            &family,
            &grant.client_id,
            &grant.scopes,
            &grant.resource,
            &grant.uid,
            grant.email.clone(),
            at,
        )
        .await
    }

    async fn refresh(&self, form: &TokenForm, at: &Endpoints) -> Result<TokenResponse, OAuthError> {
        let token = form
            .refresh_token
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let hash = token_hash(&token);
        let grant = self
            .store
            .refresh(&hash)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the refresh token is unknown"))?;
        if grant.expires_at < self.now() {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        if form
            .client_id
            .as_deref()
            .is_some_and(|c| c != grant.client_id)
        {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if self.store.family_revoked(&grant.family).await? {
            return Err(OAuthError::invalid_grant("the refresh token was revoked"));
        }
        if let Some(resource) = form.resource.as_deref()
            && resource != grant.resource
        {
            return Err(OAuthError::invalid_target(format!(
                "resource {resource:?} is not the one the token was issued for"
            )));
        }
        let scopes = match form.scope.as_deref() {
            None => grant.scopes.clone(),
            Some(asked) => {
                let asked = parse_scopes(Some(asked))?;
                if let Some(extra) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope {extra:?} was not granted; a refresh can only narrow"
                    )));
                }
                asked
            }
        };
        if !self.store.use_refresh(&hash).await? {
            // A rotated token came back: someone holds a copy. End the whole family.
            self.store.revoke_family(&grant.family, self.now()).await?;
            tracing::warn!(client = %grant.client_id, "refresh token replayed: family revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its sign-in is revoked",
            ));
        }
        self.issue(
            &grant.family,
            &grant.client_id,
            &scopes,
            &grant.resource,
            &grant.uid,
            grant.email.clone(),
            at,
        )
        .await
    }

    #[allow(clippy::too_many_arguments, reason = "one grant's fields")]
    async fn issue(
        &self,
        family: &str,
        client_id: &str,
        scopes: &[String],
        resource: &str,
        uid: &str,
        email: Option<String>,
        at: &Endpoints,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let scope = scopes.join(" ");
        let access_token = self.signer.sign(&AccessClaims {
            iss: at.issuer.clone(),
            aud: resource.to_owned(),
            sub: uid.to_owned(),
            email: email.clone(),
            scope: scope.clone(),
            client_id: client_id.to_owned(),
            iat: now,
            exp: now + ACCESS_TOKEN_SECONDS,
            jti: self.random.token()?,
        })?;
        let refresh_token = self.random.token()?;
        let grant = RefreshGrant {
            family: family.to_owned(),
            client_id: client_id.to_owned(),
            scopes: scopes.to_vec(),
            resource: resource.to_owned(),
            uid: uid.to_owned(),
            email,
            used: false,
            expires_at: now + REFRESH_TOKEN_SECONDS,
        };
        self.store
            .save_refresh(&token_hash(&refresh_token), &grant)
            .await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_SECONDS,
            refresh_token,
            scope,
        })
    }

    /// RFC 7591 dynamic registration of a public client (no secret; PKCE protects it).
    pub async fn register(&self, req: &RegistrationRequest) -> Result<OAuthClient, OAuthError> {
        if req.redirect_uris.is_empty() {
            return Err(OAuthError::invalid_redirect_uri(
                "redirect_uris is required",
            ));
        }
        if let Some(bad) = req.redirect_uris.iter().find(|u| !valid_redirect_uri(u)) {
            return Err(OAuthError::invalid_redirect_uri(format!(
                "{bad:?} is not an HTTPS or loopback (http://127.0.0.1, http://localhost) URI"
            )));
        }
        if req
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
        {
            return Err(OAuthError::invalid_client_metadata(
                "token_endpoint_auth_method must be \"none\": DOTM's clients are public and use PKCE",
            ));
        }
        if let Some(g) = &req.grant_types
            && let Some(bad) = g
                .iter()
                .find(|g| !["authorization_code", "refresh_token"].contains(&g.as_str()))
        {
            return Err(OAuthError::invalid_client_metadata(format!(
                "grant type {bad:?} is not supported"
            )));
        }
        if let Some(r) = &req.response_types
            && r.iter().any(|t| t != "code")
        {
            return Err(OAuthError::invalid_client_metadata(
                "only the \"code\" response type is supported",
            ));
        }
        let name = req
            .client_name
            .clone()
            .unwrap_or_else(|| "An MCP client".into());
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(OAuthError::invalid_client_metadata(
                "client_name must be at most 100 printable characters",
            ));
        }
        let client = OAuthClient {
            client_id: format!("dotm-{}", self.random.token()?),
            client_name: name,
            redirect_uris: req.redirect_uris.clone(),
            created_at: self.now(),
        };
        self.store.register_client(&client).await?;
        tracing::info!(client = %client.client_id, "OAuth client registered");
        Ok(client)
    }

    /// RFC 7009: revoking a refresh token ends its family; unknown tokens are not an error.
    pub async fn revoke(&self, token: &str) -> Result<(), OAuthError> {
        if let Some(grant) = self.store.refresh(&token_hash(token)).await? {
            self.store.revoke_family(&grant.family, self.now()).await?;
        }
        Ok(())
    }
}

fn page_seal_error(e: SealError) -> &'static str {
    match e {
        SealError::Expired => {
            "the sign-in took too long; start connecting again from your assistant"
        }
        SealError::Tampered => "the sign-in request was altered or is not ours",
    }
}

fn check_resource(resource: Option<&str>, at: &Endpoints) -> Result<(), OAuthError> {
    match resource {
        None => Err(OAuthError::invalid_target(format!(
            "resource is required (RFC 8707): {}",
            at.resource
        ))),
        Some(r) if r.trim_end_matches('/') == at.resource.trim_end_matches('/') => Ok(()),
        Some(r) => Err(OAuthError::invalid_target(format!(
            "resource {r:?} is not served here; this server issues tokens for {}",
            at.resource
        ))),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::adapters::memory::MemoryWorld;
    use crate::ports::AccessTokenVerifier;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn at() -> Endpoints {
        Endpoints {
            issuer: "https://dotm.example".into(),
            resource: "https://dotm.example/mcp".into(),
        }
    }

    fn challenge() -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
    }

    async fn client(server: &AuthServer) -> OAuthClient {
        server
            .register(&RegistrationRequest {
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                client_name: Some("Claude".into()),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    fn params(client: &OAuthClient) -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some(client.client_id.clone()),
            redirect_uri: Some("http://127.0.0.1:45123/callback".into()),
            state: Some("st".into()),
            scope: Some("esim".into()),
            code_challenge: Some(challenge()),
            code_challenge_method: Some("S256".into()),
            resource: Some("https://dotm.example/mcp".into()),
        }
    }

    fn query(url: &str, key: &str) -> Option<String> {
        url::Url::parse(url)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// Through the pages to a code.
    async fn code(server: &AuthServer, client: &OAuthClient) -> String {
        let sealed = server.authorize(&params(client), &at()).await.unwrap();
        let (consent, ticket) = server
            .signed_in(&sealed, "uid:ada:ada@example.com")
            .await
            .unwrap();
        assert_eq!(consent.request.client_name, "Claude");
        let to = server.decide(&ticket, true).await.unwrap();
        assert!(to.starts_with("http://127.0.0.1:45123/callback?"), "{to}");
        assert_eq!(query(&to, "state").as_deref(), Some("st"));
        query(&to, "code").unwrap()
    }

    fn exchange(client: &OAuthClient, code: &str, verifier: &str) -> TokenForm {
        TokenForm {
            grant_type: Some("authorization_code".into()),
            code: Some(code.into()),
            redirect_uri: Some("http://127.0.0.1:45123/callback".into()),
            client_id: Some(client.client_id.clone()),
            code_verifier: Some(verifier.into()),
            resource: Some("https://dotm.example/mcp".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once_for_an_audience_bound_token() {
        let world = MemoryWorld::new();
        let server = world.auth_server();
        let client = client(&server).await;
        let code = code(&server, &client).await;
        let wrong = server
            .token(&exchange(&client, &code, &"x".repeat(43)), &at())
            .await;
        assert_eq!(wrong.unwrap_err().error, "invalid_grant");
        let tokens = server
            .token(&exchange(&client, &code, VERIFIER), &at())
            .await
            .unwrap();
        assert_eq!(tokens.scope, "esim");
        let claims = crate::adapters::memory::MemoryAccessVerifier(world.clock.clone())
            .verify(
                &tokens.access_token,
                "https://dotm.example",
                "https://dotm.example/mcp",
            )
            .await
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.email.as_deref()),
            ("ada", Some("ada@example.com"))
        );
        let again = server
            .token(&exchange(&client, &code, VERIFIER), &at())
            .await;
        assert_eq!(again.unwrap_err().error, "invalid_grant", "single use");
    }

    #[tokio::test]
    async fn a_replayed_refresh_token_revokes_its_family() {
        let world = MemoryWorld::new();
        let server = world.auth_server();
        let client = client(&server).await;
        let code = code(&server, &client).await;
        let first = server
            .token(&exchange(&client, &code, VERIFIER), &at())
            .await
            .unwrap();
        let refresh = |token: &str| TokenForm {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some(token.into()),
            client_id: Some(client.client_id.clone()),
            ..Default::default()
        };
        let second = server
            .token(&refresh(&first.refresh_token), &at())
            .await
            .unwrap();
        assert_ne!(second.refresh_token, first.refresh_token, "rotated");
        let replay = server
            .token(&refresh(&first.refresh_token), &at())
            .await
            .unwrap_err();
        assert_eq!(replay.error, "invalid_grant");
        let after = server
            .token(&refresh(&second.refresh_token), &at())
            .await
            .unwrap_err();
        assert!(after.error_description.contains("revoked"), "{after:?}");
    }

    #[tokio::test]
    async fn bad_authorization_requests_name_the_problem() {
        let world = MemoryWorld::new();
        let server = world.auth_server();
        let client = client(&server).await;
        let page = |r: Result<String, AuthorizeError>| match r {
            Err(AuthorizeError::Page(e)) => e.error,
            other => panic!("{other:?}"),
        };
        let back = |r: Result<String, AuthorizeError>| match r {
            Err(AuthorizeError::Redirect { to }) => query(&to, "error").unwrap(),
            other => panic!("{other:?}"),
        };
        let mut p = params(&client);
        p.client_id = Some("nobody".into());
        assert_eq!(page(server.authorize(&p, &at()).await), "invalid_client");
        let mut p = params(&client);
        p.redirect_uri = Some("https://evil.example/cb".into());
        assert_eq!(page(server.authorize(&p, &at()).await), "invalid_request");
        let mut p = params(&client);
        p.code_challenge = None;
        assert_eq!(back(server.authorize(&p, &at()).await), "invalid_request");
        let mut p = params(&client);
        p.code_challenge_method = Some("plain".into());
        assert_eq!(back(server.authorize(&p, &at()).await), "invalid_request");
        let mut p = params(&client);
        p.resource = Some("https://other.example/mcp".into());
        assert_eq!(back(server.authorize(&p, &at()).await), "invalid_target");
        let mut p = params(&client);
        p.scope = Some("admin".into());
        assert_eq!(back(server.authorize(&p, &at()).await), "invalid_scope");
        let mut p = params(&client);
        p.response_type = Some("token".into());
        assert_eq!(
            back(server.authorize(&p, &at()).await),
            "unsupported_response_type"
        );
        // A tampered request or ticket is refused.
        let sealed = server.authorize(&params(&client), &at()).await.unwrap();
        let tampered = format!("x{sealed}");
        assert!(
            server
                .signed_in(&tampered, "uid:ada:ada@example.com")
                .await
                .is_err()
        );
        assert_eq!(
            server
                .signed_in(&sealed, "anonymous:anon")
                .await
                .unwrap_err()
                .error,
            "access_denied"
        );
        assert!(server.decide("forged.ticket", true).await.is_err());
    }

    #[tokio::test]
    async fn registration_refuses_what_it_cannot_keep_safe() {
        let server = MemoryWorld::new().auth_server();
        for (req, code) in [
            (RegistrationRequest::default(), "invalid_redirect_uri"),
            (
                RegistrationRequest {
                    redirect_uris: vec!["http://evil.example/cb".into()],
                    ..Default::default()
                },
                "invalid_redirect_uri",
            ),
            (
                RegistrationRequest {
                    redirect_uris: vec!["https://claude.ai/cb".into()],
                    token_endpoint_auth_method: Some("client_secret_basic".into()),
                    ..Default::default()
                },
                "invalid_client_metadata",
            ),
        ] {
            assert_eq!(server.register(&req).await.unwrap_err().error, code);
        }
    }

    #[tokio::test]
    async fn an_expired_code_is_refused_and_stays_unused() {
        let world = MemoryWorld::new();
        let server = world.auth_server();
        let client = client(&server).await;
        let code = code(&server, &client).await;
        world.clock.advance_ms((CODE_SECONDS + 1) * 1000);
        let late = server
            .token(&exchange(&client, &code, VERIFIER), &at())
            .await;
        assert_eq!(late.unwrap_err().error_description, "the code has expired");
    }

    #[tokio::test]
    async fn a_metadata_document_client_needs_no_registration() {
        use crate::domain::oauth::ClientMetadataDocument;
        let world = MemoryWorld::new();
        let url = "https://assistant.example/oauth/client.json";
        world.documents.0.lock().unwrap().insert(
            url.into(),
            ClientMetadataDocument {
                client_id: url.into(),
                client_name: Some("Assistant".into()),
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                token_endpoint_auth_method: Some("none".into()),
            },
        );
        let server = world.auth_server();
        let doc_client = OAuthClient {
            client_id: url.into(),
            client_name: "Assistant".into(),
            redirect_uris: vec![],
            created_at: 0,
        };
        let code = code_named(&server, &doc_client, "Assistant").await;
        let tokens = server
            .token(&exchange(&doc_client, &code, VERIFIER), &at())
            .await;
        assert!(tokens.is_ok(), "{tokens:?}");
        let mut p = params(&doc_client);
        p.client_id = Some("https://unknown.example/client.json".into());
        assert!(matches!(
            server.authorize(&p, &at()).await,
            Err(AuthorizeError::Page(e)) if e.error == "invalid_client"
        ));
    }

    async fn code_named(server: &AuthServer, client: &OAuthClient, name: &str) -> String {
        let sealed = server.authorize(&params(client), &at()).await.unwrap();
        let (consent, ticket) = server
            .signed_in(&sealed, "uid:ada:ada@example.com")
            .await
            .unwrap();
        assert_eq!(consent.request.client_name, name);
        let to = server.decide(&ticket, true).await.unwrap();
        query(&to, "code").unwrap()
    }
}
