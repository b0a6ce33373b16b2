//! Ranks catalog services for a free-text question such as "I need a Global Data eSIM".

use crate::catalog::{self, Category, Service};

/// Words that say nothing about which service is meant.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "the", "i", "me", "my", "we", "need", "want", "get", "buy", "for", "of",
    "to", "with", "please", "some", "how", "much", "is", "what", "do", "you", "have", "can",
];

// Weights: a word in the name says more than one in the keywords, which says more than the
// category or the description.
const IN_NAME: u32 = 6;
const IN_KEYWORDS: u32 = 4;
const IN_CATEGORY: u32 = 2;
const IN_DESCRIPTION: u32 = 1;
const WHOLE_PHRASE: u32 = 5;

#[derive(Debug, Clone)]
pub struct Hit {
    pub service: &'static Service,
    pub score: u32,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn score(service: &Service, terms: &[String], phrase: &str) -> u32 {
    let name = words(service.name);
    let keywords: Vec<String> = service.keywords.iter().flat_map(|k| words(k)).collect();
    let category = words(service.category.name());
    let description = words(service.description);
    let id = words(&service.id.replace('_', " "));

    let mut total = 0;
    for term in terms {
        let has = |ws: &[String]| ws.iter().any(|w| w == term);
        if has(&name) || has(&id) {
            total += IN_NAME;
        }
        if has(&keywords) {
            total += IN_KEYWORDS;
        }
        if has(&category) {
            total += IN_CATEGORY;
        }
        if has(&description) {
            total += IN_DESCRIPTION;
        }
    }
    if !phrase.is_empty()
        && (service.name.to_lowercase().contains(phrase)
            || service.keywords.iter().any(|k| k.to_lowercase() == phrase))
    {
        total += WHOLE_PHRASE;
    }
    total
}

/// Services matching `query`, best first (ties keep catalog order), optionally in one category.
/// An empty query lists the category (or everything) in catalog order.
pub fn search(query: &str, category: Option<Category>, limit: usize) -> Vec<Hit> {
    let terms: Vec<String> = words(query)
        .into_iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect();
    let phrase = terms.join(" ");
    let mut hits: Vec<Hit> = catalog::services()
        .iter()
        .filter(|s| category.is_none_or(|c| s.category == c))
        .map(|s| Hit {
            service: s,
            score: score(s, &terms, &phrase),
        })
        .filter(|h| terms.is_empty() || h.score > 0)
        .collect();
    hits.sort_by_key(|h| std::cmp::Reverse(h.score));
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(query: &str) -> Option<&'static str> {
        search(query, None, 5).first().map(|h| h.service.id)
    }

    #[test]
    fn the_two_esims_are_found_by_how_people_ask_for_them() {
        assert_eq!(first("Global Data eSIM"), Some("global_data_10gb"));
        assert_eq!(first("I need a Global Data eSIM"), Some("global_data_10gb"));
        assert_eq!(first("DOT eSIM"), Some("esim_beta"));
        assert_eq!(first("activate a DOT eSIM"), Some("esim_beta"));
    }

    #[test]
    fn name_keyword_and_category_all_rank() {
        assert_eq!(first("vpn"), Some("vpn_access"));
        assert_eq!(first("metal card"), Some("dotm_metal_card"));
        assert_eq!(first("privacy"), Some("vpn_access"));
        let support = search("support", None, 10);
        assert!(
            support
                .iter()
                .take(3)
                .all(|h| h.service.category == Category::Support)
        );
        assert!(support.iter().any(|h| h.service.id == "community_forums"));
    }

    #[test]
    fn category_filter_and_limit_apply() {
        let hits = search("", Some(Category::NetworkFeatures), 3);
        assert_eq!(hits.len(), 3);
        assert!(
            hits.iter()
                .all(|h| h.service.category == Category::NetworkFeatures)
        );
        assert_eq!(hits[0].service.id, "network_security");
    }

    #[test]
    fn nothing_matches_gibberish() {
        assert!(search("xylophone zebra", None, 5).is_empty());
    }
}
