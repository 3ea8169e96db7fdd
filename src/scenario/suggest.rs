//! "Did you mean": the likely intended name for a misspelt field, value or
//! reference, the way cargo and rustc suggest one.

/// The candidate `name` most likely meant: equal but for case, or else the
/// nearest by Damerau-Levenshtein distance (a swap of two neighbouring
/// characters counts one), within a third of the name's length and at
/// least one edit; ties go to the earlier candidate. `None` when nothing
/// is close, or when `name` is itself a candidate.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            return None;
        }
        let d = if c.to_lowercase() == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &c.to_lowercase())
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `did you mean `x`?` for the closest candidate, if one is close.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// A suggestion for a message naming something unknown and what is known,
/// each in back quotes: the deserializer's `unknown field `partitons`,
/// expected one of `name`, `partitions`` or validation's `unknown topic
/// `ordrs`; defined topics: `orders``. A quoted name beside `..` bounds a
/// range (`broker-0`..`broker-5`) and is not itself suggested.
pub fn for_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown ")?;
    let (_, rest) = rest.split_once('`')?;
    let (name, rest) = rest.split_once('`')?;
    let parts: Vec<&str> = rest.split('`').collect();
    // Odd parts are quoted; the even parts around them are the prose.
    let names = (1..parts.len().saturating_sub(1))
        .step_by(2)
        .filter(|&i| !parts[i - 1].ends_with("..") && !parts[i + 1].starts_with(".."))
        .map(|i| parts[i]);
    did_you_mean(name, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_name_within_a_third_of_its_length() {
        let fields = ["name", "partitions", "replication_factor", "retention"];
        assert_eq!(closest("partitons", fields), Some("partitions"));
        assert_eq!(closest("Partitions", fields), Some("partitions"));
        assert_eq!(closest("nmae", fields), Some("name"), "a swap is one edit");
        assert_eq!(closest("replicas", fields), None, "too far");
        assert_eq!(closest("name", fields), None, "not misspelt");
        assert_eq!(closest("al", ["0", "1", "all", "-1"]), Some("all"));
    }

    #[test]
    fn reads_the_deserializers_messages() {
        assert_eq!(
            for_message("unknown field `rat`, expected one of `name`, `topic`, `rate`").as_deref(),
            Some("did you mean `rate`?")
        );
        assert_eq!(
            for_message("unknown variant `al`, expected one of `0`, `1`, `all`").as_deref(),
            Some("did you mean `all`?")
        );
        assert_eq!(
            for_message("unknown variant `manual`, expected `auto` or `manul`").as_deref(),
            Some("did you mean `manul`?")
        );
        assert_eq!(
            for_message("unknown topic `ordrs`; defined topics: `orders`, `payments`").as_deref(),
            Some("did you mean `orders`?")
        );
        assert_eq!(
            for_message("unknown node `broker-6`; nodes are `p`, `broker-0`..`broker-5`"),
            None,
            "the ends of a range are not names"
        );
        assert_eq!(for_message("unknown field `zzzzzz`, expected `a`"), None);
        assert_eq!(for_message("invalid type: string, expected u32"), None);
    }
}
