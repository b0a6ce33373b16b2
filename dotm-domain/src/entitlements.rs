//! Entitlements: what a paid invoice grants, and until when. Roles and the carrier's view of a
//! line are computed from them, never stored beside them, so a refund only has to revoke.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::orders::{DATA_PACKAGE, DATA_PACKAGE_MB, METAL_CARD, OrderLine};
use crate::users::Uid;

pub const MEMBER: &str = "member";
pub const ADMIN: &str = "admin";
pub const BETA: &str = "beta";

/// The network add-ons, by service id: each is a feature of the same name at the carrier.
pub const FEATURES: [&str; 5] = [
    "network_security",
    "vpn_access",
    "priority_routing",
    "network_monitoring",
    "performance_optimization",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grant {
    Role {
        role: String,
    },
    Feature {
        feature: String,
    },
    /// Added to the line at the carrier as one top-up named `reference`.
    Data {
        mb: u64,
        reference: String,
    },
    Card {
        order_id: String,
    },
    /// The eSIM activation itself (its state is the activation record).
    Esim,
}

/// `USER#<uid>` / `ENTITLEMENT#<invoice id>#<service id>`: written once per paid invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub uid: Uid,
    pub invoice_id: String,
    pub service_id: String,
    pub grant: Grant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// Unix seconds; none: for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    #[serde(default)]
    pub revoked: bool,
    pub granted_at: String,
}

impl Entitlement {
    /// What a paid line grants.
    pub fn for_line(
        uid: &Uid,
        invoice_id: &str,
        line: &OrderLine,
        order_id: &str,
        granted_at: &str,
    ) -> Option<Entitlement> {
        let id = line.service_id.as_str();
        let grant = if id == DATA_PACKAGE {
            Grant::Data {
                mb: DATA_PACKAGE_MB * u64::from(line.quantity),
                reference: format!("{invoice_id}-{id}"),
            }
        } else if id == METAL_CARD {
            Grant::Card {
                order_id: order_id.to_owned(),
            }
        } else if id == crate::orders::ESIM {
            Grant::Esim
        } else if FEATURES.contains(&id) {
            Grant::Feature {
                feature: id.to_owned(),
            }
        } else if id.ends_with("_membership") {
            Grant::Role {
                role: MEMBER.to_owned(),
            }
        } else {
            return None;
        };
        Some(Entitlement {
            uid: uid.clone(),
            invoice_id: invoice_id.to_owned(),
            service_id: id.to_owned(),
            grant,
            subscription_id: None,
            until: None,
            revoked: false,
            granted_at: granted_at.to_owned(),
        })
    }

    pub fn key(&self) -> String {
        format!("{}#{}", self.invoice_id, self.service_id)
    }

    pub fn live(&self, now_unix: i64) -> bool {
        !self.revoked && self.until.is_none_or(|until| now_unix < until)
    }
}

/// Roles that come from entitlements (memberships).
pub fn roles(entitlements: &[Entitlement], now_unix: i64) -> Vec<String> {
    let mut roles: Vec<String> = entitlements
        .iter()
        .filter(|e| e.live(now_unix))
        .filter_map(|e| match &e.grant {
            Grant::Role { role } => Some(role.clone()),
            _ => None,
        })
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// Until when the membership runs, if it does.
pub fn member_until(entitlements: &[Entitlement], now_unix: i64) -> Option<i64> {
    entitlements
        .iter()
        .filter(|e| e.live(now_unix) && matches!(&e.grant, Grant::Role { role } if role == MEMBER))
        .filter_map(|e| e.until)
        .max()
}

/// What the carrier should have on the person's line: features on, top-ups present or reversed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinePlan {
    pub features_on: Vec<String>,
    pub features_off: Vec<String>,
    pub top_ups: Vec<(String, u64)>,
    pub reversals: Vec<String>,
}

pub fn line_plan(entitlements: &[Entitlement], now_unix: i64) -> LinePlan {
    let mut plan = LinePlan::default();
    for feature in FEATURES {
        let of_feature: Vec<&Entitlement> = entitlements
            .iter()
            .filter(|e| matches!(&e.grant, Grant::Feature { feature: f } if f == feature))
            .collect();
        // A feature nobody ever paid for is left alone: it was never turned on.
        if of_feature.iter().any(|e| e.live(now_unix)) {
            plan.features_on.push(feature.to_owned());
        } else if !of_feature.is_empty() {
            plan.features_off.push(feature.to_owned());
        }
    }
    for e in entitlements {
        if let Grant::Data { mb, reference } = &e.grant {
            if e.revoked {
                plan.reversals.push(reference.clone());
            } else {
                plan.top_ups.push((reference.clone(), *mb));
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(service: &str, grant: Grant, until: Option<i64>, revoked: bool) -> Entitlement {
        Entitlement {
            uid: Uid::parse("u").unwrap(),
            invoice_id: format!("in_{service}"),
            service_id: service.into(),
            grant,
            subscription_id: None,
            until,
            revoked,
            granted_at: "t".into(),
        }
    }

    fn member(until: i64, revoked: bool) -> Entitlement {
        let role = Grant::Role {
            role: MEMBER.into(),
        };
        ent("basic_membership", role, Some(until), revoked)
    }

    #[test]
    fn a_membership_gives_the_role_until_its_period_ends() {
        assert_eq!(roles(&[member(100, false)], 99), vec![MEMBER.to_owned()]);
        assert!(roles(&[member(100, false)], 100).is_empty());
        assert!(roles(&[member(100, true)], 50).is_empty());
        assert_eq!(
            member_until(&[member(100, false), member(200, false)], 50),
            Some(200)
        );
    }

    #[test]
    fn features_follow_live_entitlements_and_revoked_data_is_reversed() {
        let vpn = Grant::Feature {
            feature: "vpn_access".into(),
        };
        let data = |r: &str| Grant::Data {
            mb: 10240,
            reference: r.into(),
        };
        let plan = line_plan(
            &[
                ent("vpn_access", vpn, Some(100), false),
                ent(
                    "priority_routing",
                    Grant::Feature {
                        feature: "priority_routing".into(),
                    },
                    Some(40),
                    false,
                ),
                ent(DATA_PACKAGE, data("a"), None, false),
                ent(DATA_PACKAGE, data("b"), None, true),
            ],
            50,
        );
        assert_eq!(plan.features_on, ["vpn_access"]);
        assert_eq!(plan.features_off, ["priority_routing"]);
        assert_eq!(plan.top_ups, [("a".to_owned(), 10240)]);
        assert_eq!(plan.reversals, ["b"]);
    }
}
