//! The text half of each tool answer: what an assistant can read out as is.

use std::fmt::Write;

use dotm::app::esim::ActivationAnswer;
use dotm::domain::catalog::Service;
use dotm::domain::pricing::Quote;

use crate::tools::{MembershipsAnswer, SearchAnswer};

pub fn quote(q: &Quote) -> String {
    let mut s = String::from("Pricing:\n");
    for line in &q.services {
        let _ = writeln!(
            s,
            "- {} ({}): {} {}",
            line.name,
            line.id,
            line.price.display(),
            line.billing.label()
        );
    }
    let p = &q.pricing;
    let _ = write!(
        s,
        "Monthly recurring: {}\nAnnual total: {}\nOne-time total: {}\nFirst-year total: {}\n\
DOTM cashback: {} DOTM ({} % of the first year)",
        p.monthly_recurring.display(),
        p.annual_total.display(),
        p.one_time_total.display(),
        p.first_year_total.display(),
        p.dotm_cashback,
        p.cashback_rate_percent,
    );
    s
}

pub fn search(found: &SearchAnswer) -> String {
    if found.results.is_empty() {
        return format!(
            "No DOTM service matches {:?}. Try other words, or a category such as connectivity \
or network_features.",
            found.query
        );
    }
    let mut s = format!("{} result(s) for {:?}:\n", found.total, found.query);
    for r in &found.results {
        let _ = writeln!(
            s,
            "- {} ({}): {} {} — {}",
            r.name,
            r.id,
            r.price.display(),
            r.billing.label(),
            r.description
        );
    }
    s.trim_end().to_owned()
}

pub fn service(svc: &Service) -> String {
    let mut s = format!(
        "{} ({})\nCategory: {}\nPrice: {} ({})\n{}\nFeatures:\n",
        svc.name,
        svc.id,
        svc.category.name(),
        svc.price.display(),
        svc.billing_note,
        svc.description
    );
    for f in svc.features {
        let _ = writeln!(s, "- {f}");
    }
    s.trim_end().to_owned()
}

pub fn memberships(m: &MembershipsAnswer) -> String {
    let mut s = String::from("DOTM memberships:\n");
    for svc in &m.memberships {
        let _ = writeln!(
            s,
            "- {} ({}): {} {} — {}",
            svc.name,
            svc.id,
            svc.price.display(),
            svc.billing.label(),
            svc.features.join("; ")
        );
    }
    s.push_str(&m.recommendation);
    s
}

pub fn activation(a: &ActivationAnswer) -> String {
    match a {
        ActivationAnswer::PaymentRequired { message, .. } => format!("Payment required. {message}"),
        ActivationAnswer::Queued { message, .. } | ActivationAnswer::Active { message, .. } => {
            message.clone()
        }
        ActivationAnswer::Failed {
            reason, next_steps, ..
        } => format!("The activation failed: {reason}. {next_steps}"),
        ActivationAnswer::NotStarted { message } => message.clone(),
    }
}
