//! The API's routes and their OpenAPI 3.1 description come from one table: [`Routes::add`]
//! puts a handler on the router and its operation in the document, so a served route cannot
//! be missing from `/api/openapi.json`. Schemas come from the types (`schemars`, JSON Schema
//! 2020-12, which OpenAPI 3.1 uses as is).

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use crate::ApiPorts;

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    SignedIn,
    Admin,
}

/// One operation's description.
pub struct Op {
    pub summary: &'static str,
    pub access: Access,
    pub request: Option<Schema>,
    pub response: Option<Schema>,
    /// The media type of the answer when it is not JSON (pages).
    pub produces: Option<&'static str>,
    /// The media type of the request body when it is not JSON (forms).
    pub consumes: Option<&'static str>,
}

impl Op {
    pub fn new(summary: &'static str, access: Access) -> Op {
        Op {
            summary,
            access,
            request: None,
            response: None,
            produces: None,
            consumes: None,
        }
    }

    pub fn takes(mut self, schema: Schema) -> Op {
        self.request = Some(schema);
        self
    }

    pub fn gives(mut self, schema: Schema) -> Op {
        self.response = Some(schema);
        self
    }

    pub fn page(mut self) -> Op {
        self.produces = Some("text/html");
        self
    }

    pub fn form(mut self) -> Op {
        self.consumes = Some("application/x-www-form-urlencoded");
        self
    }
}

pub struct Routes {
    router: Router<ApiPorts>,
    paths: Map<String, Value>,
    pub schemas: SchemaGenerator,
}

fn method_name(method: MethodFilter) -> &'static str {
    if method == MethodFilter::GET {
        "get"
    } else if method == MethodFilter::POST {
        "post"
    } else if method == MethodFilter::PUT {
        "put"
    } else if method == MethodFilter::DELETE {
        "delete"
    } else {
        "patch"
    }
}

impl Routes {
    pub fn new() -> Routes {
        let mut settings = SchemaSettings::draft2020_12().for_serialize();
        settings.definitions_path = "/components/schemas".into();
        Routes {
            router: Router::new(),
            paths: Map::new(),
            schemas: settings.into_generator(),
        }
    }

    /// The schema of `T` as answered, by reference to `components.schemas`.
    pub fn schema<T: JsonSchema>(&mut self) -> Schema {
        self.schemas.subschema_for::<T>()
    }

    pub fn add<H, T>(mut self, method: MethodFilter, path: &'static str, handler: H, op: Op) -> Self
    where
        H: Handler<T, ApiPorts>,
        T: 'static,
    {
        let route = on(method, handler);
        // Public operations count against the client's address (the rate limit); signed-in
        // ones are the person's own.
        let route = if op.access == Access::Public {
            route.route_layer(axum::middleware::from_fn(
                dotm::web::rate_limit::limit_by_address,
            ))
        } else {
            route
        };
        self.router = self.router.route(path, route);
        self.document(method_name(method), path, op);
        self
    }

    /// An operation another function serves under the same domain (the public catalog).
    pub fn elsewhere(mut self, path: &'static str, op: Op) -> Self {
        self.document("get", path, op);
        self
    }

    fn document(&mut self, method: &str, path: &str, op: Op) {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{method}{}", path.replace(['/', '{', '}', '-', '.'], "_")),
            "responses": {
                "200": response(op.response, op.produces),
                "4XX": {"description": "The caller's mistake or a refusal, as problem details",
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                "503": {"description": "A dependency is down; try again",
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            },
        });
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        match op.access {
            Access::Public => operation["security"] = json!([]),
            Access::SignedIn => operation["security"] = json!([{"firebase": []}]),
            Access::Admin => {
                operation["security"] = json!([{"firebase": []}]);
                operation["description"] = json!("Needs the `admin` role (ADMIN_UIDS).");
            }
        }
        if let Some(schema) = op.request {
            let media = op.consumes.unwrap_or("application/json");
            operation["requestBody"] =
                json!({"required": true, "content": {media: {"schema": schema}}});
        } else if let Some(media) = op.consumes {
            operation["requestBody"] =
                json!({"required": true, "content": {media: {"schema": {"type": "object"}}}});
        }
        let entry = self
            .paths
            .entry(path.to_owned())
            .or_insert_with(|| json!({}));
        entry[method] = operation;
    }

    /// `/api/openapi.json` itself (the router serves it beside the table, holding the document).
    pub fn document_self(mut self) -> Self {
        self.document(
            "get",
            "/api/openapi.json",
            Op::new("This document", Access::Public),
        );
        self
    }

    /// The router and the document describing it.
    pub fn finish(mut self) -> (Router<ApiPorts>, Value) {
        let mut schemas = self.schemas.take_definitions(true);
        schemas.insert("Problem".into(), problem_schema());
        let doc = json!({
            "openapi": "3.1.0",
            "info": {
                "title": "DOTM API",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "The JSON API of the DOTM apps (the `api` function) and the public catalog (served by the `mcp` function under the same domain). Money is integer cents (`*_cents`) with dollars beside it for display; DOTM amounts are decimal strings in wei.",
            },
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "firebase": {"type": "http", "scheme": "bearer", "bearerFormat": "Firebase ID token or DOTM access token"}
                },
            },
        });
        (self.router, doc)
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

fn response(schema: Option<Schema>, produces: Option<&str>) -> Value {
    match (schema, produces) {
        (_, Some(media)) => {
            json!({"description": "A page", "content": {media: {"schema": {"type": "string"}}}})
        }
        (Some(schema), None) => {
            json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
        }
        (None, None) => {
            json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
    }
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "urn:dotm:problem:<slug>"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "What was wrong, in words"},
        },
    })
}
